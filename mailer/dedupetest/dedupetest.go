// Package dedupetest is the contract suite of mailer.Deduper: the
// in-process Memory and the PostgreSQL table both run it.
package dedupetest

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/acme/registrar/mailer"
)

// Run runs the suite; open returns an empty deduper.
func Run(t *testing.T, open func(t *testing.T) mailer.Deduper) {
	ctx := context.Background()

	t.Run("a remembered message is seen, others are not", func(t *testing.T) {
		d := open(t)
		seen, err := d.Seen(ctx, "m-1")
		require.NoError(t, err)
		assert.False(t, seen)
		require.NoError(t, d.Remember(ctx, "m-1", time.Now().Add(time.Minute)))
		seen, err = d.Seen(ctx, "m-1")
		require.NoError(t, err)
		assert.True(t, seen)
		seen, err = d.Seen(ctx, "m-2")
		require.NoError(t, err)
		assert.False(t, seen)
	})

	t.Run("a message is forgotten at its time", func(t *testing.T) {
		d := open(t)
		require.NoError(t, d.Remember(ctx, "m-old", time.Now().Add(-time.Second)))
		seen, err := d.Seen(ctx, "m-old")
		require.NoError(t, err)
		assert.False(t, seen)
	})

	t.Run("remembering twice keeps the later time", func(t *testing.T) {
		d := open(t)
		require.NoError(t, d.Remember(ctx, "m-3", time.Now().Add(time.Minute)))
		require.NoError(t, d.Remember(ctx, "m-3", time.Now().Add(-time.Minute)))
		seen, err := d.Seen(ctx, "m-3")
		require.NoError(t, err)
		assert.True(t, seen)
	})
}
