package actors_test

import (
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/acme/registrar/actors"
)

var t0 = time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)

// machine drives the rules the way the actor does: it keeps the current
// state, applies each decision's Next, remembers the last issued code and
// reads time from a fake clock.
type machine struct {
	tb     testing.TB
	rules  actors.Rules
	now    time.Time
	cur    *actors.Registration
	code   string // last issued code
	seq    int    // for fresh codes and ids
	source string // the client's source of the next authenticated command
}

func newMachine(tb testing.TB) *machine {
	tb.Helper()
	rules, err := actors.NewRules(actors.DefaultPolicy(), []byte("0123456789abcdef0123456789abcdef"))
	require.NoError(tb, err)
	return &machine{tb: tb, rules: rules, now: t0}
}

func (m *machine) advance(d time.Duration) { m.now = m.now.Add(d) }

// apply records the decision like the actor would after persisting it.
func (m *machine) apply(d actors.Decision) actors.Decision {
	if d.Next != nil {
		m.cur = d.Next
	}
	if d.Delete {
		m.cur = nil
	}
	for _, e := range d.Events {
		if ci, ok := e.(actors.CodeIssued); ok {
			m.code = ci.Code
		}
	}
	return d
}

func (m *machine) freshCode() string {
	m.seq++
	return fmt.Sprintf("%04d", (m.seq*7919)%10000)
}

func (m *machine) register(hash string) actors.Decision {
	predicted := m.rules.RegisterRefusal(m.cur, m.now)
	d := m.rules.Register(m.cur, actors.RegisterInput{
		Email: "ann@example.com", PasswordHash: hash, NewID: "user-1", NewCode: m.freshCode(),
	}, m.now)
	// The check before the hash predicts Register exactly.
	assert.Equal(m.tb, predicted, d.Err, "RegisterRefusal and Register disagree")
	return m.apply(d)
}

// authenticate runs both steps of authentication; refused is the decision
// to answer with when they do not let the command through.
func (m *machine) authenticate(passwordOK bool) (auth actors.Authenticated, refused *actors.Decision) {
	ch, err := m.rules.Authenticate(m.cur, m.source, m.now)
	if err != nil {
		return auth, &actors.Decision{Err: err}
	}
	auth, d, ok := m.rules.Verified(ch, passwordOK, m.now)
	if !ok {
		d = m.apply(d)
		return auth, &d
	}
	return auth, nil
}

func (m *machine) activate(passwordOK bool, code string) actors.Decision {
	auth, refused := m.authenticate(passwordOK)
	if refused != nil {
		return *refused
	}
	return m.apply(m.rules.Activate(auth, code, m.now))
}

func (m *machine) resend(passwordOK bool) actors.Decision {
	auth, refused := m.authenticate(passwordOK)
	if refused != nil {
		return *refused
	}
	return m.apply(m.rules.ResendCode(auth, m.freshCode(), m.now))
}

func (m *machine) describe(passwordOK bool) actors.Decision {
	auth, refused := m.authenticate(passwordOK)
	if refused != nil {
		return *refused
	}
	return m.apply(m.rules.Describe(auth, m.now))
}

func (m *machine) checkRegister() actors.Decision {
	return actors.Decision{Err: m.rules.RegisterRefusal(m.cur, m.now)}
}

func (m *machine) purge() actors.Decision { return m.apply(m.rules.Purge(m.cur, m.now)) }

// wrongCode is a well-formed code that is not the current one.
func (m *machine) wrongCode() string {
	if m.code == "9999" {
		return "0000"
	}
	return "9999"
}

// failPasswords records n wrong passwords (from m.source).
func (m *machine) failPasswords(n int) {
	for range n {
		m.describe(false)
	}
}

// failCodes records n wrong codes, asking for a new code whenever one
// burns (after its cooldown).
func (m *machine) failCodes(n int) {
	for range n {
		if m.cur.Code.Attempts >= m.rules.Policy().CodeMaxAttempts {
			m.advance(m.rules.Policy().ResendCooldown)
			m.resend(true)
		}
		m.activate(true, m.wrongCode())
	}
}

func eventNames(events []actors.Event) []string {
	names := make([]string, 0, len(events))
	for _, e := range events {
		names = append(names, reflect.TypeOf(e).Name())
	}
	return names
}

// want describes the expected decision. A zero field is checked as zero,
// except status which is only checked when set.
type want struct {
	err        error
	retryAfter time.Duration
	attempts   int      // attempts_remaining of an invalid code
	changed    bool     // Next != nil
	deleted    bool     // Delete
	events     []string // event type names, in order
	status     actors.Status
}

