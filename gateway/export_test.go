package gateway

import "time"

// NewRollingLimiterAt is NewRollingLimiter on a given clock.
func NewRollingLimiterAt(limit int, window time.Duration, now func() time.Time) *RollingLimiter {
	return newRollingLimiter(limit, window, now)
}

// Keys is the number of clients the limiter remembers.
func (l *RollingLimiter) Keys() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.hits)
}
