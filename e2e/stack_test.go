package e2e_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	"github.com/acme/registrar/internal/testkit"
	"github.com/acme/registrar/mailer/smtptest"
	"github.com/acme/registrar/messaging"
	registrationv1 "github.com/acme/registrar/protos/registration/v1"
)

// stack is bin/registrar and bin/mailer on PostgreSQL and Kafka, with an
// SMTP server of the test's own. Each stack has its own schema, topics and
// consumer group, so stacks never see each other's messages.
type stack struct {
	t         *testing.T
	smtp      *smtptest.Server
	env       []string
	brokers   []string
	prefix    string
	registrar *process
	mailer    *process
}

type stackOptions struct {
	db      string // default: a fresh schema of the shared test database
	brokers string // default: the shared test Kafka
	env     []string
	smtp    []smtptest.Option
}

func newStack(t *testing.T, o stackOptions) *stack {
	t.Helper()
	if o.db == "" {
		o.db = testkit.Postgres(t)
	}
	prefix := testkit.Unique(t, "e2e-")
	if o.brokers == "" {
		o.brokers = strings.Join(testkit.Kafka(t), ",")
		prefix = testkit.KafkaTopics(t, testkit.Kafka(t), "e2e-") // a test's own broker goes with its data
	}
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	s := &stack{t: t, smtp: smtptest.Start(t, o.smtp...), brokers: strings.Split(o.brokers, ","), prefix: prefix + "."}
	s.env = append([]string{
		"DATABASE_URL=" + o.db,
		"KAFKA_BROKERS=" + o.brokers,
		"KAFKA_TOPIC_PREFIX=" + s.prefix,
		"KAFKA_TOPIC_PARTITIONS=3",
		"MAILER_GROUP_ID=" + testkit.Unique(t, "mailer-"),
		"MAILER_HTTP_ADDR=127.0.0.1:0",
		"CODE_HMAC_KEY=" + hex.EncodeToString(key),
		"SMTP_URL=" + s.smtp.URL(),
		"RATE_LIMIT_PER_IP=0", // the tests come from one address
	}, o.env...)
	s.registrar = start(t, "registrar", s.env...)
	s.mailer = start(t, "mailer", s.env...)
	return s
}

// events collects the public events of the stack, as a subscriber would.
func (s *stack) events() *collected {
	s.t.Helper()
	c := &collected{}
	consumer, err := messaging.NewConsumer(messaging.ConsumerConfig{
		Brokers: s.brokers, GroupID: testkit.Unique(s.t, "subscriber-"), Topic: s.prefix + "registration.events.v1",
		Logger: slog.New(slog.DiscardHandler),
	})
	require.NoError(s.t, err)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() {
		_ = consumer.Run(ctx, func(_ context.Context, m *registrationv1.Envelope) error {
			c.add(m)
			return nil
		})
	})
	s.t.Cleanup(func() { cancel(); wg.Wait(); _ = consumer.Close() })
	return c
}

type collected struct {
	mu   sync.Mutex
	msgs []*registrationv1.Envelope
}

func (c *collected) add(m *registrationv1.Envelope) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.msgs = append(c.msgs, m)
}

// types returns the event types seen for a user, in arrival order.
func (c *collected) types(userID string) []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for _, m := range c.msgs {
		if m.GetKey() == userID {
			out = append(out, strings.TrimPrefix(m.GetType(), "registration.v1."))
		}
	}
	return out
}

func (c *collected) all() []*registrationv1.Envelope {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.msgs)
}