func check(tb testing.TB, m *machine, got actors.Decision, w want) {
	tb.Helper()
	if w.err == nil {
		require.NoError(tb, got.Err)
	} else {
		require.ErrorIs(tb, got.Err, w.err)
	}
	var rej *actors.Rejection
	var retry time.Duration
	var attempts int
	if errors.As(got.Err, &rej) {
		retry, attempts = rej.RetryAfter, rej.AttemptsRemaining
	}
	assert.Equal(tb, w.retryAfter, retry, "retry after")
	assert.Equal(tb, w.attempts, attempts, "attempts remaining")
	assert.Equal(tb, w.changed, got.Next != nil, "state changed")
	assert.Equal(tb, w.deleted, got.Delete, "deleted")
	if w.events == nil {
		w.events = []string{}
	}
	assert.Equal(tb, w.events, eventNames(got.Events), "events")
	if w.status != 0 {
		require.NotNil(tb, m.cur)
		assert.Equal(tb, w.status, m.cur.Status, "status")
	}
}

func TestRules(t *testing.T) {
	policy := actors.DefaultPolicy()
	ttl, cooldown := policy.CodeTTL, policy.ResendCooldown
	limit, window, delay := policy.FailureLimit, policy.FailureWindow, policy.ThrottleDelay
	retention := policy.PendingRetention
	// failCodes(limit-1) guesses on three codes, a cooldown apart, and the
	// code for the last guess comes one cooldown later: the oldest wrong
	// code is this old when the budget runs out.
	codesSpan := 3 * cooldown

	tests := []struct {
		name  string
		setup func(m *machine)
		act   func(m *machine) actors.Decision
		want  want
	}{
		// POST /v1/users
		{
			name: "register unknown email creates a pending account and issues a code",
			act:  func(m *machine) actors.Decision { return m.register("h1") },
			want: want{changed: true, events: []string{"Registered", "CodeIssued"}, status: actors.StatusPending},
		},
		{
			name:  "register active email is taken and changes nothing",
			setup: func(m *machine) { m.register("h1"); m.activate(true, m.code); m.advance(time.Hour) },
			act:   func(m *machine) actors.Decision { return m.register("h2") },
			want:  want{err: actors.ErrEmailTaken, status: actors.StatusActive},
		},
		{
			name:  "register pending within cooldown is rate limited",
			setup: func(m *machine) { m.register("h1"); m.advance(10 * time.Second) },
			act:   func(m *machine) actors.Decision { return m.register("h2") },
			want:  want{err: actors.ErrRateLimited, retryAfter: cooldown - 10*time.Second},
		},
		{
			name:  "register pending one millisecond before the cooldown ends is rate limited",
			setup: func(m *machine) { m.register("h1"); m.advance(cooldown - time.Millisecond) },
			act:   func(m *machine) actors.Decision { return m.register("h2") },
			want:  want{err: actors.ErrRateLimited, retryAfter: time.Millisecond},
		},
		{
			name:  "register pending when the cooldown has just passed replaces it",
			setup: func(m *machine) { m.register("h1"); m.advance(cooldown) },
			act:   func(m *machine) actors.Decision { return m.register("h2") },
			want:  want{changed: true, events: []string{"Registered", "CodeIssued"}, status: actors.StatusPending},
		},
		{
			name: "register pending whose password checks are throttled registers as usual",
			setup: func(m *machine) {
				m.register("h1")
				m.advance(time.Minute)
				m.failPasswords(limit)
			},
			act:  func(m *machine) actors.Decision { return m.register("h2") },
			want: want{changed: true, events: []string{"Registered", "CodeIssued"}, status: actors.StatusPending},
		},
		{
			name: "register pending with an exhausted code budget registers as usual",
			setup: func(m *machine) {
				m.register("h1")
				m.failCodes(limit)
				m.advance(cooldown)
			},
			act:  func(m *machine) actors.Decision { return m.register("h2") },
			want: want{changed: true, events: []string{"Registered", "CodeIssued"}, status: actors.StatusPending},
		},
		{
			name: "register pending over the hourly cap is rate limited until the oldest issue leaves the hour",
			setup: func(m *machine) {
				m.register("h1")
				for range policy.HourlyCodeLimit - 1 {
					m.advance(cooldown)
					m.resend(true)
				}
				m.advance(cooldown)
			},
			act: func(m *machine) actors.Decision { return m.register("h2") },
			want: want{err: actors.ErrRateLimited,
				retryAfter: time.Hour - time.Duration(policy.HourlyCodeLimit)*cooldown},
		},

		// POST /v1/users/activate: credentials
		{
			name: "activate unknown email is invalid credentials",
			act:  func(m *machine) actors.Decision { return m.activate(true, "1234") },
			want: want{err: actors.ErrInvalidCredentials},
		},
		{
			name: "activate with throttled password checks answers too many attempts even with the right password",
			setup: func(m *machine) {
				m.register("h1")
				m.failPasswords(limit)
			},
			act:  func(m *machine) actors.Decision { return m.activate(true, m.code) },
			want: want{err: actors.ErrTooManyAttempts, retryAfter: delay},
		},
		{
			name:  "activate with a wrong password counts against the password throttle",
			setup: func(m *machine) { m.register("h1") },
			act:   func(m *machine) actors.Decision { return m.activate(false, m.code) },
			want:  want{err: actors.ErrInvalidCredentials, changed: true, status: actors.StatusPending},
		},
		{
			name: "the wrong password that reaches the limit is still 401 and engages the throttle",
			setup: func(m *machine) {
				m.register("h1")
				m.failPasswords(limit - 1)
			},
			act:  func(m *machine) actors.Decision { return m.activate(false, m.code) },
			want: want{err: actors.ErrInvalidCredentials, changed: true, events: []string{"Throttled"}},
		},
		{
			name: "a throttled check runs again once its wait is over",
			setup: func(m *machine) {
				m.register("h1")
				m.failPasswords(limit)
				m.advance(delay)
			},
			act:  func(m *machine) actors.Decision { return m.describe(true) },
			want: want{changed: true, status: actors.StatusPending},
		},
		{
			name: "a wrong password after a wait doubles the next wait",
			setup: func(m *machine) {
				m.register("h1")
				m.failPasswords(limit)
				m.advance(delay)
				m.failPasswords(1)
			},
			act:  func(m *machine) actors.Decision { return m.describe(true) },
			want: want{err: actors.ErrTooManyAttempts, retryAfter: 2 * delay},
		},
		{
			name: "wrong codes do not throttle password checks",
			setup: func(m *machine) {
				m.register("h1")
				m.failCodes(limit)
			},
			act:  func(m *machine) actors.Decision { return m.describe(true) },
			want: want{status: actors.StatusPending},
		},

		// POST /v1/users/activate: the code
		{
			name:  "activate active account is already active",
			setup: func(m *machine) { m.register("h1"); m.activate(true, m.code) },
			act:   func(m *machine) actors.Decision { return m.activate(true, "0000") },
			want:  want{err: actors.ErrAlreadyActive, status: actors.StatusActive},
		},
		{
			name:  "activate with a three-digit code is invalid format and counts no attempt",
			setup: func(m *machine) { m.register("h1") },
			act:   func(m *machine) actors.Decision { return m.activate(true, "123") },
			want:  want{err: actors.ErrInvalidCodeFormat},
		},
		{
			name:  "activate with a five-digit code is invalid format",
			setup: func(m *machine) { m.register("h1") },
			act:   func(m *machine) actors.Decision { return m.activate(true, m.code+"0") },
			want:  want{err: actors.ErrInvalidCodeFormat},
		},
		{
			name:  "activate with non-ASCII digits is invalid format",
			setup: func(m *machine) { m.register("h1") },
			act:   func(m *machine) actors.Decision { return m.activate(true, "١٢٣٤") },
			want:  want{err: actors.ErrInvalidCodeFormat},
		},
		{
			name:  "activate with a padded code is invalid format",
			setup: func(m *machine) { m.register("h1") },
			act:   func(m *machine) actors.Decision { return m.activate(true, " 123") },
			want:  want{err: actors.ErrInvalidCodeFormat},
		},
		{
			name:  "activate at exactly the TTL is expired, even with the right code, and notes the expiry",
			setup: func(m *machine) { m.register("h1"); m.advance(ttl) },
			act:   func(m *machine) actors.Decision { return m.activate(true, m.code) },
			want:  want{err: actors.ErrCodeExpired, changed: true, events: []string{"CodeExpired"}},
		},
		{
			name: "activate an expired code a second time emits no second expiry",
			setup: func(m *machine) {
				m.register("h1")
				m.advance(ttl)
				m.activate(true, m.code)
			},
			act:  func(m *machine) actors.Decision { return m.activate(true, m.wrongCode()) },
			want: want{err: actors.ErrCodeExpired},
		},
		{
			name:  "activate one millisecond before the TTL succeeds",
			setup: func(m *machine) { m.register("h1"); m.advance(ttl - time.Millisecond) },
			act:   func(m *machine) actors.Decision { return m.activate(true, m.code) },
			want:  want{changed: true, events: []string{"Activated"}, status: actors.StatusActive},
		},
		{
			name: "an expired code is expired even when the code budget is used up",
			setup: func(m *machine) {
				m.register("h1")
				m.failCodes(limit)
				m.advance(ttl)
			},
			act:  func(m *machine) actors.Decision { return m.activate(true, m.code) },
			want: want{err: actors.ErrCodeExpired, changed: true, events: []string{"CodeExpired"}},
		},
		{
			name: "activate with the code budget used up answers too many attempts until the oldest wrong code leaves the window",
			setup: func(m *machine) {
				m.register("h1")
				m.failCodes(limit - 1)
				m.advance(cooldown)
				m.resend(true)
				m.failCodes(1)
			},
			act: func(m *machine) actors.Decision { return m.activate(true, m.code) },
			want: want{err: actors.ErrTooManyAttempts,
				retryAfter: window - codesSpan},
		},
		{
			name: "activate with a burned code answers too many attempts until a new code may be issued",
			setup: func(m *machine) {
				m.register("h1")
				for range policy.CodeMaxAttempts {
					m.activate(true, m.wrongCode())
				}
				m.advance(5 * time.Second)
			},
			act:  func(m *machine) actors.Decision { return m.activate(true, m.code) },
			want: want{err: actors.ErrTooManyAttempts, retryAfter: cooldown - 5*time.Second},
		},
		{
			name:  "first wrong code leaves two attempts",
			setup: func(m *machine) { m.register("h1") },
			act:   func(m *machine) actors.Decision { return m.activate(true, m.wrongCode()) },
			want:  want{err: actors.ErrInvalidCode, attempts: 2, changed: true},
		},
		{
			name:  "second wrong code leaves one attempt",
			setup: func(m *machine) { m.register("h1"); m.activate(true, m.wrongCode()) },
			act:   func(m *machine) actors.Decision { return m.activate(true, m.wrongCode()) },
			want:  want{err: actors.ErrInvalidCode, attempts: 1, changed: true},
		},
		{
			name: "the last wrong code burns the code",
			setup: func(m *machine) {
				m.register("h1")
				m.activate(true, m.wrongCode())
				m.activate(true, m.wrongCode())
				m.advance(time.Second)
			},
			act: func(m *machine) actors.Decision { return m.activate(true, m.wrongCode()) },
			want: want{err: actors.ErrTooManyAttempts, retryAfter: cooldown - time.Second,
				changed: true, events: []string{"CodeBurned"}},
		},
		{
			name: "attempts remaining is bounded by the code budget",
			setup: func(m *machine) {
				m.register("h1")
				m.failCodes(limit - 2)
				m.advance(cooldown)
				m.resend(true)
			},
			act:  func(m *machine) actors.Decision { return m.activate(true, m.wrongCode()) },
			want: want{err: actors.ErrInvalidCode, attempts: 1, changed: true},
		},
		{
			name: "a wrong code that uses up the budget answers too many attempts for the window",
			setup: func(m *machine) {
				m.register("h1")
				m.failCodes(limit - 1)
				m.advance(cooldown)
				m.resend(true)
			},
			act: func(m *machine) actors.Decision { return m.activate(true, m.wrongCode()) },
			want: want{err: actors.ErrTooManyAttempts,
				retryAfter: window - codesSpan,
				changed:    true, events: []string{"Throttled"}},
		},
		{
			name: "wrong passwords do not use up the code budget",
			setup: func(m *machine) {
				m.register("h1")
				m.failPasswords(limit - 1)
			},
			act:  func(m *machine) actors.Decision { return m.activate(true, m.wrongCode()) },
			want: want{err: actors.ErrInvalidCode, attempts: 2, changed: true},
		},
		{
			name:  "the right code activates and is consumed",
			setup: func(m *machine) { m.register("h1") },
			act:   func(m *machine) actors.Decision { return m.activate(true, m.code) },
			want:  want{changed: true, events: []string{"Activated"}, status: actors.StatusActive},
		},
		{
			name:  "the right code after two wrong ones activates",
			setup: func(m *machine) { m.register("h1"); m.activate(true, m.wrongCode()); m.activate(true, m.wrongCode()) },
			act:   func(m *machine) actors.Decision { return m.activate(true, m.code) },
			want:  want{changed: true, events: []string{"Activated"}, status: actors.StatusActive},
		},

		// POST /v1/users/activation-code
		{
			name: "resend for unknown email is invalid credentials",
			act:  func(m *machine) actors.Decision { return m.resend(true) },
			want: want{err: actors.ErrInvalidCredentials},
		},
		{
			name:  "resend with a wrong password counts against the password throttle",
			setup: func(m *machine) { m.register("h1"); m.advance(cooldown) },
			act:   func(m *machine) actors.Decision { return m.resend(false) },
			want:  want{err: actors.ErrInvalidCredentials, changed: true},
		},
		{
			name:  "resend with throttled password checks answers too many attempts",
			setup: func(m *machine) { m.register("h1"); m.failPasswords(limit); m.advance(cooldown) },
			act:   func(m *machine) actors.Decision { return m.resend(true) },
			want:  want{err: actors.ErrTooManyAttempts, retryAfter: delay - cooldown},
		},
		{
			name:  "resend for an active account is already active",
			setup: func(m *machine) { m.register("h1"); m.activate(true, m.code); m.advance(cooldown) },
			act:   func(m *machine) actors.Decision { return m.resend(true) },
			want:  want{err: actors.ErrAlreadyActive, status: actors.StatusActive},
		},
		{
			name:  "resend within the cooldown is rate limited",
			setup: func(m *machine) { m.register("h1"); m.advance(cooldown / 3) },
			act:   func(m *machine) actors.Decision { return m.resend(true) },
			want:  want{err: actors.ErrRateLimited, retryAfter: cooldown - cooldown/3},
		},
		{
			name:  "resend after the cooldown issues a new code",
			setup: func(m *machine) { m.register("h1"); m.advance(cooldown) },
			act:   func(m *machine) actors.Decision { return m.resend(true) },
			want:  want{changed: true, events: []string{"CodeIssued"}, status: actors.StatusPending},
		},
		{
			name: "resend over the hourly cap is rate limited",
			setup: func(m *machine) {
				m.register("h1")
				for range policy.HourlyCodeLimit - 1 {
					m.advance(cooldown)
					m.resend(true)
				}
				m.advance(10 * time.Minute)
			},
			act: func(m *machine) actors.Decision { return m.resend(true) },
			want: want{err: actors.ErrRateLimited,
				retryAfter: time.Hour - time.Duration(policy.HourlyCodeLimit-1)*cooldown - 10*time.Minute},
		},

		// GET /v1/users/me
		{
			name:  "me with the right password changes nothing",
			setup: func(m *machine) { m.register("h1") },
			act:   func(m *machine) actors.Decision { return m.describe(true) },
			want:  want{status: actors.StatusPending},
		},
		{
			name:  "me with a wrong password counts against the password throttle",
			setup: func(m *machine) { m.register("h1") },
			act:   func(m *machine) actors.Decision { return m.describe(false) },
			want:  want{err: actors.ErrInvalidCredentials, changed: true},
		},
		{
			name:  "me for a throttled active account answers too many attempts",
			setup: func(m *machine) { m.register("h1"); m.activate(true, m.code); m.failPasswords(limit) },
			act:   func(m *machine) actors.Decision { return m.describe(true) },
			want:  want{err: actors.ErrTooManyAttempts, retryAfter: delay},
		},
		{
			name:  "the right password clears the failures of its bucket",
			setup: func(m *machine) { m.register("h1"); m.failPasswords(limit - 1) },
			act:   func(m *machine) actors.Decision { return m.describe(true) },
			want:  want{changed: true},
		},
		{
			name: "me for unknown email is invalid credentials",
			act:  func(m *machine) actors.Decision { return m.describe(true) },
			want: want{err: actors.ErrInvalidCredentials},
		},

		// Known sources.
		{
			name: "a source that passed the check before is not held back by strangers' failures",
			setup: func(m *machine) {
				m.register("h1")
				m.source = "198.51.100.7"
				m.describe(true)
				m.source = "203.0.113.66"
				m.failPasswords(3 * limit)
				m.source = "198.51.100.7"
			},
			act:  func(m *machine) actors.Decision { return m.describe(true) },
			want: want{status: actors.StatusPending},
		},
		{
			name: "a known source's own wrong passwords throttle it",
			setup: func(m *machine) {
				m.register("h1")
				m.source = "198.51.100.7"
				m.describe(true)
				m.failPasswords(limit)
			},
			act:  func(m *machine) actors.Decision { return m.describe(true) },
			want: want{err: actors.ErrTooManyAttempts, retryAfter: delay},
		},
		{
			name: "strangers are not held back by a known source's failures",
			setup: func(m *machine) {
				m.register("h1")
				m.source = "198.51.100.7"
				m.describe(true)
				m.failPasswords(limit)
				m.source = "203.0.113.66"
			},
			act:  func(m *machine) actors.Decision { return m.describe(true) },
			want: want{changed: true, status: actors.StatusPending},
		},
		{
			name: "a stranger's network does not slow another stranger's network",
			setup: func(m *machine) {
				m.register("h1")
				m.source = "203.0.113.66"
				m.failPasswords(3 * limit)
				m.source = "192.0.2.1"
			},
			act:  func(m *machine) actors.Decision { return m.describe(true) },
			want: want{changed: true, status: actors.StatusPending},
		},
		{
			name: "wrong passwords spread over many networks hold every stranger back",
			setup: func(m *machine) {
				m.register("h1")
				for i := range 10 * limit {
					m.source = fmt.Sprintf("net-%d", i)
					m.failPasswords(1)
				}
				m.source = "192.0.2.1"
			},
			act:  func(m *machine) actors.Decision { return m.describe(true) },
			want: want{err: actors.ErrTooManyAttempts, retryAfter: delay},
		},
		{
			name: "the owner's success on a new network leaves the strangers' buckets alone",
			setup: func(m *machine) {
				m.register("h1")
				m.source = "203.0.113.66"
				m.failPasswords(limit - 1)
				m.source = "198.51.100.7"
				m.describe(true)
				m.source = "203.0.113.66"
				m.failPasswords(1)
			},
			act:  func(m *machine) actors.Decision { return m.describe(true) },
			want: want{err: actors.ErrTooManyAttempts, retryAfter: delay},
		},
		{
			name: "a check from a network known already writes nothing",
			setup: func(m *machine) {
				m.register("h1")
				for _, s := range []string{"198.51.100.7", "192.0.2.1"} {
					m.source = s
					m.describe(true)
				}
				m.source = "198.51.100.7"
			},
			act:  func(m *machine) actors.Decision { return m.describe(true) },
			want: want{status: actors.StatusPending},
		},

		// The windows.
		{
			name: "password failures leave the window exactly one window later",
			setup: func(m *machine) {
				m.register("h1")
				m.failPasswords(limit - 1)
				m.advance(window)
				m.failPasswords(1)
			},
			act:  func(m *machine) actors.Decision { return m.describe(true) },
			want: want{changed: true},
		},
		{
			name: "the code budget's window slides: it reopens when the oldest wrong code leaves it",
			setup: func(m *machine) {
				m.register("h1")
				m.failCodes(1)
				m.advance(23 * time.Hour)
				m.resend(true)
				m.failCodes(limit - 1)
				m.advance(cooldown)
				m.resend(true)
			},
			act:  func(m *machine) actors.Decision { return m.activate(true, m.code) },
			want: want{err: actors.ErrTooManyAttempts, retryAfter: time.Hour - codesSpan},
		},
		{
			name: "the code budget survives a re-registration",
			setup: func(m *machine) {
				m.register("h1")
				m.failCodes(limit - 1)
				m.advance(cooldown)
				m.register("h2")
			},
			act: func(m *machine) actors.Decision { return m.activate(true, m.wrongCode()) },
			want: want{err: actors.ErrTooManyAttempts,
				retryAfter: window - codesSpan,
				changed:    true, events: []string{"Throttled"}},
		},
		{
			name: "the code budget survives a resend",
			setup: func(m *machine) {
				m.register("h1")
				m.failCodes(limit - 1)
				m.advance(cooldown)
				m.resend(true)
			},
			act: func(m *machine) actors.Decision { return m.activate(true, m.wrongCode()) },
			want: want{err: actors.ErrTooManyAttempts,
				retryAfter: window - codesSpan,
				changed:    true, events: []string{"Throttled"}},
		},

		// The check before the hash (RegisterRefusal): what Register would
		// refuse whatever the password, and nothing else.
		{
			name: "check of an unknown email lets the registration through",
			act:  func(m *machine) actors.Decision { return m.checkRegister() },
			want: want{},
		},
		{
			name:  "check of an active email refuses it as taken",
			setup: func(m *machine) { m.register("h1"); m.activate(true, m.code) },
			act:   func(m *machine) actors.Decision { return m.checkRegister() },
			want:  want{err: actors.ErrEmailTaken, status: actors.StatusActive},
		},
		{
			name:  "check of a pending email within its cooldown refuses it with the wait",
			setup: func(m *machine) { m.register("h1"); m.advance(10 * time.Second) },
			act:   func(m *machine) actors.Decision { return m.checkRegister() },
			want:  want{err: actors.ErrRateLimited, retryAfter: cooldown - 10*time.Second},
		},
		{
			name:  "check of a pending email after its cooldown lets it through",
			setup: func(m *machine) { m.register("h1"); m.advance(cooldown) },
			act:   func(m *machine) actors.Decision { return m.checkRegister() },
			want:  want{status: actors.StatusPending},
		},
		{
			name: "check of a pending email over its hourly cap refuses it until the oldest issue leaves the hour",
			setup: func(m *machine) {
				m.register("h1")
				for range policy.HourlyCodeLimit - 1 {
					m.advance(cooldown)
					m.resend(true)
				}
				m.advance(cooldown)
			},
			act:  func(m *machine) actors.Decision { return m.checkRegister() },
			want: want{err: actors.ErrRateLimited, retryAfter: time.Hour - time.Duration(policy.HourlyCodeLimit)*cooldown},
		},
		{
			name:  "check of a pending email whose password checks are throttled lets it through, as Register does",
			setup: func(m *machine) { m.register("h1"); m.advance(time.Minute); m.failPasswords(limit) },
			act:   func(m *machine) actors.Decision { return m.checkRegister() },
			want:  want{status: actors.StatusPending},
		},

		// The purge sweep.
		{
			name:  "purge of a pending registration whose last code expired a retention ago deletes it",
			setup: func(m *machine) { m.register("h1"); m.advance(ttl + retention) },
			act:   func(m *machine) actors.Decision { return m.purge() },
			want:  want{deleted: true, events: []string{"RegistrationPurged"}},
		},
		{
			name:  "purge one millisecond before the retention ends keeps it",
			setup: func(m *machine) { m.register("h1"); m.advance(ttl + retention - time.Millisecond) },
			act:   func(m *machine) actors.Decision { return m.purge() },
			want:  want{status: actors.StatusPending},
		},
		{
			name:  "purge counts from the last code: a resend renews the retention",
			setup: func(m *machine) { m.register("h1"); m.advance(retention); m.resend(true); m.advance(retention) },
			act:   func(m *machine) actors.Decision { return m.purge() },
			want:  want{status: actors.StatusPending},
		},
		{
			name:  "purge counts from the last code: a re-registration renews the retention",
			setup: func(m *machine) { m.register("h1"); m.advance(retention); m.register("h2"); m.advance(retention) },
			act:   func(m *machine) actors.Decision { return m.purge() },
			want:  want{status: actors.StatusPending},
		},
		{
			name:  "purge of a registration whose code burned deletes it a retention after the code's expiry",
			setup: func(m *machine) { m.register("h1"); m.failCodes(3); m.advance(ttl + retention) },
			act:   func(m *machine) actors.Decision { return m.purge() },
			want:  want{deleted: true, events: []string{"RegistrationPurged"}},
		},
		{
			name:  "purge never deletes an active account",
			setup: func(m *machine) { m.register("h1"); m.activate(true, m.code); m.advance(10 * retention) },
			act:   func(m *machine) actors.Decision { return m.purge() },
			want:  want{status: actors.StatusActive},
		},
		{
			name: "purge of an unknown email does nothing",
			act:  func(m *machine) actors.Decision { return m.purge() },
			want: want{},
		},
		{
			name:  "after a purge the email registers afresh",
			setup: func(m *machine) { m.register("h1"); m.advance(ttl + retention); m.purge() },
			act:   func(m *machine) actors.Decision { return m.register("h2") },
			want:  want{changed: true, events: []string{"Registered", "CodeIssued"}, status: actors.StatusPending},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := newMachine(t)
			if tt.setup != nil {
				tt.setup(m)
			}
			before := m.cur
			got := tt.act(m)
			check(t, m, got, tt.want)
			if got.Next == nil && !got.Delete {
				assert.Same(t, before, m.cur, "state must not change")
			}
		})
	}
}

