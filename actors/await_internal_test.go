package actors

import (
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/stretchr/testify/assert"
)

// A member that leaves gracefully answers before it deregisters, yet its
// answer can reach the caller just after the topology without it: an
// answer that trails the leave by less than goneGrace is the answer, not
// errMemberGone (a 503 for a committed command). One that never comes is.
func TestAnAnswerThatTrailsItsMembersLeaveIsKept(t *testing.T) {
	sys := actor.NewActorSystem()
	gone := make(chan struct{})
	f := actor.NewFuture(sys, 5*time.Second)
	close(gone)
	time.AfterFunc(goneGrace/5, func() { sys.Root.Send(f.PID(), "committed") })
	res, err := awaitUnless(f, gone)
	assert.NoError(t, err)
	assert.Equal(t, "committed", res)

	_, err = awaitUnless(actor.NewFuture(sys, 5*time.Second), gone)
	assert.ErrorIs(t, err, errMemberGone, "a member gone without an answer")
}
