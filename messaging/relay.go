package messaging

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	registrationv1 "github.com/acme/registrar/protos/registration/v1"
)

// RelayConfig configures a Relay. Outbox, Publisher and Logger are required.
type RelayConfig struct {
	Outbox    Outbox
	Publisher Publisher
	Logger    *slog.Logger
	// BatchSize is the most messages claimed at once; default 100.
	BatchSize int
	// Lease hides claimed messages from other relays; default 10s. A batch
	// that cannot be published within half of it is given up, to be claimed
	// again (by this relay or another) when the lease ends; a relay that
	// crashed holding a batch delays it by at most the lease.
	Lease time.Duration
	// PollInterval is how often the outbox is checked without a
	// notification (another process may have written it); default 1s.
	PollInterval time.Duration
	// RetryBackoff is the first pause after a failed publish, doubled up to
	// MaxBackoff; defaults 100ms and 2s.
	RetryBackoff, MaxBackoff time.Duration
	// DeleteWithin is the longest a published batch waits to be deleted by
	// the next claim (one round trip and one transaction for both, where
	// under load there were two); when nothing is claimed sooner, a claim is
	// made for it. Its messages stay leased meanwhile, so no relay
	// publishes them again unless this one dies first. Default 100ms.
	DeleteWithin time.Duration
}

// Relay publishes the outbox. Run it in one goroutine; several relays (in
// several processes) may share an outbox whose Claim is atomic.
type Relay struct {
	cfg RelayConfig
	// batch is held while a batch is claimed and seen through, so that
	// Flush at shutdown waits for the one Run may still be publishing: it
	// is leased, so Flush alone would find nothing and return under it.
	batch sync.Mutex
	// delivered are the ids of the last published batch, deleted by the
	// next claim; guarded by batch.
	delivered []string
	stats     struct{ published, failures atomic.Int64 }
}

// NewRelay validates cfg and applies its defaults.
func NewRelay(cfg RelayConfig) (*Relay, error) {
	if cfg.Outbox == nil || cfg.Publisher == nil || cfg.Logger == nil {
		return nil, errors.New("messaging: relay needs an Outbox, a Publisher and a Logger")
	}
	if cfg.BatchSize <= 0 {
		cfg.BatchSize = 100
	}
	if cfg.Lease <= 0 {
		cfg.Lease = 10 * time.Second
	}
	if cfg.PollInterval <= 0 {
		cfg.PollInterval = time.Second
	}
	if cfg.RetryBackoff <= 0 {
		cfg.RetryBackoff = 100 * time.Millisecond
	}
	if cfg.MaxBackoff <= 0 {
		cfg.MaxBackoff = 2 * time.Second
	}
	if cfg.DeleteWithin <= 0 {
		cfg.DeleteWithin = 100 * time.Millisecond
	}
	if cfg.DeleteWithin >= cfg.Lease/2 {
		// Past the lease, another relay would publish the batch again.
		return nil, fmt.Errorf("messaging: DeleteWithin (%s) must be under half the Lease (%s)", cfg.DeleteWithin, cfg.Lease)
	}
	cfg.Logger = cfg.Logger.With("component", "relay")
	return &Relay{cfg: cfg}, nil
}

// Run relays until ctx is done; it returns nil then.
func (r *Relay) Run(ctx context.Context) error {
	defer r.deleteDelivered(ctx)
	backoff := r.cfg.RetryBackoff
	for {
		n, err := r.relayBatch(ctx)
		if ctx.Err() != nil {
			return nil
		}
		wait := r.cfg.PollInterval
		switch {
		case err != nil:
			r.cfg.Logger.Warn("relay outbox", "error", err, "retry_in", backoff)
			wait, backoff = backoff, min(backoff*2, r.cfg.MaxBackoff)
		case n == r.cfg.BatchSize:
			backoff = r.cfg.RetryBackoff
			continue // more are waiting
		default:
			backoff = r.cfg.RetryBackoff
			if r.deliveredPending() {
				wait = min(wait, r.cfg.DeleteWithin)
			}
		}
		timer := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			timer.Stop()
			return nil
		case <-r.cfg.Outbox.Notify():
		case <-timer.C:
		}
		timer.Stop()
	}
}