func TestRulesPurge(t *testing.T) {
	t.Run("a retention of 0 keeps every registration", func(t *testing.T) {
		policy := actors.DefaultPolicy()
		policy.PendingRetention = 0
		rules, err := actors.NewRules(policy, []byte("0123456789abcdef0123456789abcdef"))
		require.NoError(t, err)
		m := &machine{tb: t, rules: rules, now: t0}
		m.register("h1")
		m.advance(100 * 365 * 24 * time.Hour)
		d := m.purge()
		assert.False(t, d.Delete)
		assert.Empty(t, d.Events)
	})
	t.Run("the event names the purged user and the time", func(t *testing.T) {
		m := newMachine(t)
		m.register("h1")
		id := m.cur.ID
		m.advance(time.Minute + m.rules.Policy().PendingRetention)
		d := m.purge()
		require.Len(t, d.Events, 1)
		assert.Equal(t, actors.RegistrationPurged{UserID: id, At: m.now}, d.Events[0])
		assert.Nil(t, d.State(nil), "nothing is left")
	})
	t.Run("a negative retention is refused", func(t *testing.T) {
		policy := actors.DefaultPolicy()
		policy.PendingRetention = -time.Second
		assert.ErrorContains(t, policy.Validate(), "pending retention")
	})
}

func TestRulesANewRegistrationStartsTheThrottleAfresh(t *testing.T) {
	m := newMachine(t)
	m.register("h1")
	m.source = "198.51.100.7"
	m.describe(true)
	m.source = "203.0.113.66"
	m.failPasswords(3)
	require.NotEmpty(t, m.cur.Passwords.Sources)
	m.advance(m.rules.Policy().ResendCooldown)
	m.register("h2")
	assert.Equal(t, actors.PasswordGuard{}, m.cur.Passwords, "the new password knows no network and no failure")
}

