package main

import (
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/mail"
	"net/netip"
	"net/url"
	"reflect"
	"strings"
	"time"

	"github.com/caarlos0/env/v11"

	"github.com/acme/registrar/actors"
)

// Config is the registrar's configuration, read from the environment only
// here. The first block is the API contract's table; the rest are
// operational settings with safe defaults (docs/OPERATIONS.md).
type Config struct {
	HTTPAddr             string        `env:"HTTP_ADDR" envDefault:":8080"`
	DatabaseURL          string        `env:"DATABASE_URL" envDefault:"sqlite:data/registrar.db"`
	KafkaBrokers         []string      `env:"KAFKA_BROKERS" envSeparator:","`
	SMTPURL              string        `env:"SMTP_URL"`
	MailFrom             string        `env:"MAIL_FROM" envDefault:"no-reply@localhost"`
	CodeTTL              time.Duration `env:"CODE_TTL" envDefault:"60s"`
	CodeMaxAttempts      int           `env:"CODE_MAX_ATTEMPTS" envDefault:"3"`
	CodeResendCooldown   time.Duration `env:"CODE_RESEND_COOLDOWN" envDefault:"30s"`
	AccountFailureLimit  int           `env:"ACCOUNT_FAILURE_LIMIT" envDefault:"10"`
	AccountFailureWindow time.Duration `env:"ACCOUNT_FAILURE_WINDOW" envDefault:"24h"`
	RateLimitPerIP       int           `env:"RATE_LIMIT_PER_IP" envDefault:"60"`

	CodeHourlyLimit int `env:"CODE_HOURLY_LIMIT" envDefault:"5"`
	// CodeHMACKey is hex (64+ characters) or base64 of 32+ bytes. In
	// embedded mode it is generated into CodeHMACKeyFile when unset.
	CodeHMACKey       string        `env:"CODE_HMAC_KEY"`
	CodeHMACKeyFile   string        `env:"CODE_HMAC_KEY_FILE"`
	LogLevel          string        `env:"LOG_LEVEL" envDefault:"info"`
	LogFormat         string        `env:"LOG_FORMAT" envDefault:"text"`
	TrustedProxies    []string      `env:"TRUSTED_PROXIES" envSeparator:","`
	ProxyHeader       string        `env:"PROXY_HEADER"`
	HashConcurrency   int           `env:"HASH_CONCURRENCY"`
	HashMaxWait       time.Duration `env:"HASH_MAX_WAIT" envDefault:"1s"`
	RequestTimeout    time.Duration `env:"REQUEST_TIMEOUT" envDefault:"10s"`
	ShutdownTimeout   time.Duration `env:"SHUTDOWN_TIMEOUT" envDefault:"20s"`
	ActorShards       int           `env:"ACTOR_SHARDS" envDefault:"32"`
	ActorIdleTimeout  time.Duration `env:"ACTOR_IDLE_TIMEOUT" envDefault:"2m"`
	SQLiteSynchronous string        `env:"SQLITE_SYNCHRONOUS" envDefault:"FULL"`

	// Derived by load.
	sqlitePath string
	trusted    []netip.Prefix
	logLevel   slog.Level
}

// loadConfig reads and validates the configuration from environ
// ("KEY=value" entries). Every message names the variable; none repeats a
// secret.
func loadConfig(environ []string) (Config, error) {
	var cfg Config
	vars := map[string]string{}
	for _, kv := range environ {
		if k, v, ok := strings.Cut(kv, "="); ok {
			vars[k] = v
		}
	}
	if err := env.ParseWithOptions(&cfg, env.Options{Environment: vars}); err != nil {
		return cfg, parseErrors(err)
	}
	return cfg, cfg.validate()
}

// parseErrors restates env's errors with the variable's name instead of the
// Go field's, and without the value.
func parseErrors(err error) error {
	var agg env.AggregateError
	if !errors.As(err, &agg) {
		return fmt.Errorf("configuration: %w", err)
	}
	vars := map[string]string{}
	t := reflect.TypeFor[Config]()
	for i := range t.NumField() {
		vars[t.Field(i).Name] = t.Field(i).Tag.Get("env")
	}
	var errs []error
	for _, e := range agg.Errors {
		var pe env.ParseError
		if errors.As(e, &pe) {
			errs = append(errs, fmt.Errorf("%s: not a valid %s", vars[pe.Name], pe.Type))
			continue
		}
		errs = append(errs, e)
	}
	return errors.Join(errs...)
}