// deleteDelivered deletes the last published batch when Run returns, so
// that without a Flush after it the batch neither waits out its lease nor
// is published again.
func (r *Relay) deleteDelivered(ctx context.Context) {
	r.batch.Lock()
	defer r.batch.Unlock()
	if len(r.delivered) == 0 {
		return
	}
	work, cancel := context.WithTimeout(context.WithoutCancel(ctx), r.cfg.Lease/2)
	defer cancel()
	if _, err := r.cfg.Outbox.Claim(work, r.delivered, 0, r.cfg.Lease); err != nil {
		r.cfg.Logger.Warn("delete published messages; they are published again after their lease", "messages", len(r.delivered), "error", err)
		return
	}
	r.delivered = nil
}

// deliveredPending reports whether a published batch waits to be deleted.
func (r *Relay) deliveredPending() bool {
	r.batch.Lock()
	defer r.batch.Unlock()
	return len(r.delivered) > 0
}

// Flush relays until the outbox has nothing claimable left or ctx is done,
// and deletes what it published. Used at shutdown, after the producers
// have stopped.
func (r *Relay) Flush(ctx context.Context) error {
	defer r.deleteDelivered(ctx) // its last batch, should ctx end under it
	for {
		n, err := r.relayBatch(ctx)
		if err != nil {
			return err
		}
		if n == 0 {
			return nil
		}
	}
}

// relayBatch deletes the batch published before, claims the next one and
// publishes it (retrying for up to half the lease), leaving it for the next
// call to delete. It returns how many messages it published. Once a
// batch is claimed it is seen through even if ctx ends (shutdown): left
// half-done, its messages would stay leased and miss the final flush.
func (r *Relay) relayBatch(ctx context.Context) (int, error) {
	r.batch.Lock()
	defer r.batch.Unlock()
	batch, err := r.cfg.Outbox.Claim(ctx, r.delivered, r.cfg.BatchSize, r.cfg.Lease)
	if err != nil {
		// Published and not yet deleted: kept for the next claim; should
		// this relay die first, they are published again after their
		// lease, and consumers deduplicate.
		return 0, fmt.Errorf("claim: %w", err)
	}
	r.delivered = nil
	if len(batch) == 0 {
		return 0, nil
	}
	work, cancel := context.WithTimeout(context.WithoutCancel(ctx), r.cfg.Lease/2)
	defer cancel()
	spans := publishSpans(batch)
	defer func() { endSpans(spans, err) }()
	backoff := r.cfg.RetryBackoff
	for {
		err = r.cfg.Publisher.Publish(work, batch)
		if err == nil {
			break
		}
		r.stats.failures.Add(1)
		deadline, _ := work.Deadline()
		if ctx.Err() != nil || time.Now().Add(backoff).After(deadline) {
			return 0, r.giveUp(batch, err)
		}
		r.cfg.Logger.Warn("publish failed, retrying", "messages", len(batch), "error", err, "retry_in", backoff)
		select {
		case <-ctx.Done():
			return 0, r.giveUp(batch, err)
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, r.cfg.MaxBackoff)
	}
	r.delivered = ids(batch)
	r.stats.published.Add(int64(len(batch)))
	return len(batch), nil
}

// giveUp releases a batch that could not be published, so the next attempt
// (this relay's or another's) takes it at once instead of waiting out the
// lease.
func (r *Relay) giveUp(batch []*registrationv1.Envelope, cause error) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := r.cfg.Outbox.Release(ctx, ids(batch)); err != nil {
		r.cfg.Logger.Warn("release unpublished messages; they wait for their lease", "error", err)
	}
	return fmt.Errorf("publish %d messages: %w", len(batch), cause)
}

func ids(msgs []*registrationv1.Envelope) []string {
	out := make([]string, len(msgs))
	for i, m := range msgs {
		out[i] = m.GetId()
	}
	return out
}

// RelayStats are live figures of a Relay, for metrics.
type RelayStats struct {
	Published int64 // messages published since start
	Failures  int64 // failed publish attempts since start
}

// Stats returns live figures.
func (r *Relay) Stats() RelayStats {
	return RelayStats{Published: r.stats.published.Load(), Failures: r.stats.failures.Load()}
}
