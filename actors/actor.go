package actors

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/asynkron/protoactor-go/scheduler"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"

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

// registrationActor owns one normalized email, across the fleet: its shard
// lives on one member. Commands are serialized by its mailbox, so concurrent
// requests for one email can never both win.
//
// Its memory is the state it decides on: it loads the row when it starts
// (or after a failure left its memory in doubt) and otherwise only when a
// write meets a version conflict, the fence against a second actor for the
// email (two members whose views of the topology disagree for a moment, or
// registrars that are not one cluster). A command that would answer from
// memory after a password check without writing anything first compares
// the stored version with its own, so a password replaced elsewhere is
// never honoured here.
type registrationActor struct {
	email string
	deps  *deps
	self  *actor.PID

	reg    *Registration // nil: no row
	loaded bool          // reg is what the store held at its version

	cancelTimer scheduler.CancelFunc
}

// onNewActor, when set (by the tests, before any actor exists), sees every
// actor created: whether passivated ones are freed is asked of them.
var onNewActor func(*registrationActor)

func newRegistrationActor(email string, d *deps) *registrationActor {
	a := &registrationActor{email: email, deps: d}
	if onNewActor != nil {
		onNewActor(a)
	}
	return a
}

// authCommand is what the authenticated commands share.
type authCommand interface {
	GetPassword() string
	GetSource() string
	GetBudget() *durationpb.Duration
}

func (a *registrationActor) Receive(ctx actor.Context) {
	switch msg := ctx.Message().(type) {
	case *actor.Started:
		a.self = ctx.Self()
		// Arms the timer of a pending code; after a failed load the next
		// command loads.
		_ = a.load(context.Background())
	case *actor.Restarting:
		a.disarm()
		a.loaded = false // a panic left memory in doubt
	case *actor.Stopping:
		a.disarm()
	case *actor.Stopped:
		a.deps.stats.actors.Add(-1) // counted here: its shard may be gone
	case *registrationv1.Register:
		a.serve(ctx, msg.GetBudget(), func(c context.Context) *registrationv1.Reply { return a.register(c, msg) })
	case *registrationv1.CheckRegister:
		a.serve(ctx, msg.GetBudget(), func(c context.Context) *registrationv1.Reply {
			return a.decide(c, func(cur *Registration, now time.Time) (outcome, error) {
				err := a.deps.rules.RegisterRefusal(cur, now)
				// A refusal read from memory is confirmed against the row's
				// version; a go-ahead need not be: Register decides afresh.
				return outcome{Decision: Decision{Err: err}, confirm: err != nil}, nil
			})
		})
	case *registrationv1.Activate:
		a.authenticated(ctx, "activate", msg, func(auth Authenticated, now time.Time) (Decision, error) {
			return a.deps.rules.Activate(auth, msg.GetCode(), now), nil
		})
	case *registrationv1.ResendCode:
		a.authenticated(ctx, "resend_code", msg, func(auth Authenticated, now time.Time) (Decision, error) {
			code, err := NewCode(a.deps.random)
			if err != nil {
				return Decision{}, err
			}
			return a.deps.rules.ResendCode(auth, code, now), nil
		})
	case *registrationv1.GetAccount:
		a.authenticated(ctx, "me", msg, func(auth Authenticated, now time.Time) (Decision, error) {
			return a.deps.rules.Describe(auth, now), nil
		})
	case *registrationv1.ExpireCode:
		a.serve(ctx, msg.GetBudget(), func(c context.Context) *registrationv1.Reply {
			if a.reg == nil || a.reg.Generation < msg.GetGeneration() {
				a.loaded = false // the store knows a newer code than memory
			}
			noted := &registrationv1.Account{}
			if a.expire(c, msg.GetGeneration()) {
				noted.Id = a.reg.ID
			}
			return &registrationv1.Reply{Result: &registrationv1.Reply_Account{Account: noted}}
		})
	case *registrationv1.PurgeRegistration:
		a.serve(ctx, msg.GetBudget(), func(c context.Context) *registrationv1.Reply { return a.purge(c) })
	case *codeTimer:
		c, cancel := context.WithTimeout(context.Background(), a.deps.storeTimeout)
		_ = a.expire(c, msg.generation)
		cancel()
	case *passivationQuery:
		if !a.deps.rules.ExpiryPending(a.reg) {
			ctx.Respond(&passivationConsent{child: ctx.Self(), epoch: msg.epoch})
		}
	}
}

