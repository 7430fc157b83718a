package actors

import (
	"strconv"
	"time"

	"github.com/asynkron/protoactor-go/actor"
)

// How a command's time is bounded, end to end.
//
// The caller waits `wait` (its own deadline, at most the request timeout)
// and grants the actor a budget of wait - replyMargin(wait). The budget is a
// duration, counted on the actor's member from the moment the command
// reaches it (stamped by the arrivals mailbox middleware, before any queue
// wait), so no two members need agreeing clocks. Every store call and the
// password check run under a context that ends with the budget, and a
// command whose budget ran out in the queue is refused unexecuted. The
// margin leaves the answer time to travel back and, when the store lost
// sight of a commit (a connection that broke during COMMIT), the actor time
// to read the row and find out: the caller is answered the truth, not 503.

// replyMargin is how much longer a caller waits than the budget it grants.
func replyMargin(wait time.Duration) time.Duration {
	return min(max(wait/10, 20*time.Millisecond), time.Second)
}

// budgetFor is the budget a caller willing to wait `wait` grants.
func budgetFor(wait time.Duration) time.Duration { return wait - replyMargin(wait) }

// commitCheckGrace is how long past its budget an actor may spend finding
// out whether a commit went through. It is below the caller's margin
// whatever the budget: replyMargin grows with its argument.
func commitCheckGrace(budget time.Duration) time.Duration { return replyMargin(budget) / 2 }

// arrivedHeader carries, inside one member, when a command reached it
// (nanoseconds since epoch).
const arrivedHeader = "registrar-arrived-unix-nano"

// arrivals stamps every command envelope with the time it was first posted
// to a mailbox of this member: into a shard's mailbox, or into the actor's
// when it comes from elsewhere. A stamp already there is kept (a shard
// forwards the same envelope to the actor).
type arrivals struct{}

func (arrivals) MailboxStarted() {}

func (arrivals) MessagePosted(m any) {
	env, ok := m.(*actor.MessageEnvelope)
	if !ok || env.GetHeader(arrivedHeader) != "" {
		return
	}
	if _, ok := env.Message.(interface{ GetEmail() string }); !ok {
		return
	}
	// A copy: the envelope's header map may be shared (a root context's).
	h := make(map[string]string, len(env.Header)+1)
	for k, v := range env.Header {
		h[k] = v
	}
	h[arrivedHeader] = strconv.FormatInt(int64(time.Since(epoch)), 10)
	env.Header = h
}

func (arrivals) MessageReceived(any) {}
func (arrivals) MailboxEmpty()       {}

// epoch is what arrival stamps count from: a process-local instant, so the
// times read back keep Go's monotonic clock (immune to wall-clock steps).
var epoch = time.Now()

// arrival is when the current message reached this member; now when it
// was not stamped.
func arrival(ctx actor.Context) time.Time {
	if ns, err := strconv.ParseInt(ctx.MessageHeader().Get(arrivedHeader), 10, 64); err == nil {
		return epoch.Add(time.Duration(ns))
	}
	return time.Now()
}

// withArrivals is the mailbox of shards and registration actors.
func withArrivals() actor.PropsOption { return actor.WithMailbox(actor.Unbounded(arrivals{})) }
