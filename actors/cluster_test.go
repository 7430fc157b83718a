//go:build !race

// Several cluster members in one process cannot run under the race
// detector: every member's remote.Start writes gRPC's process-wide logger
// (grpclog.SetLoggerV2) while the other members' gRPC servers read it, a
// race in protoactor-go that needs more than one member per process (one
// member per process in production starts its remote before any gRPC
// traffic). make test runs these without -race; e2e/ runs real processes.

package actors_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/cluster/clusterproviders/test"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"google.golang.org/protobuf/proto"

	"github.com/acme/registrar/actors"
	"github.com/acme/registrar/actors/actorstest"
	registrationv1 "github.com/acme/registrar/protos/registration/v1"
)

// fleet is several registries that form one cluster in this process (the
// in-memory test provider, remotes on loopback), on one store.
type fleet struct {
	store   *actorstest.Store
	members []*actors.Registry
	agent   *test.InMemAgent
	cfg     actors.Config
}

func newFleet(t testing.TB, n int) *fleet {
	t.Helper()
	if testing.Short() {
		t.Skip("a fleet takes seconds to settle (make mutate runs -short; make test runs it)")
	}
	rules, err := actors.NewRules(actors.DefaultPolicy(), []byte("0123456789abcdef0123456789abcdef"))
	require.NoError(t, err)
	f := &fleet{store: actorstest.NewStore(), agent: test.NewInMemAgent()}
	f.cfg = actors.Config{
		Rules: rules, Store: f.store, Expired: f.store, Passwords: &actorstest.Passwords{},
		DummyHash: actorstest.Hash("dummy"), Logger: slog.New(slog.DiscardHandler),
		Shards: 16, RequestTimeout: 5 * time.Second,
	}
	for range n {
		f.add(t)
	}
	f.settle(t)
	return f
}

// add starts one more member.
func (f *fleet) add(t testing.TB) *actors.Registry {
	t.Helper()
	cfg := f.cfg
	cfg.Cluster = &actors.ClusterConfig{Name: "fleet", Host: "127.0.0.1", Port: 0, Provider: test.NewTestProvider(f.agent)}
	r, err := actors.NewRegistry(cfg)
	require.NoError(t, err)
	f.members = append(f.members, r)
	t.Cleanup(func() { _ = r.Close(context.Background()) })
	return r
}

// settle waits until every live member sees them all.
func (f *fleet) settle(t testing.TB) {
	t.Helper()
	require.Eventually(t, func() bool {
		for _, m := range f.members {
			if m.Stats().Members != int64(len(f.members)) {
				return false
			}
		}
		return true
	}, 10*time.Second, 10*time.Millisecond, "the members see each other")
}

func (f *fleet) actors() int64 {
	var n int64
	for _, m := range f.members {
		n += m.Stats().Actors
	}
	return n
}

func TestClusterOneActorPerEmailAcrossTheFleet(t *testing.T) {
	t.Parallel()
	f := newFleet(t, 3)
	const emails, pw = 60, "correct horse battery"
	for i := range emails {
		_, err := f.members[i%3].Register(ctx, fmt.Sprintf("c%d@example.com", i), actorstest.Hash(pw))
		require.NoError(t, err)
	}
	for i := range emails {
		for _, m := range f.members {
			acc, err := m.Describe(ctx, actors.Credentials{Email: fmt.Sprintf("c%d@example.com", i), Password: pw})
			require.NoError(t, err)
			require.Equal(t, actors.StatusPending, acc.Status)
		}
	}
	assert.Equal(t, int64(emails), f.actors(), "one actor per email, in all")
	for i, m := range f.members {
		assert.Positive(t, m.Stats().Actors, "member %d holds some of them", i)
	}
}

