package actors

import (
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/stretchr/testify/assert"
)

// poisons records what passivate poisons; passivate uses nothing else of
// its context.
type poisons struct {
	actor.Context
	pids []*actor.PID
}

func (p *poisons) Poison(pid *actor.PID) { p.pids = append(p.pids, pid) }

// A child consents to stop for the epoch it was asked at. A message the
// shard forwarded after asking may have armed a timer (a new code's
// expiry) that stopping would kill, so a consent for an earlier epoch must
// leave the child running; one for the current epoch stops it.
func TestShardIgnoresAConsentThatCrossedANewerMessage(t *testing.T) {
	pid := actor.NewPID("test", "child$1")
	s := &shard{children: map[string]*child{"a@example.com": {pid: pid, epoch: 5}}, emails: map[string]string{pid.Id: "a@example.com"}}
	ctx := &poisons{}

	s.passivate(ctx, &passivationConsent{child: pid, epoch: 4})
	assert.Empty(t, ctx.pids, "a stale consent stops nothing")
	assert.False(t, s.children["a@example.com"].stopping)

	s.passivate(ctx, &passivationConsent{child: pid, epoch: 5})
	assert.Equal(t, []*actor.PID{pid}, ctx.pids, "the current consent stops the child")
	assert.True(t, s.children["a@example.com"].stopping)

	s.passivate(ctx, &passivationConsent{child: pid, epoch: 5})
	assert.Len(t, ctx.pids, 1, "a child already stopping is not poisoned twice")
}

func TestPurgeIntervalIsHalfTheRetentionBetweenASecondAndAnHour(t *testing.T) {
	for retention, want := range map[time.Duration]time.Duration{
		168 * time.Hour:        time.Hour,
		90 * time.Minute:       45 * time.Minute,
		2 * time.Second:        time.Second,
		500 * time.Millisecond: time.Second,
	} {
		assert.Equal(t, want, purgeInterval(retention), retention)
	}
}
