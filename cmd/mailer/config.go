package main

import (
	"strings"
	"time"

	"github.com/acme/registrar/internal/config"
)

// Config is the mailer's configuration, read from the environment only here.
type Config struct {
	// DatabaseURL is where the mailer remembers what it sent (PostgreSQL).
	DatabaseURL string `env:"DATABASE_URL"`
	HTTPAddr    string `env:"MAILER_HTTP_ADDR" envDefault:":8081"`
	GroupID     string `env:"MAILER_GROUP_ID" envDefault:"registrar-mailer"`
	// Consumers is the number of group members this process runs.
	Consumers       int           `env:"MAILER_CONSUMERS" envDefault:"1"`
	ShutdownTimeout time.Duration `env:"SHUTDOWN_TIMEOUT" envDefault:"20s"`
	// PprofAddr serves net/http/pprof when set (keep it on loopback).
	PprofAddr string `env:"PPROF_ADDR"`
	config.Kafka
	config.Mail
	config.Log
}

// Validate checks the values and derives the settings they imply.
func (c *Config) Validate() error {
	var errs config.Errors
	if !c.Kafka.Enabled() {
		errs.Add("KAFKA_BROKERS", "is empty: without Kafka the registrar sends the emails itself and this binary has nothing to do")
	}
	if !strings.HasPrefix(c.DatabaseURL, "postgres://") && !strings.HasPrefix(c.DatabaseURL, "postgresql://") {
		errs.Add("DATABASE_URL", "must be a postgres:// URL: the mailer remembers the emails it sent there, so a redelivered message sends none")
	}
	if c.HTTPAddr == "" {
		errs.Add("MAILER_HTTP_ADDR", "must not be empty")
	}
	if c.GroupID == "" {
		errs.Add("MAILER_GROUP_ID", "must not be empty")
	}
	if c.Consumers < 1 || c.Consumers > 64 {
		errs.Add("MAILER_CONSUMERS", "must be within 1..64, got %d", c.Consumers)
	}
	if c.ShutdownTimeout <= 0 {
		errs.Add("SHUTDOWN_TIMEOUT", "must be positive, got %s", c.ShutdownTimeout)
	}
	c.Kafka.Validate(&errs)
	c.Mail.Validate(&errs)
	c.Log.Validate(&errs)
	return errs.Err()
}
