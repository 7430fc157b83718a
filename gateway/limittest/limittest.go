// Package limittest is the contract suite of gateway.RateLimiter: the
// in-process WindowLimiter and the PostgreSQL limiter both run it.
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
		// A window may turn over during the burst, never more than once.
		assert.GreaterOrEqual(t, allowed.Load(), int64(20))
		assert.LessOrEqual(t, allowed.Load(), int64(40))
	})

	t.Run("a new window brings a new budget", func(t *testing.T) {
		l := open(t, 1, time.Second)
		ok, _, err := l.Allow(ctx, "10.1.1.1")
		require.NoError(t, err)
		require.True(t, ok)
		require.Eventually(t, func() bool {
			ok, _, err := l.Allow(ctx, "10.1.1.1")
			return err == nil && ok
		}, 5*time.Second, 50*time.Millisecond)
	})
}
