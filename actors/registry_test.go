package actors_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"

	"github.com/acme/registrar/actors"
	"github.com/acme/registrar/actors/actorstest"
	"github.com/acme/registrar/internal/testkit"
	registrationv1 "github.com/acme/registrar/protos/registration/v1"
)

type harness struct {
	clock     *testkit.Clock
	reg       *actors.Registry
	store     *actorstest.Store
	passwords *actorstest.Passwords
	cfg       actors.Config
}

func newHarness(t *testing.T, tune func(p *actors.Policy, c *actors.Config)) *harness {
	t.Helper()
	policy := actors.DefaultPolicy()
	h := &harness{store: actorstest.NewStore(), passwords: &actorstest.Passwords{}, clock: testkit.NewClock(time.Now())}
	h.cfg = actors.Config{
		Now:            h.clock.Now,
		Store:          h.store,
		Passwords:      h.passwords,
		DummyHash:      actorstest.Hash("dummy password nobody has"),
		Logger:         slog.New(slog.DiscardHandler),
		Shards:         4,
		RequestTimeout: 5 * time.Second,
	}
	if tune != nil {
		tune(&policy, &h.cfg)
	}
	rules, err := actors.NewRules(policy, []byte("0123456789abcdef0123456789abcdef"))
	require.NoError(t, err)
	h.cfg.Rules = rules
	h.start(t)
	return h
}

// start (re)starts the registry on the harness's store, like a process
// restart would.
func (h *harness) start(t *testing.T) {
	t.Helper()
	reg, err := actors.NewRegistry(h.cfg)
	require.NoError(t, err)
	h.reg = reg
	t.Cleanup(func() { _ = reg.Close(context.Background()) })
}

// lastCode returns the code of the newest verification email to addr.
func (h *harness) lastCode(t *testing.T, addr string) string {
	t.Helper()
	mails := h.mails(t, addr)
	require.NotEmpty(t, mails, "no verification email for %s", addr)
	return mails[len(mails)-1].GetCode()
}

func (h *harness) mails(t *testing.T, addr string) []*registrationv1.VerificationEmail {
	t.Helper()
	var out []*registrationv1.VerificationEmail
	for _, env := range h.store.Pending() {
		if env.GetTopic() != registrationv1.MailTopic {
			continue
		}
		var m registrationv1.VerificationEmail
		require.NoError(t, proto.Unmarshal(env.GetPayload(), &m))
		if m.GetTo() == addr {
			out = append(out, &m)
		}
	}
	return out
}

func (h *harness) events(typ string) int {
	n := 0
	for _, env := range h.store.Pending() {
		if env.GetTopic() == registrationv1.EventsTopic && env.GetType() == typ {
			n++
		}
	}
	return n
}

var ctx = context.Background()

func TestRegistryHappyPath(t *testing.T) {
	h := newHarness(t, nil)
	const email, pw = "ann@example.com", "correct horse battery"

	acc, err := h.reg.Register(ctx, email, actorstest.Hash(pw))
	require.NoError(t, err)
	assert.Equal(t, actors.StatusPending, acc.Status)
	assert.Equal(t, email, acc.Email)
	assert.WithinDuration(t, acc.CreatedAt.Add(time.Minute), acc.CodeExpiresAt, 0)
	assert.WithinDuration(t, acc.CreatedAt.Add(30*time.Second), acc.ResendAvailableAt, 0)

	code := h.lastCode(t, email)
	active, err := h.reg.Activate(ctx, actors.Credentials{Email: email, Password: pw}, code)
	require.NoError(t, err)
	assert.Equal(t, actors.StatusActive, active.Status)
	assert.Equal(t, acc.ID, active.ID)
	assert.False(t, active.ActivatedAt.IsZero())

	me, err := h.reg.Describe(ctx, actors.Credentials{Email: email, Password: pw})
	require.NoError(t, err)
	assert.Equal(t, actors.StatusActive, me.Status)
	assert.True(t, me.CodeExpiresAt.IsZero())

	assert.Equal(t, 1, h.events("registration.v1.UserRegistered"))
	assert.Equal(t, 1, h.events("registration.v1.VerificationCodeIssued"))
	assert.Equal(t, 1, h.events("registration.v1.UserActivated"))
}

