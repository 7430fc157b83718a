package actors

import (
	"context"
	crand "crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/asynkron/protoactor-go/cluster"
	"github.com/asynkron/protoactor-go/scheduler"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"

	registrationv1 "github.com/acme/registrar/protos/registration/v1"
)

// Config of the Registry. Rules, Store, Passwords, DummyHash and Logger are
// required; the rest have defaults.
type Config struct {
	Rules     Rules
	Store     Store
	Passwords PasswordVerifier
	// DummyHash is a hash made with the production parameters. It is verified
	// for unknown emails, so that they take as long as known ones.
	DummyHash string
	Logger    *slog.Logger

	Now    func() time.Time // default time.Now; the rules' clock
	Random io.Reader        // default crypto/rand.Reader; codes and ids

	// Shards is the number of shards the emails are spread over; default
	// 32. Every member of a cluster must use the same number.
	Shards int
	// IdleTimeout: an actor idle this long (plus a jitter of up to a
	// quarter) is passivated; default 2m.
	IdleTimeout    time.Duration
	StoreTimeout   time.Duration // bound of one store call outside a command; default 5s
	RequestTimeout time.Duration // longest a caller waits for an actor; default 10s
	// OverloadRetry is the Retry-After of ErrOverloaded; default 1s.
	OverloadRetry time.Duration
	// Expired, when set, is swept at start and every ExpirySweep (default
	// 30s) for codes that expired without their event (a timer that died
	// with its member); their actors are told to note the expiry.
	Expired     ExpiredCodes
	ExpirySweep time.Duration
	// Stale, when set and the rules keep pending registrations for a
	// limited time (Policy.PendingRetention), is swept at start and every
	// half retention (at most an hour, at least a second) for pending
	// registrations past it; their actors are told to purge them.
	Stale StaleRegistrations

	// Cluster, when set, makes this registry a member of a Proto.Actor
	// cluster; nil runs every shard in this process.
	Cluster *ClusterConfig
}

// deps is what every shard and actor of a registry shares.
type deps struct {
	rules          Rules
	store          Store
	passwords      PasswordVerifier
	dummyHash      string
	now            func() time.Time
	random         io.Reader
	logger         *slog.Logger
	timers         *scheduler.TimerScheduler
	idleTimeout    time.Duration
	sweepInterval  time.Duration
	storeTimeout   time.Duration
	requestTimeout time.Duration
	overloadRetry  time.Duration
	shards         int
	placement      placement
	stats          *stats
}

type stats struct {
	actors       atomic.Int64
	activations  atomic.Int64
	passivations atomic.Int64
	replayed     atomic.Int64
	conflicts    atomic.Int64
	retries      atomic.Int64
	expirySweeps atomic.Int64
	// inflight counts the commands a shard of this member took that are not
	// answered yet (a leaving member waits for none to be left).
	inflight atomic.Int64
	events   map[string]*atomic.Int64 // committed events by type (eventTypes)
}

func newStats() *stats {
	st := &stats{events: map[string]*atomic.Int64{}}
	for _, t := range eventTypes {
		st.events[t] = &atomic.Int64{}
	}
	return st
}

// committed counts the events of a decision that was stored.
func (s *stats) committed(events []Event) {
	for _, e := range events {
		if c := s.events[eventType(e)]; c != nil {
			c.Add(1)
		}
	}
}

// Stats are live figures of a registry, for metrics.
type Stats struct {
	Actors       int64 // registration actors in memory on this member
	Activations  int64 // registration actors started since start
	Passivations int64 // actors stopped for idleness since start
	// Replayed counts messages that arrived while their actor was being
	// passivated and were replayed to its successor.
	Replayed int64
	// Conflicts counts writes that met a version conflict (another writer:
	// a second activation during a topology change, or another instance).
	Conflicts int64
	// Retries counts commands sent again because their shard had moved or
	// its member was gone (nothing had been done).
	Retries int64
	// Members is the number of cluster members this member sees (1 in one
	// process).
	Members int64
	// ExpiriesSwept counts expiry commands sent by the expiry sweep.
	ExpiriesSwept int64
	// Events counts the domain events committed by this member, by type
	// (registered, code_issued, activated, code_expired, code_burned,
	// throttled, purged).
	Events map[string]int64
}