// serve answers one command within its budget, counted from its arrival on
// this member. A command whose budget ran out in the queue is refused
// unexecuted: its caller is about to give up. A panic is answered with 503
// before the supervisor restarts the actor, which then reloads its state.
func (a *registrationActor) serve(ctx actor.Context, budget *durationpb.Duration, handle func(context.Context) *registrationv1.Reply) {
	defer a.deps.stats.inflight.Add(-1) // taken by the shard
	b := budget.AsDuration()
	if budget == nil || b <= 0 {
		b = budgetFor(a.deps.requestTimeout)
	}
	deadline := arrival(ctx).Add(b)
	if !time.Now().Before(deadline) {
		a.deps.logger.Warn("refused a command whose budget ran out before the actor reached it",
			"budget", b, "late_by", time.Since(deadline))
		ctx.Respond(unavailable())
		return
	}
	c, cancel := context.WithDeadline(context.WithValue(context.Background(), commitGraceKey{}, replyMargin(b)/2), deadline)
	defer cancel()
	var span trace.Span
	if cmd, ok := ctx.Message().(proto.Message); ok {
		c, span = commandSpan(c, cmd)
	} else {
		span = trace.SpanFromContext(c)
	}
	defer span.End()
	defer func() {
		if p := recover(); p != nil {
			span.SetStatus(codes.Error, "panic")
			ctx.Respond(unavailable())
			panic(p)
		}
	}()
	reply := handle(c)
	span.SetAttributes(attribute.String("user.id", a.userID()), attribute.String("registrar.reply", replyOutcome(reply)))
	ctx.Respond(reply)
}

// replyOutcome names a reply for its span: "account" or the rejection's
// reason.
func replyOutcome(r *registrationv1.Reply) string {
	if rej := r.GetRejection(); rej != nil {
		return rej.GetReason().String()
	}
	return "account"
}

func (a *registrationActor) register(ctx context.Context, msg *registrationv1.Register) *registrationv1.Reply {
	return a.decide(ctx, func(cur *Registration, now time.Time) (outcome, error) {
		in := RegisterInput{Email: a.email, PasswordHash: msg.GetPasswordHash()}
		if cur == nil {
			id, err := NewID(now, a.deps.random)
			if err != nil {
				return outcome{}, err
			}
			in.NewID = id
		}
		code, err := NewCode(a.deps.random)
		if err != nil {
			return outcome{}, err
		}
		in.NewCode = code
		return outcome{Decision: a.deps.rules.Register(cur, in, now)}, nil
	})
}

// authenticated runs the credential checks every authenticated command
// shares, in the order the rules' types impose: the throttle answers before
// the password is verified; an unknown email verifies a dummy hash so that
// it takes as long as a known one. Every outcome is logged (ASVS 16.3.1)
// with the user id, never the email of an unknown account, the password or
// the code.
func (a *registrationActor) authenticated(actx actor.Context, operation string, msg authCommand,
	op func(auth Authenticated, now time.Time) (Decision, error)) {
	a.serve(actx, msg.GetBudget(), func(ctx context.Context) *registrationv1.Reply {
		return a.decide(ctx, func(cur *Registration, now time.Time) (outcome, error) {
			ch, err := a.deps.rules.Authenticate(cur, msg.GetSource(), now)
			if err != nil {
				a.logAuthentication(operation, cur, "throttled")
				return outcome{Decision: Decision{Err: err}, confirm: true}, nil
			}
			hash := ch.PasswordHash()
			if hash == "" {
				hash = a.deps.dummyHash
			}
			ok, err := a.deps.passwords.Verify(ctx, hash, msg.GetPassword())
			if err != nil {
				return outcome{}, err
			}
			now = a.deps.now() // the hash took a while
			auth, refused, ok := a.deps.rules.Verified(ch, ok, now)
			switch {
			case cur == nil:
				a.logAuthentication(operation, cur, "unknown_account")
			case !ok:
				a.logAuthentication(operation, cur, "wrong_password")
			default:
				a.logAuthentication(operation, cur, "success")
			}
			if !ok { // an unknown email writes nothing: memory may be stale
				return outcome{Decision: refused, confirm: refused.Next == nil}, nil
			}
			d, err := op(auth, now)
			// The answer rests on a password checked against memory: if it
			// writes nothing, the version fence never sees it.
			return outcome{Decision: d, confirm: d.Next == nil}, err
		})
	})
}