func (c *Config) validate() error {
	var errs []error
	bad := func(name, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: "+format, append([]any{name}, args...)...))
	}
	if c.HTTPAddr == "" {
		bad("HTTP_ADDR", "must not be empty")
	}
	switch {
	case strings.HasPrefix(c.DatabaseURL, "sqlite:"):
		c.sqlitePath = strings.TrimPrefix(strings.TrimPrefix(c.DatabaseURL, "sqlite:"), "//")
		if c.sqlitePath == "" {
			bad("DATABASE_URL", "sqlite: needs a path, e.g. sqlite:data/registrar.db")
		}
	case strings.HasPrefix(c.DatabaseURL, "postgres://"), strings.HasPrefix(c.DatabaseURL, "postgresql://"):
		bad("DATABASE_URL", "PostgreSQL is not supported by this build yet; use sqlite:PATH")
	default:
		bad("DATABASE_URL", "must start with sqlite: or postgres://")
	}
	if len(c.KafkaBrokers) > 0 {
		bad("KAFKA_BROKERS", "Kafka is not supported by this build yet; leave it empty for the in-process bus")
	}
	if c.SMTPURL != "" {
		if u, err := url.Parse(c.SMTPURL); err != nil || (u.Scheme != "smtp" && u.Scheme != "smtps") || u.Hostname() == "" {
			bad("SMTP_URL", "must be smtp://[user:pass@]host:port or smtps://[user:pass@]host:port")
		}
	}
	// The sender is an RFC 5322 address (a display name is fine), not a
	// sign-up address: the contract's default no-reply@localhost has no dot.
	if _, err := mail.ParseAddress(c.MailFrom); err != nil {
		bad("MAIL_FROM", "must be an email address such as no-reply@example.com or \"Registrar <no-reply@example.com>\"")
	}
	policy := c.policy()
	if err := policy.Validate(); err != nil {
		bad("CODE_TTL, CODE_MAX_ATTEMPTS, CODE_RESEND_COOLDOWN, CODE_HOURLY_LIMIT, ACCOUNT_FAILURE_LIMIT, ACCOUNT_FAILURE_WINDOW", "%v", err)
	}
	if c.RateLimitPerIP < 0 {
		bad("RATE_LIMIT_PER_IP", "must be 0 (off) or more, got %d", c.RateLimitPerIP)
	}
	if c.CodeHMACKey != "" {
		if _, err := decodeKey(c.CodeHMACKey); err != nil {
			bad("CODE_HMAC_KEY", "%v", err)
		}
	}
	if err := c.logLevel.UnmarshalText([]byte(c.LogLevel)); err != nil {
		bad("LOG_LEVEL", "must be debug, info, warn or error, got %q", c.LogLevel)
	}
	if c.LogFormat != "text" && c.LogFormat != "json" {
		bad("LOG_FORMAT", "must be text or json, got %q", c.LogFormat)
	}
	for _, p := range c.TrustedProxies {
		prefix, err := netip.ParsePrefix(strings.TrimSpace(p))
		if err != nil {
			if addr, aerr := netip.ParseAddr(strings.TrimSpace(p)); aerr == nil {
				prefix, err = addr.Prefix(addr.BitLen())
			}
		}
		if err != nil {
			bad("TRUSTED_PROXIES", "%q is not an IP address or CIDR prefix", p)
			continue
		}
		c.trusted = append(c.trusted, prefix)
	}
	if c.ProxyHeader != "" && len(c.trusted) == 0 {
		bad("PROXY_HEADER", "needs TRUSTED_PROXIES: a header from anyone else is the client's to forge")
	}
	if c.HashConcurrency < 0 {
		bad("HASH_CONCURRENCY", "must be 0 (one per CPU) or more, got %d", c.HashConcurrency)
	}
	for name, d := range map[string]time.Duration{"HASH_MAX_WAIT": c.HashMaxWait, "REQUEST_TIMEOUT": c.RequestTimeout,
		"SHUTDOWN_TIMEOUT": c.ShutdownTimeout, "ACTOR_IDLE_TIMEOUT": c.ActorIdleTimeout} {
		if d <= 0 {
			bad(name, "must be positive, got %s", d)
		}
	}
	if c.ActorShards < 1 || c.ActorShards > 4096 {
		bad("ACTOR_SHARDS", "must be within 1..4096, got %d", c.ActorShards)
	}
	if s := strings.ToUpper(c.SQLiteSynchronous); s != "FULL" && s != "NORMAL" {
		bad("SQLITE_SYNCHRONOUS", "must be FULL or NORMAL, got %q", c.SQLiteSynchronous)
	}
	return errors.Join(errs...)
}

func (c *Config) policy() actors.Policy {
	return actors.Policy{
		CodeTTL:         c.CodeTTL,
		CodeMaxAttempts: c.CodeMaxAttempts,
		ResendCooldown:  c.CodeResendCooldown,
		HourlyCodeLimit: c.CodeHourlyLimit,
		FailureLimit:    c.AccountFailureLimit,
		FailureWindow:   c.AccountFailureWindow,
	}
}

// decodeKey accepts hex or base64 (standard or URL alphabet, padded or
// not) of at least 32 bytes. Its errors never contain the key.
func decodeKey(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	if b, err := hex.DecodeString(s); err == nil && len(b) >= 32 {
		return b, nil
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(s); err == nil && len(b) >= 32 {
			return b, nil
		}
	}
	return nil, errors.New("must be hex or base64 of at least 32 bytes (e.g. the output of: openssl rand -hex 32)")
}
