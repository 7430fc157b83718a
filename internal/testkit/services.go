package testkit

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// Env returns the value of variable, which names a service or tool the test
// needs. Without it the test is skipped, except under CI=true, where a
// missing service fails the run: it is never skipped there.
func Env(tb testing.TB, variable, what string) string {
	tb.Helper()
	v := os.Getenv(variable)
	if v != "" {
		return v
	}
	msg := what + ": " + variable + " is not set (make test starts the services and sets it; or run scripts/services.sh up and eval \"$(scripts/services.sh env)\")"
	if os.Getenv("CI") == "true" {
		tb.Fatal(msg)
	}
	tb.Skip(msg)
	return ""
}

// Tool returns the path of a program a test needs: variable when it is set,
// else name on PATH. Without it the test is skipped, except under CI=true,
// where it fails (make test installs it: scripts/services.sh tools).
func Tool(tb testing.TB, variable, name string) string {
	tb.Helper()
	if v := os.Getenv(variable); v != "" {
		return v
	}
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	return Env(tb, variable, name)
}

// Postgres returns the URL of a fresh, empty schema in the test database
// (TEST_DATABASE_URL), dropped when the test ends. Every store opened on it
// sees only its own tables.
func Postgres(tb testing.TB) string {
	tb.Helper()
	base := Env(tb, "TEST_DATABASE_URL", "PostgreSQL")
	schema := "t_" + randomHex(tb, 6)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		tb.Fatalf("PostgreSQL at TEST_DATABASE_URL does not answer: %v", err)
	}
	defer func() { _ = conn.Close(ctx) }()
	if _, err := conn.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		tb.Fatalf("create schema: %v", err)
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if c, err := pgx.Connect(ctx, base); err == nil {
			_, _ = c.Exec(ctx, "DROP SCHEMA "+schema+" CASCADE")
			_ = c.Close(ctx)
		}
	})
	u, err := url.Parse(base)
	if err != nil {
		tb.Fatalf("TEST_DATABASE_URL: %v", err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// Kafka returns the brokers of the test Kafka (TEST_KAFKA_BROKERS).
func Kafka(tb testing.TB) []string {
	tb.Helper()
	return strings.Split(Env(tb, "TEST_KAFKA_BROKERS", "Kafka"), ",")
}

// Unique returns a short random name with the given prefix, for topics,
// groups and schemas that tests must not share.
func Unique(tb testing.TB, prefix string) string {
	tb.Helper()
	return prefix + randomHex(tb, 4)
}

func randomHex(tb testing.TB, n int) string {
	tb.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		tb.Fatal(err)
	}
	return hex.EncodeToString(b)
}
