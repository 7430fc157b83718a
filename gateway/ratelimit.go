package gateway

import (
	"context"
	"sync"
	"time"
)

// WindowLimiter is the in-process RateLimiter: at most Limit requests per key
// in each window, windows aligned to the clock (each calendar minute for the
// default window). Memory holds the keys of one window only.
type WindowLimiter struct {
	limit  int
	window time.Duration
	now    func() time.Time

	mu     sync.Mutex
	start  time.Time
	counts map[string]int
}

// NewWindowLimiter returns a limiter of limit requests per window.
func NewWindowLimiter(limit int, window time.Duration) *WindowLimiter {
	return &WindowLimiter{limit: limit, window: window, now: time.Now, counts: map[string]int{}}
}

// Allow implements RateLimiter.
func (l *WindowLimiter) Allow(_ context.Context, key string) (bool, time.Duration, error) {
	now := l.now()
	start := now.Truncate(l.window)
	l.mu.Lock()
	defer l.mu.Unlock()
	if !start.Equal(l.start) {
		l.start, l.counts = start, map[string]int{}
	}
	l.counts[key]++
	if l.counts[key] > l.limit {
		return false, start.Add(l.window).Sub(now), nil
	}
	return true, 0, nil
}
