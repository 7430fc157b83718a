package gateway_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/acme/registrar/gateway"
	"github.com/acme/registrar/gateway/limittest"
)

func TestRollingLimiterContract(t *testing.T) {
	limittest.Run(t, func(_ *testing.T, limit int, window time.Duration) gateway.RateLimiter {
		return gateway.NewRollingLimiter(limit, window)
	})
}

func TestRollingLimiterOnAClock(t *testing.T) {
	ctx := context.Background()
	t0 := time.Date(2026, 11, 23, 12, 0, 59, 0, time.UTC) // a second before a minute boundary
	// setup returns a limiter of 3 per minute that allowed "a" at t0, t0+10ms
	// and t0+20ms, and the hand of its clock.
	setup := func(t *testing.T) (func(string) (bool, time.Duration), *time.Time, *gateway.RollingLimiter) {
		now := t0
		l := gateway.NewRollingLimiterAt(3, time.Minute, func() time.Time { return now })
		allow := func(key string) (bool, time.Duration) {
			ok, wait, err := l.Allow(ctx, key)
			require.NoError(t, err)
			return ok, wait
		}
		for i := range 3 {
			now = t0.Add(time.Duration(i) * 10 * time.Millisecond)
			ok, _ := allow("a")
			require.True(t, ok, "request %d", i)
		}
		return allow, &now, l
	}

	t.Run("the window rolls: a boundary of the clock gives nothing back", func(t *testing.T) {
		allow, now, _ := setup(t)
		*now = t0.Add(2 * time.Second) // past 12:01:00
		ok, wait := allow("a")
		assert.False(t, ok)
		assert.Equal(t, 58*time.Second, wait, "until the first request leaves the window")
	})

	t.Run("each request leaves the window exactly one window after it", func(t *testing.T) {
		allow, now, _ := setup(t)
		*now = t0.Add(time.Minute - time.Millisecond)
		ok, _ := allow("a")
		assert.False(t, ok, "1 ms before the first leaves")
		*now = t0.Add(time.Minute)
		ok, _ = allow("a")
		assert.True(t, ok, "the first has left")
		ok, wait := allow("a")
		assert.False(t, ok)
		assert.Equal(t, 10*time.Millisecond, wait, "the second leaves 10 ms later")
	})

	t.Run("refused requests do not push the opening away", func(t *testing.T) {
		allow, now, _ := setup(t)
		for i := range 50 {
			*now = t0.Add(time.Second + time.Duration(i)*time.Second)
			ok, _ := allow("a")
			require.False(t, ok)
		}
		*now = t0.Add(time.Minute)
		ok, _ := allow("a")
		assert.True(t, ok)
	})

	t.Run("clients idle for a window are forgotten", func(t *testing.T) {
		allow, now, l := setup(t)
		ok, _ := allow("b")
		require.True(t, ok)
		require.Equal(t, 2, l.Keys())
		*now = now.Add(3 * time.Minute)
		ok, _ = allow("c")
		require.True(t, ok)
		assert.Equal(t, 1, l.Keys(), "a and b have no request left in the window")
	})

	t.Run("the forgetting runs once a window, from the window's edge on", func(t *testing.T) {
		now := t0
		l := gateway.NewRollingLimiterAt(3, time.Minute, func() time.Time { return now })
		for _, k := range []string{"a", "b"} { // the first Allow sweeps: the next sweep is due at t0+1m
			ok, _, err := l.Allow(ctx, k)
			require.NoError(t, err)
			require.True(t, ok)
		}
		now = t0.Add(time.Minute - time.Nanosecond)
		_, _, err := l.Allow(ctx, "c")
		require.NoError(t, err)
		now = t0.Add(time.Minute) // a and b have just left the window, c has not
		_, _, err = l.Allow(ctx, "d")
		require.NoError(t, err)
		assert.Equal(t, 2, l.Keys(), "swept exactly one window after the last sweep: c and d are left")
	})

	t.Run("a limit below one is one", func(t *testing.T) {
		l := gateway.NewRollingLimiterAt(0, time.Minute, time.Now)
		ok, _, err := l.Allow(ctx, "x")
		require.NoError(t, err)
		assert.True(t, ok)
		ok, _, err = l.Allow(ctx, "x")
		require.NoError(t, err)
		assert.False(t, ok)
	})
}