func TestRulesAuthenticationOrder(t *testing.T) {
	m := newMachine(t)
	m.register("h1")

	t.Run("a challenge that Authenticate did not make is refused", func(t *testing.T) {
		_, refused, ok := m.rules.Verified(actors.Challenge{}, true, m.now)
		assert.False(t, ok)
		check(t, m, refused, want{err: actors.ErrInvalidCredentials})
	})

	t.Run("a command without a verified password is refused", func(t *testing.T) {
		for name, d := range map[string]actors.Decision{
			"activate": m.rules.Activate(actors.Authenticated{}, m.code, m.now),
			"resend":   m.rules.ResendCode(actors.Authenticated{}, "1234", m.now),
			"describe": m.rules.Describe(actors.Authenticated{}, m.now),
		} {
			assert.ErrorIs(t, d.Err, actors.ErrInvalidCredentials, name)
			assert.Nil(t, d.Next, name)
		}
	})

	t.Run("a throttled check hands out no hash to verify", func(t *testing.T) {
		m.failPasswords(m.rules.Policy().FailureLimit)
		ch, err := m.rules.Authenticate(m.cur, "", m.now)
		require.ErrorIs(t, err, actors.ErrTooManyAttempts)
		assert.Empty(t, ch.PasswordHash())
	})
}

