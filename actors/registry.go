package actors

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/asynkron/protoactor-go/scheduler"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

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

	Shards         int           // default 32
	IdleTimeout    time.Duration // an actor idle this long is passivated; default 2m
	StoreTimeout   time.Duration // bound of one store call; default 5s
	RequestTimeout time.Duration // longest a caller waits for an actor; default 10s
	// OverloadRetry is the Retry-After of ErrOverloaded; default 1s.
	OverloadRetry time.Duration
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
	stats          *stats
}

type stats struct {
	actors       atomic.Int64
	passivations atomic.Int64
	replayed     atomic.Int64
}

// Stats are live figures of a registry, for metrics.
type Stats struct {
	Actors       int64 // registration actors in memory
	Passivations int64 // actors stopped for idleness since start
	// Replayed counts messages that arrived while their actor was being
	// passivated and were replayed to its successor.
	Replayed int64
}

// Registry is the entry point to the registration actors: one actor per
// normalized email, spread over a fixed set of shards. It is safe for
// concurrent use.
type Registry struct {
	system  *actor.ActorSystem
	shards  []*actor.PID
	timeout time.Duration
	stats   *stats
	closed  atomic.Bool
	logger  *slog.Logger
}

// NewRegistry starts the actor system and the shards.
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
		cfg.Random = rand.Reader
	}
	orDefault(&cfg.Shards, 32)
	orDefault(&cfg.IdleTimeout, 2*time.Minute)
	orDefault(&cfg.StoreTimeout, 5*time.Second)
	orDefault(&cfg.RequestTimeout, 10*time.Second)
	orDefault(&cfg.OverloadRetry, time.Second)

	logger := cfg.Logger.With("component", "actors")
	system := newActorSystem(cfg.Logger)
	st := &stats{}
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
		stats:          st,
	}
	r := &Registry{system: system, timeout: cfg.RequestTimeout, stats: st, logger: logger}
	for i := range cfg.Shards {
		pid, err := system.Root.SpawnNamed(actor.PropsFromProducer(func() actor.Actor { return newShard(d) }, withArrivals()),
			fmt.Sprintf("registration-shard-%d", i))
		if err != nil {
			return nil, fmt.Errorf("spawn shard %d: %w", i, err)
		}
		r.shards = append(r.shards, pid)
	}
	return r, nil
}

// newActorSystem returns an actor system that logs through logger, with
// message contents redacted.
func newActorSystem(logger *slog.Logger) *actor.ActorSystem {
	return actor.NewActorSystem(
		actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger {
			return slog.New(redactingHandler{logger.Handler()}).With("component", "protoactor")
		}),
		// A dead-lettered request is a caller that timed out; the log line
		// would add nothing but noise.
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

// request sends a command to the email's shard and waits for the reply, for
// at most the request timeout and never past ctx's deadline (the actor future
// takes no context). The actor gets a budget a margin shorter than that
// wait (see replyMargin), so its answer, 503 included, is the truth about
// what it did.
func (r *Registry) request(ctx context.Context, email string, build func(*durationpb.Duration) proto.Message) (Account, error) {
	if r.closed.Load() {
		return Account{}, reject(ErrUnavailable, time.Second)
	}
	wait := r.timeout
	if dl, ok := ctx.Deadline(); ok {
		wait = min(wait, time.Until(dl))
	}
	budget := budgetFor(wait)
	if budget <= 0 || ctx.Err() != nil {
		return Account{}, reject(ErrUnavailable, time.Second)
	}
	res, err := r.system.Root.RequestFuture(r.shardFor(email), build(durationpb.New(budget)), wait).Result()
	if err != nil {
		r.logger.Warn("registration actor did not answer in time", "timeout", wait, "error", err)
		return Account{}, reject(ErrUnavailable, time.Second)
	}
	reply, ok := res.(*registrationv1.Reply)
	if !ok {
		return Account{}, fmt.Errorf("actors: unexpected reply %T", res)
	}
	return fromReply(reply)
}

func (r *Registry) shardFor(email string) *actor.PID {
	h := fnv.New32a()
	_, _ = h.Write([]byte(email))
	return r.shards[h.Sum32()%uint32(len(r.shards))]
}

// Stats returns live figures of the registry.
func (r *Registry) Stats() Stats {
	return Stats{
		Actors:       r.stats.actors.Load(),
		Passivations: r.stats.passivations.Load(),
		Replayed:     r.stats.replayed.Load(),
	}
}

// Close stops the shards and their actors, waiting (within ctx) until every
// actor has stopped. Callers must have stopped sending commands: messages
// still queued in an actor when it stops are dropped.
func (r *Registry) Close(ctx context.Context) error {
	if r.closed.Swap(true) {
		return nil
	}
	futures := make([]actor.Future, 0, len(r.shards))
	for _, pid := range r.shards {
		futures = append(futures, r.system.Root.PoisonFuture(pid))
	}
	var errs []error
	for _, f := range futures {
		if ctx.Err() != nil {
			errs = append(errs, ctx.Err())
			break
		}
		if err := f.Wait(); err != nil {
			errs = append(errs, err)
		}
	}
	for r.stats.actors.Load() > 0 && ctx.Err() == nil {
		time.Sleep(5 * time.Millisecond) // the shards poisoned them
	}
	r.system.Shutdown()
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("stop registration shards: %w", err)
	}
	return nil
}

