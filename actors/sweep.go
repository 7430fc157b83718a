package actors

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// expirySweep finds the codes that expired while no actor was there to note
// it (its member died or stopped with the timer armed) and sends their
// actors an ExpireCode command, wherever the actors live now. Without it,
// VerificationCodeExpired would wait for the user's next request.
type expirySweep struct {
	cancel context.CancelFunc
	done   sync.WaitGroup
}

// sweepBatch is how many expired codes one claim takes.
const sweepBatch = 100

func startExpirySweep(r *Registry, src ExpiredCodes, every time.Duration, logger *slog.Logger) *expirySweep {
	ctx, cancel := context.WithCancel(context.Background())
	s := &expirySweep{cancel: cancel}
	if src == nil {
		return s
	}
	s.done.Go(func() {
		for {
			s.once(ctx, r, src, logger)
			select {
			case <-ctx.Done():
				return
			case <-time.After(every):
			}
		}
	})
	return s
}

// once sweeps until no claimable code is left.
func (s *expirySweep) once(ctx context.Context, r *Registry, src ExpiredCodes, logger *slog.Logger) {
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

func (s *expirySweep) stop() {
	s.cancel()
	s.done.Wait()
}