// Registry is the entry point to the registration actors: one actor per
// normalized email, spread over a fixed set of shards. It is safe for
// concurrent use.
type Registry struct {
	system    *actor.ActorSystem
	cluster   *cluster.Cluster // nil in one process
	placement placement
	shards    int
	local     []*actor.PID // the shards, in one process
	timeout   time.Duration
	stats     *stats
	closed    atomic.Bool
	logger    *slog.Logger
	sweeps    *sweeps
}

// NewRegistry starts the actor system and the shards (or joins the cluster).
func NewRegistry(cfg Config) (*Registry, error) {
	if cfg.Store == nil || cfg.Passwords == nil || cfg.Logger == nil || cfg.DummyHash == "" {
		return nil, errors.New("actors: Store, Passwords, DummyHash and Logger are required")
	}
	if cfg.Rules.codeKey == nil {
		return nil, errors.New("actors: Rules are required (use NewRules)")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Random == nil {
		cfg.Random = crand.Reader
	}
	orDefault(&cfg.Shards, 32)
	orDefault(&cfg.IdleTimeout, 2*time.Minute)
	orDefault(&cfg.StoreTimeout, 5*time.Second)
	orDefault(&cfg.RequestTimeout, 10*time.Second)
	orDefault(&cfg.OverloadRetry, time.Second)
	orDefault(&cfg.ExpirySweep, 30*time.Second)

	logger := cfg.Logger.With("component", "actors")
	system := newActorSystem(cfg.Logger)
	st := newStats()
	d := &deps{
		rules:          cfg.Rules,
		store:          cfg.Store,
		passwords:      cfg.Passwords,
		dummyHash:      cfg.DummyHash,
		now:            func() time.Time { return cfg.Now().UTC().Truncate(time.Millisecond) },
		random:         cfg.Random,
		logger:         logger,
		timers:         scheduler.NewTimerScheduler(system.Root),
		idleTimeout:    cfg.IdleTimeout,
		sweepInterval:  max(cfg.IdleTimeout/4, 10*time.Millisecond),
		storeTimeout:   cfg.StoreTimeout,
		requestTimeout: cfg.RequestTimeout,
		overloadRetry:  cfg.OverloadRetry,
		shards:         cfg.Shards,
		stats:          st,
	}
	r := &Registry{system: system, shards: cfg.Shards, timeout: cfg.RequestTimeout, stats: st, logger: logger}
	if cfg.Cluster != nil {
		c, p, err := joinCluster(system, *cfg.Cluster, d, logger)
		if err != nil {
			return nil, err
		}
		r.cluster, r.placement = c, p
	} else {
		// The names give the PIDs: the placement is complete before any
		// shard runs.
		names := make([]string, cfg.Shards)
		for i := range names {
			names[i] = fmt.Sprintf("registration-shard-%d", i)
			r.local = append(r.local, actor.NewPID(system.Address(), names[i]))
		}
		r.placement = &localPlacement{shards: r.local}
		d.placement = r.placement
		for i, name := range names {
			if _, err := system.Root.SpawnNamed(shardProps(d, i), name); err != nil {
				return nil, fmt.Errorf("spawn shard %d: %w", i, err)
			}
		}
	}
	r.sweeps = startSweeps(r, cfg.Expired, cfg.ExpirySweep, cfg.Stale, cfg.Rules.Policy().PendingRetention, logger)
	return r, nil
}

// newActorSystem returns an actor system that logs through logger, with
// message contents redacted.
func newActorSystem(logger *slog.Logger) *actor.ActorSystem {
	return actor.NewActorSystem(
		actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger {
			return slog.New(newRedactingHandler(logger.Handler())).With("component", "protoactor")
		}),
		// A dead-lettered request is a caller that timed out, or a shard that
		// moved (the caller retries): the log line would add nothing but noise.
		actor.WithDeadLetterRequestLogging(false),
	)
}

