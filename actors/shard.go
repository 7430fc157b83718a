package actors

import (
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/asynkron/protoactor-go/cluster"
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
// terminated, so no request is dropped at the idle boundary. Idle timeouts
// are jittered per child, so a burst of sign-ups does not go idle at once.
//
// In a cluster the shard is a grain: it answers REASON_MOVED, and lets its
// children go, as soon as this member's view of the topology gives it to
// another member, so that two members hold an email's actor only while their
// views disagree (the versioned row fences that moment).
//
// The "children" are spawned from the root and watched, not parented:
// protoactor keeps a parent's children in a PIDSet whose Remove leaves the
// removed PID in its backing array, and a PID caches its process, so every
// passivated actor (state included) stayed reachable up to the high-water
// mark (5 KB per registration in the memory benchmark).
type shard struct {
	deps     *deps
	index    int               // -1 until a grain learns its identity
	children map[string]*child // by email
	emails   map[string]string // child PID id -> email
	peak     int               // most children since the maps were last rebuilt
	stop     scheduler.CancelFunc
}

type child struct {
	pid      *actor.PID
	epoch    uint64 // messages forwarded so far
	idleAt   time.Time
	stopping bool
	buffered []*actor.MessageEnvelope
}

// shardProps are the props of shard index (-1: a grain, which reads its
// index from its cluster identity).
func shardProps(d *deps, index int, opts ...actor.PropsOption) *actor.Props {
	return actor.PropsFromProducer(func() actor.Actor {
		return &shard{deps: d, index: index, children: map[string]*child{}, emails: map[string]string{}}
	}, append(opts, withArrivals())...)
}

func (s *shard) Receive(ctx actor.Context) {
	switch msg := ctx.Message().(type) {
	case *actor.Started:
		if s.index < 0 {
			if ci := cluster.GetClusterIdentity(ctx); ci != nil {
				s.index, _ = strconv.Atoi(ci.Identity)
			}
		}
		every := s.deps.sweepInterval
		s.stop = s.deps.timers.SendRepeatedly(every, every, ctx.Self(), sweepTick{})
	case *actor.Stopping:
		if s.stop != nil {
			s.stop()
		}
		s.release(ctx)
	case *actor.Terminated:
		s.terminated(ctx, msg.Who)
	case sweepTick:
		if !s.owned() {
			s.release(ctx)
			return
		}
		s.sweep(ctx)
	case *passivationConsent:
		s.passivate(ctx, msg)
	case addressed:
		if !s.owned() {
			s.release(ctx)
			ctx.Respond(rejection(errMoved))
			return
		}
		s.route(ctx, msg.GetEmail())
	}
}

func (s *shard) owned() bool { return s.index >= 0 && s.deps.placement.owns(s.index) }

// release lets every child go: it finishes what it has queued, then stops.
// Not its children for protoactor: they do not stop with it, and their
// Terminated would find the shard gone (a dead letter in the log).
func (s *shard) release(ctx actor.Context) {
	for email, c := range s.children {
		ctx.Unwatch(c.pid)
		ctx.Poison(c.pid)
		for _, b := range c.buffered { // never forwarded: the caller retries elsewhere
			ctx.Send(b.Sender, rejection(errMoved))
			s.deps.stats.inflight.Add(-1)
		}
		delete(s.emails, c.pid.Id)
		delete(s.children, email)
	}
}

func (s *shard) route(ctx actor.Context, email string) {
	s.deps.stats.inflight.Add(1) // until its actor answers
	c := s.children[email]
	if c == nil {
		c = s.spawn(ctx, email)
	}
	if c.stopping {
		c.buffered = append(c.buffered, &actor.MessageEnvelope{
			Header: ctx.MessageHeader().ToMap(), Message: ctx.Message(), Sender: ctx.Sender(),
		})
		return
	}
	c.epoch++
	c.idleAt = s.idleDeadline()
	ctx.Forward(c.pid)
}

// idleDeadline is when a child used now becomes idle: the idle timeout plus
// a jitter of up to a quarter of it.
func (s *shard) idleDeadline() time.Time {
	t := s.deps.idleTimeout
	return time.Now().Add(t + rand.N(t/4+1))
}

func (s *shard) spawn(ctx actor.Context, email string) *child {
	d := s.deps
	pid := ctx.ActorSystem().Root.Spawn(actor.PropsFromProducer(func() actor.Actor { return newRegistrationActor(email, d) }, withArrivals()))
	ctx.Watch(pid)
	c := &child{pid: pid, idleAt: s.idleDeadline()}
	s.children[email] = c
	s.emails[pid.Id] = email
	s.peak = max(s.peak, len(s.children))
	d.stats.actors.Add(1)
	d.stats.activations.Add(1)
	return c
}

// sweep asks every child past its idle deadline whether it may stop. The
// query carries the epoch, so a consent that crosses a new message is
// recognized as stale.
func (s *shard) sweep(ctx actor.Context) {
	now := time.Now()
	for _, c := range s.children {
		if !c.stopping && !c.idleAt.After(now) {
			ctx.Request(c.pid, &passivationQuery{epoch: c.epoch})
		}
	}
	s.compact()
}

// compact rebuilds the maps once most of their peak has been passivated: Go
// maps never shrink, and after a burst of sign-ups the empty tables would
// keep their peak size for good.
func (s *shard) compact() {
	if s.peak < 128 || len(s.children) > s.peak/8 {
		return
	}
	// Copied entry by entry: maps.Clone keeps the source's table size.
	children, emails := make(map[string]*child, len(s.children)), make(map[string]string, len(s.emails))
	for k, v := range s.children {
		children[k] = v
	}
	for k, v := range s.emails {
		emails[k] = v
	}
	s.children, s.emails, s.peak = children, emails, len(children)
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
		ctx.Send(next.pid, b) // the envelope keeps its arrival stamp
	}
}
