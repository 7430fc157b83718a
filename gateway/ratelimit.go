package gateway

import (
	"context"
	"sync"
	"time"
)

// RollingLimiter is the in-process RateLimiter: at most limit requests per
// key in any window of the given length (a sliding log, the same rule as
// the PostgreSQL limiter), so a burst across a clock boundary is still one
// budget. Only allowed requests are logged: a refused one does not push
// the opening further away, and a key holds at most limit times.
type RollingLimiter struct {
	limit  int
	window time.Duration
	now    func() time.Time

	mu        sync.Mutex
	hits      map[string][]time.Time // per key, oldest first
	lastSweep time.Time
}

// NewRollingLimiter returns a limiter of limit (at least 1) requests per
// rolling window.
func NewRollingLimiter(limit int, window time.Duration) *RollingLimiter {
	return newRollingLimiter(limit, window, time.Now)
}

func newRollingLimiter(limit int, window time.Duration, now func() time.Time) *RollingLimiter {
	return &RollingLimiter{limit: max(limit, 1), window: window, now: now, hits: map[string][]time.Time{}}
}

// Allow implements RateLimiter.
func (l *RollingLimiter) Allow(_ context.Context, key string) (bool, time.Duration, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	l.sweep(now)
	hits := l.live(l.hits[key], now)
	if len(hits) >= l.limit {
		l.hits[key] = hits
		return false, hits[0].Add(l.window).Sub(now), nil
	}
	l.hits[key] = append(hits, now)
	return true, 0, nil
}

// live drops the hits that have left the window at now.
func (l *RollingLimiter) live(hits []time.Time, now time.Time) []time.Time {
	i := 0
	for i < len(hits) && !now.Before(hits[i].Add(l.window)) {
		i++
	}
	return hits[i:]
}

// sweep forgets, once per window, the keys with no hit left in it, so
// memory follows the clients of the last window only.
func (l *RollingLimiter) sweep(now time.Time) {
	if now.Sub(l.lastSweep) < l.window {
		return
	}
	l.lastSweep = now
	for k, hits := range l.hits {
		if len(l.live(hits, now)) == 0 {
			delete(l.hits, k)
		}
	}
}
