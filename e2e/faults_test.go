package e2e_test

import (
	"fmt"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/acme/registrar/mailer/smtptest"
)

// readyz returns the status of a process's readiness probe.
func readyz(t *testing.T, p *process) int {
	t.Helper()
	res, err := http.Get(p.base + "/readyz")
	require.NoError(t, err)
	_ = res.Body.Close()
	return res.StatusCode
}

// emailed counts the emails each address got.
func emailed(srv *smtptest.Server) map[string]int {
	got := map[string]int{}
	for _, m := range srv.Messages() {
		got[m.To[0]]++
	}
	return got
}

func TestFaultKafkaStoppedFor20Seconds(t *testing.T) {
	broker := startKafka(t)
	s := newStack(t, stackOptions{brokers: broker.addr()})

	broker.stop()
	stopped := time.Now()
	var emails []string
	for i := 0; time.Since(stopped) < 20*time.Second; i++ {
		email := fmt.Sprintf("outage-%02d@example.com", i)
		r := register(t, s.registrar, email, pw)
		require.Equal(t, http.StatusCreated, r.status, "registrations go on while Kafka is down: %v", r.body)
		emails = append(emails, email)
		time.Sleep(500 * time.Millisecond) // a steady trickle of sign-ups during the outage
	}
	// The contract: /readyz is 503 while Kafka does not answer. Which
	// dependency is down is a metric of its own; the outbox holds the rest.
	assert.Equal(t, http.StatusServiceUnavailable, readyz(t, s.registrar), "readiness tells Kafka is gone")
	assert.Equal(t, 0.0, metric(t, s.registrar, `registrar_dependency_up{name="kafka"}`))
	assert.Equal(t, 1.0, metric(t, s.registrar, `registrar_dependency_up{name="database"}`))
	assert.Greater(t, metric(t, s.registrar, "registrar_outbox_oldest_age_seconds"), 15.0, "the outbox holds what Kafka cannot take")
	res, err := http.Get(s.registrar.base + "/readyz?exclude=kafka")
	require.NoError(t, err)
	_ = res.Body.Close()
	assert.Equal(t, http.StatusOK, res.StatusCode, "a load balancer that excludes Kafka keeps the registrar")
	health := exec.Command(filepath.Join(binDir, "registrar"), "healthcheck")
	health.Env = append([]string{"HTTP_ADDR=" + strings.TrimPrefix(s.registrar.base, "http://")}, s.env...)
	out, err := health.CombinedOutput()
	assert.NoError(t, err, "the container health check leaves Kafka out: %s", out)
	broker.start()
	back := time.Now()

	// Every code is still alive (60 s TTL, 20 s outage): every one is emailed.
	waitUntil(t, "every email after Kafka came back", 60*time.Second, func() bool { return len(emailed(s.smtp)) == len(emails) })
	got := emailed(s.smtp)
	for _, e := range emails {
		assert.Equal(t, 1, got[e], "%s: one email", e)
	}
	last := time.Time{}
	for _, m := range s.smtp.Messages() {
		if m.At.After(last) {
			last = m.At
		}
	}
	t.Logf("%d registrations during a %s outage, all answered 201; all emailed within %s of Kafka's return",
		len(emails), back.Sub(stopped).Round(time.Second), last.Sub(back).Round(10*time.Millisecond))
	waitUntil(t, "registrar ready again", 30*time.Second, func() bool { return readyz(t, s.registrar) == http.StatusOK })
	assert.Equal(t, 1.0, metric(t, s.registrar, `registrar_dependency_up{name="kafka"}`))
	assert.Equal(t, 0.0, metric(t, s.registrar, "registrar_outbox_oldest_age_seconds"), "the outbox drained")
}

func TestFaultMailerKilledMidStream(t *testing.T) {
	// A slow mail server keeps a message in flight when the mailer dies.
	s := newStack(t, stackOptions{smtp: []smtptest.Option{smtptest.WithDelay(40 * time.Millisecond)}})
	const n = 40
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := w; i < n; i += 4 {
				r := register(t, s.registrar, fmt.Sprintf("stream-%02d@example.com", i), pw)
				assert.Equal(t, http.StatusCreated, r.status, r.body)
			}
		})
	}
	wg.Wait()
	waitUntil(t, "the mailer is mid-stream", 30*time.Second, func() bool { return len(s.smtp.Messages()) >= 10 })
	s.mailer.Kill()
	killedAt := len(s.smtp.Messages())
	s.mailer = start(t, "mailer", s.env...)

	waitUntil(t, "every address emailed", 60*time.Second, func() bool { return len(emailed(s.smtp)) == n })
	duplicates := len(s.smtp.Messages()) - n
	t.Logf("mailer SIGKILLed after %d of %d emails; after its restart all %d addresses were emailed, %d duplicate(s)",
		killedAt, n, n, duplicates)
	// Only what was between the mail server's accept and the mailer's record
	// of it can be sent twice: one message per consumer.
	assert.LessOrEqual(t, duplicates, 1, "duplicates are bounded by the messages in flight")
}

func TestFaultPostgresStopped(t *testing.T) {
	db := startPostgres(t)
	s := newStack(t, stackOptions{db: db.url()})
	require.Equal(t, http.StatusCreated, register(t, s.registrar, "before@example.com", pw).status)
	waitCode(t, s.smtp, "before@example.com", 1)

	db.stop()
	assert.Equal(t, http.StatusServiceUnavailable, readyz(t, s.registrar))
	assert.Equal(t, http.StatusServiceUnavailable, readyz(t, s.mailer))
	r := register(t, s.registrar, "during@example.com", pw)
	assert.Equal(t, http.StatusServiceUnavailable, r.status, "a 503, never a 500: %v", r.body)
	assert.Equal(t, "unavailable", r.body["code"])
	assert.NotEmpty(t, r.header.Get("Retry-After"))
	assert.Equal(t, http.StatusServiceUnavailable, me(t, s.registrar, "before@example.com", pw).status)

	db.start()
	waitUntil(t, "registrar ready again without a restart", 30*time.Second, func() bool { return readyz(t, s.registrar) == http.StatusOK })
	r = register(t, s.registrar, "during@example.com", pw)
	require.Equal(t, http.StatusCreated, r.status, r.body)
	assert.Equal(t, http.StatusOK, activate(t, s.registrar, "during@example.com", pw, waitCode(t, s.smtp, "during@example.com", 1)).status,
		"the mailer recovered too")
	assert.Equal(t, "pending", me(t, s.registrar, "before@example.com", pw).body["status"], "nothing was lost")
}

func TestFaultRegistrarKilledWithPendingOutbox(t *testing.T) {
	broker := startKafka(t)
	s := newStack(t, stackOptions{brokers: broker.addr()})
	broker.stop() // messages cannot leave the outbox
	var emails []string
	for i := range 5 {
		email := fmt.Sprintf("pending-%d@example.com", i)
		require.Equal(t, http.StatusCreated, register(t, s.registrar, email, pw).status)
		emails = append(emails, email)
	}
	s.registrar.Kill()

	broker.start()
	s.registrar = start(t, "registrar", s.env...)
	waitUntil(t, "the outbox is sent after the restart", 60*time.Second, func() bool { return len(emailed(s.smtp)) == len(emails) })
	for _, e := range emails {
		code := waitCode(t, s.smtp, e, 1)
		assert.Equal(t, http.StatusOK, activate(t, s.registrar, e, pw, code).status, e)
	}
	assert.False(t, strings.Contains(s.registrar.stderr.String(), `"level":"ERROR"`), "a clean recovery")
}