func TestStackRegisterEmailActivateExpireResend(t *testing.T) {
	s := newStack(t, stackOptions{env: []string{"CODE_TTL=2s", "CODE_RESEND_COOLDOWN=1s"}})
	events := s.events()

	r := register(t, s.registrar, "ann@example.com", pw)
	require.Equal(t, http.StatusCreated, r.status, r.body)
	annID := r.body["id"].(string)
	r = activate(t, s.registrar, "ann@example.com", pw, waitCode(t, s.smtp, "ann@example.com", 1))
	require.Equal(t, http.StatusOK, r.status, r.body)

	r = register(t, s.registrar, "bob@example.com", pw)
	require.Equal(t, http.StatusCreated, r.status, r.body)
	expires, err := time.Parse(time.RFC3339Nano, r.body["code_expires_at"].(string))
	require.NoError(t, err)
	code := waitCode(t, s.smtp, "bob@example.com", 1)
	time.Sleep(time.Until(expires) + 10*time.Millisecond) // the TTL itself is under test
	r = activate(t, s.registrar, "bob@example.com", pw, code)
	assert.Equal(t, http.StatusGone, r.status, r.body)
	r = call(t, http.MethodPost, s.registrar.base+"/v1/users/activation-code", "bob@example.com", pw, "")
	require.Equal(t, http.StatusAccepted, r.status, r.body)
	r = activate(t, s.registrar, "bob@example.com", pw, waitCode(t, s.smtp, "bob@example.com", 2))
	assert.Equal(t, http.StatusOK, r.status, r.body)

	// What a subscriber of the public topic sees, and what it never sees.
	want := []string{"UserRegistered", "VerificationCodeIssued", "VerificationEmailDelivery", "UserActivated"}
	waitUntil(t, "ann's public events", 30*time.Second, func() bool { return len(events.types(annID)) >= len(want) })
	got := events.types(annID)
	assert.ElementsMatch(t, want, got, "the delivery outcome comes from the mailer, the rest from the registrar")
	assert.Equal(t, "UserRegistered", got[0], "one user's events keep their order")
	for _, m := range events.all() {
		for _, v := range stringFields(t, m) {
			assert.NotEqual(t, code, v, "no code on the public topic (%s)", m.GetType())
		}
	}
	require.NoError(t, s.mailer.stop(), "the mailer stops cleanly on SIGTERM")
	require.NoError(t, s.registrar.stop(), "the registrar stops cleanly on SIGTERM")
}

