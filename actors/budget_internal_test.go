package actors

import (
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
