package actors

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"slices"
	"time"
)

// The password throttle. After FailureLimit wrong passwords within
// FailureWindow, the password checks of the account wait out growing delays
// (ThrottleDelay, doubling with every further wrong password, never more
// than MaxThrottleDelay at a time); a check that must wait answers 429
// before the password is verified, so a throttled account is no password
// oracle.
//
// Wrong passwords are counted in two buckets, as "smart lockout" does: one
// for the client networks (sources) that have passed this account's
// password check before, one for everybody else. A stranger who knows only
// the address fails in the strangers' bucket: the owner, back on a network
// it used before, is not slowed down at all, and on a new network it waits
// at most MaxThrottleDelay at a time. The contract asks exactly this: by
// failing, nobody keeps the owner out for more than 15 minutes at a time.

// Throttle is one bucket of the password throttle.
type Throttle struct {
	// Failures holds the times of the most recent wrong passwords, oldest
	// first, at most FailureLimit of them (a sliding log).
	Failures []time.Time
	// Level counts the wrong passwords since the throttle engaged; the delay
	// doubles with each. 0 while the bucket is not throttled.
	Level int
}

// PasswordGuard is the password throttle's state of one account.
type PasswordGuard struct {
	Strangers Throttle
	Known     Throttle
	// Sources are the keyed tags of the sources that passed the password
	// check, most recent last, at most maxKnownSources. Tags, not
	// addresses: the row keeps no client IP.
	Sources []string
}

// maxKnownSources bounds the sources remembered per account.
const maxKnownSources = 8

func (g *PasswordGuard) bucket(known bool) *Throttle {
	if known {
		return &g.Known
	}
	return &g.Strangers
}

func (g PasswordGuard) clone() PasswordGuard {
	g.Strangers.Failures = slices.Clone(g.Strangers.Failures)
	g.Known.Failures = slices.Clone(g.Known.Failures)
	g.Sources = slices.Clone(g.Sources)
	return g
}

// remember makes tag the most recent known source.
func (g *PasswordGuard) remember(tag string) {
	g.Sources = slices.DeleteFunc(g.Sources, func(s string) bool { return s == tag })
	g.Sources = append(g.Sources, tag)
	if n := len(g.Sources); n > maxKnownSources {
		g.Sources = g.Sources[n-maxKnownSources:]
	}
}

// throttleDelay is the wait after the level-th wrong password of a
// throttled bucket.
func (p Policy) throttleDelay(level int) time.Duration {
	d := p.ThrottleDelay
	for i := 1; i < level && d < p.MaxThrottleDelay; i++ {
		d *= 2
	}
	return min(d, p.MaxThrottleDelay)
}

// throttleWait is how long a password check of bucket t must still wait at
// now; 0 when it may run.
func (p Policy) throttleWait(t Throttle, now time.Time) time.Duration {
	fs := recent(t.Failures, p.FailureWindow, p.FailureLimit, now)
	if len(fs) < p.FailureLimit || t.Level == 0 {
		return 0
	}
	return max(fs[len(fs)-1].Add(p.throttleDelay(t.Level)).Sub(now), 0)
}

// failPassword records a wrong password in t at now and reports whether it
// engaged the throttle.
func (p Policy) failPassword(t *Throttle, now time.Time) bool {
	throttled := len(recent(t.Failures, p.FailureWindow, p.FailureLimit, now)) >= p.FailureLimit
	t.Failures = append(recent(t.Failures, p.FailureWindow, p.FailureLimit-1, now), now)
	switch {
	case throttled:
		t.Level++
	case len(t.Failures) >= p.FailureLimit:
		t.Level = 1
		return true
	default:
		t.Level = 0
	}
	return false
}

// sourceTag is the keyed tag of a client source; "" for an unknown one,
// which is always a stranger.
func (r Rules) sourceTag(source string) string {
	if source == "" {
		return ""
	}
	m := hmac.New(sha256.New, r.codeKey)
	m.Write([]byte("password-source\x00"))
	m.Write([]byte(source))
	return hex.EncodeToString(m.Sum(nil)[:8])
}