func orDefault[T comparable](v *T, def T) {
	var zero T
	if *v == zero {
		*v = def
	}
}

// Credentials are what an authenticated command proves itself with.
type Credentials struct {
	Email    string // normalized
	Password string
	// Source is the client's network as the gateway saw it (for the
	// password throttle's known sources); "" when unknown.
	Source string
}

// LogValue keeps the password out of any log line.
func (c Credentials) LogValue() slog.Value {
	return slog.GroupValue(slog.String("email", c.Email), slog.String("password", "[REDACTED]"))
}

// Register creates or replaces a pending account. passwordHash is the
// argon2id PHC string of the new password.
func (r *Registry) Register(ctx context.Context, email, passwordHash string) (Account, error) {
	return r.request(ctx, email, func(budget *durationpb.Duration) proto.Message {
		return &registrationv1.Register{Email: email, PasswordHash: passwordHash, Budget: budget}
	})
}

// CheckRegister returns the rejection a registration of email would meet
// whatever its password (ErrEmailTaken, ErrRateLimited with its wait), or
// nil; asked before hashing the password, so that a registration that
// cannot succeed costs no hash. Register decides afresh.
func (r *Registry) CheckRegister(ctx context.Context, email string) error {
	_, err := r.request(ctx, email, func(budget *durationpb.Duration) proto.Message {
		return &registrationv1.CheckRegister{Email: email, Budget: budget}
	})
	return err
}

// Activate activates a pending account with its current code.
func (r *Registry) Activate(ctx context.Context, c Credentials, code string) (Account, error) {
	return r.request(ctx, c.Email, func(budget *durationpb.Duration) proto.Message {
		return &registrationv1.Activate{Email: c.Email, Password: c.Password, Source: c.Source, Code: code, Budget: budget}
	})
}

// ResendCode issues a new code to a pending account.
func (r *Registry) ResendCode(ctx context.Context, c Credentials) (Account, error) {
	return r.request(ctx, c.Email, func(budget *durationpb.Duration) proto.Message {
		return &registrationv1.ResendCode{Email: c.Email, Password: c.Password, Source: c.Source, Budget: budget}
	})
}

// Describe returns the account after checking its password.
func (r *Registry) Describe(ctx context.Context, c Credentials) (Account, error) {
	return r.request(ctx, c.Email, func(budget *durationpb.Duration) proto.Message {
		return &registrationv1.GetAccount{Email: c.Email, Password: c.Password, Source: c.Source, Budget: budget}
	})
}

// expireCode asks the email's actor to note the expiry of a generation, and
// reports whether this noted it (not the actor's own timer, or nobody).
func (r *Registry) expireCode(ctx context.Context, email string, generation int64) (bool, error) {
	acc, err := r.request(ctx, email, func(budget *durationpb.Duration) proto.Message {
		return &registrationv1.ExpireCode{Email: email, Generation: generation, Budget: budget}
	})
	return acc.ID != "", err
}

// purge asks the actor of email to delete its registration if it is past
// its retention; it reports whether it did.
func (r *Registry) purge(ctx context.Context, email string) (bool, error) {
	acc, err := r.request(ctx, email, func(budget *durationpb.Duration) proto.Message {
		return &registrationv1.PurgeRegistration{Email: email, Budget: budget}
	})
	return acc.ID != "", err
}

// maxRetryPause bounds the pause between two sends of one command.
const maxRetryPause = 200 * time.Millisecond

