package main

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/acme/registrar/internal/config"
)

func TestDefaultsMatchTheContract(t *testing.T) {
	cfg, err := config.Load[Config](nil)
	require.NoError(t, err)
	assert.Equal(t, ":8080", cfg.HTTPAddr)
	assert.Equal(t, "data/registrar.db", cfg.sqlitePath)
	assert.Empty(t, cfg.Brokers)
	assert.Empty(t, cfg.SMTPURL)
	assert.Equal(t, "no-reply@localhost", cfg.MailFrom)
	assert.Equal(t, 60*time.Second, cfg.CodeTTL)
	assert.Equal(t, 3, cfg.CodeMaxAttempts)
	assert.Equal(t, 30*time.Second, cfg.CodeResendCooldown)
	assert.Equal(t, 5, cfg.CodeHourlyLimit)
	assert.Equal(t, 10, cfg.AccountFailureLimit)
	assert.Equal(t, 24*time.Hour, cfg.AccountFailureWindow)
	assert.Equal(t, 60, cfg.RateLimitPerIP)
	assert.Equal(t, 168*time.Hour, cfg.PendingRetention)
}

func TestConfigRefusesBadValuesNamingTheVariable(t *testing.T) {
	tests := map[string]string{
		"CODE_TTL=soon":                            "CODE_TTL",
		"CODE_TTL=-5s":                             "CODE_TTL",
		"CODE_MAX_ATTEMPTS=0":                      "CODE_MAX_ATTEMPTS",
		"ACCOUNT_FAILURE_LIMIT=1000":               "ACCOUNT_FAILURE_LIMIT",
		"ACCOUNT_FAILURE_WINDOW=0s":                "ACCOUNT_FAILURE_WINDOW",
		"CODE_RESEND_COOLDOWN=-1s":                 "CODE_RESEND_COOLDOWN",
		"CODE_HOURLY_LIMIT=0":                      "CODE_HOURLY_LIMIT",
		"RATE_LIMIT_PER_IP=-1":                     "RATE_LIMIT_PER_IP",
		"PENDING_RETENTION=-1h":                    "PENDING_RETENTION",
		"PENDING_RETENTION=a week":                 "PENDING_RETENTION",
		"RATE_LIMIT_PER_IP=lots":                   "RATE_LIMIT_PER_IP",
		"DATABASE_URL=mysql://x":                   "DATABASE_URL",
		"DATABASE_URL=sqlite:":                     "DATABASE_URL",
		"MAIL_FROM=not an address":                 "MAIL_FROM",
		"SMTP_URL=http://mail.example.com":         "SMTP_URL",
		"LOG_LEVEL=loud":                           "LOG_LEVEL",
		"LOG_FORMAT=xml":                           "LOG_FORMAT",
		"TRUSTED_PROXIES=10.0.0.0/33":              "TRUSTED_PROXIES",
		"PROXY_HEADER=X-Forwarded-For":             "PROXY_HEADER",
		"ACTOR_SHARDS=0":                           "ACTOR_SHARDS",
		"SQLITE_SYNCHRONOUS=OFF":                   "SQLITE_SYNCHRONOUS",
		"HASH_MAX_WAIT=0s":                         "HASH_MAX_WAIT",
		"HASH_MAX_QUEUE=-1":                        "HASH_MAX_QUEUE",
		"PASSWORD_HASH_PARAMS=m=8,t=1,p=1":         "PASSWORD_HASH_BENCHMARK", // below OWASP without the flag
		"PASSWORD_HASH_PARAMS=strong":              "PASSWORD_HASH_PARAMS",
		"PASSWORD_HASH_PARAMS=m=19456,t=2,p=1,x=9": "PASSWORD_HASH_PARAMS",
		"PASSWORD_HASH_PARAMS=m=4,t=1,p=1":         "PASSWORD_HASH_PARAMS",
	}
	policy := []string{"CODE_TTL", "CODE_MAX_ATTEMPTS", "ACCOUNT_FAILURE_LIMIT", "ACCOUNT_FAILURE_WINDOW", "CODE_RESEND_COOLDOWN", "CODE_HOURLY_LIMIT"}
	for kv, name := range tests {
		_, err := config.Load[Config]([]string{kv})
		require.Error(t, err, kv)
		assert.Contains(t, err.Error(), name, kv)
		for _, other := range policy {
			if other != name {
				assert.NotContains(t, err.Error(), other, "%s: only the variable at fault is named", kv)
			}
		}
	}
}

