package main

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/acme/registrar/internal/config"
	"github.com/acme/registrar/internal/testkit"
	"github.com/acme/registrar/mailer/smtptest"
)

// TestOneRegistrationIsOneTrace drives the real wiring (SQLite, actors,
// outbox, relay, in-process bus, mailer, real SMTP) with an in-memory span
// recorder, and reads the tree of one registration: from the HTTP request
// to the SMTP server's accept, every span in one trace, each under the one
// that caused it, and not one attribute holding the email, the password or
// the code.
func TestOneRegistrationIsOneTrace(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	otel.SetTracerProvider(tp) // the only test of this binary that sets it
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })

	smtp := smtptest.Start(t)
	cfg, err := config.Load[Config]([]string{
		"HTTP_ADDR=127.0.0.1:0", "DATABASE_URL=sqlite:" + filepath.Join(t.TempDir(), "registrar.db"), "SMTP_URL=" + smtp.URL(),
	})
	require.NoError(t, err)
	app, err := newApp(context.Background(), cfg, slog.New(slog.DiscardHandler), io.Discard)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- app.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })

	const email, password = "ann@example.com", "correct horse battery staple"
	res, err := http.Post("http://"+app.Addr()+"/v1/users", "application/json",
		strings.NewReader(`{"email":"`+email+`","password":"`+password+`"}`))
	require.NoError(t, err)
	require.NoError(t, res.Body.Close())
	require.Equal(t, http.StatusCreated, res.StatusCode)
	parsed, err := smtp.Wait(t, 1, 10*time.Second)[0].Parse()
	require.NoError(t, err)
	code := regexp.MustCompile(`^[0-9]{4}`).FindString(parsed.Subject())
	require.NotEmpty(t, code)

	byName := map[string]sdktrace.ReadOnlySpan{}
	require.Eventually(t, func() bool {
		for _, s := range rec.Ended() {
			byName[s.Name()] = s
		}
		return byName["publish registration.mail.v1"] != nil && byName["publish registration.events.v1"] != nil
	}, 10*time.Second, 20*time.Millisecond, "the relay's spans end (after the in-process mailer's)")

	root := byName["POST /v1/users"]
	require.NotNil(t, root, "the HTTP request's span")
	for child, parent := range map[string]string{
		"password.hash":                  "POST /v1/users",
		"argon2id":                       "password.hash",
		"actors.Register":                "POST /v1/users",
		"actor.Register":                 "actors.Register",
		"store.save":                     "actor.Register",
		"publish registration.mail.v1":   "actor.Register",
		"publish registration.events.v1": "actor.Register",
		"mailer.handle":                  "publish registration.mail.v1",
		"mailer.dedupe.seen":             "mailer.handle",
		"smtp.send":                      "mailer.handle",
		"mailer.dedupe.remember":         "mailer.handle",
	} {
		s := byName[child]
		require.NotNil(t, s, "span %s", child)
		assert.Equal(t, root.SpanContext().TraceID(), s.SpanContext().TraceID(), "%s is in the request's trace", child)
		assert.Equal(t, byName[parent].SpanContext().SpanID(), s.Parent().SpanID(), "%s is a child of %s", child, parent)
	}
	attrs := map[string]string{}
	for _, a := range root.Attributes() {
		attrs[string(a.Key)] = a.Value.String()
	}
	assert.Equal(t, "201", attrs["http.response.status_code"])
	assert.Equal(t, res.Header.Get("X-Request-Id"), attrs["registrar.request_id"], "the request id is in its trace")
	assert.NotEmpty(t, byName["actor.Register"].Attributes(), "the actor's span names the user id")

	for _, s := range rec.Ended() {
		values := []string{s.Name(), s.Status().Description}
		for _, a := range s.Attributes() {
			values = append(values, a.Value.String())
		}
		for _, e := range s.Events() {
			values = append(values, e.Name)
			for _, a := range e.Attributes {
				values = append(values, a.Value.String())
			}
		}
		for _, v := range values {
			for _, secret := range []string{email, password, code} {
				assert.False(t, testkit.ContainsToken(v, secret) || strings.Contains(v, "@"), "span %s holds %q", s.Name(), v)
			}
		}
	}
}
