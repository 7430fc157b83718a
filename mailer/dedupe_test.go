package mailer_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/acme/registrar/mailer"
	"github.com/acme/registrar/mailer/dedupetest"
)

func TestMemoryDeduperContract(t *testing.T) {
	dedupetest.Run(t, func(*testing.T) mailer.Deduper { return mailer.NewMemory() })
}

func TestMemoryForgetsExpiredEntriesWhenQuiet(t *testing.T) {
	m := mailer.NewMemory()
	require.NoError(t, m.Remember(context.Background(), "m-1", time.Now().Add(-time.Second)))
	require.NoError(t, m.Remember(context.Background(), "m-2", time.Now().Add(time.Hour)))
	m.PruneNow()
	assert.Equal(t, 1, m.Len(), "the expired entry is gone without another call")
}
