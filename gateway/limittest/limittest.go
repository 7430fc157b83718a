// Package limittest is the contract suite of gateway.RateLimiter: the
// in-process RollingLimiter and the PostgreSQL limiter both run it. The
// rule: at most limit allowed requests per key in any window of the given
// length, wherever the window starts.
package limittest

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/acme/registrar/gateway"
)

// Run runs the suite; open returns an empty limiter of limit per window.
func Run(t *testing.T, open func(t *testing.T, limit int, window time.Duration) gateway.RateLimiter) {
	ctx := context.Background()

	t.Run("the limit is allowed, the next request is not, with a wait within the window", func(t *testing.T) {
		l := open(t, 3, time.Minute)
		for i := range 3 {
			ok, _, err := l.Allow(ctx, "10.0.0.1")
			require.NoError(t, err)
			require.True(t, ok, "request %d", i)
		}
		ok, wait, err := l.Allow(ctx, "10.0.0.1")
		require.NoError(t, err)
		assert.False(t, ok)
		assert.Positive(t, wait)
		assert.LessOrEqual(t, wait, time.Minute)
	})

	t.Run("keys have budgets of their own", func(t *testing.T) {
		l := open(t, 1, time.Minute)
		for _, key := range []string{"10.0.0.1", "10.0.0.2", "2001:db8::1"} {
			ok, _, err := l.Allow(ctx, key)
			require.NoError(t, err)
			assert.True(t, ok, key)
		}
	})

	t.Run("concurrent requests of one key are counted exactly", func(t *testing.T) {
		l := open(t, 20, time.Minute)
		var allowed atomic.Int64
		var wg sync.WaitGroup
		for range 60 {
			wg.Go(func() {
				ok, _, err := l.Allow(ctx, "10.9.9.9")
				assert.NoError(t, err)
				if ok {
					allowed.Add(1)
				}
			})
		}
		wg.Wait()
		assert.Equal(t, int64(20), allowed.Load())
	})

	t.Run("a burst across a clock boundary is still one budget", func(t *testing.T) {
		// A limiter counting per calendar window lets limit requests through
		// just before a boundary and limit more just after it. The burst
		// starts half a window before a boundary of the clock and lasts
		// 0.8 windows: any aligned window scheme lets 2*limit through.
		const limit, window = 5, time.Second
		l := open(t, limit, window)
		now := time.Now()
		start := now.Truncate(window).Add(window / 2)
		if start.Before(now) {
			start = start.Add(window)
		}
		time.Sleep(time.Until(start))
		allowed := 0
		for time.Since(start) < 8*window/10 {
			ok, _, err := l.Allow(ctx, "10.5.5.5")
			require.NoError(t, err)
			if ok {
				allowed++
			}
		}
		assert.Equal(t, limit, allowed, "allowed in 0.8 of a window across a boundary")
	})

	t.Run("a request leaves the budget one window after it was allowed, not before", func(t *testing.T) {
		const window = time.Second
		l := open(t, 1, window)
		ok, _, err := l.Allow(ctx, "10.1.1.1")
		require.NoError(t, err)
		require.True(t, ok)
		allowedBy := time.Now() // the server counted it before this
		var reopened time.Time
		for reopened.IsZero() {
			sent := time.Now()
			ok, wait, err := l.Allow(ctx, "10.1.1.1")
			require.NoError(t, err)
			if ok {
				reopened = sent // the server counted it after this
				break
			}
			require.Positive(t, wait)
			require.LessOrEqual(t, wait, window)
			require.Less(t, time.Since(allowedBy), 5*window, "the budget must come back")
			time.Sleep(20 * time.Millisecond)
		}
		// Clocks of client and server differ by the round trips only.
		assert.Greater(t, reopened.Sub(allowedBy), window-100*time.Millisecond, "not before the window")
	})
}