func TestRegistryRejectionsCarryTheirDetails(t *testing.T) {
	h := newHarness(t, nil)
	const email, pw = "bea@example.com", "correct horse battery"
	_, err := h.reg.Register(ctx, email, actorstest.Hash(pw))
	require.NoError(t, err)

	_, err = h.reg.Register(ctx, email, actorstest.Hash(pw))
	var rej *actors.Rejection
	require.ErrorAs(t, err, &rej)
	require.ErrorIs(t, err, actors.ErrRateLimited)
	assert.InDelta(t, 30*time.Second, rej.RetryAfter, float64(time.Second))

	wrong := "0000"
	if h.lastCode(t, email) == wrong {
		wrong = "1111"
	}
	_, err = h.reg.Activate(ctx, actors.Credentials{Email: email, Password: pw}, wrong)
	require.ErrorAs(t, err, &rej)
	require.ErrorIs(t, err, actors.ErrInvalidCode)
	assert.Equal(t, 2, rej.AttemptsRemaining)

	_, err = h.reg.Activate(ctx, actors.Credentials{Email: email, Password: "wrong password"}, h.lastCode(t, email))
	require.ErrorIs(t, err, actors.ErrInvalidCredentials)
}

func TestRegistryUnknownEmailVerifiesADummyHash(t *testing.T) {
	h := newHarness(t, nil)
	_, err := h.reg.Describe(ctx, actors.Credentials{Email: "nobody@example.com", Password: "whatever password"})
	require.ErrorIs(t, err, actors.ErrInvalidCredentials)
	assert.Equal(t, int64(1), h.passwords.Calls.Load(), "an unknown email must cost one verification, like a known one")
}

func TestRegistryLockedAccountIsNoPasswordOracle(t *testing.T) {
	h := newHarness(t, func(p *actors.Policy, _ *actors.Config) { p.FailureLimit = 3 })
	const email, pw = "cat@example.com", "correct horse battery"
	_, err := h.reg.Register(ctx, email, actorstest.Hash(pw))
	require.NoError(t, err)
	for range 3 {
		_, err = h.reg.Describe(ctx, actors.Credentials{Email: email, Password: "wrong password"})
		require.ErrorIs(t, err, actors.ErrInvalidCredentials)
	}
	before := h.passwords.Calls.Load()
	_, err = h.reg.Describe(ctx, actors.Credentials{Email: email, Password: pw})
	require.ErrorIs(t, err, actors.ErrTooManyAttempts)
	assert.Equal(t, before, h.passwords.Calls.Load(), "a locked account must answer before verifying the password")
	var throttled []*registrationv1.AccountThrottled
	for _, env := range h.store.Pending() {
		if env.GetType() == "registration.v1.AccountThrottled" {
			var e registrationv1.AccountThrottled
			require.NoError(t, proto.Unmarshal(env.GetPayload(), &e))
			throttled = append(throttled, &e)
		}
	}
	require.Len(t, throttled, 1)
	assert.Equal(t, registrationv1.ThrottleScope_THROTTLE_SCOPE_PASSWORDS, throttled[0].GetScope())
	assert.True(t, throttled[0].GetUntil().AsTime().After(time.Now().Add(50*time.Second)), "until the first wait ends")
}

func TestRegistryOverloadedHashingAnswersOverloaded(t *testing.T) {
	h := newHarness(t, nil)
	const email, pw = "dan@example.com", "correct horse battery"
	_, err := h.reg.Register(ctx, email, actorstest.Hash(pw))
	require.NoError(t, err)
	h.passwords.Overloaded.Store(true)
	_, err = h.reg.Describe(ctx, actors.Credentials{Email: email, Password: pw})
	var rej *actors.Rejection
	require.ErrorAs(t, err, &rej)
	require.ErrorIs(t, err, actors.ErrOverloaded)
	assert.Positive(t, rej.RetryAfter)
}

// outcomes counts the errors of concurrent calls by kind.
// outcomes counts answers by the identity of their error (nil: success),
// as the gateway maps them, never by their text.
type outcomes struct {
	mu         sync.Mutex
	counts     map[error]int
	unexpected []string
}

// errUnexpected stands for every error that is none of the domain's.
var errUnexpected = errors.New("unexpected")

var domainErrors = []error{actors.ErrEmailTaken, actors.ErrInvalidCredentials, actors.ErrAlreadyActive,
	actors.ErrInvalidCodeFormat, actors.ErrCodeExpired, actors.ErrInvalidCode, actors.ErrTooManyAttempts,
	actors.ErrRateLimited, actors.ErrOverloaded, actors.ErrUnavailable}

