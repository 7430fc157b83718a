package actors_test

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/acme/registrar/actors"
	"github.com/acme/registrar/actors/actorstest"
	"github.com/acme/registrar/internal/testkit"
	registrationv1 "github.com/acme/registrar/protos/registration/v1"
)

// hookedStore lets a test decide how each Save goes: commit is the real
// write (it ignores ctx, as a database that already received COMMIT would).
type hookedStore struct {
	*actorstest.Store
	hook atomic.Pointer[func(ctx context.Context, commit func() error) error]
}

func (s *hookedStore) Save(ctx context.Context, reg *actors.Registration, msgs []*registrationv1.Envelope) error {
	commit := func() error { return s.Store.Save(context.Background(), reg, msgs) }
	if h := s.hook.Load(); h != nil {
		return (*h)(ctx, commit)
	}
	return commit()
}

func (s *hookedStore) onSave(h func(ctx context.Context, commit func() error) error) {
	s.hook.Store(&h)
}

func newHookedHarness(t *testing.T, logs *testkit.Buffer) (*harness, *hookedStore) {
	t.Helper()
	hs := &hookedStore{Store: actorstest.NewStore()}
	h := newHarness(t, func(_ *actors.Policy, c *actors.Config) {
		c.Store = hs
		if logs != nil {
			c.Logger = slog.New(slog.NewTextHandler(logs, nil))
		}
	})
	h.store = hs.Store
	return h, hs
}

func TestA503NeverHidesACommittedChange(t *testing.T) {
	t.Run("a save slower than the caller's time is not committed, and the actor says so first", func(t *testing.T) {
		var logs testkit.Buffer
		h, hs := newHookedHarness(t, &logs)
		// A database that takes a second, and gives up when asked to.
		returned := make(chan error, 1)
		hs.onSave(func(ctx context.Context, commit func() error) error {
			var err error
			select {
			case <-time.After(time.Second):
				err = commit()
			case <-ctx.Done():
				err = ctx.Err()
			}
			returned <- err
			return err
		})
		rctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
		defer cancel()
		_, err := h.reg.Register(rctx, "slow@example.com", actorstest.Hash("pw"))
		require.ErrorIs(t, err, actors.ErrUnavailable)
		assert.NotContains(t, logs.String(), "did not answer in time", "the 503 came from the actor, not from a timeout")

		require.ErrorIs(t, <-returned, context.DeadlineExceeded, "the save gave up with the command's budget")
		_, err = h.store.Load(ctx, "slow@example.com")
		assert.ErrorIs(t, err, actors.ErrNotFound, "no row behind the 503")
		assert.Empty(t, h.store.Pending(), "no email behind the 503")
	})

	t.Run("after a save whose fate the store could not tell, the actor reads before deciding again", func(t *testing.T) {
		h, hs := newHookedHarness(t, nil)
		const email, pw = "lost@example.com", "correct horse battery"
		_, err := h.reg.Register(ctx, email, actorstest.Hash(pw))
		require.NoError(t, err)
		var once sync.Once
		hs.onSave(func(_ context.Context, commit func() error) error {
			err := errors.New("commit outcome unknown")
			once.Do(func() { _ = commit() }) // committed, but the store could not tell
			return err
		})
		_, err = h.reg.Activate(ctx, actors.Credentials{Email: email, Password: pw}, h.lastCode(t, email))
		require.ErrorIs(t, err, actors.ErrUnavailable, "the store said it failed")
		hs.onSave(func(_ context.Context, commit func() error) error { return commit() })
		_, err = h.reg.Activate(ctx, actors.Credentials{Email: email, Password: pw}, h.lastCode(t, email))
		require.ErrorIs(t, err, actors.ErrAlreadyActive, "the retry meets what was committed, not stale memory")
	})

	t.Run("a save that failed for good is 503 with nothing written", func(t *testing.T) {
		h, hs := newHookedHarness(t, nil)
		hs.onSave(func(context.Context, func() error) error { return errors.New("disk full") })
		_, err := h.reg.Register(ctx, "full@example.com", actorstest.Hash("pw"))
		require.ErrorIs(t, err, actors.ErrUnavailable)
		assert.Empty(t, h.store.Pending())
	})

	t.Run("a command whose budget ran out in the queue is not carried out", func(t *testing.T) {
		h, hs := newHookedHarness(t, nil)
		const email, pw = "queue@example.com", "correct horse battery"
		_, err := h.reg.Register(ctx, email, actorstest.Hash(pw))
		require.NoError(t, err)
		code := h.lastCode(t, email)
		wrong := wrongOf(code)

		release, saving := make(chan struct{}), make(chan struct{})
		var once sync.Once
		hs.onSave(func(_ context.Context, commit func() error) error {
			once.Do(func() { close(saving); <-release }) // the first save is stuck a while
			return commit()
		})
		creds := actors.Credentials{Email: email, Password: pw}
		first := make(chan error, 1)
		go func() {
			_, err := h.reg.Activate(ctx, creds, wrong)
			first <- err
		}()
		<-saving // the first command holds the actor

		short, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
		defer cancel()
		_, err = h.reg.Activate(short, creds, wrong)
		require.ErrorIs(t, err, actors.ErrUnavailable)
		close(release) // the second command's budget is long gone

		require.ErrorIs(t, <-first, actors.ErrInvalidCode)
		row, err := h.store.Load(ctx, email)
		require.NoError(t, err)
		assert.Equal(t, 1, row.Code.Attempts, "only the first guess counted")
	})
}

