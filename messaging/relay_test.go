package messaging_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/acme/registrar/actors"
	"github.com/acme/registrar/actors/actorstest"
	"github.com/acme/registrar/messaging"
	registrationv1 "github.com/acme/registrar/protos/registration/v1"
)

var quiet = slog.New(slog.DiscardHandler)

// fill saves one registration per batch of messages so the store's outbox
// holds them, in order.
func fill(t *testing.T, store *actorstest.Store, n int) []string {
	t.Helper()
	var ids []string
	for i := range n {
		id := fmt.Sprintf("m%04d", i)
		ids = append(ids, id)
		reg := &actors.Registration{ID: "u", Email: fmt.Sprintf("u%d@example.com", i), Status: actors.StatusPending, Version: 1}
		require.NoError(t, store.Save(context.Background(), reg, []*registrationv1.Envelope{msg(id, "events", "u")}))
	}
	return ids
}

// flaky is a Publisher that fails its first failures calls.
type flaky struct {
	failures atomic.Int64
	rec      recorder
}

func (f *flaky) Publish(ctx context.Context, msgs []*registrationv1.Envelope) error {
	if f.failures.Add(-1) >= 0 {
		return errors.New("broker unavailable")
	}
	for _, m := range msgs {
		_ = f.rec.handle(ctx, m)
	}
	return nil
}

func runRelay(t *testing.T, cfg messaging.RelayConfig) *messaging.Relay {
	t.Helper()
	cfg.Logger = quiet
	relay, err := messaging.NewRelay(cfg)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { assert.NoError(t, relay.Run(ctx)) })
	t.Cleanup(func() { cancel(); wg.Wait() })
	return relay
}

func TestRelayPublishesInOrderAndEmptiesTheOutbox(t *testing.T) {
	store := actorstest.NewStore()
	want := fill(t, store, 250)
	pub := &flaky{}
	relay := runRelay(t, messaging.RelayConfig{Outbox: store, Publisher: pub, BatchSize: 40})
	require.Eventually(t, func() bool { return len(store.Pending()) == 0 }, 5*time.Second, 5*time.Millisecond)
	assert.Equal(t, want, pub.rec.ids())
	assert.Equal(t, int64(250), relay.Stats().Published)
}

func TestRelayWakesOnANewMessageWithoutPolling(t *testing.T) {
	store := actorstest.NewStore()
	pub := &flaky{}
	runRelay(t, messaging.RelayConfig{Outbox: store, Publisher: pub, PollInterval: time.Hour})
	require.Eventually(t, func() bool { return len(store.Pending()) == 0 }, time.Second, time.Millisecond)
	fill(t, store, 1)
	require.Eventually(t, func() bool { return len(pub.rec.ids()) == 1 }, 5*time.Second, time.Millisecond,
		"a notification must wake the relay (the poll interval is an hour)")
}

// claims records what each Claim was given to delete and what it returned.
type claims struct {
	messaging.Outbox
	mu    sync.Mutex
	calls [][2][]string // delivered, claimed
}

func (c *claims) Claim(ctx context.Context, delivered []string, limit int, lease time.Duration) ([]*registrationv1.Envelope, error) {
	got, err := c.Outbox.Claim(ctx, delivered, limit, lease)
	c.mu.Lock()
	defer c.mu.Unlock()
	var ids []string
	for _, m := range got {
		ids = append(ids, m.GetId())
	}
	c.calls = append(c.calls, [2][]string{delivered, ids})
	return got, err
}

func (c *claims) with(delivered []string) [][]string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var claimed [][]string
	for _, call := range c.calls {
		if slices.Equal(call[0], delivered) {
			claimed = append(claimed, call[1])
		}
	}
	return claimed
}

// TestRelayDeletesABatchWithTheNextClaim: under load the deletion of one
// batch and the claim of the next are one call (one round trip to
// PostgreSQL); with nothing more to claim, a batch is still deleted within
// DeleteWithin.
func TestRelayDeletesABatchWithTheNextClaim(t *testing.T) {
	store := actorstest.NewStore()
	fill(t, store, 3)
	outbox := &claims{Outbox: store}
	pub := &flaky{}
	runRelay(t, messaging.RelayConfig{Outbox: outbox, Publisher: pub, BatchSize: 1, Lease: 3 * time.Hour, PollInterval: time.Hour, DeleteWithin: time.Hour})
	require.Eventually(t, func() bool { return len(store.Pending()) == 0 }, 5*time.Second, time.Millisecond)
	assert.Equal(t, [][]string{{"m0001"}}, outbox.with([]string{"m0000"}), "the first batch's deletion claimed the second")
	assert.Equal(t, [][]string{{"m0002"}}, outbox.with([]string{"m0001"}))
	assert.Equal(t, [][]string{nil}, outbox.with([]string{"m0002"}), "the last one's found nothing more")

	alone := actorstest.NewStore()
	watched := &claims{Outbox: alone}
	runRelay(t, messaging.RelayConfig{Outbox: watched, Publisher: &flaky{}, PollInterval: time.Hour, DeleteWithin: 20 * time.Millisecond})
	require.Eventually(t, func() bool { return len(watched.with(nil)) > 0 }, 5*time.Second, time.Millisecond, "the relay's first claim")
	fill(t, alone, 1) // its one notification wakes the claim that publishes it; nothing wakes the deletion but DeleteWithin
	require.Eventually(t, func() bool { return len(alone.Pending()) == 0 }, 5*time.Second, time.Millisecond,
		"with nothing else to claim, a published batch is deleted within DeleteWithin (the poll interval is an hour)")
}