func TestConfigNeverEchoesSecrets(t *testing.T) {
	for _, kv := range []string{
		"CODE_HMAC_KEY=tooshort-hunter2",
		"SMTP_URL=ftp://mailer:hunter2@mail.example.com",
	} {
		_, err := config.Load[Config]([]string{kv})
		require.Error(t, err, kv)
		assert.NotContains(t, err.Error(), "hunter2", kv)
	}
}

func TestConfigAcceptsProxiesAndKeys(t *testing.T) {
	cfg, err := config.Load[Config]([]string{
		"TRUSTED_PROXIES=10.0.0.0/8, 192.168.1.7", "PROXY_HEADER=X-Forwarded-For",
		"CODE_HMAC_KEY=" + strings.Repeat("ab", 32), "LOG_FORMAT=json", "LOG_LEVEL=debug",
	})
	require.NoError(t, err)
	require.Len(t, cfg.trusted, 2)
	assert.Equal(t, "192.168.1.7/32", cfg.trusted[1].String())
	assert.Equal(t, "debug", cfg.Level)
}

func TestEmbeddedKeyIsGeneratedOnceAndKept(t *testing.T) {
	dir := t.TempDir()
	cfg, err := config.Load[Config]([]string{"DATABASE_URL=sqlite:" + filepath.Join(dir, "db", "registrar.db")})
	require.NoError(t, err)
	log := slog.New(slog.DiscardHandler)

	first, err := codeKey(cfg, log)
	require.NoError(t, err)
	assert.Len(t, first, 32)
	info, err := os.Stat(filepath.Join(dir, "db", "code_hmac.key"))
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), info.Mode().Perm(), "the key file is private")

	second, err := codeKey(cfg, log)
	require.NoError(t, err)
	assert.Equal(t, first, second, "a restart must keep the key, or pending codes stop matching")

	cfg.CodeHMACKey = strings.Repeat("cd", 32)
	explicit, err := codeKey(cfg, log)
	require.NoError(t, err)
	assert.Equal(t, strings.Repeat("\xcd", 32), string(explicit), "CODE_HMAC_KEY wins")
}

func TestWeakHashParamsNeedTheBenchmarkFlag(t *testing.T) {
	cfg, err := config.Load[Config]([]string{"PASSWORD_HASH_PARAMS=m=64,t=1,p=1", "PASSWORD_HASH_BENCHMARK=true"})
	require.NoError(t, err)
	assert.Equal(t, uint32(64), cfg.hashParams.Memory)
	assert.True(t, cfg.hashParams.BelowOWASP())

	cfg, err = config.Load[Config]([]string{"PASSWORD_HASH_PARAMS=m=65536,t=3,p=2"})
	require.NoError(t, err, "stronger than the minimum needs no flag")
	assert.Equal(t, uint8(2), cfg.hashParams.Threads)
}

