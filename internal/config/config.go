// Package config holds the configuration both binaries share (Kafka topics,
// mail, logging) and the loading of environment variables into a struct
// with messages that name the variable and never repeat a secret. Only cmd/
// imports it.
package config

import (
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/mail"
	"net/url"
	"reflect"
	"strings"
	"time"

	"github.com/caarlos0/env/v11"

	"github.com/acme/registrar/internal/logctx"
)

// Load parses environ ("KEY=value" entries) into a T, a struct with env
// tags (nested structs included), and validates it.
func Load[T any, PT interface {
	*T
	Validate() error
}](environ []string) (T, error) {
	var cfg T
	vars := map[string]string{}
	for _, kv := range environ {
		if k, v, ok := strings.Cut(kv, "="); ok {
			vars[k] = v
		}
	}
	if err := env.ParseWithOptions(&cfg, env.Options{Environment: vars}); err != nil {
		return cfg, parseErrors(err, reflect.TypeFor[T]())
	}
	return cfg, PT(&cfg).Validate()
}

// parseErrors restates env's errors with the variable's name instead of the
// Go field's, and without the value.
func parseErrors(err error, t reflect.Type) error {
	var agg env.AggregateError
	if !errors.As(err, &agg) {
		return fmt.Errorf("configuration: %w", err)
	}
	vars := map[string]string{}
	collectTags(t, vars)
	var errs []error
	for _, e := range agg.Errors {
		var pe env.ParseError
		if errors.As(e, &pe) {
			errs = append(errs, fmt.Errorf("%s: %s", vars[pe.Name], expected(pe.Type)))
			continue
		}
		errs = append(errs, e)
	}
	return errors.Join(errs...)
}

// expected says what a value of type t looks like.
func expected(t reflect.Type) string {
	switch {
	case t == reflect.TypeFor[time.Duration]():
		return "must be a duration such as 60s, 2m or 1h30m"
	case t.Kind() == reflect.Bool:
		return "must be true or false"
	case t.Kind() >= reflect.Int && t.Kind() <= reflect.Uint64:
		return "must be a whole number"
	case t.Kind() == reflect.Slice:
		return "must be a comma-separated list of " + expected(t.Elem())[len("must be "):]
	}
	return "is not a valid " + t.String()
}

func collectTags(t reflect.Type, into map[string]string) {
	for i := range t.NumField() {
		f := t.Field(i)
		if f.Type.Kind() == reflect.Struct && f.Tag.Get("env") == "" && f.Type != reflect.TypeFor[time.Time]() {
			collectTags(f.Type, into)
			continue
		}
		into[f.Name] = f.Tag.Get("env")
	}
}

// Variable is one environment variable of a configuration.
type Variable struct{ Name, Default string }

// Variables lists the variables a configuration type (a struct with env
// tags, nested structs included) reads, in field order.
func Variables(t reflect.Type) []Variable {
	var out []Variable
	for i := range t.NumField() {
		f := t.Field(i)
		if f.Type.Kind() == reflect.Struct && f.Tag.Get("env") == "" && f.Type != reflect.TypeFor[time.Time]() {
			out = append(out, Variables(f.Type)...)
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("env"), ",")
		if name != "" {
			out = append(out, Variable{Name: name, Default: f.Tag.Get("envDefault")})
		}
	}
	return out
}

// Errors collects validation errors, each naming its variable.
type Errors []error

// Add records a problem with variable name.
func (e *Errors) Add(name, format string, args ...any) {
	*e = append(*e, fmt.Errorf("%s: "+format, append([]any{name}, args...)...))
}

// Err joins the problems, or is nil.
func (e Errors) Err() error { return errors.Join(e...) }

// Log configures logging.
type Log struct {
	Level  string `env:"LOG_LEVEL" envDefault:"info"`
	Format string `env:"LOG_FORMAT" envDefault:"text"`
}

// Validate checks the settings.
func (l Log) Validate(errs *Errors) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(l.Level)); err != nil {
		errs.Add("LOG_LEVEL", "must be debug, info, warn or error, got %q", l.Level)
	}
	if l.Format != "text" && l.Format != "json" {
		errs.Add("LOG_FORMAT", "must be text or json, got %q", l.Format)
	}
}