// logFailure logs a failed command: at warning level when its budget ran
// out (routine under overload), else as an error.
func (a *registrationActor) logFailure(msg string, err error, attrs ...any) {
	level := slog.LevelError
	if errors.Is(err, context.DeadlineExceeded) {
		level = slog.LevelWarn
	}
	a.deps.logger.Log(context.Background(), level, msg, append(attrs, "error", err)...)
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
// only happen when another actor wrote the email's row.
const maxConflicts = 3

// outcome is a decision and whether it must be confirmed against the stored
// version before it is answered.
type outcome struct {
	Decision
	confirm bool
}

// decide asks the rules on memory, persists the decision and builds the
// reply, all within ctx (the command's budget). Nothing is answered before
// the new state is stored. A version conflict reloads the row and decides
// again.
func (a *registrationActor) decide(ctx context.Context, rule func(cur *Registration, now time.Time) (outcome, error)) *registrationv1.Reply {
	for range maxConflicts {
		if !a.loaded {
			if err := a.load(ctx); err != nil {
				return unavailable()
			}
		}
		d, err := rule(a.reg, a.deps.now())
		if errors.Is(err, ErrOverloaded) {
			return rejection(reject(ErrOverloaded, a.deps.overloadRetry))
		}
		if err != nil {
			a.logFailure("registration command failed", err)
			return unavailable()
		}
		if d.Next == nil && !d.Delete {
			if d.confirm {
				fresh, err := a.fresh(ctx)
				if err != nil {
					return unavailable()
				}
				if !fresh {
					continue
				}
			}
			return a.reply(d.Decision)
		}
		err = a.persist(ctx, d.Decision)
		if errors.Is(err, ErrConflict) {
			a.deps.stats.conflicts.Add(1)
			a.loaded = false
			continue
		}
		if err != nil {
			a.logFailure("persist registration", err, "user_id", a.userID())
			a.loaded = false // read before deciding again
			return unavailable()
		}
		a.reg = d.Next
		a.deps.stats.committed(d.Events)
		a.arm()
		return a.reply(d.Decision)
	}
	a.deps.logger.Warn("registration kept changing under this actor", "user_id", a.userID())
	return unavailable()
}

// fresh reports whether memory is still at the stored version; when it is
// not, memory is marked for a reload.
func (a *registrationActor) fresh(ctx context.Context) (bool, error) {
	v, err := a.deps.store.Version(ctx, a.email)
	if err != nil {
		a.deps.logger.Error("check the registration's version", "error", err)
		return false, err
	}
	var mine int64
	if a.reg != nil {
		mine = a.reg.Version
	}
	if v != mine {
		a.deps.stats.conflicts.Add(1)
		a.loaded = false
		return false, nil
	}
	return true, nil
}

func (a *registrationActor) persist(ctx context.Context, d Decision) error {
	msgs, err := messages(ctx, d.Events, a.deps.now(), a.deps.random)
	if err != nil {
		return err
	}
	if d.Delete {
		if err := a.deps.store.Purge(ctx, a.reg, msgs); err != nil {
			return fmt.Errorf("purge: %w", err)
		}
		return nil
	}
	next := d.Next
	next.Version = 1
	if a.reg != nil {
		next.Version = a.reg.Version + 1
	}
	if err := a.deps.store.Save(ctx, next, msgs); err != nil {
		return fmt.Errorf("save: %w", err)
	}
	return nil
}

// purge deletes the registration if the rules find it past its retention;
// the reply's account id is the purged user's, empty when nothing was
// purged.
func (a *registrationActor) purge(ctx context.Context) *registrationv1.Reply {
	var purged string
	reply := a.decide(ctx, func(cur *Registration, now time.Time) (outcome, error) {
		d := a.deps.rules.Purge(cur, now)
		purged = ""
		if d.Delete {
			purged = cur.ID
		}
		return outcome{Decision: d}, nil
	})
	if reply.GetRejection() != nil {
		return reply
	}
	return &registrationv1.Reply{Result: &registrationv1.Reply_Account{Account: &registrationv1.Account{Id: purged}}}
}

// load reads the row from the store within ctx, bounded by the store timeout.
func (a *registrationActor) load(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, a.deps.storeTimeout)
	defer cancel()
	reg, err := a.deps.store.Load(ctx, a.email)
	switch {
	case errors.Is(err, ErrNotFound):
		a.reg = nil
	case err != nil:
		a.deps.logger.Error("load registration", "error", err)
		a.loaded = false
		return err
	default:
		a.reg = reg
	}
	a.loaded = true
	a.arm()
	return nil
}

// expire notes the expiry of the code of generation (its timer fired, or
// the expiry sweep found the event missing) and reports whether it did. The
// stored expires_at is the truth; this only records the expiry and emits its
// event, so the actor can go idle.
func (a *registrationActor) expire(ctx context.Context, generation int64) bool {
	for range maxConflicts {
		if !a.loaded && a.load(ctx) != nil {
			a.rearmLater()
			return false
		}
		d := a.deps.rules.Expire(a.reg, generation, a.deps.now())
		if d.Next == nil {
			a.arm() // stale, or fired early (clock granularity): wait for the real expiry
			return false
		}
		err := a.persist(ctx, d)
		if errors.Is(err, ErrConflict) {
			a.deps.stats.conflicts.Add(1)
			a.loaded = false
			continue
		}
		if err != nil {
			a.deps.logger.Warn("note code expiry", "user_id", a.reg.ID, "error", err)
			a.loaded = false
			a.rearmLater()
			return false
		}
		a.reg = d.Next
		a.deps.stats.committed(d.Events)
		return true
	}
	return false
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
	state := d.State(a.reg)
	if state == nil { // nothing is registered (a check of an unknown email)
		return &registrationv1.Reply{Result: &registrationv1.Reply_Account{Account: &registrationv1.Account{}}}
	}
	return &registrationv1.Reply{Result: &registrationv1.Reply_Account{
		Account: accountMessage(a.deps.rules.View(state, a.deps.now())),
	}}
}

func unavailable() *registrationv1.Reply {
	return rejection(reject(ErrUnavailable, time.Second))
}