func TestClusterRacesThroughEveryMember(t *testing.T) {
	t.Parallel()
	f := newFleet(t, 3)

	t.Run("30 activations of one email: one 200, 29 already active", func(t *testing.T) {
		const email, pw = "race@example.com", "correct horse battery"
		_, err := f.members[0].Register(ctx, email, actorstest.Hash(pw))
		require.NoError(t, err)
		code := lastCode(t, f.store, email)
		var ok, active atomic.Int64
		var wg sync.WaitGroup
		for i := range 30 {
			wg.Go(func() {
				_, err := f.members[i%3].Activate(ctx, actors.Credentials{Email: email, Password: pw}, code)
				switch {
				case err == nil:
					ok.Add(1)
				case errors.Is(err, actors.ErrAlreadyActive):
					active.Add(1)
				default:
					t.Errorf("activation %d: %v", i, err)
				}
			})
		}
		wg.Wait()
		assert.Equal(t, int64(1), ok.Load())
		assert.Equal(t, int64(29), active.Load())
	})

	t.Run("20 wrong passwords spread over the members: no 503, the throttle counts them all", func(t *testing.T) {
		const email = "wrong@example.com"
		_, err := f.members[1].Register(ctx, email, actorstest.Hash("correct horse battery"))
		require.NoError(t, err)
		var refused, throttled atomic.Int64
		var wg sync.WaitGroup
		for i := range 20 {
			wg.Go(func() {
				_, err := f.members[i%3].Describe(ctx, actors.Credentials{Email: email, Password: fmt.Sprintf("wrong %d", i)})
				switch {
				case errors.Is(err, actors.ErrInvalidCredentials):
					refused.Add(1)
				case errors.Is(err, actors.ErrTooManyAttempts):
					throttled.Add(1)
				default:
					t.Errorf("wrong password %d: %v", i, err)
				}
			})
		}
		wg.Wait()
		assert.Equal(t, int64(10), refused.Load(), "checked until the throttle engaged")
		assert.Equal(t, int64(10), throttled.Load())
	})

	t.Run("50 registrations of one email through every member: one code", func(t *testing.T) {
		const email = "reg@example.com"
		var won atomic.Int64
		var wg sync.WaitGroup
		for i := range 50 {
			wg.Go(func() {
				_, err := f.members[i%3].Register(ctx, email, actorstest.Hash("pw"))
				if err == nil {
					won.Add(1)
				} else if !errors.Is(err, actors.ErrRateLimited) {
					t.Errorf("registration %d: %v", i, err)
				}
			})
		}
		wg.Wait()
		assert.Equal(t, int64(1), won.Load())
		assert.Len(t, mailsTo(t, f.store, email), 1)
	})
	assert.Zero(t, totalConflicts(f), "one owner: no version conflict at all")
}

func totalConflicts(f *fleet) int64 {
	var n int64
	for _, m := range f.members {
		n += m.Stats().Conflicts
	}
	return n
}

func TestClusterMemberLeavingHandsItsEmailsOver(t *testing.T) {
	t.Parallel()
	f := newFleet(t, 3)
	const emails, pw = 30, "correct horse battery"
	for i := range emails {
		_, err := f.members[0].Register(ctx, fmt.Sprintf("h%d@example.com", i), actorstest.Hash(pw))
		require.NoError(t, err)
	}
	leaving := f.members[2]
	require.Positive(t, leaving.Stats().Actors)
	require.NoError(t, leaving.Close(ctx))
	f.members = f.members[:2]
	f.settle(t)
	for i := range emails {
		acc, err := f.members[i%2].Describe(ctx, actors.Credentials{Email: fmt.Sprintf("h%d@example.com", i), Password: pw})
		require.NoError(t, err, "email %d after the member left", i)
		assert.Equal(t, actors.StatusPending, acc.Status)
	}
	assert.Equal(t, int64(emails), f.actors())
}

// mailsTo returns the codes emailed to addr, oldest first.
func mailsTo(t *testing.T, s *actorstest.Store, addr string) []string {
	t.Helper()
	var out []string
	for _, env := range s.Pending() {
		if env.GetTopic() != registrationv1.MailTopic {
			continue
		}
		var m registrationv1.VerificationEmail
		require.NoError(t, proto.Unmarshal(env.GetPayload(), &m))
		if m.GetTo() == addr {
			out = append(out, m.GetCode())
		}
	}
	return out
}