func (o *outcomes) add(err error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.counts == nil {
		o.counts = map[error]int{}
	}
	if err == nil {
		o.counts[nil]++
		return
	}
	for _, known := range domainErrors {
		if errors.Is(err, known) {
			o.counts[known]++
			return
		}
	}
	o.counts[errUnexpected]++
	o.unexpected = append(o.unexpected, err.Error())
}

func hammer(n int, call func(i int) error) *outcomes {
	var o outcomes
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			o.add(call(i))
		})
	}
	close(start)
	wg.Wait()
	return &o
}

func TestRegistryConcurrentRegistrationsOfOneEmailHaveOneWinner(t *testing.T) {
	h := newHarness(t, nil)
	const email = "race@example.com"
	got := hammer(50, func(i int) error {
		_, err := h.reg.Register(ctx, email, actorstest.Hash(fmt.Sprintf("password %d", i)))
		return err
	})
	assert.Equal(t, map[error]int{nil: 1, actors.ErrRateLimited: 49}, got.counts, "%v", got.unexpected)
	assert.Len(t, h.mails(t, email), 1, "exactly one email for exactly one code")
}

func TestRegistryConcurrentActivationsHaveOneWinner(t *testing.T) {
	h := newHarness(t, nil)
	const email, pw = "act@example.com", "correct horse battery"
	_, err := h.reg.Register(ctx, email, actorstest.Hash(pw))
	require.NoError(t, err)
	code := h.lastCode(t, email)
	got := hammer(50, func(int) error {
		_, err := h.reg.Activate(ctx, actors.Credentials{Email: email, Password: pw}, code)
		return err
	})
	assert.Equal(t, map[error]int{nil: 1, actors.ErrAlreadyActive: 49}, got.counts, "%v", got.unexpected)
	assert.Equal(t, 1, h.events("registration.v1.UserActivated"))
}

func TestRegistryConcurrentResendsAndReregistrationsIssueOneCode(t *testing.T) {
	h := newHarness(t, nil)
	const email, pw = "mix@example.com", "correct horse battery"
	_, err := h.reg.Register(ctx, email, actorstest.Hash(pw))
	require.NoError(t, err)
	h.clock.Advance(30 * time.Second)

	got := hammer(50, func(i int) error {
		var err error
		if i%2 == 0 {
			_, err = h.reg.ResendCode(ctx, actors.Credentials{Email: email, Password: pw})
		} else {
			_, err = h.reg.Register(ctx, email, actorstest.Hash(pw))
		}
		return err
	})
	assert.Equal(t, 1, got.counts[nil], "exactly one new code: %v", got.counts)
	assert.Equal(t, 49, got.counts[actors.ErrRateLimited], "%v", got.counts)
	assert.Len(t, h.mails(t, email), 2)
}

func TestRegistryConcurrentMixedCommandsNeverFail(t *testing.T) {
	h := newHarness(t, nil)
	const email, pw = "chaos@example.com", "correct horse battery"
	_, err := h.reg.Register(ctx, email, actorstest.Hash(pw))
	require.NoError(t, err)
	code := h.lastCode(t, email)
	var activations atomic.Int64
	got := hammer(50, func(i int) error {
		var err error
		switch i % 4 {
		case 0:
			_, err = h.reg.Register(ctx, email, actorstest.Hash(pw))
		case 1:
			_, err = h.reg.Activate(ctx, actors.Credentials{Email: email, Password: pw}, code)
			if err == nil {
				activations.Add(1)
			}
		case 2:
			_, err = h.reg.ResendCode(ctx, actors.Credentials{Email: email, Password: pw})
		case 3:
			_, err = h.reg.Describe(ctx, actors.Credentials{Email: email, Password: pw})
		}
		return err
	})
	assert.Zero(t, got.counts[errUnexpected], "%v", got.unexpected)
	assert.Zero(t, got.counts[actors.ErrUnavailable], "%v", got.counts)
	assert.Equal(t, int64(1), activations.Load(), "exactly one activation: %v", got.counts)
}

