package actors

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/asynkron/protoactor-go/scheduler"
	"google.golang.org/protobuf/types/known/timestamppb"

	registrationv1 "github.com/acme/registrar/protos/registration/v1"
)

// Messages the registration actor sends itself or exchanges with its shard.
// They never leave the process, so they are plain Go types.
type (
	// codeTimer fires at the expiry of the code of one generation.
	codeTimer struct{ generation int64 }
	// passivationQuery asks an idle child whether it may stop; epoch is the
	// shard's count of messages forwarded to it so far.
	passivationQuery struct{ epoch uint64 }
	// passivationConsent answers a query when the child holds no live timer.
	// Respond sends no sender, so the child names itself.
	passivationConsent struct {
		child *actor.PID
		epoch uint64
	}
)

// registrationActor owns one normalized email. It is the only writer of that
// email's row in this process: commands are serialized by its mailbox, so
// concurrent requests for one email can never both win.
type registrationActor struct {
	email string
	deps  *deps
	self  *actor.PID

	// reg is the row as last read or written: for the expiry timer and the
	// passivation check. Commands never decide on it: each reads the row
	// afresh, because another registrar instance may have written it.
	reg *Registration

	cancelTimer scheduler.CancelFunc
}

func newRegistrationActor(email string, d *deps) *registrationActor {
	return &registrationActor{email: email, deps: d}
}

func (a *registrationActor) Receive(ctx actor.Context) {
	switch msg := ctx.Message().(type) {
	case *actor.Started:
		a.self = ctx.Self()
		// Arms the timer of a pending code; a failed load changes nothing
		// (every command loads again).
		_ = a.load()
	case *actor.Stopping, *actor.Restarting:
		a.disarm()
	case *actor.Stopped:
		a.deps.stats.actors.Add(-1) // counted here: its shard may be gone
	case *registrationv1.Register:
		a.serve(ctx, msg.GetDeadline(), func() *registrationv1.Reply { return a.register(msg) })
	case *registrationv1.Activate:
		a.serve(ctx, msg.GetDeadline(), func() *registrationv1.Reply {
			return a.authenticated("activate", msg.GetPassword(), func(cur *Registration, ok bool, now time.Time) (Decision, error) {
				return a.deps.rules.Activate(cur, ok, msg.GetCode(), now), nil
			})
		})
	case *registrationv1.ResendCode:
		a.serve(ctx, msg.GetDeadline(), func() *registrationv1.Reply {
			return a.authenticated("resend_code", msg.GetPassword(), func(cur *Registration, ok bool, now time.Time) (Decision, error) {
				code, err := NewCode(a.deps.random)
				if err != nil {
					return Decision{}, err
				}
				return a.deps.rules.ResendCode(cur, ok, code, now), nil
			})
		})
	case *registrationv1.GetAccount:
		a.serve(ctx, msg.GetDeadline(), func() *registrationv1.Reply {
			return a.authenticated("me", msg.GetPassword(), func(cur *Registration, ok bool, now time.Time) (Decision, error) {
				return a.deps.rules.Describe(cur, ok, now), nil
			})
		})
	case *codeTimer:
		a.expire(msg.generation)
	case *passivationQuery:
		if !a.deps.rules.ExpiryPending(a.reg) {
			ctx.Respond(&passivationConsent{child: ctx.Self(), epoch: msg.epoch})
		}
	}
}

// serve answers one command. A command whose caller has already given up is
// dropped: carrying it out would change state behind a 503. A panic is
// answered with 503 before the supervisor restarts the actor, which then
// reloads its state from the store.
func (a *registrationActor) serve(ctx actor.Context, deadline *timestamppb.Timestamp, handle func() *registrationv1.Reply) {
	// Deadlines are wall-clock time, whatever clock the rules are given.
	if deadline != nil && !time.Now().Before(deadline.AsTime()) {
		a.deps.logger.Warn("dropped a command past its deadline", "late_by", time.Since(deadline.AsTime()))
		return
	}
	defer func() {
		if p := recover(); p != nil {
			ctx.Respond(unavailable())
			panic(p)
		}
	}()
	ctx.Respond(handle())
}

func (a *registrationActor) register(msg *registrationv1.Register) *registrationv1.Reply {
	return a.decide(func(cur *Registration, now time.Time) (Decision, error) {
		in := RegisterInput{Email: a.email, PasswordHash: msg.GetPasswordHash()}
		if cur == nil {
			id, err := NewID(now, a.deps.random)
			if err != nil {
				return Decision{}, err
			}
			in.NewID = id
		}
		code, err := NewCode(a.deps.random)
		if err != nil {
			return Decision{}, err
		}
		in.NewCode = code
		return a.deps.rules.Register(cur, in, now), nil
	})
}

// authenticated runs the credential checks every authenticated command
// shares: a locked account answers before its password is verified; an
// unknown email verifies a dummy hash so that it takes as long as a known one.
// Every outcome is logged (ASVS 16.3.1) with the user id, never the email of
// an unknown account, the password or the code.
func (a *registrationActor) authenticated(operation, password string, op func(cur *Registration, passwordOK bool, now time.Time) (Decision, error)) *registrationv1.Reply {
	return a.decide(func(cur *Registration, now time.Time) (Decision, error) {
		if err := a.deps.rules.Precheck(cur, now); err != nil {
			a.logAuthentication(operation, cur, "locked")
			return Decision{Err: err}, nil
		}
		hash := a.deps.dummyHash
		if cur != nil {
			hash = cur.PasswordHash
		}
		ok, err := a.deps.verifyPassword(hash, password)
		if err != nil {
			return Decision{}, err
		}
		switch {
		case cur == nil:
			a.logAuthentication(operation, cur, "unknown_account")
		case !ok:
			a.logAuthentication(operation, cur, "wrong_password")
		default:
			a.logAuthentication(operation, cur, "success")
		}
		return op(cur, ok && cur != nil, a.deps.now())
	})
}

