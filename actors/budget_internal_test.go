package actors

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

// The row keeps only the entries the budget and the throttle read: a log
// that grew with every wrong code or resend would let one client grow a
// row without bound (the limits' maxima bound what is stored).
func TestTheLogsKeepOnlyWhatTheyRead(t *testing.T) {
	p := DefaultPolicy()
	t0 := time.Date(2026, 12, 2, 9, 0, 0, 0, time.UTC)
	r := &Registration{}
	for i := range 3 * p.FailureLimit {
		p.failCode(r, t0.Add(time.Duration(i)*time.Millisecond))
	}
	assert.Len(t, r.CodeFailures, p.FailureLimit, "the budget reads the last FailureLimit wrong codes")
	assert.Equal(t, t0.Add(time.Duration(3*p.FailureLimit-1)*time.Millisecond), r.CodeFailures[p.FailureLimit-1], "the newest is kept")

	for i := range 3 * p.HourlyCodeLimit {
		p.recordIssue(r, t0.Add(time.Duration(i)*time.Second))
	}
	assert.Len(t, r.Issues, p.HourlyCodeLimit, "the cap reads the last HourlyCodeLimit issues")
	assert.Equal(t, t0.Add(time.Duration(3*p.HourlyCodeLimit-1)*time.Second), r.Issues[p.HourlyCodeLimit-1], "the newest is kept")
}

// The password guard keeps bounded lists too: the known sources, the
// strangers' buckets and each bucket's failures, newest kept.
func TestThePasswordGuardKeepsBoundedLists(t *testing.T) {
	p := DefaultPolicy()
	t0 := time.Date(2026, 12, 2, 9, 0, 0, 0, time.UTC)
	var g PasswordGuard
	for i := range 3 * maxKnownSources {
		g.passed(fmt.Sprintf("known%02d", i))
	}
	assert.Len(t, g.Sources, maxKnownSources)
	assert.Equal(t, fmt.Sprintf("known%02d", 3*maxKnownSources-1), g.Sources[maxKnownSources-1])

	for i := range 3 * maxStrangerBuckets {
		p.failPassword(&g, fmt.Sprintf("stranger%02d", i), t0)
	}
	assert.Len(t, g.Strangers, maxStrangerBuckets)
	assert.Equal(t, fmt.Sprintf("stranger%02d", 3*maxStrangerBuckets-1), g.Strangers[maxStrangerBuckets-1].Source)

	var b Throttle
	for i := range 3 * p.FailureLimit {
		p.fail(&b, p.FailureLimit, t0.Add(time.Duration(i)*time.Millisecond))
	}
	assert.Len(t, b.Failures, p.FailureLimit)
}

// The throttle's delay doubles from ThrottleDelay with each level and stops
// at MaxThrottleDelay exactly.
func TestThrottleDelayDoublesUpToItsCap(t *testing.T) {
	p := DefaultPolicy()
	p.ThrottleDelay, p.MaxThrottleDelay = time.Second, 5*time.Second
	for level, want := range map[int]time.Duration{0: time.Second, 1: time.Second, 2: 2 * time.Second, 3: 4 * time.Second, 4: 5 * time.Second, 40: 5 * time.Second} {
		assert.Equal(t, want, p.throttleDelay(level), "level %d", level)
	}
	p.MaxThrottleDelay = 4 * time.Second // a cap the doubling lands on
	assert.Equal(t, 4*time.Second, p.throttleDelay(3))
	assert.Equal(t, 4*time.Second, p.throttleDelay(4))
}