func lastCode(t *testing.T, s *actorstest.Store, addr string) string {
	t.Helper()
	codes := mailsTo(t, s, addr)
	require.NotEmpty(t, codes, "no email to %s", addr)
	return codes[len(codes)-1]
}

// BenchmarkClusterCommand is one authenticated read (GET /me's command,
// with an in-memory store and a free password check) answered by an
// email's actor on this member ("local") or on another member over the
// remote on loopback ("remote"): the price of the hop.
func BenchmarkClusterCommand(b *testing.B) {
	f := newFleet(b, 2)
	const pw = "pw"
	// An email owned by member 0.
	var email string
	for i := 0; email == ""; i++ {
		e := fmt.Sprintf("bench%d@example.com", i)
		before := f.members[0].Stats().Actors
		if _, err := f.members[1].Register(ctx, e, actorstest.Hash(pw)); err != nil {
			b.Fatal(err)
		}
		if f.members[0].Stats().Actors > before {
			email = e
		}
	}
	for _, bc := range []struct {
		name string
		via  *actors.Registry
	}{{"local", f.members[0]}, {"remote", f.members[1]}} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := bc.via.Describe(ctx, actors.Credentials{Email: email, Password: pw}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestClusterPassivationAtTheIdleBoundaryLosesNoRequest sends bursts with
// pauses around the (jittered) idle timeout through both members of a
// cluster, half of them across the remote: every request is answered.
func TestClusterPassivationAtTheIdleBoundaryLosesNoRequest(t *testing.T) {
	t.Parallel()
	f := &fleet{store: actorstest.NewStore(), agent: test.NewInMemAgent()}
	rules, err := actors.NewRules(actors.DefaultPolicy(), []byte("0123456789abcdef0123456789abcdef"))
	require.NoError(t, err)
	f.cfg = actors.Config{
		Rules: rules, Store: f.store, Passwords: &actorstest.Passwords{},
		DummyHash: actorstest.Hash("dummy"), Logger: slog.New(slog.DiscardHandler),
		Shards: 4, RequestTimeout: 5 * time.Second, IdleTimeout: time.Millisecond,
	}
	f.add(t)
	f.add(t)
	f.settle(t)
	const emails = 100
	for i := range emails { // active: no expiry timer keeps an actor alive
		email := fmt.Sprintf("p%d@example.com", i)
		_, err := f.members[0].Register(ctx, email, actorstest.Hash("pw"))
		require.NoError(t, err)
		_, err = f.members[1].Activate(ctx, actors.Credentials{Email: email, Password: "pw"}, lastCode(t, f.store, email))
		require.NoError(t, err)
	}
	var requests, failures atomic.Int64
	done := make(chan struct{})
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-done:
					return
				default:
				}
				requests.Add(1)
				if _, err := f.members[w%2].Describe(ctx, actors.Credentials{Email: fmt.Sprintf("p%d@example.com", (w+i)%emails), Password: "pw"}); err != nil {
					failures.Add(1)
					t.Errorf("request %d: %v", i, err)
				}
				if i%10 == 0 {
					time.Sleep(time.Duration(i%7) * 3 * time.Millisecond)
				}
			}
		})
	}
	replayed := func() int64 { return f.members[0].Stats().Replayed + f.members[1].Stats().Replayed }
	passivated := func() int64 { return f.members[0].Stats().Passivations + f.members[1].Stats().Passivations }
	assert.Eventually(t, func() bool { return replayed() >= 20 && passivated() >= 1000 }, 60*time.Second, 10*time.Millisecond,
		"requests must race passivations")
	close(done)
	wg.Wait()
	assert.Zero(t, failures.Load())
	passivations := passivated()
	t.Logf("%d requests through two members, %d passivations, %d replayed, 0 lost", requests.Load(), passivations, replayed())
}

