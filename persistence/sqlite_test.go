package persistence_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/acme/registrar/actors"
	"github.com/acme/registrar/actors/storetest"
	"github.com/acme/registrar/internal/testkit"
	"github.com/acme/registrar/messaging"
	"github.com/acme/registrar/messaging/outboxtest"
	"github.com/acme/registrar/persistence"
	registrationv1 "github.com/acme/registrar/protos/registration/v1"
)

func openSQLite(tb testing.TB, path string) *persistence.SQLite {
	tb.Helper()
	s, err := persistence.OpenSQLite(context.Background(), persistence.SQLiteConfig{Path: path})
	require.NoError(tb, err)
	tb.Cleanup(func() { _ = s.Close() })
	return s
}

func TestSQLiteStoreContract(t *testing.T) {
	storetest.Run(t, func(t *testing.T) storetest.Subject {
		return openSQLite(t, filepath.Join(t.TempDir(), "registrar.db"))
	})
}

func TestSQLiteOutboxContract(t *testing.T) {
	outboxtest.Run(t, func(t *testing.T) (messaging.Outbox, outboxtest.Add) {
		s := openSQLite(t, filepath.Join(t.TempDir(), "registrar.db"))
		return s, storetest.OutboxAdd(s)
	})
}

func TestSQLiteReopensAnExistingDatabase(t *testing.T) {
	path := filepath.Join(t.TempDir(), "nested", "dir", "registrar.db")
	first := openSQLite(t, path)
	require.NoError(t, first.Close())
	second := openSQLite(t, path)
	require.NoError(t, second.Ping(context.Background()))
}

func TestSQLiteRefusesAnUnknownSynchronousMode(t *testing.T) {
	_, err := persistence.OpenSQLite(context.Background(), persistence.SQLiteConfig{
		Path: filepath.Join(t.TempDir(), "x.db"), Synchronous: "OFF",
	})
	require.Error(t, err)
}

func TestSQLiteReleasesClaimsOfAPreviousRunAtOpen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "registrar.db")
	ctx := context.Background()
	first := openSQLite(t, path)
	reg := &actors.Registration{ID: "u1", Email: "a@example.com", Status: actors.StatusPending, Version: 1}
	require.NoError(t, first.Save(ctx, reg, []*registrationv1.Envelope{{Id: "m1", Topic: "t", Key: "u1", Type: "x"}}))
	claimed, err := first.Claim(ctx, nil, 10, time.Hour)
	require.NoError(t, err)
	require.Len(t, claimed, 1)
	require.NoError(t, first.Close()) // the process dies before deleting it

	second := openSQLite(t, path)
	again, err := second.Claim(ctx, nil, 10, time.Hour)
	require.NoError(t, err)
	require.Len(t, again, 1, "the message must not wait an hour for its lease")
}

func TestOldestPendingReportsTheOutboxAge(t *testing.T) {
	ctx := context.Background()
	for name, s := range map[string]interface {
		storetest.Subject
		OldestPending(context.Context) (time.Time, error)
	}{
		"sqlite":   openSQLite(t, filepath.Join(t.TempDir(), "registrar.db")),
		"postgres": openPostgres(t, testkit.Postgres(t)),
	} {
		oldest, err := s.OldestPending(ctx)
		require.NoError(t, err, name)
		require.True(t, oldest.IsZero(), "%s: an empty outbox has no age", name)
		at := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
		reg := &actors.Registration{ID: "01900000-0000-7000-8000-0000000000a1", Email: "age@example.com", Status: actors.StatusPending, Version: 1}
		require.NoError(t, s.Save(ctx, reg, []*registrationv1.Envelope{
			{Id: "m-late", Topic: "t", Key: "k", Type: "x", Time: timestamppb.New(at.Add(time.Minute))},
			{Id: "m-early", Topic: "t", Key: "k", Type: "x", Time: timestamppb.New(at)},
		}))
		oldest, err = s.OldestPending(ctx)
		require.NoError(t, err, name)
		require.True(t, oldest.Equal(at), "%s: got %s", name, oldest)
	}
}

// TestSQLiteDeletesWhileSaving interleaves the relay's deletions and
// releases (a new number of ids prepares a new statement for Release) with
// saves: preparing must not wait for the writer's one connection while
// holding what a save's transaction needs, or both wait until their
// deadline.
func TestSQLiteDeletesWhileSaving(t *testing.T) {
	s := openSQLite(t, filepath.Join(t.TempDir(), "registrar.db"))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute) // a deadlock fails instead of hanging
	defer cancel()
	now := time.Now()
	var wg sync.WaitGroup
	errs := make(chan error, 400)
	for i := range 200 {
		wg.Go(func() {
			errs <- s.Save(ctx, benchRegistration(i, now), []*registrationv1.Envelope{benchEnvelope(i, 0)})
		})
		wg.Go(func() {
			ids := make([]string, i+1) // 200 statements of different arity
			for j := range ids {
				ids[j] = fmt.Sprintf("none-%d-%d", i, j)
			}
			_, err := s.Claim(ctx, ids, 0, time.Hour)
			errs <- errors.Join(err, s.Release(ctx, ids))
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
}
