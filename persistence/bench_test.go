package persistence_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/acme/registrar/actors"
	"github.com/acme/registrar/internal/testkit"
	"github.com/acme/registrar/persistence"
	registrationv1 "github.com/acme/registrar/protos/registration/v1"
)

// BenchmarkSQLiteSaveNew measures the write of a new registration with the
// three outbox messages a registration produces.
func BenchmarkSQLiteSaveNew(b *testing.B) {
	for _, sync := range []string{"FULL", "NORMAL"} {
		b.Run("synchronous="+sync, func(b *testing.B) {
			s, err := persistence.OpenSQLite(context.Background(), persistence.SQLiteConfig{
				Path: filepath.Join(b.TempDir(), "bench.db"), Synchronous: sync,
			})
			require.NoError(b, err)
			defer s.Close()
			benchSaveNew(b, s)
		})
	}
}

// BenchmarkPostgresSaveNew is BenchmarkSQLiteSaveNew on PostgreSQL.
func BenchmarkPostgresSaveNew(b *testing.B) {
	benchSaveNew(b, openPostgres(b, testkit.Postgres(b)))
}

// BenchmarkPostgresLoad is BenchmarkSQLiteLoad on PostgreSQL.
func BenchmarkPostgresLoad(b *testing.B) {
	benchLoad(b, openPostgres(b, testkit.Postgres(b)))
}

// BenchmarkSQLiteLoad measures the read of one registration.
func BenchmarkSQLiteLoad(b *testing.B) {
	s, err := persistence.OpenSQLite(context.Background(), persistence.SQLiteConfig{Path: filepath.Join(b.TempDir(), "bench.db")})
	require.NoError(b, err)
	defer s.Close()
	benchLoad(b, s)
}

func benchSaveNew(b *testing.B, s actors.Store) {
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Millisecond)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		reg := benchRegistration(i, now)
		msgs := []*registrationv1.Envelope{benchEnvelope(i, 0), benchEnvelope(i, 1), benchEnvelope(i, 2)}
		if err := s.Save(ctx, reg, msgs); err != nil {
			b.Fatal(err)
		}
	}
}

func benchLoad(b *testing.B, s actors.Store) {
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Millisecond)
	const rows = 1000
	for i := range rows {
		require.NoError(b, s.Save(ctx, benchRegistration(i, now), nil))
	}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if _, err := s.Load(ctx, fmt.Sprintf("bench-%d-%d@example.com", now.UnixNano(), i%rows)); err != nil {
			b.Fatal(err)
		}
	}
}

func benchRegistration(i int, now time.Time) *actors.Registration {
	return &actors.Registration{
		ID:           fmt.Sprintf("01900000-0000-7000-8000-%012d", now.UnixNano()%1e6*1e6+int64(i)),
		Email:        fmt.Sprintf("bench-%d-%d@example.com", now.UnixNano(), i),
		PasswordHash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0c2FsdA$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g",
		Status:       actors.StatusPending,
		Generation:   1,
		Code:         actors.Code{MAC: make([]byte, 32), IssuedAt: now, ExpiresAt: now.Add(time.Minute)},
		Issues:       []time.Time{now},
		CreatedAt:    now,
		UpdatedAt:    now,
		Version:      1,
	}
}

func benchEnvelope(i, j int) *registrationv1.Envelope {
	return &registrationv1.Envelope{
		Id: fmt.Sprintf("m-%d-%d-%d", time.Now().UnixNano(), i, j), Topic: registrationv1.EventsTopic, Key: "k",
		Type: "registration.v1.UserRegistered", Time: nil, Payload: make([]byte, 80), Source: registrationv1.Source,
	}
}
