package main

import (
	"net/netip"
	"strings"
	"time"

	"github.com/acme/registrar/actors"
	"github.com/acme/registrar/internal/config"
)

// Config is the registrar's configuration, read from the environment only
// here. The contract's variables come first; the rest are operational
// settings with safe defaults (README and docs/OPERATIONS.md).
type Config struct {
	HTTPAddr             string        `env:"HTTP_ADDR" envDefault:":8080"`
	DatabaseURL          string        `env:"DATABASE_URL" envDefault:"sqlite:data/registrar.db"`
	CodeTTL              time.Duration `env:"CODE_TTL" envDefault:"60s"`
	CodeMaxAttempts      int           `env:"CODE_MAX_ATTEMPTS" envDefault:"3"`
	CodeResendCooldown   time.Duration `env:"CODE_RESEND_COOLDOWN" envDefault:"30s"`
	AccountFailureLimit  int           `env:"ACCOUNT_FAILURE_LIMIT" envDefault:"10"`
	AccountFailureWindow time.Duration `env:"ACCOUNT_FAILURE_WINDOW" envDefault:"24h"`
	RateLimitPerIP       int           `env:"RATE_LIMIT_PER_IP" envDefault:"60"`
	config.Kafka
	config.Mail
	config.Log

	CodeHourlyLimit int `env:"CODE_HOURLY_LIMIT" envDefault:"5"`
	// CodeHMACKey is hex (64+ characters) or base64 of 32+ bytes. In
	// embedded mode it is generated into CodeHMACKeyFile when unset; with
	// PostgreSQL every instance needs the same key, so it is required.
	CodeHMACKey       string        `env:"CODE_HMAC_KEY"`
	CodeHMACKeyFile   string        `env:"CODE_HMAC_KEY_FILE"`
	TrustedProxies    []string      `env:"TRUSTED_PROXIES" envSeparator:","`
	ProxyHeader       string        `env:"PROXY_HEADER"`
	HashConcurrency   int           `env:"HASH_CONCURRENCY"`
	HashMaxWait       time.Duration `env:"HASH_MAX_WAIT" envDefault:"1s"`
	RequestTimeout    time.Duration `env:"REQUEST_TIMEOUT" envDefault:"10s"`
	ShutdownTimeout   time.Duration `env:"SHUTDOWN_TIMEOUT" envDefault:"20s"`
	ActorShards       int           `env:"ACTOR_SHARDS" envDefault:"32"`
	ActorIdleTimeout  time.Duration `env:"ACTOR_IDLE_TIMEOUT" envDefault:"2m"`
	SQLiteSynchronous string        `env:"SQLITE_SYNCHRONOUS" envDefault:"FULL"`
	DatabaseMaxConns  int32         `env:"DATABASE_MAX_CONNS" envDefault:"16"`

	// Derived by validate.
	sqlitePath string
	postgres   bool
	trusted    []netip.Prefix
}

// loadConfig reads and validates the configuration from environ.
func loadConfig(environ []string) (Config, error) {
	var cfg Config
	if err := config.Load(environ, &cfg); err != nil {
		return cfg, err
	}
	return cfg, cfg.validate()
}

func (c *Config) validate() error {
	var errs config.Errors
	if c.HTTPAddr == "" {
		errs.Add("HTTP_ADDR", "must not be empty")
	}
	switch {
	case strings.HasPrefix(c.DatabaseURL, "sqlite:"):
		c.sqlitePath = strings.TrimPrefix(strings.TrimPrefix(c.DatabaseURL, "sqlite:"), "//")
		if c.sqlitePath == "" {
			errs.Add("DATABASE_URL", "sqlite: needs a path, e.g. sqlite:data/registrar.db")
		}
	case strings.HasPrefix(c.DatabaseURL, "postgres://"), strings.HasPrefix(c.DatabaseURL, "postgresql://"):
		c.postgres = true
		if c.CodeHMACKey == "" {
			errs.Add("CODE_HMAC_KEY", "is required with PostgreSQL: every instance must share it (e.g. openssl rand -hex 32)")
		}
	default:
		errs.Add("DATABASE_URL", "must start with sqlite: or postgres://")
	}
	c.Kafka.Validate(&errs)
	c.Mail.Validate(&errs)
	c.Log.Validate(&errs)
	policy := c.policy()
	if err := policy.Validate(); err != nil {
		errs.Add("CODE_TTL, CODE_MAX_ATTEMPTS, CODE_RESEND_COOLDOWN, CODE_HOURLY_LIMIT, ACCOUNT_FAILURE_LIMIT, ACCOUNT_FAILURE_WINDOW", "%v", err)
	}
	if c.RateLimitPerIP < 0 {
		errs.Add("RATE_LIMIT_PER_IP", "must be 0 (off) or more, got %d", c.RateLimitPerIP)
	}
	if c.CodeHMACKey != "" {
		if _, err := config.DecodeKey(c.CodeHMACKey); err != nil {
			errs.Add("CODE_HMAC_KEY", "%v", err)
		}
	}
	for _, p := range c.TrustedProxies {
		prefix, err := netip.ParsePrefix(strings.TrimSpace(p))
		if err != nil {
			if addr, aerr := netip.ParseAddr(strings.TrimSpace(p)); aerr == nil {
				prefix, err = addr.Prefix(addr.BitLen())
			}
		}
		if err != nil {
			errs.Add("TRUSTED_PROXIES", "%q is not an IP address or CIDR prefix", p)
			continue
		}
		c.trusted = append(c.trusted, prefix)
	}
	if c.ProxyHeader != "" && len(c.trusted) == 0 {
		errs.Add("PROXY_HEADER", "needs TRUSTED_PROXIES: a header from anyone else is the client's to forge")
	}
	if c.HashConcurrency < 0 {
		errs.Add("HASH_CONCURRENCY", "must be 0 (one per CPU) or more, got %d", c.HashConcurrency)
	}
	for name, d := range map[string]time.Duration{"HASH_MAX_WAIT": c.HashMaxWait, "REQUEST_TIMEOUT": c.RequestTimeout,
		"SHUTDOWN_TIMEOUT": c.ShutdownTimeout, "ACTOR_IDLE_TIMEOUT": c.ActorIdleTimeout} {
		if d <= 0 {
			errs.Add(name, "must be positive, got %s", d)
		}
	}
	if c.ActorShards < 1 || c.ActorShards > 4096 {
		errs.Add("ACTOR_SHARDS", "must be within 1..4096, got %d", c.ActorShards)
	}
	if s := strings.ToUpper(c.SQLiteSynchronous); s != "FULL" && s != "NORMAL" {
		errs.Add("SQLITE_SYNCHRONOUS", "must be FULL or NORMAL, got %q", c.SQLiteSynchronous)
	}
	if c.DatabaseMaxConns < 2 {
		errs.Add("DATABASE_MAX_CONNS", "must be at least 2, got %d", c.DatabaseMaxConns)
	}
	return errs.Err()
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