func TestClusterSettings(t *testing.T) {
	pg := []string{"DATABASE_URL=postgres://u@db/registrar", "CODE_HMAC_KEY=" + strings.Repeat("ab", 32)}
	with := func(kv ...string) []string { return append(append([]string{}, pg...), kv...) }

	t.Run("none by default: one process", func(t *testing.T) {
		cfg, err := config.Load[Config](nil)
		require.NoError(t, err)
		assert.False(t, cfg.Cluster.Enabled())
		assert.Equal(t, "registrar", cfg.Cluster.Name)
		assert.Equal(t, "127.0.0.1:0", cfg.Cluster.Addr)
	})

	t.Run("bad settings name their variable", func(t *testing.T) {
		for _, tt := range []struct {
			env  []string
			name string
		}{
			{[]string{"CLUSTER_PROVIDER=automanaged", "CLUSTER_DISCOVERY_PORT=6330", "CLUSTER_PEERS=a:6330"}, "CLUSTER_PROVIDER"}, // SQLite
			{with("CLUSTER_PROVIDER=consul"), "CLUSTER_PROVIDER"},
			{with("CLUSTER_PROVIDER=automanaged", "CLUSTER_PEERS=a:6330"), "CLUSTER_DISCOVERY_PORT"},
			{with("CLUSTER_PROVIDER=automanaged", "CLUSTER_DISCOVERY_PORT=6330"), "CLUSTER_PEERS"},
			{with("CLUSTER_PROVIDER=automanaged", "CLUSTER_DISCOVERY_PORT=6330", "CLUSTER_PEERS=nohost"), "CLUSTER_PEERS"},
			{with("CLUSTER_PROVIDER=automanaged", "CLUSTER_DISCOVERY_PORT=6330", "CLUSTER_PEERS=a:6331,b:6332"), "CLUSTER_PEERS"},
			{with("CLUSTER_PROVIDER=etcd"), "ETCD_ENDPOINTS"},
			{with("CLUSTER_PROVIDER=etcd", "ETCD_ENDPOINTS=etcd:2379"), "ETCD_ENDPOINTS"},
			{with("CLUSTER_PROVIDER=etcd", "ETCD_ENDPOINTS=http://etcd:2379", "CLUSTER_ADDR=0.0.0.0:4000"), "CLUSTER_ADDR"},
			{with("CLUSTER_PROVIDER=etcd", "ETCD_ENDPOINTS=http://etcd:2379", "CLUSTER_ADDR=:4000"), "CLUSTER_ADDR"},
			{with("CLUSTER_PROVIDER=etcd", "ETCD_ENDPOINTS=http://etcd:2379", "CLUSTER_ADDR=r1:port"), "CLUSTER_ADDR"},
		} {
			_, err := config.Load[Config](tt.env)
			require.Error(t, err, "%v", tt.env)
			assert.Contains(t, err.Error(), tt.name, "%v", tt.env)
		}
	})

	t.Run("a cluster on PostgreSQL", func(t *testing.T) {
		cfg, err := config.Load[Config](with("CLUSTER_PROVIDER=automanaged", "CLUSTER_ADDR=10.0.0.7:4000",
			"CLUSTER_DISCOVERY_PORT=6330", "CLUSTER_PEERS=10.0.0.7:6330, 10.0.0.8:6330"))
		require.NoError(t, err)
		cc, err := cfg.Cluster.config(nil)
		require.NoError(t, err)
		assert.Equal(t, "10.0.0.7", cc.Host)
		assert.Equal(t, 4000, cc.Port)
		assert.NotNil(t, cc.Provider)
	})
}

func TestHelpListsEveryVariableOfTheContract(t *testing.T) {
	var out, errs strings.Builder
	require.Equal(t, 0, binary.Main(context.Background(), []string{"--help"}, nil, &out, &errs))
	for _, v := range []string{"HTTP_ADDR", "DATABASE_URL", "KAFKA_BROKERS", "SMTP_URL", "MAIL_FROM", "CODE_TTL",
		"CODE_MAX_ATTEMPTS", "CODE_RESEND_COOLDOWN", "ACCOUNT_FAILURE_LIMIT", "ACCOUNT_FAILURE_WINDOW", "RATE_LIMIT_PER_IP",
		"PENDING_RETENTION", "CLUSTER_PROVIDER", "CLUSTER_NAME", "CLUSTER_ADDR", "CLUSTER_DISCOVERY_PORT", "CLUSTER_PEERS", "ETCD_ENDPOINTS"} {
		assert.Contains(t, out.String(), v)
	}
	assert.Contains(t, out.String(), "sqlite:data/registrar.db")
}