func TestRegistryPassivationUnderLoadLosesNoRequest(t *testing.T) {
	h := newHarness(t, func(_ *actors.Policy, c *actors.Config) {
		c.IdleTimeout = time.Millisecond // passivate as eagerly as possible
		c.Shards = 2
	})
	const emails = 20
	for i := range emails {
		_, err := h.reg.Register(ctx, fmt.Sprintf("p%d@example.com", i), actorstest.Hash("pw"))
		require.NoError(t, err)
		_, err = h.reg.Activate(ctx, actors.Credentials{Email: fmt.Sprintf("p%d@example.com", i), Password: "pw"}, h.lastCode(t, fmt.Sprintf("p%d@example.com", i)))
		require.NoError(t, err)
	}
	// Requests arrive in bursts with pauses around the idle boundary, so some
	// land while their actor is being passivated. Load runs until enough of
	// those races happened (bounded), and every answer is checked.
	const wantReplays = 20
	var requests, failures atomic.Int64
	done := make(chan struct{})
	var wg sync.WaitGroup
	for w := range 16 {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-done:
					return
				default:
				}
				email := fmt.Sprintf("p%d@example.com", (w+i)%emails)
				requests.Add(1)
				if _, err := h.reg.Describe(ctx, actors.Credentials{Email: email, Password: "pw"}); err != nil {
					failures.Add(1)
					t.Errorf("request %d for %s: %v", i, email, err)
				}
				if i%10 == 0 {
					time.Sleep(time.Duration(i%7) * 3 * time.Millisecond)
				}
			}
		})
	}
	assert.Eventually(t, func() bool { return h.reg.Stats().Replayed >= wantReplays },
		60*time.Second, 10*time.Millisecond, "requests must race passivations")
	close(done)
	wg.Wait()
	assert.Zero(t, failures.Load())
	stats := h.reg.Stats()
	assert.Positive(t, stats.Passivations)
	t.Logf("%d requests, %d passivations, %d replayed, %d lost", requests.Load(), stats.Passivations, stats.Replayed, failures.Load())
	require.Eventually(t, func() bool { return h.reg.Stats().Actors == 0 },
		5*time.Second, 10*time.Millisecond, "idle actors must all be passivated")
}

func TestRegistryRestartedActorReloadsItsState(t *testing.T) {
	h := newHarness(t, nil)
	const email, pw = "restart@example.com", "correct horse battery"
	_, err := h.reg.Register(ctx, email, actorstest.Hash(pw))
	require.NoError(t, err)
	code := h.lastCode(t, email)
	wrong := "9999"
	if code == wrong {
		wrong = "0000"
	}
	_, err = h.reg.Activate(ctx, actors.Credentials{Email: email, Password: pw}, wrong)
	require.ErrorIs(t, err, actors.ErrInvalidCode)

	// A panic inside the actor: the caller is answered at once, and the
	// restarted actor has the stored state, not what it held in memory.
	var panicked atomic.Bool
	h.store.FailWith(func(op string) error {
		if op == "save" && panicked.CompareAndSwap(false, true) {
			panic("injected")
		}
		return nil
	})
	_, err = h.reg.Activate(ctx, actors.Credentials{Email: email, Password: pw}, wrong)
	require.ErrorIs(t, err, actors.ErrUnavailable)
	h.store.FailWith(nil)
	_, err = h.reg.Activate(ctx, actors.Credentials{Email: email, Password: pw}, wrong)
	var rej *actors.Rejection
	require.ErrorAs(t, err, &rej)
	assert.Equal(t, 1, rej.AttemptsRemaining, "the unsaved guess must not count; the saved one must")

	// A whole new registry on the same store (a process restart).
	require.NoError(t, h.reg.Close(ctx))
	h.start(t)
	acc, err := h.reg.Activate(ctx, actors.Credentials{Email: email, Password: pw}, code)
	require.NoError(t, err)
	assert.Equal(t, actors.StatusActive, acc.Status)
}

func TestRegistryStoreOutageAnswersUnavailableAndRecovers(t *testing.T) {
	h := newHarness(t, nil)
	outage := errors.New("database is down")
	h.store.FailWith(func(string) error { return outage })
	_, err := h.reg.Register(ctx, "out@example.com", actorstest.Hash("pw"))
	require.ErrorIs(t, err, actors.ErrUnavailable)

	h.store.FailWith(nil)
	acc, err := h.reg.Register(ctx, "out@example.com", actorstest.Hash("pw"))
	require.NoError(t, err)
	assert.Equal(t, actors.StatusPending, acc.Status)
}

