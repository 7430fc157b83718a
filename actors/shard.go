package actors

import (
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/asynkron/protoactor-go/scheduler"
)

// sweepTick starts a shard's idle sweep.
type sweepTick struct{}

// addressed is implemented by every command: the shard routes on the email.
type addressed interface{ GetEmail() string }

// shard owns the registration actors of the emails that hash to it. It spawns
// a child on the first message for an email, forwards messages with their
// original sender (the child answers the caller's future directly) and
// passivates idle children.
//
// Passivation is a handshake, never a self-stop: the shard asks an idle child,
// the child consents only when it holds no live timer, and the shard then
// marks it stopping and poisons it. Messages that arrive for the email
// meanwhile are buffered and replayed to a fresh child once the old one has
// terminated, so no request is dropped at the idle boundary.
type shard struct {
	deps     *deps
	children map[string]*child // by email
	emails   map[string]string // child PID id -> email
	stop     scheduler.CancelFunc
}

type child struct {
	pid      *actor.PID
	epoch    uint64 // messages forwarded so far
	lastUsed time.Time
	stopping bool
	buffered []buffered
}

type buffered struct {
	msg    any
	sender *actor.PID
}

func newShard(d *deps) *shard {
	return &shard{deps: d, children: map[string]*child{}, emails: map[string]string{}}
}

func (s *shard) Receive(ctx actor.Context) {
	switch msg := ctx.Message().(type) {
	case *actor.Started:
		every := s.deps.sweepInterval
		s.stop = s.deps.timers.SendRepeatedly(every, every, ctx.Self(), sweepTick{})
	case *actor.Stopping:
		if s.stop != nil {
			s.stop()
		}
	case *actor.Terminated:
		s.terminated(ctx, msg.Who)
	case sweepTick:
		s.sweep(ctx)
	case *passivationConsent:
		s.passivate(ctx, msg)
	case addressed:
		s.route(ctx, msg.GetEmail())
	}
}

func (s *shard) route(ctx actor.Context, email string) {
	c := s.children[email]
	if c == nil {
		c = s.spawn(ctx, email)
	}
	if c.stopping {
		c.buffered = append(c.buffered, buffered{msg: ctx.Message(), sender: ctx.Sender()})
		return
	}
	c.epoch++
	c.lastUsed = time.Now()
	ctx.Forward(c.pid)
}

func (s *shard) spawn(ctx actor.Context, email string) *child {
	d := s.deps
	pid := ctx.Spawn(actor.PropsFromProducer(func() actor.Actor { return newRegistrationActor(email, d) }))
	c := &child{pid: pid, lastUsed: time.Now()}
	s.children[email] = c
	s.emails[pid.Id] = email
	d.stats.actors.Add(1)
	return c
}

// sweep asks every child idle for longer than the idle timeout whether it may
// stop. The query carries the epoch, so a consent that crosses a new message
// is recognized as stale.
func (s *shard) sweep(ctx actor.Context) {
	idleSince := time.Now().Add(-s.deps.idleTimeout)
	for _, c := range s.children {
		if !c.stopping && !c.lastUsed.After(idleSince) {
			ctx.Request(c.pid, &passivationQuery{epoch: c.epoch})
		}
	}
}

func (s *shard) passivate(ctx actor.Context, msg *passivationConsent) {
	c := s.children[s.emails[msg.child.GetId()]]
	// A consent from an earlier incarnation, or one that crossed a newer
	// message, is stale.
	if c == nil || c.stopping || !c.pid.Equal(msg.child) || c.epoch != msg.epoch {
		return
	}
	c.stopping = true
	ctx.Poison(c.pid)
}

func (s *shard) terminated(ctx actor.Context, who *actor.PID) {
	email, ok := s.emails[who.Id]
	if !ok {
		return
	}
	delete(s.emails, who.Id)
	c := s.children[email]
	if c == nil || c.pid.Id != who.Id {
		return
	}
	delete(s.children, email)
	s.deps.stats.actors.Add(-1)
	if c.stopping {
		s.deps.stats.passivations.Add(1)
	}
	if len(c.buffered) == 0 {
		return
	}
	next := s.spawn(ctx, email)
	s.deps.stats.replayed.Add(int64(len(c.buffered)))
	for _, b := range c.buffered {
		next.epoch++
		ctx.RequestWithCustomSender(next.pid, b.msg, b.sender)
	}
	next.lastUsed = time.Now()
}
