package persistence_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/acme/registrar/actors/storetest"
	"github.com/acme/registrar/gateway"
	"github.com/acme/registrar/gateway/limittest"
	"github.com/acme/registrar/internal/testkit"
	"github.com/acme/registrar/mailer"
	"github.com/acme/registrar/mailer/dedupetest"
	"github.com/acme/registrar/messaging"
	"github.com/acme/registrar/messaging/outboxtest"
	"github.com/acme/registrar/persistence"
	registrationv1 "github.com/acme/registrar/protos/registration/v1"
)

func openPostgres(tb testing.TB, url string) *persistence.Postgres {
	tb.Helper()
	p, err := persistence.OpenPostgres(context.Background(), persistence.PostgresConfig{URL: url})
	require.NoError(tb, err)
	tb.Cleanup(func() { _ = p.Close() })
	return p
}

func TestPostgresStoreContract(t *testing.T) {
	storetest.Run(t, func(t *testing.T) storetest.Subject { return openPostgres(t, testkit.Postgres(t)) })
}

func TestPostgresOutboxContract(t *testing.T) {
	outboxtest.Run(t, func(t *testing.T) (messaging.Outbox, outboxtest.Add) {
		s := openPostgres(t, testkit.Postgres(t))
		return s, storetest.OutboxAdd(s)
	})
}

func TestPostgresInstancesStartingTogetherMigrateOnce(t *testing.T) {
	url := testkit.Postgres(t)
	var wg sync.WaitGroup
	errs := make([]error, 5)
	for i := range errs {
		wg.Go(func() {
			p, err := persistence.OpenPostgres(context.Background(), persistence.PostgresConfig{URL: url})
			errs[i] = err
			if err == nil {
				_ = p.Close()
			}
		})
	}
	wg.Wait()
	for _, err := range errs {
		require.NoError(t, err, "the advisory lock makes concurrent starts safe")
	}
	require.NoError(t, openPostgres(t, url).Ping(context.Background()))
}

func TestPostgresRefusesABadURLWithoutEchoingIt(t *testing.T) {
	_, err := persistence.OpenPostgres(context.Background(), persistence.PostgresConfig{URL: "postgres://user:hunter2@%zz/db"})
	require.Error(t, err)
	require.NotContains(t, err.Error(), "hunter2")
}

func TestPostgresRateLimiterContract(t *testing.T) {
	limittest.Run(t, func(t *testing.T, limit int, window time.Duration) gateway.RateLimiter {
		return openPostgres(t, testkit.Postgres(t)).RateLimiter(limit, window)
	})
}

func TestPostgresRateLimitIsSharedByInstances(t *testing.T) {
	url := testkit.Postgres(t)
	a := openPostgres(t, url).RateLimiter(4, time.Minute)
	b := openPostgres(t, url).RateLimiter(4, time.Minute)
	allowed := 0
	for i := range 8 {
		l := a
		if i%2 == 1 {
			l = b
		}
		ok, _, err := l.Allow(context.Background(), "192.0.2.7")
		require.NoError(t, err)
		if ok {
			allowed++
		}
	}
	require.Equal(t, 4, allowed, "two instances share one budget per client")
}

func TestPostgresMailDeliveriesContract(t *testing.T) {
	dedupetest.Run(t, func(t *testing.T) mailer.Deduper {
		d, err := persistence.OpenMailDeliveries(context.Background(), persistence.PostgresConfig{URL: testkit.Postgres(t)})
		require.NoError(t, err)
		t.Cleanup(d.Close)
		return d
	})
}

// TestPostgresMailDeliveriesAreSharedSoon: a sent email is written with the
// next lookup or on its own within a moment, so another mailer (after a
// rebalance) sees it; Close writes what is still waiting.
func TestPostgresMailDeliveriesAreSharedSoon(t *testing.T) {
	ctx := context.Background()
	url := testkit.Postgres(t)
	open := func() *persistence.MailDeliveries {
		d, err := persistence.OpenMailDeliveries(ctx, persistence.PostgresConfig{URL: url})
		require.NoError(t, err)
		return d
	}
	sender, other := open(), open()
	t.Cleanup(other.Close)
	until := time.Now().Add(time.Hour)

	require.NoError(t, sender.Remember(ctx, "m-alone", until))
	require.Eventually(t, func() bool { seen, err := other.Seen(ctx, "m-alone"); return err == nil && seen }, 5*time.Second, 10*time.Millisecond,
		"with no lookup after it, the email is written on its own")

	require.NoError(t, sender.Remember(ctx, "m-then-lookup", until))
	seen, err := sender.Seen(ctx, "m-next")
	require.NoError(t, err)
	assert.False(t, seen)
	seen, err = other.Seen(ctx, "m-then-lookup")
	require.NoError(t, err)
	assert.True(t, seen, "the lookup wrote it in its round trip")

	require.NoError(t, sender.Remember(ctx, "m-at-close", until))
	sender.Close()
	seen, err = other.Seen(ctx, "m-at-close")
	require.NoError(t, err)
	assert.True(t, seen, "Close writes what waits")
}

// A commit wakes the relay of its own process only. With LISTEN/NOTIFY every
// registrar's relay woke on every commit, so n registrars claimed n times
// per registration, n-1 of them for nothing; what a crashed process leaves
// is found by the others' poll.
func TestPostgresCommitWakesOnlyItsOwnRelay(t *testing.T) {
	url := testkit.Postgres(t)
	writer, other := openPostgres(t, url), openPostgres(t, url)
	storetest.OutboxAdd(writer)(t, &registrationv1.Envelope{Id: "m-own", Topic: registrationv1.EventsTopic, Key: "user-1",
		Type: "test", Source: registrationv1.Source, Time: timestamppb.Now()})
	select {
	case <-writer.Notify():
	case <-time.After(5 * time.Second):
		t.Fatal("the writer's relay was not woken")
	}
	select {
	case <-other.Notify():
		t.Fatal("another process's relay was woken by this commit")
	case <-time.After(300 * time.Millisecond): // NOTIFY arrives within milliseconds
	}
}
