package actors

import (
	"context"
	"strconv"
	"strings"
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

// commitGraceKey holds, in a command's context, its commit grace.
type commitGraceKey struct{}

// CommitGrace is how long past ctx's deadline a store may spend finding
// out what became of a COMMIT whose answer was lost (Store.Save): what the
// caller's margin leaves, or def for a context that is no command's.
func CommitGrace(ctx context.Context, def time.Duration) time.Duration {
	if d, ok := ctx.Value(commitGraceKey{}).(time.Duration); ok {
		return d
	}
	return def
}

// budgetFor is the budget a caller willing to wait `wait` grants.
func budgetFor(wait time.Duration) time.Duration { return wait - replyMargin(wait) }

// arrivedHeader carries, inside one member, when a command reached it:
// "<process token>:<nanoseconds since processStart>". A stamp of another
// process (an envelope that crossed members with its headers) means nothing
// here and is replaced.
const arrivedHeader = "registrar-arrived"

// arrivals stamps every command envelope with the time it was first posted
// to a mailbox of this process: into a shard's mailbox, or into the actor's
// when it comes from elsewhere. A stamp of this process already there is
// kept (a shard forwards the same envelope to the actor).
type arrivals struct{}

func (arrivals) MailboxStarted() {}

func (arrivals) MessagePosted(m any) {
	env, ok := m.(*actor.MessageEnvelope)
	if !ok {
		return
	}
	if _, ok := env.Message.(interface{ GetEmail() string }); !ok {
		return
	}
	if _, mine := stampedAt(env.GetHeader(arrivedHeader)); mine {
		return
	}
	// A copy: the envelope's header map may be shared (a root context's).
	h := make(map[string]string, len(env.Header)+1)
	for k, v := range env.Header {
		h[k] = v
	}
	h[arrivedHeader] = processToken + ":" + strconv.FormatInt(int64(time.Since(processStart)), 10)
	env.Header = h
}

func (arrivals) MessageReceived(any) {}
func (arrivals) MailboxEmpty()       {}

// processStart is what arrival stamps count from: a process-local instant,
// so the times read back keep Go's monotonic clock (immune to wall-clock
// steps). processToken tells this process's stamps from others'.
var (
	processStart = time.Now()
	processToken = strconv.FormatInt(processStart.UnixNano(), 36)
)

// stampedAt reads a stamp; mine is false for another process's or none.
func stampedAt(stamp string) (at time.Time, mine bool) {
	token, ns, ok := strings.Cut(stamp, ":")
	if !ok || token != processToken {
		return time.Time{}, false
	}
	d, err := strconv.ParseInt(ns, 10, 64)
	if err != nil {
		return time.Time{}, false
	}
	return processStart.Add(time.Duration(d)), true
}

// arrival is when the current message reached this process; now when it
// was not stamped here.
func arrival(ctx actor.Context) time.Time {
	if at, mine := stampedAt(ctx.MessageHeader().Get(arrivedHeader)); mine {
		return at
	}
	return time.Now()
}

// withArrivals is the mailbox of shards and registration actors.
func withArrivals() actor.PropsOption { return actor.WithMailbox(actor.Unbounded(arrivals{})) }