// failingDeletes fails the claims that carry deletions, failures times.
type failingDeletes struct {
	messaging.Outbox
	failures atomic.Int64
}

func (f *failingDeletes) Claim(ctx context.Context, delivered []string, limit int, lease time.Duration) ([]*registrationv1.Envelope, error) {
	if len(delivered) > 0 && f.failures.Add(-1) >= 0 {
		return nil, errors.New("database unavailable")
	}
	return f.Outbox.Claim(ctx, delivered, limit, lease)
}

// TestRelayKeepsWhatItPublishedUntilAClaimDeletesIt: a failed claim leaves
// the published batch to delete, so it is deleted by a later one, not
// published again after its lease.
func TestRelayKeepsWhatItPublishedUntilAClaimDeletesIt(t *testing.T) {
	store := actorstest.NewStore()
	outbox := &failingDeletes{Outbox: store}
	outbox.failures.Store(3)
	pub := &flaky{}
	runRelay(t, messaging.RelayConfig{Outbox: outbox, Publisher: pub, Lease: time.Hour, PollInterval: time.Hour,
		DeleteWithin: time.Millisecond, RetryBackoff: time.Millisecond, MaxBackoff: time.Millisecond})
	want := fill(t, store, 1)
	require.Eventually(t, func() bool { return len(store.Pending()) == 0 }, 5*time.Second, time.Millisecond,
		"deleted by the claim after the failed ones (the lease is an hour)")
	assert.Equal(t, want, pub.rec.ids(), "published once")
	assert.Negative(t, outbox.failures.Load(), "the failing claims were made")
}

// TestRelayFlushDeletesItsLastBatchPastItsDeadline: a Flush whose context
// ends while it publishes its last batch still deletes that batch.
func TestRelayFlushDeletesItsLastBatchPastItsDeadline(t *testing.T) {
	store := actorstest.NewStore()
	want := fill(t, store, 3)
	pub := &gate{entered: make(chan struct{}, 1), release: make(chan struct{})}
	relay, err := messaging.NewRelay(messaging.RelayConfig{Outbox: store, Publisher: pub, Logger: quiet})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	flushed := make(chan error, 1)
	go func() { flushed <- relay.Flush(ctx) }()
	<-pub.entered
	cancel() // the shutdown's deadline, while the batch is being published
	close(pub.release)
	require.Error(t, <-flushed, "the claim after the batch meets the ended context")
	assert.Equal(t, want, pub.rec.ids())
	assert.Empty(t, store.Pending(), "the published batch is deleted all the same")
}

func TestRelayRefusesADeletionWaitAsLongAsTheLease(t *testing.T) {
	_, err := messaging.NewRelay(messaging.RelayConfig{Outbox: actorstest.NewStore(), Publisher: &flaky{}, Logger: quiet,
		Lease: time.Second, DeleteWithin: 500 * time.Millisecond})
	require.ErrorContains(t, err, "DeleteWithin")
}

func TestRelayRetriesAFailingPublisherAndLosesNothing(t *testing.T) {
	store := actorstest.NewStore()
	want := fill(t, store, 30)
	pub := &flaky{}
	pub.failures.Store(3)
	relay := runRelay(t, messaging.RelayConfig{Outbox: store, Publisher: pub, RetryBackoff: time.Millisecond})
	require.Eventually(t, func() bool { return len(store.Pending()) == 0 }, 5*time.Second, 5*time.Millisecond)
	assert.Equal(t, want, pub.rec.ids())
	assert.Equal(t, int64(3), relay.Stats().Failures)
}