func (a *registrationActor) logAuthentication(operation string, cur *Registration, result string) {
	level := slog.LevelInfo
	if result == "success" {
		level = slog.LevelDebug
	}
	a.deps.logger.Log(context.Background(), level, "authentication",
		"operation", operation, "result", result, "user_id", a.userID())
}

// maxConflicts bounds the reload-and-retry loop on version conflicts, which
// only happen when another node wrote the row.
const maxConflicts = 2

// decide reads the row, asks the rules, persists the decision and builds the
// reply. Nothing is answered before the new state is stored, and nothing is
// decided on a row older than this command: with several instances, an
// actor's memory may be stale, and only writes are fenced by the version.
func (a *registrationActor) decide(rule func(cur *Registration, now time.Time) (Decision, error)) *registrationv1.Reply {
	for range maxConflicts {
		if err := a.load(); err != nil {
			return unavailable()
		}
		d, err := rule(a.reg, a.deps.now())
		if errors.Is(err, ErrOverloaded) {
			return rejection(reject(ErrOverloaded, a.deps.overloadRetry))
		}
		if err != nil {
			a.deps.logger.Error("registration command failed", "error", err)
			return unavailable()
		}
		if d.Next == nil {
			return a.reply(d)
		}
		err = a.persist(d)
		if errors.Is(err, ErrConflict) {
			continue
		}
		if err != nil {
			a.deps.logger.Error("persist registration", "user_id", d.Next.ID, "error", err)
			return unavailable()
		}
		a.reg = d.Next
		a.arm()
		return a.reply(d)
	}
	a.deps.logger.Warn("registration kept changing under this actor", "user_id", a.userID())
	return unavailable()
}

func (a *registrationActor) persist(d Decision) error {
	now := a.deps.now()
	next := d.Next
	next.Version = 1
	if a.reg != nil {
		next.Version = a.reg.Version + 1
	}
	msgs, err := messages(d.Events, now, a.deps.random)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), a.deps.storeTimeout)
	defer cancel()
	if err := a.deps.store.Save(ctx, next, msgs); err != nil {
		return fmt.Errorf("save: %w", err)
	}
	return nil
}

// load reads the row from the store.
func (a *registrationActor) load() error {
	ctx, cancel := context.WithTimeout(context.Background(), a.deps.storeTimeout)
	defer cancel()
	reg, err := a.deps.store.Load(ctx, a.email)
	switch {
	case errors.Is(err, ErrNotFound):
		a.reg = nil
	case err != nil:
		a.deps.logger.Error("load registration", "error", err)
		return err
	default:
		a.reg = reg
	}
	a.arm()
	return nil
}

// expire handles the code timer. The stored expires_at is the truth; the
// timer only notes the expiry (and emits its event) so the actor can go idle.
func (a *registrationActor) expire(generation int64) {
	if a.load() != nil {
		a.rearmLater()
		return
	}
	if a.reg == nil || a.reg.Generation != generation {
		return
	}
	d := a.deps.rules.Expire(a.reg, generation, a.deps.now())
	if d.Next == nil {
		a.arm() // fired early (clock granularity): wait for the real expiry
		return
	}
	if err := a.persist(d); err != nil {
		a.deps.logger.Warn("note code expiry", "user_id", a.reg.ID, "error", err)
		a.rearmLater()
		return
	}
	a.reg = d.Next
}

// arm keeps one timer for the outstanding code's expiry.
func (a *registrationActor) arm() {
	a.disarm()
	if !a.deps.rules.ExpiryPending(a.reg) {
		return
	}
	delay := max(a.reg.Code.ExpiresAt.Sub(a.deps.now()), 0)
	a.cancelTimer = a.deps.timers.SendOnce(delay, a.self, &codeTimer{generation: a.reg.Generation})
}

// rearmLater retries a failed expiry note after a pause.
func (a *registrationActor) rearmLater() {
	a.disarm()
	if a.reg == nil {
		return
	}
	a.cancelTimer = a.deps.timers.SendOnce(a.deps.storeTimeout, a.self, &codeTimer{generation: a.reg.Generation})
}

func (a *registrationActor) disarm() {
	if a.cancelTimer != nil {
		a.cancelTimer()
		a.cancelTimer = nil
	}
}

func (a *registrationActor) userID() string {
	if a.reg == nil {
		return ""
	}
	return a.reg.ID
}

func (a *registrationActor) reply(d Decision) *registrationv1.Reply {
	if d.Err != nil {
		return rejection(d.Err)
	}
	return &registrationv1.Reply{Result: &registrationv1.Reply_Account{
		Account: accountMessage(a.deps.rules.View(d.State(a.reg), a.deps.now())),
	}}
}

func unavailable() *registrationv1.Reply {
	return rejection(reject(ErrUnavailable, time.Second))
}