func TestRegistryTimerNotesTheExpiry(t *testing.T) {
	h := newHarness(t, func(p *actors.Policy, c *actors.Config) {
		p.CodeTTL = 150 * time.Millisecond
		c.Now = time.Now // the timer runs on real time
	})
	const email, pw = "exp@example.com", "correct horse battery"
	_, err := h.reg.Register(ctx, email, actorstest.Hash(pw))
	require.NoError(t, err)
	code := h.lastCode(t, email)
	require.Eventually(t, func() bool { return h.events("registration.v1.VerificationCodeExpired") == 1 },
		5*time.Second, 10*time.Millisecond, "the actor's timer must note the expiry")
	_, err = h.reg.Activate(ctx, actors.Credentials{Email: email, Password: pw}, code)
	require.ErrorIs(t, err, actors.ErrCodeExpired)
	assert.Equal(t, 1, h.events("registration.v1.VerificationCodeExpired"), "one expiry event per code")
}

func TestRegistryClosedAnswersUnavailable(t *testing.T) {
	h := newHarness(t, nil)
	require.NoError(t, h.reg.Close(ctx))
	_, err := h.reg.Register(ctx, "late@example.com", actorstest.Hash("pw"))
	require.ErrorIs(t, err, actors.ErrUnavailable)
}

func TestRegistryRespectsTheCallersDeadline(t *testing.T) {
	h := newHarness(t, nil)
	expired, cancel := context.WithDeadline(ctx, time.Now().Add(-time.Second))
	defer cancel()
	_, err := h.reg.Register(expired, "dl@example.com", actorstest.Hash("pw"))
	require.ErrorIs(t, err, actors.ErrUnavailable)
	assert.Empty(t, h.store.Pending(), "a request past its deadline must not be carried out")
}

func TestRegistryLogsEveryAuthenticationOutcome(t *testing.T) {
	var out testkit.Buffer
	h := newHarness(t, func(p *actors.Policy, c *actors.Config) {
		p.FailureLimit = 2
		c.Logger = slog.New(slog.NewJSONHandler(&out, &slog.HandlerOptions{Level: slog.LevelDebug}))
	})
	const email, pw = "log@example.com", "correct horse battery"
	acc, err := h.reg.Register(ctx, email, actorstest.Hash(pw))
	require.NoError(t, err)
	_, _ = h.reg.Describe(ctx, actors.Credentials{Email: email, Password: pw})
	_, _ = h.reg.Describe(ctx, actors.Credentials{Email: email, Password: "wrong-password-1"})
	_, _ = h.reg.Describe(ctx, actors.Credentials{Email: email, Password: "wrong-password-2"})
	_, _ = h.reg.Describe(ctx, actors.Credentials{Email: email, Password: pw})
	_, _ = h.reg.Describe(ctx, actors.Credentials{Email: "stranger@example.com", Password: pw})

	var got []string
	for _, line := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		var rec struct {
			Msg    string `json:"msg"`
			Result string `json:"result"`
			UserID string `json:"user_id"`
		}
		require.NoError(t, json.Unmarshal([]byte(line), &rec))
		if rec.Msg == "authentication" {
			got = append(got, rec.Result+" "+rec.UserID)
		}
	}
	assert.Equal(t, []string{
		"success " + acc.ID, "wrong_password " + acc.ID, "wrong_password " + acc.ID, "throttled " + acc.ID, "unknown_account ",
	}, got)
	assert.NotContains(t, out.String(), "wrong-password", "passwords never reach the log")
	assert.NotContains(t, out.String(), "stranger@example.com", "nor the email of an unknown account")
	assert.False(t, testkit.ContainsToken(out.String(), h.lastCode(t, email)), "nor a code")
}