func TestRelayRepublishesAfterTheLeaseWhenABatchIsGivenUp(t *testing.T) {
	store := actorstest.NewStore()
	want := fill(t, store, 5)
	pub := &flaky{}
	pub.failures.Store(1_000_000) // down for good, then back
	runRelay(t, messaging.RelayConfig{
		Outbox: store, Publisher: pub, Lease: 100 * time.Millisecond, DeleteWithin: 10 * time.Millisecond,
		RetryBackoff: 10 * time.Millisecond, MaxBackoff: 20 * time.Millisecond, PollInterval: 10 * time.Millisecond,
	})
	require.Eventually(t, func() bool { return pub.failures.Load() < 1_000_000-5 }, 5*time.Second, 5*time.Millisecond)
	pub.failures.Store(0) // the broker is back
	require.Eventually(t, func() bool { return len(store.Pending()) == 0 }, 5*time.Second, 5*time.Millisecond)
	assert.Equal(t, want, pub.rec.ids())
}

func TestRelayFlushDrainsTheOutbox(t *testing.T) {
	store := actorstest.NewStore()
	want := fill(t, store, 120)
	pub := &flaky{}
	relay, err := messaging.NewRelay(messaging.RelayConfig{Outbox: store, Publisher: pub, Logger: quiet, BatchSize: 50})
	require.NoError(t, err)
	require.NoError(t, relay.Flush(context.Background()))
	assert.Empty(t, store.Pending())
	assert.Equal(t, want, pub.rec.ids())
}

func TestRelayEndToEndThroughTheBus(t *testing.T) {
	store := actorstest.NewStore()
	want := fill(t, store, 20)
	bus := messaging.NewBus(4)
	var r recorder
	bus.Subscribe("events", r.handle)
	runRelay(t, messaging.RelayConfig{Outbox: store, Publisher: bus})
	require.Eventually(t, func() bool { return len(store.Pending()) == 0 }, 5*time.Second, 5*time.Millisecond)
	assert.Equal(t, want, r.ids())
}

// gate is a Publisher that blocks until released.
type gate struct {
	entered chan struct{}
	release chan struct{}
	rec     recorder
}

func (g *gate) Publish(ctx context.Context, msgs []*registrationv1.Envelope) error {
	g.entered <- struct{}{}
	<-g.release
	if err := ctx.Err(); err != nil {
		return err
	}
	for _, m := range msgs {
		_ = g.rec.handle(ctx, m)
	}
	return nil
}

// publishingBatch runs a relay over three messages until its publisher
// holds them (one batch), then cancels its Run: a shutdown mid-batch. It
// returns what Run returns, once it does.
func publishingBatch(t *testing.T) (store *actorstest.Store, want []string, pub *gate, relay *messaging.Relay, ran chan error) {
	t.Helper()
	store = actorstest.NewStore()
	want = fill(t, store, 3)
	pub = &gate{entered: make(chan struct{}, 1), release: make(chan struct{})}
	relay, err := messaging.NewRelay(messaging.RelayConfig{Outbox: store, Publisher: pub, Logger: quiet})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	ran = make(chan error, 1)
	go func() { ran <- relay.Run(ctx) }()
	<-pub.entered // a batch is being published
	cancel()      // shutdown begins
	return store, want, pub, relay, ran
}

func TestRelayStoppedMidBatchFinishesTheBatch(t *testing.T) {
	store, want, pub, _, done := publishingBatch(t)
	close(pub.release)
	require.NoError(t, <-done)
	assert.Equal(t, want, pub.rec.ids(), "the claimed batch must be delivered, not left leased")
	assert.Empty(t, store.Pending(), "and deleted")
}

// At shutdown Flush runs while Run may still be publishing a batch it
// claimed; Flush sees nothing claimable (the batch is leased) and must still
// not return before that batch is through, or the binary closes the mail
// sender under it and exits with answered registrations' emails unsent.
func TestRelayFlushWaitsForTheBatchRunIsPublishing(t *testing.T) {
	store, want, pub, relay, ran := publishingBatch(t) // Run holds the whole outbox in one batch
	flushed := make(chan error, 1)
	go func() { flushed <- relay.Flush(context.Background()) }()
	select {
	case err := <-flushed:
		t.Fatalf("Flush returned (%v) while a batch was still being published", err)
	case <-time.After(50 * time.Millisecond): // a Flush that does not wait returns at once
	}
	close(pub.release)
	require.NoError(t, <-flushed)
	require.NoError(t, <-ran)
	assert.Equal(t, want, pub.rec.ids())
	assert.Empty(t, store.Pending())
}

func TestRelayReleasesABatchItGivesUp(t *testing.T) {
	store := actorstest.NewStore()
	fill(t, store, 3)
	pub := &flaky{}
	pub.failures.Store(1_000_000)
	relay, err := messaging.NewRelay(messaging.RelayConfig{Outbox: store, Publisher: pub, Logger: quiet,
		Lease: time.Hour, RetryBackoff: time.Millisecond, MaxBackoff: time.Millisecond})
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	require.Error(t, relay.Flush(ctx))
	claimed, err := store.Claim(context.Background(), nil, 10, time.Minute)
	require.NoError(t, err)
	assert.Len(t, claimed, 3, "the given-up batch must not wait out its hour-long lease")
}
