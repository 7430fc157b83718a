package main

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/acme/registrar/internal/config"
	"github.com/acme/registrar/mailer/smtptest"
)

// TestAppWiring drives the registrar's real wiring in process: SQLite, the
// actors, the relay, the in-process mailer over real SMTP, and the gateway.
func TestAppWiring(t *testing.T) {
	smtp := smtptest.Start(t)
	cfg, err := config.Load[Config]([]string{
		"HTTP_ADDR=127.0.0.1:0",
		"DATABASE_URL=sqlite:" + filepath.Join(t.TempDir(), "registrar.db"),
		"SMTP_URL=" + smtp.URL(),
		"MAIL_FROM=Registrar <no-reply@registrar.test>",
	})
	require.NoError(t, err)
	app, err := newApp(context.Background(), cfg, slog.New(slog.DiscardHandler), io.Discard)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- app.Run(ctx) }()
	base := "http://" + app.Addr()

	res, err := http.Post(base+"/v1/users", "application/json",
		strings.NewReader(`{"email":"ann@example.com","password":"correct horse battery staple"}`))
	require.NoError(t, err)
	require.NoError(t, res.Body.Close())
	require.Equal(t, http.StatusCreated, res.StatusCode)

	msg := smtp.Wait(t, 1, 10*time.Second)[0]
	parsed, err := msg.Parse()
	require.NoError(t, err)
	assert.Equal(t, "no-reply@registrar.test", msg.From, "MAIL_FROM is the envelope sender")
	from, err := parsed.Header.AddressList("From")
	require.NoError(t, err)
	assert.Equal(t, "Registrar", from[0].Name)
	code := regexp.MustCompile(`^[0-9]{4}`).FindString(parsed.Subject())
	require.NotEmpty(t, code)

	req, err := http.NewRequest(http.MethodPost, base+"/v1/users/activate", strings.NewReader(`{"code":"`+code+`"}`))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	req.SetBasicAuth("ann@example.com", "correct horse battery staple")
	res, err = http.DefaultClient.Do(req)
	require.NoError(t, err)
	require.NoError(t, res.Body.Close())
	assert.Equal(t, http.StatusOK, res.StatusCode)

	metrics, err := http.Get(base + "/metrics")
	require.NoError(t, err)
	body, err := io.ReadAll(metrics.Body)
	require.NoError(t, err)
	require.NoError(t, metrics.Body.Close())
	assert.Contains(t, string(body), `mailer_emails_total{outcome="accepted"} 1`)
	assert.Contains(t, string(body), "registrar_password_hash_slots")
	for _, line := range []string{`registrar_events_total{type="registered"} 1`, `registrar_events_total{type="code_issued"} 1`,
		`registrar_events_total{type="activated"} 1`, `registrar_events_total{type="code_expired"} 0`,
		"registrar_cluster_members 1", "registrar_actors 1",
		"mailer_dedupe_entries 1", // the load runner waits for it to fall to 0 (loadtest/cmd/loadrun)
		`registrar_dependency_up{name="database"} 1`, `registrar_dependency_up{name="actors"} 1`,
	} {
		assert.Contains(t, string(body), line)
	}

	cancel()
	select {
	case err := <-done:
		require.NoError(t, err, "a clean stop")
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not return after its context ended")
	}
}

func TestABadAddressChangesNothingOnDisk(t *testing.T) {
	dir := t.TempDir()
	cfg, err := config.Load[Config]([]string{"HTTP_ADDR=256.1.1.1:99999", "DATABASE_URL=sqlite:" + filepath.Join(dir, "registrar.db")})
	require.NoError(t, err)
	_, err = newApp(context.Background(), cfg, slog.New(slog.DiscardHandler), io.Discard)
	require.ErrorContains(t, err, "HTTP_ADDR")
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	assert.Empty(t, entries, "no database, no key file")
}
