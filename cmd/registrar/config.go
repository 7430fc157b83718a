package main

import (
	"errors"
	"fmt"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/acme/registrar/actors"
	"github.com/acme/registrar/internal/config"
	"github.com/acme/registrar/password"
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
	PendingRetention     time.Duration `env:"PENDING_RETENTION" envDefault:"168h"`
	config.Kafka
	config.Mail
	config.Log
	Cluster

	CodeHourlyLimit int `env:"CODE_HOURLY_LIMIT" envDefault:"5"`
	// CodeHMACKey is hex (64+ characters) or base64 of 32+ bytes. In
	// embedded mode it is generated into CodeHMACKeyFile when unset; with
	// PostgreSQL every instance needs the same key, so it is required.
	CodeHMACKey       string        `env:"CODE_HMAC_KEY"`
	CodeHMACKeyFile   string        `env:"CODE_HMAC_KEY_FILE"`
	TrustedProxies    []string      `env:"TRUSTED_PROXIES" envSeparator:","`
	ProxyHeader       string        `env:"PROXY_HEADER"`
	HashConcurrency   int           `env:"HASH_CONCURRENCY"`
	HashMaxQueue      int           `env:"HASH_MAX_QUEUE"` // 0: eight per slot
	HashMaxWait       time.Duration `env:"HASH_MAX_WAIT" envDefault:"1s"`
	RequestTimeout    time.Duration `env:"REQUEST_TIMEOUT" envDefault:"10s"`
	AccessLog         bool          `env:"ACCESS_LOG" envDefault:"true"`
	ShutdownTimeout   time.Duration `env:"SHUTDOWN_TIMEOUT" envDefault:"20s"`
	ActorShards       int           `env:"ACTOR_SHARDS" envDefault:"32"`
	ActorIdleTimeout  time.Duration `env:"ACTOR_IDLE_TIMEOUT" envDefault:"2m"`
	SQLiteSynchronous string        `env:"SQLITE_SYNCHRONOUS" envDefault:"FULL"`
	DatabaseMaxConns  int32         `env:"DATABASE_MAX_CONNS" envDefault:"16"`
	// PasswordHashParams are the argon2id parameters of new hashes, as in a
	// PHC string. Below the OWASP minimum they are refused unless
	// PasswordHashBenchmark says this is a benchmark.
	PasswordHashParams    string `env:"PASSWORD_HASH_PARAMS" envDefault:"m=19456,t=2,p=1"`
	PasswordHashBenchmark bool   `env:"PASSWORD_HASH_BENCHMARK"`
	// PprofAddr serves net/http/pprof when set (keep it on loopback).
	PprofAddr string `env:"PPROF_ADDR"`

	// Derived by validate.
	sqlitePath string
	postgres   bool
	trusted    []netip.Prefix
	hashParams password.Params
}

// Validate checks the values and derives the settings they imply.
func (c *Config) Validate() error {
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
	c.Cluster.Validate(&errs, c.postgres)
	c.Kafka.Validate(&errs)
	c.Mail.Validate(&errs)
	c.Log.Validate(&errs)
	c.validatePolicy(&errs)
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
	if c.HashMaxQueue < 0 {
		errs.Add("HASH_MAX_QUEUE", "must be 0 (eight per hashing slot) or more, got %d", c.HashMaxQueue)
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
	if p, err := parseHashParams(c.PasswordHashParams); err != nil {
		errs.Add("PASSWORD_HASH_PARAMS", "%v", err)
	} else if p.BelowOWASP() && !c.PasswordHashBenchmark {
		errs.Add("PASSWORD_HASH_PARAMS", "%s is below the OWASP minimum %s; only a benchmark may use it, with PASSWORD_HASH_BENCHMARK=true", p, password.OWASP)
	} else {
		c.hashParams = p
	}
	if c.DatabaseMaxConns < 2 {
		errs.Add("DATABASE_MAX_CONNS", "must be at least 2, got %d", c.DatabaseMaxConns)
	}
	return errs.Err()
}

var hashParamsSyntax = regexp.MustCompile(`^m=([0-9]{1,9}),t=([0-9]{1,4}),p=([0-9]{1,3})$`)

// parseHashParams reads "m=KiB,t=passes,p=threads".
func parseHashParams(s string) (password.Params, error) {
	p := password.OWASP
	match := hashParamsSyntax.FindStringSubmatch(strings.ReplaceAll(s, " ", ""))
	if match == nil {
		return p, errors.New(`must look like "m=19456,t=2,p=1" (memory in KiB, passes, threads)`)
	}
	num := func(s string) uint32 { v, _ := strconv.ParseUint(s, 10, 32); return uint32(v) }
	m, t, threads := num(match[1]), num(match[2]), num(match[3])
	if m < 8*threads || t < 1 || threads < 1 || threads > 255 {
		return p, fmt.Errorf("m=%d,t=%d,p=%d is not a valid argon2id setting", m, t, threads)
	}
	p.Memory, p.Time, p.Threads = m, t, uint8(threads)
	return p, nil
}

// validatePolicy names the variable of each value out of range (the rules
// check the policy again when they start, with the same limits).
func (c *Config) validatePolicy(errs *config.Errors) {
	if c.CodeTTL <= 0 {
		errs.Add("CODE_TTL", "must be positive, got %s", c.CodeTTL)
	}
	if c.CodeMaxAttempts < 1 {
		errs.Add("CODE_MAX_ATTEMPTS", "must be at least 1, got %d", c.CodeMaxAttempts)
	}
	if c.CodeResendCooldown < 0 {
		errs.Add("CODE_RESEND_COOLDOWN", "must not be negative, got %s", c.CodeResendCooldown)
	}
	if c.CodeHourlyLimit < 1 || c.CodeHourlyLimit > 100 {
		errs.Add("CODE_HOURLY_LIMIT", "must be within 1..100, got %d", c.CodeHourlyLimit)
	}
	if c.AccountFailureLimit < 1 || c.AccountFailureLimit > actors.MaxFailureLimit {
		errs.Add("ACCOUNT_FAILURE_LIMIT", "must be within 1..%d, got %d", actors.MaxFailureLimit, c.AccountFailureLimit)
	}
	if c.AccountFailureWindow <= 0 {
		errs.Add("ACCOUNT_FAILURE_WINDOW", "must be positive, got %s", c.AccountFailureWindow)
	}
	if c.PendingRetention < 0 {
		errs.Add("PENDING_RETENTION", "must not be negative (0 keeps pending registrations), got %s", c.PendingRetention)
	}
}

func (c *Config) policy() actors.Policy {
	p := actors.DefaultPolicy() // what no variable sets
	p.CodeTTL = c.CodeTTL
	p.CodeMaxAttempts = c.CodeMaxAttempts
	p.ResendCooldown = c.CodeResendCooldown
	p.HourlyCodeLimit = c.CodeHourlyLimit
	p.FailureLimit = c.AccountFailureLimit
	p.FailureWindow = c.AccountFailureWindow
	p.PendingRetention = c.PendingRetention
	return p
}