// TestRulesPasswordWaitsNeverExceedTheCap plays a stranger who fails at
// every opening for two days: each wait is at most 15 minutes and stops
// growing there, and the owner is never held back, neither on a network it
// used before nor on a new one.
func TestRulesPasswordWaitsNeverExceedTheCap(t *testing.T) {
	m := newMachine(t)
	m.register("h1")
	m.source = "owner-home"
	m.activate(true, m.code)
	end := m.now.Add(48 * time.Hour)
	var waits []time.Duration
	for i := 0; m.now.Before(end); i++ {
		m.source = "attacker-network"
		d := m.describe(false)
		var rej *actors.Rejection
		if errors.As(d.Err, &rej) && errors.Is(d.Err, actors.ErrTooManyAttempts) {
			require.LessOrEqual(t, rej.RetryAfter, actors.MaxPasswordWait)
			require.Positive(t, rej.RetryAfter)
			waits = append(waits, rej.RetryAfter)
			m.advance(rej.RetryAfter)
		}
		m.source = "owner-home"
		require.NoError(t, m.describe(true).Err, "the owner at home")
		m.source = fmt.Sprintf("owner-travelling-%d", i)
		require.NoError(t, m.describe(true).Err, "the owner on a new network")
	}
	policy := m.rules.Policy()
	require.NotEmpty(t, waits)
	assert.Equal(t, policy.ThrottleDelay, waits[0], "the first wait")
	assert.Equal(t, actors.MaxPasswordWait, waits[len(waits)-1], "the waits stop growing at the cap")
	// 10 wrong passwords, then one per wait: 1, 2, 4, 8, then 15 minutes.
	assert.Less(t, len(waits), 48*4+10, "guesses in two days")
}