// accountMessage and fromReply translate between the core's types and the
// protobuf messages that cross the actor boundary.
func accountMessage(a Account) *registrationv1.Account {
	m := &registrationv1.Account{
		Id:        a.ID,
		Email:     a.Email,
		CreatedAt: timestamppb.New(a.CreatedAt),
	}
	switch a.Status {
	case StatusPending:
		m.Status = registrationv1.AccountStatus_ACCOUNT_STATUS_PENDING
	case StatusActive:
		m.Status = registrationv1.AccountStatus_ACCOUNT_STATUS_ACTIVE
	}
	m.ActivatedAt = optionalTime(a.ActivatedAt)
	m.CodeExpiresAt = optionalTime(a.CodeExpiresAt)
	m.ResendAvailableAt = optionalTime(a.ResendAvailableAt)
	return m
}

func optionalTime(t time.Time) *timestamppb.Timestamp {
	if t.IsZero() {
		return nil
	}
	return timestamppb.New(t)
}

func fromOptionalTime(t *timestamppb.Timestamp) time.Time {
	if t == nil {
		return time.Time{}
	}
	return t.AsTime()
}

func fromReply(reply *registrationv1.Reply) (Account, error) {
	if rej := reply.GetRejection(); rej != nil {
		reason, ok := reasons[rej.GetReason()]
		if !ok {
			return Account{}, fmt.Errorf("actors: unknown rejection reason %v", rej.GetReason())
		}
		return Account{}, &Rejection{
			Reason:            reason,
			RetryAfter:        rej.GetRetryAfter().AsDuration(),
			AttemptsRemaining: int(rej.GetAttemptsRemaining()),
		}
	}
	m := reply.GetAccount()
	if m == nil {
		return Account{}, errors.New("actors: empty reply")
	}
	a := Account{
		ID:                m.GetId(),
		Email:             m.GetEmail(),
		CreatedAt:         m.GetCreatedAt().AsTime(),
		ActivatedAt:       fromOptionalTime(m.GetActivatedAt()),
		CodeExpiresAt:     fromOptionalTime(m.GetCodeExpiresAt()),
		ResendAvailableAt: fromOptionalTime(m.GetResendAvailableAt()),
	}
	switch m.GetStatus() {
	case registrationv1.AccountStatus_ACCOUNT_STATUS_PENDING:
		a.Status = StatusPending
	case registrationv1.AccountStatus_ACCOUNT_STATUS_ACTIVE:
		a.Status = StatusActive
	}
	return a, nil
}

var reasons = map[registrationv1.Reason]error{
	registrationv1.Reason_REASON_EMAIL_TAKEN:         ErrEmailTaken,
	registrationv1.Reason_REASON_INVALID_CREDENTIALS: ErrInvalidCredentials,
	registrationv1.Reason_REASON_ALREADY_ACTIVE:      ErrAlreadyActive,
	registrationv1.Reason_REASON_INVALID_CODE_FORMAT: ErrInvalidCodeFormat,
	registrationv1.Reason_REASON_CODE_EXPIRED:        ErrCodeExpired,
	registrationv1.Reason_REASON_INVALID_CODE:        ErrInvalidCode,
	registrationv1.Reason_REASON_TOO_MANY_ATTEMPTS:   ErrTooManyAttempts,
	registrationv1.Reason_REASON_RATE_LIMITED:        ErrRateLimited,
	registrationv1.Reason_REASON_OVERLOADED:          ErrOverloaded,
	registrationv1.Reason_REASON_UNAVAILABLE:         ErrUnavailable,
}

// rejection builds the reply of a refused command.
func rejection(err error) *registrationv1.Reply {
	rej := &registrationv1.Rejection{Reason: registrationv1.Reason_REASON_UNAVAILABLE}
	for code, sentinel := range reasons {
		if errors.Is(err, sentinel) {
			rej.Reason = code
			break
		}
	}
	var details *Rejection
	if errors.As(err, &details) {
		if details.RetryAfter > 0 {
			rej.RetryAfter = durationpb.New(details.RetryAfter)
		}
		rej.AttemptsRemaining = int32(details.AttemptsRemaining)
	}
	return &registrationv1.Reply{Result: &registrationv1.Reply_Rejection{Rejection: rej}}
}
