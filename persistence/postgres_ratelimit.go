package persistence

import (
	"context"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// RateLimiter counts requests per key in a rolling window, in PostgreSQL:
// one call of rate_limit_hit per request (a sliding log of the allowed
// requests under the key's row lock), so every registrar instance sees the
// same budget. It implements the gateway's RateLimiter, with the rule of
// the in-process gateway.RollingLimiter.
type RateLimiter struct {
	pool      *pgxpool.Pool
	log       *slog.Logger
	limit     int
	window    time.Duration
	lastPrune atomic.Int64 // unix seconds
}

// RateLimiter returns a limiter of limit (at least 1) requests per rolling
// window (at least a second) stored beside the registrations.
func (p *Postgres) RateLimiter(limit int, window time.Duration) *RateLimiter {
	return &RateLimiter{pool: p.pool, log: p.log, limit: max(limit, 1), window: max(window, time.Second)}
}

// Allow counts one request for key.
func (l *RateLimiter) Allow(ctx context.Context, key string) (bool, time.Duration, error) {
	var (
		allowed bool
		wait    time.Duration
	)
	err := l.pool.QueryRow(ctx, `SELECT allowed, retry_after FROM rate_limit_hit($1, $2, $3)`,
		key, l.limit, l.window).Scan(&allowed, &wait)
	if err != nil {
		return false, 0, fmt.Errorf("postgres: rate limit: %w", err)
	}
	l.prune()
	return allowed, wait, nil
}

// prune drops, in the background, the rows of keys with no request left in
// the window, at most once per window per instance.
func (l *RateLimiter) prune() {
	now := time.Now().Unix()
	last := l.lastPrune.Load()
	if now-last < int64(l.window.Seconds()) || !l.lastPrune.CompareAndSwap(last, now) {
		return
	}
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if _, err := l.pool.Exec(ctx, `DELETE FROM rate_limits WHERE expires_at < clock_timestamp()`); err != nil {
			l.log.Warn("prune the rate limits", "error", err)
		}
	}()
}
