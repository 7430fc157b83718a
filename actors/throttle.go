package actors

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"slices"
	"time"
)

// The password throttle. After FailureLimit wrong passwords within
// FailureWindow, the password checks of a bucket wait out growing delays
// (ThrottleDelay, doubling with every further wrong password, never more
// than MaxThrottleDelay at a time); a check that must wait answers 429
// before the password is verified, so a throttled account is no password
// oracle.
//
// Wrong passwords are counted per source (the client's network), in the
// manner of "smart lockout": the networks that have passed this account's
// password check before share one bucket (Known), every other network has a
// bucket of its own (Strangers, the most recent maxStrangerBuckets of them),
// and all strangers together have one more (Everyone) with a limit
// strangersFactor times higher, against guessing spread over many networks;
// it counts each network's failures only until that network's own bucket
// engages, so one network alone never holds the others back.
// A stranger who knows only the address slows only its own network: the
// owner, on a network it used before or on a new one, is not held back. Only
// a stranger failing from many networks at once engages Everyone, and then
// the owner on a new network waits at most MaxThrottleDelay at a time. The
// contract asks exactly this: by failing, nobody keeps the owner out for
// more than 15 minutes at a time.

// Throttle is one bucket of the password throttle.
type Throttle struct {
	// Failures holds the times of the most recent wrong passwords, oldest
	// first, at most the bucket's limit of them (a sliding log).
	Failures []time.Time
	// Level counts the wrong passwords since the throttle engaged; the delay
	// doubles with each. 0 while the bucket is not throttled.
	Level int
}

// SourceThrottle is the bucket of one stranger's network.
type SourceThrottle struct {
	Source string // keyed tag
	Throttle
}

// PasswordGuard is the password throttle's state of one account.
type PasswordGuard struct {
	Known     Throttle
	Strangers []SourceThrottle // most recently failed last
	Everyone  Throttle
	// Sources are the keyed tags of the networks that passed the password
	// check, oldest first, at most maxKnownSources. Tags, not addresses:
	// the row keeps no client IP.
	Sources []string
}

const (
	// maxKnownSources bounds the networks remembered per account.
	maxKnownSources = 8
	// maxStrangerBuckets bounds the strangers' buckets kept per account;
	// the least recently failing one is forgotten first (Everyone still
	// counts its failures).
	maxStrangerBuckets = 16
	// strangersFactor: all strangers together take this many times the
	// failure limit before Everyone engages.
	strangersFactor = 10
)

// Clone returns a deep copy of g.
func (g PasswordGuard) Clone() PasswordGuard {
	g.Known.Failures = slices.Clone(g.Known.Failures)
	g.Everyone.Failures = slices.Clone(g.Everyone.Failures)
	g.Strangers = slices.Clone(g.Strangers)
	for i := range g.Strangers {
		g.Strangers[i].Failures = slices.Clone(g.Strangers[i].Failures)
	}
	g.Sources = slices.Clone(g.Sources)
	return g
}

// knows reports whether tag passed the check before.
func (g PasswordGuard) knows(tag string) bool { return tag != "" && slices.Contains(g.Sources, tag) }

// remember adds tag to the known sources. A source already known is left in
// place, so that a check from it writes nothing.
func (g *PasswordGuard) remember(tag string) bool {
	if tag == "" || g.knows(tag) {
		return false
	}
	g.Sources = append(g.Sources, tag)
	if n := len(g.Sources); n > maxKnownSources {
		g.Sources = g.Sources[n-maxKnownSources:]
	}
	return true
}

// stranger returns the bucket of tag, nil when it has none.
func (g *PasswordGuard) stranger(tag string) *Throttle {
	for i := range g.Strangers {
		if g.Strangers[i].Source == tag {
			return &g.Strangers[i].Throttle
		}
	}
	return nil
}

// wait is how long a password check from tag must still wait at now.
func (p Policy) passwordWait(g PasswordGuard, tag string, now time.Time) time.Duration {
	if g.knows(tag) {
		return p.throttleWait(g.Known, p.FailureLimit, now)
	}
	wait := p.throttleWait(g.Everyone, strangersFactor*p.FailureLimit, now)
	if b := g.stranger(tag); b != nil {
		wait = max(wait, p.throttleWait(*b, p.FailureLimit, now))
	}
	return wait
}

// failPassword records a wrong password from tag at now and reports whether
// it engaged a throttle.
func (p Policy) failPassword(g *PasswordGuard, tag string, now time.Time) bool {
	if g.knows(tag) {
		return p.fail(&g.Known, p.FailureLimit, now)
	}
	var b SourceThrottle
	if i := slices.IndexFunc(g.Strangers, func(s SourceThrottle) bool { return s.Source == tag }); i >= 0 {
		b = g.Strangers[i]
		g.Strangers = slices.Delete(g.Strangers, i, i+1)
	} else {
		b.Source = tag
	}
	// Everyone counts a network's failures only until its own bucket
	// engages: one network alone never holds the others back.
	engaged := false
	if len(recent(b.Failures, p.FailureWindow, p.FailureLimit, now)) < p.FailureLimit {
		engaged = p.fail(&g.Everyone, strangersFactor*p.FailureLimit, now)
	}
	engaged = p.fail(&b.Throttle, p.FailureLimit, now) || engaged
	g.Strangers = append(g.Strangers, b)
	if n := len(g.Strangers); n > maxStrangerBuckets {
		g.Strangers = g.Strangers[n-maxStrangerBuckets:]
	}
	return engaged
}

// passed clears the bucket of tag after a right password, and learns tag.
// It reports whether anything changed.
func (g *PasswordGuard) passed(tag string) bool {
	changed := false
	if g.knows(tag) {
		if len(g.Known.Failures) > 0 || g.Known.Level > 0 {
			g.Known, changed = Throttle{}, true
		}
		return changed
	}
	if i := slices.IndexFunc(g.Strangers, func(s SourceThrottle) bool { return s.Source == tag }); i >= 0 {
		g.Strangers, changed = slices.Delete(g.Strangers, i, i+1), true
	}
	return g.remember(tag) || changed
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

// throttleWait is how long a password check of bucket t (of limit wrong
// passwords per window) must still wait at now; 0 when it may run.
func (p Policy) throttleWait(t Throttle, limit int, now time.Time) time.Duration {
	fs := recent(t.Failures, p.FailureWindow, limit, now)
	if len(fs) < limit || t.Level == 0 {
		return 0
	}
	return max(fs[len(fs)-1].Add(p.throttleDelay(t.Level)).Sub(now), 0)
}

// fail records a wrong password in t (of limit per window) at now and
// reports whether it engaged the throttle.
func (p Policy) fail(t *Throttle, limit int, now time.Time) bool {
	throttled := len(recent(t.Failures, p.FailureWindow, limit, now)) >= limit
	t.Failures = append(recent(t.Failures, p.FailureWindow, limit-1, now), now)
	switch {
	case throttled:
		t.Level++
	case len(t.Failures) >= limit:
		t.Level = 1
		return true
	default:
		t.Level = 0
	}
	return false
}

// sourceTag is the keyed tag of a client source; "" for an unknown one,
// which is a stranger with a bucket of its own.
func (r Rules) sourceTag(source string) string {
	if source == "" {
		return ""
	}
	m := hmac.New(sha256.New, r.codeKey)
	m.Write([]byte("password-source\x00"))
	m.Write([]byte(source))
	return hex.EncodeToString(m.Sum(nil)[:8])
}