// request sends a command to the shard of its email, wherever it lives, and
// waits for the reply: at most the request timeout and never past ctx's
// deadline (the actor future takes no context). Each send grants the actor
// a budget a margin shorter than the time left (see replyMargin), so its
// answer, 503 included, is the truth about what it did. A send that reached
// no owner (a dead member's PID, a shard that moved) did nothing, so it is
// safe to send again: the registry looks the shard up afresh and retries
// while time is left. A send that got no answer in time is not retried: it
// may have been carried out.
func (r *Registry) request(ctx context.Context, email string, build func(*durationpb.Duration) proto.Message) (acc Account, err error) {
	ctx, span := tracer.Start(ctx, "actors."+string(build(nil).ProtoReflect().Descriptor().Name()))
	defer func() { endSpan(span, err) }()
	if r.closed.Load() || r.fenced() {
		return Account{}, reject(ErrUnavailable, time.Second)
	}
	wait := r.timeout
	if dl, ok := ctx.Deadline(); ok {
		wait = min(wait, time.Until(dl))
	}
	deadline := time.Now().Add(wait)
	shard := shardOf(email, r.shards)
	pause := 5 * time.Millisecond
	for resend := false; ; resend = true {
		if budgetFor(time.Until(deadline)) <= 0 || ctx.Err() != nil {
			return Account{}, reject(ErrUnavailable, time.Second)
		}
		pid, err := r.placement.pid(shard, budgetFor(time.Until(deadline))/2)
		if err != nil {
			r.logger.Debug("no owner for a shard yet", "shard", shard, "error", err)
			pause = r.pauseBefore(deadline, pause)
			continue
		}
		// The time left after the lookup, which may have waited.
		left := time.Until(deadline)
		budget := budgetFor(left)
		if pid.Address != r.system.Address() {
			budget = left - max(replyMargin(left), remoteMargin) // and the network both ways
		}
		if budget <= 0 {
			return Account{}, reject(ErrUnavailable, time.Second)
		}
		if resend {
			r.stats.retries.Add(1)
		}
		res, err := r.send(ctx, pid, build(durationpb.New(budget)), left)
		if errors.Is(err, errMemberGone) {
			// The command may or may not have run before its member died:
			// not safe to send again.
			r.logger.Warn("the member holding the shard left while a command was in flight", "member", pid.Address)
			return Account{}, reject(ErrUnavailable, time.Second)
		}
		if errors.Is(err, actor.ErrDeadLetter) {
			r.placement.forget(shard, pid)
			pause = r.pauseBefore(deadline, pause)
			continue
		}
		if err != nil {
			r.logger.Warn("registration actor did not answer in time", "timeout", left, "error", err)
			return Account{}, reject(ErrUnavailable, time.Second)
		}
		reply, ok := res.(*registrationv1.Reply)
		if !ok {
			return Account{}, fmt.Errorf("actors: unexpected reply %T", res)
		}
		acc, err := fromReply(reply)
		if errors.Is(err, errMoved) {
			r.placement.forget(shard, pid)
			pause = r.pauseBefore(deadline, pause)
			continue
		}
		return acc, err
	}
}

// send sends one command to pid and waits for its answer at most left,
// with the trace context of ctx's span, or of a client span for the hop
// when pid lives on another member.
func (r *Registry) send(ctx context.Context, pid *actor.PID, cmd proto.Message, left time.Duration) (any, error) {
	if pid.Address != r.system.Address() {
		var span trace.Span
		ctx, span = tracer.Start(ctx, "cluster.send", trace.WithSpanKind(trace.SpanKindClient),
			trace.WithAttributes(attribute.String("registrar.member", pid.Address)))
		defer span.End()
	}
	carryTrace(ctx, cmd)
	return r.await(r.system.Root.RequestFuture(pid, cmd, left), pid)
}

// remoteMargin is the least margin of a command sent to another member:
// time for it to cross the network and its answer to come back.
const remoteMargin = 100 * time.Millisecond

// errMemberGone: the member that had the command left the cluster before it
// answered.
var errMemberGone = errors.New("the member left the cluster")

// await waits for the answer of the future, or until pid's member has left
// the cluster (its in-flight messages are lost: protoactor delivers at most
// once), whichever comes first.
func (r *Registry) await(f actor.Future, pid *actor.PID) (any, error) {
	return awaitUnless(f, r.placement.gone(pid.Address))
}

// awaitUnless waits for f's answer until gone is closed (nil: never).
func awaitUnless(f actor.Future, gone <-chan struct{}) (any, error) {
	if gone == nil {
		return f.Result()
	}
	type result struct {
		res any
		err error
	}
	done := make(chan result, 1)
	go func() { // ends with the future's own timeout at the latest
		res, err := f.Result()
		done <- result{res, err}
	}()
	select {
	case res := <-done:
		return res.res, res.err
	case <-gone:
	}
	// The answer may trail the leave: a member leaving gracefully answers
	// what it took before it deregisters, but the answer travels on its own
	// connection and can land just after the topology that dropped it.
	grace := time.NewTimer(goneGrace)
	defer grace.Stop()
	select {
	case res := <-done:
		return res.res, res.err
	case <-grace.C:
		return nil, errMemberGone
	}
}

