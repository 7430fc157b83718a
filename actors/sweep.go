package actors

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// sweeps are the registry's two background passes over the store, each a
// claim with SKIP LOCKED and a lease so that several members can run them
// at once, each row going to one of them. Neither changes a row itself: it
// sends the row's actor a command, wherever the actor lives now, and the
// actor's rules decide on its own state.
//
//   - The expiry sweep finds the codes that expired while no actor was
//     there to note it (its member died or stopped with the timer armed).
//     Without it, VerificationCodeExpired would wait for the user's next
//     request.
//   - The purge sweep finds the pending registrations whose last code
//     expired longer ago than the retention, to delete them.
type sweeps struct {
	cancel context.CancelFunc
	done   sync.WaitGroup
}

// sweepBatch is how many rows one claim takes.
const sweepBatch = 100

// purgeInterval is how often the purge sweep runs: at least every half
// retention, so that nothing outlives its retention by more than half of
// it, and at least hourly; at most every second.
func purgeInterval(retention time.Duration) time.Duration {
	return min(max(retention/2, time.Second), time.Hour)
}

func startSweeps(r *Registry, expired ExpiredCodes, expiryEvery time.Duration, stale StaleRegistrations, retention time.Duration, logger *slog.Logger) *sweeps {
	ctx, cancel := context.WithCancel(context.Background())
	s := &sweeps{cancel: cancel}
	if expired != nil {
		s.every(ctx, expiryEvery, func(ctx context.Context) { sweepExpiries(ctx, r, expired, logger) })
	}
	if stale != nil && retention > 0 {
		s.every(ctx, purgeInterval(retention), func(ctx context.Context) { sweepStale(ctx, r, stale, retention, logger) })
	}
	return s
}

// every runs pass now and then every interval until ctx ends.
func (s *sweeps) every(ctx context.Context, interval time.Duration, pass func(context.Context)) {
	s.done.Go(func() {
		for {
			pass(ctx)
			select {
			case <-ctx.Done():
				return
			case <-time.After(interval):
			}
		}
	})
}

// sweepExpiries notes expiries until no claimable code is left.
func sweepExpiries(ctx context.Context, r *Registry, src ExpiredCodes, logger *slog.Logger) {
	for ctx.Err() == nil {
		cctx, cancel := context.WithTimeout(ctx, r.timeout)
		codes, err := src.ClaimExpired(cctx, sweepBatch, 2*r.timeout)
		cancel()
		if err != nil {
			logger.Warn("expiry sweep: claim expired codes", "error", err)
			return
		}
		for _, c := range codes {
			rctx, cancel := context.WithTimeout(ctx, r.timeout)
			switch noted, err := r.expireCode(rctx, c.Email, c.Generation); {
			case err != nil:
				logger.Warn("expiry sweep: note an expiry", "error", err) // claimed again after the lease
			case noted:
				r.stats.expirySweeps.Add(1)
			}
			cancel()
		}
		if len(codes) < sweepBatch {
			return
		}
	}
}

// sweepStale purges until no claimable registration is left.
func sweepStale(ctx context.Context, r *Registry, src StaleRegistrations, retention time.Duration, logger *slog.Logger) {
	for ctx.Err() == nil {
		cctx, cancel := context.WithTimeout(ctx, r.timeout)
		emails, err := src.ClaimStale(cctx, retention, sweepBatch, 2*r.timeout)
		cancel()
		if err != nil {
			logger.Warn("purge sweep: claim stale registrations", "error", err)
			return
		}
		for _, email := range emails {
			rctx, cancel := context.WithTimeout(ctx, r.timeout)
			if _, err := r.purge(rctx, email); err != nil {
				logger.Warn("purge sweep: purge a registration", "error", err) // claimed again after the lease
			}
			cancel()
		}
		if len(emails) < sweepBatch {
			return
		}
	}
}

func (s *sweeps) stop() {
	s.cancel()
	s.done.Wait()
}