// Logger returns a logger writing to w; a line logged with a request's
// context carries its request_id (internal/logctx).
func (l Log) Logger(w io.Writer) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(l.Level))
	opts := &slog.HandlerOptions{Level: level}
	if l.Format == "json" {
		return slog.New(logctx.NewHandler(slog.NewJSONHandler(w, opts)))
	}
	return slog.New(logctx.NewHandler(slog.NewTextHandler(w, opts)))
}

// Mail configures how emails leave.
type Mail struct {
	SMTPURL  string `env:"SMTP_URL"`
	MailFrom string `env:"MAIL_FROM" envDefault:"no-reply@localhost"`
}

// Validate checks the settings without repeating the URL (it may hold a
// password).
func (m Mail) Validate(errs *Errors) {
	if m.SMTPURL != "" {
		if u, err := url.Parse(m.SMTPURL); err != nil || (u.Scheme != "smtp" && u.Scheme != "smtps") || u.Hostname() == "" {
			errs.Add("SMTP_URL", "must be smtp://[user:pass@]host:port or smtps://[user:pass@]host:port")
		}
	}
	// The sender is an RFC 5322 address (a display name is fine), not a
	// sign-up address: the contract's default no-reply@localhost has no dot.
	if _, err := mail.ParseAddress(m.MailFrom); err != nil {
		errs.Add("MAIL_FROM", `must be an email address such as no-reply@example.com or "Registrar <no-reply@example.com>"`)
	}
}

// Kafka configures the brokers and the topics.
type Kafka struct {
	Brokers []string `env:"KAFKA_BROKERS" envSeparator:","`
	// TopicPrefix is put before every topic name (environments or tenants
	// sharing a cluster).
	TopicPrefix         string        `env:"KAFKA_TOPIC_PREFIX"`
	Partitions          int           `env:"KAFKA_TOPIC_PARTITIONS" envDefault:"6"`
	ReplicationFactor   int           `env:"KAFKA_REPLICATION_FACTOR" envDefault:"1"`
	MailRetention       time.Duration `env:"KAFKA_MAIL_RETENTION" envDefault:"1h"`
	EventsRetention     time.Duration `env:"KAFKA_EVENTS_RETENTION" envDefault:"168h"`
	DeadLetterRetention time.Duration `env:"KAFKA_DEAD_LETTER_RETENTION" envDefault:"24h"`
}

// Enabled reports whether Kafka is configured.
func (k Kafka) Enabled() bool { return len(k.Brokers) > 0 }

// Validate checks the settings.
func (k Kafka) Validate(errs *Errors) {
	for _, b := range k.Brokers {
		if strings.TrimSpace(b) == "" || !strings.Contains(b, ":") {
			errs.Add("KAFKA_BROKERS", "must be a comma-separated list of host:port, got %q", b)
		}
	}
	if k.Partitions < 1 {
		errs.Add("KAFKA_TOPIC_PARTITIONS", "must be at least 1, got %d", k.Partitions)
	}
	if k.ReplicationFactor < 1 {
		errs.Add("KAFKA_REPLICATION_FACTOR", "must be at least 1, got %d", k.ReplicationFactor)
	}
	for name, d := range map[string]time.Duration{"KAFKA_MAIL_RETENTION": k.MailRetention,
		"KAFKA_EVENTS_RETENTION": k.EventsRetention, "KAFKA_DEAD_LETTER_RETENTION": k.DeadLetterRetention} {
		if d < time.Minute {
			errs.Add(name, "must be at least 1m, got %s", d)
		}
	}
}

// Topic returns the full name of a topic of the contract.
func (k Kafka) Topic(name string) string { return k.TopicPrefix + name }

// DecodeKey accepts hex or base64 (standard or URL alphabet, padded or not)
// of at least 32 bytes. Its errors never contain the key.
func DecodeKey(s string) ([]byte, error) {
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
