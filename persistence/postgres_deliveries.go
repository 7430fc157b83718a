package persistence

import (
	"context"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/acme/registrar/persistence/migrations"
)

// MailDeliveries is the mailer's durable memory of sent emails (its
// Deduper), shared by every mailer instance.
type MailDeliveries struct {
	pool      *pgxpool.Pool
	lastPrune atomic.Int64
}

// OpenMailDeliveries connects and applies the mailer's migrations.
func OpenMailDeliveries(ctx context.Context, cfg PostgresConfig) (*MailDeliveries, error) {
	pool, err := openPool(ctx, cfg.URL, cfg.MaxConns, nil)
	if err != nil {
		return nil, err
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if err := migratePostgres(ctx, pool, migrations.PostgresMailer, "postgres_mailer", "goose_mailer_version", logger); err != nil {
		pool.Close()
		return nil, err
	}
	return &MailDeliveries{pool: pool}, nil
}

// Seen reports whether the message was sent and is still remembered.
func (m *MailDeliveries) Seen(ctx context.Context, id string) (bool, error) {
	var seen bool
	err := m.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM mail_deliveries WHERE message_id = $1 AND keep_until > now())`, id).Scan(&seen)
	if err != nil {
		return false, fmt.Errorf("postgres: mail deliveries: %w", err)
	}
	return seen, nil
}

// Remember records a sent message until the given time.
func (m *MailDeliveries) Remember(ctx context.Context, id string, until time.Time) error {
	_, err := m.pool.Exec(ctx, `INSERT INTO mail_deliveries (message_id, keep_until) VALUES ($1, $2)
		ON CONFLICT (message_id) DO UPDATE SET keep_until = GREATEST(mail_deliveries.keep_until, EXCLUDED.keep_until)`, id, until)
	if err != nil {
		return fmt.Errorf("postgres: mail deliveries: %w", err)
	}
	if now := time.Now().Unix(); now-m.lastPrune.Load() >= 60 {
		m.lastPrune.Store(now)
		_, _ = m.pool.Exec(ctx, `DELETE FROM mail_deliveries WHERE keep_until < now() - interval '1 hour'`)
	}
	return nil
}

// Ping checks that the database answers.
func (m *MailDeliveries) Ping(ctx context.Context) error {
	if err := m.pool.Ping(ctx); err != nil {
		return fmt.Errorf("postgres: ping: %w", err)
	}
	return nil
}

// Close closes the pool.
func (m *MailDeliveries) Close() { m.pool.Close() }
