package persistence_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/acme/registrar/actors/storetest"
	"github.com/acme/registrar/persistence"
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