// goneGrace is how long an answer is still awaited once its member left.
const goneGrace = 250 * time.Millisecond

// pauseBefore sleeps before a retry (with jitter, never past deadline) and
// returns the next pause.
func (r *Registry) pauseBefore(deadline time.Time, pause time.Duration) time.Duration {
	d := min(pause/2+rand.N(pause/2+1), time.Until(deadline))
	if d > 0 {
		time.Sleep(d)
	}
	return min(2*pause, maxRetryPause)
}

func (s *stats) eventCounts() map[string]int64 {
	out := make(map[string]int64, len(s.events))
	for t, c := range s.events {
		out[t] = c.Load()
	}
	return out
}

// drain makes this member's shards give up what they own (commands get
// REASON_MOVED and go to the next owner) and waits until every command its
// actors took is answered: only then may it leave the cluster, or the other
// members would answer 503 to commands it is still committing.
func (r *Registry) drain(ctx context.Context) error {
	r.placement.(*clusterPlacement).draining.Store(true)
	for r.stats.inflight.Load() > 0 {
		select {
		case <-ctx.Done():
			return fmt.Errorf("drain the shards: %w", ctx.Err())
		case <-time.After(5 * time.Millisecond):
		}
	}
	return nil
}

// fenced reports whether this member was dropped from its cluster.
func (r *Registry) fenced() bool {
	cp, ok := r.placement.(*clusterPlacement)
	return ok && cp.fence.Load()
}

// Ready reports whether the registry serves: not once closed; in a cluster,
// once this member is in the topology, until it leaves or is fenced.
func (r *Registry) Ready(context.Context) error {
	if r.closed.Load() {
		return errors.New("the registration actors are stopped")
	}
	if cp, ok := r.placement.(*clusterPlacement); ok {
		return cp.ready()
	}
	return nil
}

// Stats returns live figures of the registry.
func (r *Registry) Stats() Stats {
	return Stats{
		Actors:        r.stats.actors.Load(),
		Activations:   r.stats.activations.Load(),
		Passivations:  r.stats.passivations.Load(),
		Replayed:      r.stats.replayed.Load(),
		Conflicts:     r.stats.conflicts.Load(),
		Retries:       r.stats.retries.Load(),
		Members:       int64(r.placement.members()),
		ExpiriesSwept: r.stats.expirySweeps.Load(),
		Events:        r.stats.eventCounts(),
	}
}

// Close stops the expiry sweep, then the shards and their actors, waiting
// (within ctx) until every actor has stopped; a cluster member leaves the
// cluster first, so that the others take its shards over. Callers must have
// stopped sending commands: messages still queued in an actor when it stops
// are dropped.
func (r *Registry) Close(ctx context.Context) error {
	if r.closed.Swap(true) {
		return nil
	}
	r.sweeps.stop()
	var errs []error
	if r.cluster != nil {
		errs = append(errs, r.drain(ctx), leaveCluster(ctx, r.cluster, r.placement.(*clusterPlacement)))
	} else {
		futures := make([]actor.Future, 0, len(r.local))
		for _, pid := range r.local {
			futures = append(futures, r.system.Root.PoisonFuture(pid))
		}
		for _, f := range futures {
			if ctx.Err() != nil {
				errs = append(errs, ctx.Err())
				break
			}
			if err := f.Wait(); err != nil {
				errs = append(errs, fmt.Errorf("stop registration shards: %w", err))
			}
		}
	}
	for r.stats.actors.Load() > 0 && ctx.Err() == nil {
		time.Sleep(5 * time.Millisecond) // the shards poisoned them
	}
	if r.cluster == nil {
		r.system.Shutdown()
	}
	return errors.Join(errs...)
}
