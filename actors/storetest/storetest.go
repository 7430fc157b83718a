// Package storetest is the contract suite of actors.Store and of the outbox
// the relay reads. Every adapter runs it (the in-memory fake, SQLite,
// PostgreSQL), so they all behave the same.
package storetest

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/acme/registrar/actors"
	registrationv1 "github.com/acme/registrar/protos/registration/v1"
)

// Subject is a store under test: the actors' Store plus the relay's view of
// the outbox.
type Subject interface {
	actors.Store
	actors.ExpiredCodes
	actors.StaleRegistrations
	// Claim is the relay's read of the outbox (messaging.Outbox, whose own
	// suite is messaging/outboxtest): here it shows what a save wrote.
	Claim(ctx context.Context, delivered []string, limit int, lease time.Duration) ([]*registrationv1.Envelope, error)
}

// Run runs the suite. open must return an empty store of its own for every
// call (the outbox tests count messages).
func Run(t *testing.T, open func(t *testing.T) Subject) {
	ctx := context.Background()
	base := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)

	t.Run("load of an unknown email is not found", func(t *testing.T) {
		s := open(t)
		_, err := s.Load(ctx, "nobody@example.com")
		require.ErrorIs(t, err, actors.ErrNotFound)
	})

	t.Run("a saved pending registration loads back field for field", func(t *testing.T) {
		s := open(t)
		want := pending("ann@example.com", base)
		require.NoError(t, s.Save(ctx, want, nil))
		got, err := s.Load(ctx, want.Email)
		require.NoError(t, err)
		assertSame(t, want, got)
	})

	t.Run("an active registration loads back field for field", func(t *testing.T) {
		s := open(t)
		r := pending("bob@example.com", base)
		require.NoError(t, s.Save(ctx, r, nil))
		next := *r
		next.Status = actors.StatusActive
		next.ActivatedAt = base.Add(5 * time.Second)
		next.UpdatedAt = next.ActivatedAt
		next.Code = actors.Code{}
		next.CodeFailures = nil
		next.Passwords = actors.PasswordGuard{}
		next.Issues = []time.Time{base}
		next.Version = 2
		require.NoError(t, s.Save(ctx, &next, nil))
		got, err := s.Load(ctx, r.Email)
		require.NoError(t, err)
		assertSame(t, &next, got)
	})

	t.Run("times come back in UTC at millisecond precision", func(t *testing.T) {
		s := open(t)
		r := pending("tz@example.com", base.Add(123*time.Millisecond))
		require.NoError(t, s.Save(ctx, r, nil))
		got, err := s.Load(ctx, r.Email)
		require.NoError(t, err)
		assert.Equal(t, time.UTC, got.CreatedAt.Location())
		assert.True(t, got.CreatedAt.Equal(r.CreatedAt), "got %s, want %s", got.CreatedAt, r.CreatedAt)
	})

	t.Run("inserting an email twice is a conflict and keeps the first", func(t *testing.T) {
		s := open(t)
		first := pending("dup@example.com", base)
		require.NoError(t, s.Save(ctx, first, nil))
		second := pending("dup@example.com", base.Add(time.Second))
		second.ID = "01900000-0000-7000-8000-000000000099"
		second.PasswordHash = "other"
		require.ErrorIs(t, s.Save(ctx, second, []*registrationv1.Envelope{envelope(t, "m-dup", second.ID)}), actors.ErrConflict)
		got, err := s.Load(ctx, first.Email)
		require.NoError(t, err)
		assertSame(t, first, got)
		assertOutboxIDs(t, s, nil)
	})

	t.Run("an update applies only at the expected version", func(t *testing.T) {
		s := open(t)
		r := pending("ver@example.com", base)
		require.NoError(t, s.Save(ctx, r, nil))

		stale := *r
		stale.Version = 3 // the stored row is at 1, not 2
		require.ErrorIs(t, s.Save(ctx, &stale, nil), actors.ErrConflict)

		next := *r
		next.Version = 2
		next.PasswordHash = "h2"
		require.NoError(t, s.Save(ctx, &next, nil))

		again := *r
		again.Version = 2 // someone else already wrote version 2
		again.PasswordHash = "h3"
		require.ErrorIs(t, s.Save(ctx, &again, nil), actors.ErrConflict)

		got, err := s.Load(ctx, r.Email)
		require.NoError(t, err)
		assert.Equal(t, "h2", got.PasswordHash)
		assert.Equal(t, int64(2), got.Version)
	})

	t.Run("an update of a row that does not exist is a conflict", func(t *testing.T) {
		s := open(t)
		r := pending("ghost@example.com", base)
		r.Version = 2
		require.ErrorIs(t, s.Save(ctx, r, nil), actors.ErrConflict)
		_, err := s.Load(ctx, r.Email)
		require.ErrorIs(t, err, actors.ErrNotFound)
	})

	t.Run("of many concurrent writers of one version exactly one wins", func(t *testing.T) {
		s := open(t)
		r := pending("race@example.com", base)
		require.NoError(t, s.Save(ctx, r, nil))
		const writers = 20
		var wg sync.WaitGroup
		errs := make([]error, writers)
		for i := range writers {
			wg.Go(func() {
				next := *r
				next.Version = 2
				next.PasswordHash = fmt.Sprintf("h%d", i)
				errs[i] = s.Save(ctx, &next, []*registrationv1.Envelope{envelope(t, fmt.Sprintf("m-race-%02d", i), r.ID)})
			})
		}
		wg.Wait()
		wins := 0
		for _, err := range errs {
			if err == nil {
				wins++
			} else {
				require.ErrorIs(t, err, actors.ErrConflict)
			}
		}
		assert.Equal(t, 1, wins)
		msgs, err := s.Claim(ctx, nil, 100, time.Minute)
		require.NoError(t, err)
		assert.Len(t, msgs, 1, "only the winner's messages may be stored")
	})

	t.Run("the version of a row is the saved one, 0 without a row", func(t *testing.T) {
		s := open(t)
		v, err := s.Version(ctx, "ver@example.com")
		require.NoError(t, err)
		assert.Zero(t, v)
		r := pending("ver@example.com", base)
		require.NoError(t, s.Save(ctx, r, nil))
		next := r.Clone()
		next.Version = 2
		require.NoError(t, s.Save(ctx, next, nil))
		v, err = s.Version(ctx, "ver@example.com")
		require.NoError(t, err)
		assert.Equal(t, int64(2), v)
	})

	t.Run("expired codes without their event are claimed once per lease", func(t *testing.T) {
		s := open(t)
		now := time.Now().UTC().Truncate(time.Millisecond)
		ids := 0
		unique := func(r *actors.Registration) *actors.Registration {
			ids++
			r.ID = fmt.Sprintf("01900000-0000-7000-8000-%012d", ids)
			return r
		}
		expired := func(email string, ago time.Duration, noted bool) *actors.Registration {
			r := unique(pending(email, now.Add(-ago-time.Minute)))
			r.Code.ExpiresAt = now.Add(-ago)
			r.Code.ExpiryNoted = noted
			require.NoError(t, s.Save(ctx, r, nil))
			return r
		}
		expired("old@example.com", 10*time.Minute, false)
		expired("new@example.com", time.Second, false)
		expired("noted@example.com", time.Minute, true)
		live := unique(pending("live@example.com", now))
		live.Code.ExpiryNoted = false
		live.Code.ExpiresAt = now.Add(time.Minute)
		require.NoError(t, s.Save(ctx, live, nil))
		act := unique(pending("act@example.com", now.Add(-time.Hour)))
		act.Status, act.Code, act.ActivatedAt = actors.StatusActive, actors.Code{}, now
		require.NoError(t, s.Save(ctx, act, nil))

		got, err := s.ClaimExpired(ctx, 10, 300*time.Millisecond)
		require.NoError(t, err)
		assert.ElementsMatch(t, []actors.ExpiredCode{
			{Email: "old@example.com", Generation: 3}, {Email: "new@example.com", Generation: 3},
		}, got)
		again, err := s.ClaimExpired(ctx, 10, time.Minute)
		require.NoError(t, err)
		assert.Empty(t, again, "claimed rows are hidden for the lease")
		require.Eventually(t, func() bool {
			back, err := s.ClaimExpired(ctx, 1, time.Minute)
			return err == nil && len(back) == 1
		}, 5*time.Second, 20*time.Millisecond, "after the lease, one at a time")
	})

	t.Run("concurrent sweepers share the expired codes out", func(t *testing.T) {
		s := open(t)
		now := time.Now().UTC().Truncate(time.Millisecond)
		const n = 30
		for i := range n {
			r := pending(fmt.Sprintf("sw%d@example.com", i), now.Add(-2*time.Minute))
			r.ID = fmt.Sprintf("01900000-0000-7000-8000-%012d", i)
			r.Code.ExpiresAt, r.Code.ExpiryNoted = now.Add(-time.Minute), false
			require.NoError(t, s.Save(ctx, r, nil))
		}
		var mu sync.Mutex
		seen := map[string]int{}
		var wg sync.WaitGroup
		for range 6 {
			wg.Go(func() {
				for {
					got, err := s.ClaimExpired(ctx, 4, time.Minute)
					if !assert.NoError(t, err) || len(got) == 0 {
						return
					}
					mu.Lock()
					for _, c := range got {
						seen[c.Email]++
					}
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		assert.Len(t, seen, n)
		for email, times := range seen {
			assert.Equal(t, 1, times, email)
		}
	})

	t.Run("a purge deletes the row at its version with the user's unpublished messages", func(t *testing.T) {
		s := open(t)
		r := pending("gone@example.com", base)
		require.NoError(t, s.Save(ctx, r, []*registrationv1.Envelope{envelope(t, "m-gone-1", r.ID), envelope(t, "m-gone-2", r.ID)}))
		other := pending("kept@example.com", base)
		other.ID = "01900000-0000-7000-8000-0000000000cc"
		require.NoError(t, s.Save(ctx, other, []*registrationv1.Envelope{envelope(t, "m-kept", other.ID)}))

		require.NoError(t, s.Purge(ctx, r, []*registrationv1.Envelope{envelope(t, "m-purged", r.ID)}))
		_, err := s.Load(ctx, r.Email)
		require.ErrorIs(t, err, actors.ErrNotFound)
		v, err := s.Version(ctx, r.Email)
		require.NoError(t, err)
		assert.Zero(t, v)
		assertOutboxIDs(t, s, []string{"m-kept", "m-purged"})

		again := pending(r.Email, base.Add(time.Hour))
		again.ID = "01900000-0000-7000-8000-0000000000dd"
		require.NoError(t, s.Save(ctx, again, nil), "the email registers afresh, at version 1")
		got, err := s.Load(ctx, r.Email)
		require.NoError(t, err)
		assert.Equal(t, again.ID, got.ID)
	})

	t.Run("a purge at another version changes nothing", func(t *testing.T) {
		s := open(t)
		r := pending("renewed@example.com", base)
		require.NoError(t, s.Save(ctx, r, []*registrationv1.Envelope{envelope(t, "m-renewed", r.ID)}))
		next := r.Clone()
		next.Version = 2
		require.NoError(t, s.Save(ctx, next, nil))

		require.ErrorIs(t, s.Purge(ctx, r, []*registrationv1.Envelope{envelope(t, "m-purged", r.ID)}), actors.ErrConflict)
		got, err := s.Load(ctx, r.Email)
		require.NoError(t, err)
		assert.Equal(t, int64(2), got.Version)
		assertOutboxIDs(t, s, []string{"m-renewed"})
		ghost := pending("ghost@example.com", base)
		require.ErrorIs(t, s.Purge(ctx, ghost, nil), actors.ErrConflict, "no row")
	})

	t.Run("pending registrations past their retention are claimed once per lease", func(t *testing.T) {
		s := open(t)
		now := time.Now().UTC().Truncate(time.Millisecond)
		ids := 0
		save := func(email string, expiredAgo time.Duration, status actors.Status) {
			ids++
			r := pending(email, now.Add(-expiredAgo-time.Minute))
			r.ID = fmt.Sprintf("01900000-0000-7000-8000-%012d", ids)
			r.Status = status
			if status == actors.StatusActive {
				r.Code, r.ActivatedAt = actors.Code{}, now.Add(-expiredAgo)
			}
			require.NoError(t, s.Save(ctx, r, nil))
		}
		save("old@example.com", 3*time.Hour, actors.StatusPending)
		save("older@example.com", 30*time.Hour, actors.StatusPending)
		save("recent@example.com", 30*time.Minute, actors.StatusPending)
		save("live@example.com", -time.Minute, actors.StatusPending)
		save("active@example.com", 30*time.Hour, actors.StatusActive)

		longer, err := s.ClaimStale(ctx, 48*time.Hour, 10, time.Minute)
		require.NoError(t, err)
		assert.Empty(t, longer, "the retention is the caller's")
		got, err := s.ClaimStale(ctx, time.Hour, 10, 300*time.Millisecond)
		require.NoError(t, err)
		assert.ElementsMatch(t, []string{"old@example.com", "older@example.com"}, got)
		again, err := s.ClaimStale(ctx, time.Hour, 10, time.Minute)
		require.NoError(t, err)
		assert.Empty(t, again, "claimed rows are hidden for the lease")
		require.Eventually(t, func() bool {
			back, err := s.ClaimStale(ctx, time.Hour, 1, time.Minute)
			return err == nil && len(back) == 1
		}, 5*time.Second, 20*time.Millisecond, "after the lease, one at a time")
	})

	t.Run("concurrent purge sweepers share the stale registrations out", func(t *testing.T) {
		s := open(t)
		now := time.Now().UTC().Truncate(time.Millisecond)
		const n = 30
		for i := range n {
			r := pending(fmt.Sprintf("st%d@example.com", i), now.Add(-3*time.Hour))
			r.ID = fmt.Sprintf("01900000-0000-7000-8000-%012d", i)
			require.NoError(t, s.Save(ctx, r, nil))
		}
		var mu sync.Mutex
		seen := map[string]int{}
		var wg sync.WaitGroup
		for range 6 {
			wg.Go(func() {
				for {
					got, err := s.ClaimStale(ctx, time.Hour, 4, time.Minute)
					if !assert.NoError(t, err) || len(got) == 0 {
						return
					}
					mu.Lock()
					for _, e := range got {
						seen[e]++
					}
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		assert.Len(t, seen, n)
		for email, times := range seen {
			assert.Equal(t, 1, times, email)
		}
	})

	t.Run("emails are distinct keys", func(t *testing.T) {
		s := open(t)
		a := pending("a@example.com", base)
		b := pending("b@example.com", base)
		b.ID = "01900000-0000-7000-8000-0000000000bb"
		require.NoError(t, s.Save(ctx, a, nil))
		require.NoError(t, s.Save(ctx, b, nil))
		got, err := s.Load(ctx, "b@example.com")
		require.NoError(t, err)
		assert.Equal(t, b.ID, got.ID)
	})
}

func pending(email string, at time.Time) *actors.Registration {
	return &actors.Registration{
		ID:           "01900000-0000-7000-8000-000000000001",
		Email:        email,
		PasswordHash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaA",
		Status:       actors.StatusPending,
		Generation:   3,
		Code: actors.Code{
			MAC:         []byte("0123456789abcdef0123456789abcdef"),
			IssuedAt:    at,
			ExpiresAt:   at.Add(time.Minute),
			Attempts:    2,
			ExpiryNoted: true,
		},
		CodeFailures: []time.Time{at.Add(-2 * time.Hour), at.Add(-time.Hour)},
		Passwords: actors.PasswordGuard{
			Known: actors.Throttle{Failures: []time.Time{at.Add(-time.Second)}},
			Strangers: []actors.SourceThrottle{
				{Source: "1122334455667788", Throttle: actors.Throttle{Failures: []time.Time{at.Add(-30 * time.Minute), at.Add(-time.Minute)}, Level: 2}},
				{Source: "99aabbccddeeff00", Throttle: actors.Throttle{Failures: []time.Time{at.Add(-time.Minute)}}},
			},
			Everyone: actors.Throttle{Failures: []time.Time{at.Add(-30 * time.Minute), at.Add(-time.Minute), at.Add(-time.Minute)}},
			Sources:  []string{"0011223344556677", "8899aabbccddeeff"},
		},
		Issues:    []time.Time{at.Add(-40 * time.Minute), at},
		CreatedAt: at.Add(-3 * time.Hour),
		UpdatedAt: at,
		Version:   1,
	}
}

func envelope(t *testing.T, id, key string) *registrationv1.Envelope {
	t.Helper()
	payload, err := proto.Marshal(&registrationv1.UserRegistered{UserId: key, Email: "x@example.com"})
	require.NoError(t, err)
	return &registrationv1.Envelope{
		Id: id, Topic: registrationv1.EventsTopic, Key: key, Type: "registration.v1.UserRegistered",
		Time: timestamppb.New(time.Date(2026, 11, 23, 12, 0, 0, 5e6, time.UTC)), Payload: payload, Source: registrationv1.Source,
	}
}

// assertSame compares registrations, treating empty and nil slices alike and
// times by instant.
func assertSame(t *testing.T, want, got *actors.Registration) {
	t.Helper()
	norm := func(r *actors.Registration) actors.Registration {
		c := *r
		c.CreatedAt, c.UpdatedAt, c.ActivatedAt = c.CreatedAt.UTC(), c.UpdatedAt.UTC(), c.ActivatedAt.UTC()
		c.Code.IssuedAt, c.Code.ExpiresAt = c.Code.IssuedAt.UTC(), c.Code.ExpiresAt.UTC()
		c.CodeFailures, c.Issues = utc(c.CodeFailures), utc(c.Issues)
		c.Passwords = c.Passwords.Clone()
		c.Passwords.Known.Failures = utc(c.Passwords.Known.Failures)
		c.Passwords.Everyone.Failures = utc(c.Passwords.Everyone.Failures)
		for i := range c.Passwords.Strangers {
			c.Passwords.Strangers[i].Failures = utc(c.Passwords.Strangers[i].Failures)
		}
		if len(c.Passwords.Strangers) == 0 {
			c.Passwords.Strangers = nil
		}
		if len(c.Passwords.Sources) == 0 {
			c.Passwords.Sources = nil
		}
		if len(c.Code.MAC) == 0 {
			c.Code.MAC = nil
		}
		return c
	}
	assert.Equal(t, norm(want), norm(got))
}

func utc(ts []time.Time) []time.Time {
	if len(ts) == 0 {
		return nil
	}
	out := make([]time.Time, len(ts))
	for i, t := range ts {
		out[i] = t.UTC()
	}
	return out
}

func assertOutboxIDs(t *testing.T, s Subject, want []string) {
	t.Helper()
	msgs, err := s.Claim(context.Background(), nil, 1000, time.Millisecond)
	require.NoError(t, err)
	var got []string
	for _, m := range msgs {
		got = append(got, m.GetId())
	}
	assert.Equal(t, want, got)
}

// OutboxAdd returns, for messaging/outboxtest, a way to write messages into
// s's outbox: each call saves a new registration with them.
func OutboxAdd(s actors.Store) func(t *testing.T, msgs ...*registrationv1.Envelope) {
	n := 0
	return func(t *testing.T, msgs ...*registrationv1.Envelope) {
		t.Helper()
		n++
		r := pending(fmt.Sprintf("outbox%d@example.com", n), time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC))
		r.ID = fmt.Sprintf("01900000-0000-7000-8000-%012d", 900000+n)
		require.NoError(t, s.Save(context.Background(), r, msgs))
	}
}
