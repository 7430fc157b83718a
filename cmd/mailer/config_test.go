package main

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/acme/registrar/internal/config"
)

var valid = []string{"KAFKA_BROKERS=127.0.0.1:9092", "DATABASE_URL=postgres://postgres@127.0.0.1/registrar"}

func TestMailerDefaults(t *testing.T) {
	cfg, err := config.Load[Config](valid)
	require.NoError(t, err)
	assert.Equal(t, ":8081", cfg.HTTPAddr)
	assert.Equal(t, "registrar-mailer", cfg.GroupID)
	assert.Equal(t, 1, cfg.Consumers)
	assert.Equal(t, []string{"127.0.0.1:9092"}, cfg.Brokers)
	assert.Equal(t, time.Hour, cfg.MailRetention)
	assert.Equal(t, "registration.mail.v1", cfg.Kafka.Topic("registration.mail.v1"))
}

func TestMailerRefusesBadValuesNamingTheVariable(t *testing.T) {
	for kv, name := range map[string]string{
		"KAFKA_BROKERS=":                        "KAFKA_BROKERS",
		"DATABASE_URL=sqlite:data/registrar.db": "DATABASE_URL",
		"MAILER_CONSUMERS=0":                    "MAILER_CONSUMERS",
		"SMTP_URL=http://mail.example.com":      "SMTP_URL",
		"KAFKA_REPLICATION_FACTOR=0":            "KAFKA_REPLICATION_FACTOR",
		"SHUTDOWN_TIMEOUT=soon":                 "SHUTDOWN_TIMEOUT",
	} {
		_, err := config.Load[Config](append(append([]string{}, valid...), kv))
		require.Error(t, err, kv)
		assert.Contains(t, err.Error(), name, kv)
	}
}

func TestMailerConfigNeverEchoesSecrets(t *testing.T) {
	_, err := config.Load[Config](append(append([]string{}, valid...), "SMTP_URL=ftp://user:hunter2@mail.example.com"))
	require.Error(t, err)
	assert.NotContains(t, err.Error(), "hunter2")
}