func wrongOf(code string) string {
	if code == "9999" {
		return "0000"
	}
	return "9999"
}

func TestExpirySweepNotesExpiriesWhoseTimerDied(t *testing.T) {
	store := actorstest.NewStore()
	// A pending code that expired while no actor held it: its member died
	// with the timer armed.
	now := time.Now().UTC().Truncate(time.Millisecond)
	reg := &actors.Registration{
		ID: "01900000-0000-7000-8000-00000000051e", Email: "swept@example.com", PasswordHash: actorstest.Hash("pw"),
		Status: actors.StatusPending, Generation: 1, CreatedAt: now.Add(-2 * time.Minute), UpdatedAt: now.Add(-2 * time.Minute),
		Code:    actors.Code{MAC: []byte("0123456789abcdef0123456789abcdef"), IssuedAt: now.Add(-2 * time.Minute), ExpiresAt: now.Add(-time.Minute)},
		Version: 1,
	}
	require.NoError(t, store.Save(ctx, reg, nil))
	h := newHarness(t, func(_ *actors.Policy, c *actors.Config) {
		c.Store, c.Expired, c.Now = store, store, time.Now
		c.ExpirySweep = 50 * time.Millisecond
	})
	h.store = store
	require.Eventually(t, func() bool { return h.events("registration.v1.VerificationCodeExpired") == 1 },
		5*time.Second, 10*time.Millisecond, "the sweep noted the expiry")
	time.Sleep(200 * time.Millisecond) // several more sweeps
	assert.Equal(t, 1, h.events("registration.v1.VerificationCodeExpired"), "noted once")
	row, err := store.Load(ctx, "swept@example.com")
	require.NoError(t, err)
	assert.True(t, row.Code.ExpiryNoted)
}

// TestExpirySweepReachesAnActorWithStaleMemory: an actor that holds an older
// generation than the store (another member issued the newer code, then
// died with its timer) is told by the sweep, reloads and notes the expiry.
func TestExpirySweepReachesAnActorWithStaleMemory(t *testing.T) {
	store := actorstest.NewStore()
	h := newHarness(t, func(_ *actors.Policy, c *actors.Config) {
		c.Store, c.Expired, c.Now = store, store, time.Now
		c.ExpirySweep = 50 * time.Millisecond
	})
	h.store = store
	const email = "stale-gen@example.com"
	_, err := h.reg.Register(ctx, email, actorstest.Hash("pw"))
	require.NoError(t, err)
	require.Equal(t, int64(1), h.reg.Stats().Actors, "its actor holds generation 1, its timer a minute away")

	// Another member issued generation 2 and died before it expired.
	row, err := store.Load(ctx, email)
	require.NoError(t, err)
	next := row.Clone()
	next.Generation, next.Version = 2, row.Version+1
	next.Code.IssuedAt, next.Code.ExpiresAt = time.Now().Add(-2*time.Minute), time.Now().Add(-time.Minute)
	require.NoError(t, store.Save(ctx, next, nil))

	require.Eventually(t, func() bool { return h.reg.Stats().ExpiriesSwept == 1 }, 5*time.Second, 10*time.Millisecond,
		"the sweep's command made the actor reload and note the expiry")
	got, err := store.Load(ctx, email)
	require.NoError(t, err)
	assert.True(t, got.Code.ExpiryNoted)
	assert.Equal(t, 1, h.events("registration.v1.VerificationCodeExpired"))
}

// TestPurgeSweepDeletesStaleRegistrations: a pending registration a
// retention past its last code is deleted through its actor (which holds it
// in memory here), with RegistrationPurged; the email then registers afresh
// with a new id, and an active account is kept.
func TestPurgeSweepDeletesStaleRegistrations(t *testing.T) {
	store := actorstest.NewStore()
	h := newHarness(t, func(p *actors.Policy, c *actors.Config) {
		p.CodeTTL, p.PendingRetention = 200*time.Millisecond, time.Second // swept every second
		c.Store, c.Expired, c.Stale, c.Now = store, store, store, time.Now
		c.ExpirySweep = 50 * time.Millisecond
	})
	h.store = store
	first, err := h.reg.Register(ctx, "stale@example.com", actorstest.Hash("pw"))
	require.NoError(t, err)
	_, err = h.reg.Register(ctx, "kept@example.com", actorstest.Hash("pw"))
	require.NoError(t, err)
	_, err = h.reg.Activate(ctx, actors.Credentials{Email: "kept@example.com", Password: "pw"}, h.lastCode(t, "kept@example.com"))
	require.NoError(t, err)

	require.Eventually(t, func() bool { return h.events("registration.v1.RegistrationPurged") == 1 }, 10*time.Second, 20*time.Millisecond)
	_, err = store.Load(ctx, "stale@example.com")
	require.ErrorIs(t, err, actors.ErrNotFound)
	assert.Empty(t, h.mails(t, "stale@example.com"), "its unpublished messages went with it")
	assert.Equal(t, int64(1), h.reg.Stats().Events["purged"])
	_, err = store.Load(ctx, "kept@example.com")
	require.NoError(t, err, "an active account is never purged")

	_, err = h.reg.Describe(ctx, actors.Credentials{Email: "stale@example.com", Password: "pw"})
	require.ErrorIs(t, err, actors.ErrInvalidCredentials, "the actor's memory went with the row")
	again, err := h.reg.Register(ctx, "stale@example.com", actorstest.Hash("pw"))
	require.NoError(t, err)
	assert.NotEqual(t, first.ID, again.ID, "a new registration, a new id")
}