// TestClusterGracefulLeaveAnswersWhatItCommits: a member that leaves while
// one of its actors is committing a command waits for it, so the caller on
// another member gets the answer of what was committed, not a 503.
func TestClusterGracefulLeaveAnswersWhatItCommits(t *testing.T) {
	t.Parallel()
	hs := &hookedStore{Store: actorstest.NewStore()}
	f := &fleet{store: hs.Store, agent: test.NewInMemAgent()}
	rules, err := actors.NewRules(actors.DefaultPolicy(), []byte("0123456789abcdef0123456789abcdef"))
	require.NoError(t, err)
	f.cfg = actors.Config{Rules: rules, Store: hs, Passwords: &actorstest.Passwords{}, DummyHash: actorstest.Hash("dummy"),
		Logger: slog.New(slog.DiscardHandler), Shards: 16, RequestTimeout: 5 * time.Second}
	leaving, staying := f.add(t), f.add(t)
	f.settle(t)
	var email string // one whose actor lives on the leaving member
	for i := 0; email == ""; i++ {
		e := fmt.Sprintf("leave%d@example.com", i)
		before := leaving.Stats().Actors
		_, _ = staying.Describe(ctx, actors.Credentials{Email: e, Password: "x"})
		if leaving.Stats().Actors > before {
			email = e
		}
	}
	saving, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	hs.onSave(func(_ context.Context, commit func() error) error {
		once.Do(func() { close(saving); <-release })
		return commit()
	})
	answered := make(chan error, 1)
	go func() {
		_, err := staying.Register(ctx, email, actorstest.Hash("pw"))
		answered <- err
	}()
	<-saving
	left := make(chan error, 1)
	go func() { left <- leaving.Close(ctx) }()
	select {
	case err := <-answered:
		t.Fatalf("answered while the commit was still running: %v", err)
	case <-time.After(300 * time.Millisecond):
	}
	close(release)
	require.NoError(t, <-answered, "the caller gets what was committed")
	require.NoError(t, <-left)
	_, err = hs.Store.Load(ctx, email)
	require.NoError(t, err)
	_, err = staying.Describe(ctx, actors.Credentials{Email: email, Password: "pw"})
	assert.NoError(t, err, "the email is served by the member that stayed")
}

// TestClusterCommandsCarryTheirTrace: a command sent to another member is a
// cluster.send client span, and the actor's span on the owner is its child,
// in the caller's trace (the trace context travels in the command).
func TestClusterCommandsCarryTheirTrace(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	otel.SetTracerProvider(tp) // the only test of this package that sets it
	f := newFleet(t, 3)
	rctx, root := tp.Tracer("test").Start(ctx, "test")
	for i := range 20 {
		_, err := f.members[0].Register(rctx, fmt.Sprintf("traced%d@example.com", i), actorstest.Hash("pw"))
		require.NoError(t, err)
	}
	root.End()

	byID := map[string]sdktrace.ReadOnlySpan{}
	var actorSpans []sdktrace.ReadOnlySpan
	for _, s := range rec.Ended() {
		if s.SpanContext().TraceID() != root.SpanContext().TraceID() {
			continue
		}
		byID[s.SpanContext().SpanID().String()] = s
		if s.Name() == "actor.Register" {
			actorSpans = append(actorSpans, s)
		}
	}
	require.Len(t, actorSpans, 20, "every actor's span is in the caller's trace")
	remote := 0
	for _, s := range actorSpans {
		parent := byID[s.Parent().SpanID().String()]
		require.NotNil(t, parent, "the actor's span has its parent in the trace")
		if parent.Name() == "cluster.send" {
			remote++
			parent = byID[parent.Parent().SpanID().String()]
		}
		require.NotNil(t, parent)
		assert.Equal(t, "actors.Register", parent.Name())
	}
	assert.Positive(t, remote, "some emails live on the other members: their hop is a span")
	assert.Less(t, remote, 20, "and some on the caller's")
}