func TestStackTimeToInbox(t *testing.T) {
	s := newStack(t, stackOptions{})
	const total, workers = 200, 4
	type sample struct{ sent, answered time.Time }
	var (
		mu      sync.Mutex
		samples = map[string]sample{}
		wg      sync.WaitGroup
	)
	for w := range workers {
		wg.Go(func() {
			for i := w; i < total; i += workers {
				email := fmt.Sprintf("inbox-%03d@example.com", i)
				sent := time.Now()
				r := register(t, s.registrar, email, pw)
				answered := time.Now()
				assert.Equal(t, http.StatusCreated, r.status, r.body)
				mu.Lock()
				samples[email] = sample{sent, answered}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	msgs := s.smtp.Wait(t, total, 60*time.Second)
	var fromAnswer, fromRequest []time.Duration
	for _, m := range msgs {
		smp, ok := samples[m.To[0]]
		require.True(t, ok, "an email to %s nobody registered", m.To[0])
		fromAnswer = append(fromAnswer, m.At.Sub(smp.answered))
		fromRequest = append(fromRequest, m.At.Sub(smp.sent))
	}
	require.Len(t, fromAnswer, total, "one email per registration")
	t.Logf("time to inbox over %d registrations (%d concurrent clients): from the 201: p50 %s, p99 %s; from the request: p50 %s, p99 %s",
		total, workers, pct(fromAnswer, 50), pct(fromAnswer, 99), pct(fromRequest, 50), pct(fromRequest, 99))
}

// stringFields decodes a public event by its type and returns the values of
// its string fields.
func stringFields(t *testing.T, m *registrationv1.Envelope) []string {
	t.Helper()
	mt, err := protoregistry.GlobalTypes.FindMessageByName(protoreflect.FullName(m.GetType()))
	require.NoError(t, err, "unknown event type %s", m.GetType())
	msg := mt.New().Interface()
	require.NoError(t, proto.Unmarshal(m.GetPayload(), msg))
	var out []string
	msg.ProtoReflect().Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		if fd.Kind() == protoreflect.StringKind {
			out = append(out, v.String())
		}
		return true
	})
	return out
}

// pct is the p-th percentile (nearest rank), rounded to 0.1 ms.
func pct(ds []time.Duration, p int) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	i := max((len(s)*p+99)/100-1, 0)
	return s[i].Round(100 * time.Microsecond)
}

// TestExampleEventsConsumer runs examples/events-consumer against a stack,
// as the event catalogue tells subscribers to.
func TestExampleEventsConsumer(t *testing.T) {
	s := newStack(t, stackOptions{})
	r := register(t, s.registrar, "sub@example.com", pw)
	require.Equal(t, http.StatusCreated, r.status, r.body)

	// A module of its own, as a subscriber's: protos, kafka-go, protobuf.
	cmd := exec.Command("go", "run", ".",
		"-topic", s.prefix+"registration.events.v1", "-group", testkit.Unique(t, "example-"), "-n", "2")
	cmd.Dir = "../examples/events-consumer"
	cmd.Env = append(os.Environ(), "KAFKA_BROKERS="+strings.Join(s.brokers, ","))
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	require.NoError(t, err, "stdout: %s\nstderr: %s", out, stderr.String())
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	require.Len(t, lines, 2)
	var first struct {
		Type string `json:"type"`
		Key  string `json:"key"`
		Data struct {
			UserID string `json:"userId"`
			Email  string `json:"email"`
		} `json:"data"`
	}
	require.NoError(t, json.Unmarshal([]byte(lines[0]), &first))
	assert.Equal(t, "registration.v1.UserRegistered", first.Type)
	assert.Equal(t, r.body["id"], first.Key)
	assert.Equal(t, "sub@example.com", first.Data.Email)
	assert.Contains(t, lines[1], "registration.v1.VerificationCodeIssued")
}

// TestStackPurgesStaleRegistrations: a pending registration whose last code
// expired longer ago than PENDING_RETENTION disappears with a public
// RegistrationPurged event, and the email registers afresh with a new id.
func TestStackPurgesStaleRegistrations(t *testing.T) {
	s := newStack(t, stackOptions{env: []string{"CODE_TTL=1s", "PENDING_RETENTION=2s"}}) // swept every second
	events := s.events()
	r := register(t, s.registrar, "stale@example.com", pw)
	require.Equal(t, http.StatusCreated, r.status, r.body)
	staleID := r.body["id"].(string)
	r = register(t, s.registrar, "kept@example.com", pw)
	require.Equal(t, http.StatusCreated, r.status, r.body)
	keptID := r.body["id"].(string)
	r = activate(t, s.registrar, "kept@example.com", pw, waitCode(t, s.smtp, "kept@example.com", 1))
	require.Equal(t, http.StatusOK, r.status, r.body)

	waitUntil(t, "the purge event", 30*time.Second, func() bool { return slices.Contains(events.types(staleID), "RegistrationPurged") })
	assert.Equal(t, http.StatusUnauthorized, me(t, s.registrar, "stale@example.com", pw).status, "the account is gone")
	assert.Equal(t, http.StatusOK, me(t, s.registrar, "kept@example.com", pw).status, "an active account stays")
	assert.NotContains(t, events.types(keptID), "RegistrationPurged")
	assert.Equal(t, 1.0, metric(t, s.registrar, `registrar_events_total{type="purged"}`))

	r = register(t, s.registrar, "stale@example.com", pw)
	require.Equal(t, http.StatusCreated, r.status, r.body)
	assert.NotEqual(t, staleID, r.body["id"], "registered afresh, with a new id")
}

// TestStackMetricsExposition: both binaries' /metrics pass `promtool check
// metrics`, and every metric that deploy/ (the alert rules, the dashboard)
// queries is one they expose: a renamed metric fails here, not in a
// silent dashboard.
func TestStackMetricsExposition(t *testing.T) {
	promtool := testkit.Tool(t, "TEST_PROMTOOL", "promtool")
	s := newStack(t, stackOptions{})
	r := register(t, s.registrar, "ann@example.com", pw)
	require.Equal(t, http.StatusCreated, r.status, r.body)
	waitCode(t, s.smtp, "ann@example.com", 1)

	exposed := map[string]bool{}
	for _, p := range []*process{s.registrar, s.mailer} {
		res, err := http.Get(p.base + "/metrics")
		require.NoError(t, err)
		body, err := io.ReadAll(res.Body)
		require.NoError(t, err)
		_ = res.Body.Close()
		check := exec.Command(promtool, "check", "metrics")
		check.Stdin = bytes.NewReader(body)
		out, err := check.CombinedOutput()
		assert.NoError(t, err, "promtool check metrics on %s:\n%s", p.Name, out)
		for _, line := range strings.Split(string(body), "\n") {
			if name, ok := strings.CutPrefix(line, "# TYPE "); ok {
				exposed[strings.Fields(name)[0]] = true
			}
		}
	}
	metricName := regexp.MustCompile(`\b(registrar|mailer|http)_[a-z0-9_]+\b`)
	for _, file := range []string{"../deploy/prometheus/alerts.yml", "../deploy/grafana/registrar.json"} {
		raw, err := os.ReadFile(file)
		require.NoError(t, err)
		for _, name := range metricName.FindAllString(string(raw), -1) {
			for _, suffix := range []string{"_bucket", "_sum", "_count"} {
				if base, ok := strings.CutSuffix(name, suffix); ok && exposed[base] {
					name = base
				}
			}
			assert.True(t, exposed[name], "%s queries %s, which neither binary exposes", file, name)
		}
	}
}