// Two registrar instances share one database: each has its own actor for an
// email. A decision must never rest on what an actor remembers from before
// another instance wrote the row.
func TestRegistryNeverAnswersFromStaleMemory(t *testing.T) {
	a := newHarness(t, nil)
	b := &harness{store: a.store, passwords: a.passwords, clock: a.clock, cfg: a.cfg}
	b.start(t) // a second instance on the same store
	const email = "shared@example.com"

	_, err := a.reg.Register(ctx, email, actorstest.Hash("first password"))
	require.NoError(t, err)
	_, err = a.reg.Describe(ctx, actors.Credentials{Email: email, Password: "first password"}) // instance a's actor now holds the row
	require.NoError(t, err)

	a.clock.Advance(30 * time.Second)
	_, err = b.reg.Register(ctx, email, actorstest.Hash("second password")) // replaced through instance b
	require.NoError(t, err)

	_, err = a.reg.Describe(ctx, actors.Credentials{Email: email, Password: "first password"})
	require.ErrorIs(t, err, actors.ErrInvalidCredentials, "the replaced password must be dead on every instance")
	acc, err := a.reg.Describe(ctx, actors.Credentials{Email: email, Password: "second password"})
	require.NoError(t, err)
	assert.WithinDuration(t, a.clock.Now().Add(time.Minute), acc.CodeExpiresAt, time.Millisecond, "and instance a sees the new code")
}

// Passivated actors must be garbage: a registry that has seen many emails
// must not keep their actors (and their state) reachable. Protoactor's
// PIDSet.Remove leaves removed PIDs in its backing array, so the shards
// watch their actors instead of parenting them.
func TestPassivatedActorsAreFreed(t *testing.T) {
	if testing.Short() {
		t.Skip("5 000 actors to passivate")
	}
	alive, stop := actors.TrackActors()
	defer stop()
	h := newHarness(t, func(p *actors.Policy, c *actors.Config) {
		p.CodeTTL = time.Second // pending actors live until their code expires
		c.Now = time.Now
		c.IdleTimeout = time.Millisecond
		c.Shards = 2
	})
	heap := func() uint64 {
		runtime.GC()
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return m.HeapAlloc
	}
	const n = 5_000
	before := heap()
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			for i := w; i < n; i += 8 {
				_, err := h.reg.Register(ctx, fmt.Sprintf("gone-%d@example.com", i), actorstest.Hash("correct horse battery"))
				assert.NoError(t, err)
			}
		})
	}
	wg.Wait()
	peak := h.reg.Stats().Actors
	require.Eventually(t, func() bool { return h.reg.Stats().Actors == 0 }, 30*time.Second, 10*time.Millisecond)
	h.store.Reset() // the fake database is not what is measured
	// Asked of the actors themselves: protoactor's PIDSet kept every
	// passivated child (and through its PID the actor) reachable, ADR 0009.
	// The heap's growth is only logged: other tests of the package leave
	// goroutines that allocate meanwhile. Measured alone with 5 000: +5.6
	// MiB once they are freed (the tables of protoactor's process registry
	// and of the shards, sized by the peak of live actors: maps never
	// shrink), +9.5 MiB when the PIDSet kept them.
	assert.Zero(t, alive(), "passivated actors are retained")
	t.Logf("%d pending actors alive at once, all expired and passivated: heap %+d KiB", peak, (int64(heap())-int64(before))/1024)
}

func TestRegistryCheckRegisterPredictsTheRefusal(t *testing.T) {
	h := newHarness(t, nil)
	require.NoError(t, h.reg.CheckRegister(ctx, "new@example.com"), "an unknown email may register")
	_, err := h.reg.Register(ctx, "ann@example.com", actorstest.Hash("pw"))
	require.NoError(t, err)
	err = h.reg.CheckRegister(ctx, "ann@example.com")
	require.ErrorIs(t, err, actors.ErrRateLimited, "within the cooldown")
	h.clock.Advance(time.Minute)
	require.NoError(t, h.reg.CheckRegister(ctx, "ann@example.com"), "after the cooldown")
	_, err = h.reg.Activate(ctx, actors.Credentials{Email: "ann@example.com", Password: "pw"}, h.lastCode(t, "ann@example.com"))
	require.ErrorIs(t, err, actors.ErrCodeExpired, "the clock moved past the code")
	_, err = h.reg.ResendCode(ctx, actors.Credentials{Email: "ann@example.com", Password: "pw"})
	require.NoError(t, err)
	_, err = h.reg.Activate(ctx, actors.Credentials{Email: "ann@example.com", Password: "pw"}, h.lastCode(t, "ann@example.com"))
	require.NoError(t, err)
	require.ErrorIs(t, h.reg.CheckRegister(ctx, "ann@example.com"), actors.ErrEmailTaken)
	before := len(h.store.Pending())
	_ = h.reg.CheckRegister(ctx, "ann@example.com")
	assert.Len(t, h.store.Pending(), before, "a check writes nothing")
}
