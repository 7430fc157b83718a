package persistence

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/acme/registrar/persistence/migrations"
)

// MailDeliveries is the mailer's durable memory of sent emails (its
// Deduper), shared by every mailer instance.
//
// A sent email is written with the next lookup, in its round trip and
// transaction (one statement batch), or within rememberWithin when no
// lookup comes: under load the mailer makes one round trip per email
// instead of two. Until then this instance answers for it from memory; a
// crash in that window makes a redelivery of those emails send them again,
// which the window of a crash between the SMTP accept and the write had
// allowed already, only shorter.
type MailDeliveries struct {
	pool      *pgxpool.Pool
	log       *slog.Logger
	lastPrune atomic.Int64
	mu        sync.Mutex
	pending   map[string]time.Time // sent, not yet written
	flush     *time.Timer          // armed while pending holds entries
}

// rememberWithin bounds how long a sent email waits to be written.
const rememberWithin = 100 * time.Millisecond

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
	return &MailDeliveries{pool: pool, log: logger.With("component", "mail deliveries"), pending: map[string]time.Time{}}, nil
}

// Seen reports whether the message was sent and is still remembered. It
// writes the sent emails waiting to be, in the same round trip.
func (m *MailDeliveries) Seen(ctx context.Context, id string) (bool, error) {
	pending := m.take()
	if until, ok := pending[id]; ok && time.Now().Before(until) {
		m.putBack(pending)
		return true, nil
	}
	batch := &pgx.Batch{}
	queueRemember(batch, pending)
	batch.Queue(`SELECT EXISTS (SELECT 1 FROM mail_deliveries WHERE message_id = $1 AND keep_until > now())`, id)
	results := m.pool.SendBatch(ctx, batch)
	var err error
	if len(pending) > 0 {
		_, err = results.Exec()
	}
	var seen bool
	if err == nil {
		err = results.QueryRow().Scan(&seen)
	}
	if cerr := results.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		m.putBack(pending) // one implicit transaction: none of it was written
		return false, fmt.Errorf("postgres: mail deliveries: %w", err)
	}
	return seen, nil
}

// Remember records a sent message until the given time: with the next
// lookup, or within rememberWithin.
func (m *MailDeliveries) Remember(_ context.Context, id string, until time.Time) error {
	m.putBack(map[string]time.Time{id: until})
	return nil
}

// take empties pending and returns what it held.
func (m *MailDeliveries) take() map[string]time.Time {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.pending) == 0 {
		return nil
	}
	taken := m.pending
	m.pending = map[string]time.Time{}
	return taken
}

// putBack adds entries to pending, keeping the later time of an id, and
// arms the flush.
func (m *MailDeliveries) putBack(entries map[string]time.Time) {
	if len(entries) == 0 {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for id, until := range entries {
		if until.After(m.pending[id]) {
			m.pending[id] = until
		}
	}
	if m.flush == nil {
		m.flush = time.AfterFunc(rememberWithin, func() {
			m.mu.Lock()
			m.flush = nil
			m.mu.Unlock()
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if err := m.write(ctx); err != nil {
				m.log.Warn("could not record sent emails; a redelivery would send them twice", "error", err)
			}
		})
	}
}

// write writes what is pending, and prunes the table once a minute.
func (m *MailDeliveries) write(ctx context.Context) error {
	pending := m.take()
	if len(pending) > 0 {
		batch := &pgx.Batch{}
		queueRemember(batch, pending)
		if err := m.pool.SendBatch(ctx, batch).Close(); err != nil {
			return fmt.Errorf("postgres: mail deliveries: %w", err)
		}
	}
	if now := time.Now().Unix(); now-m.lastPrune.Load() >= 60 {
		m.lastPrune.Store(now)
		_, _ = m.pool.Exec(ctx, `DELETE FROM mail_deliveries WHERE keep_until < now() - interval '1 hour'`)
	}
	return nil
}

// queueRemember queues the write of entries, if any.
func queueRemember(batch *pgx.Batch, entries map[string]time.Time) {
	if len(entries) == 0 {
		return
	}
	ids := slices.Collect(maps.Keys(entries))
	untils := make([]time.Time, len(ids))
	for i, id := range ids {
		untils[i] = entries[id]
	}
	batch.Queue(`INSERT INTO mail_deliveries (message_id, keep_until) SELECT * FROM unnest($1::text[], $2::timestamptz[])
		ON CONFLICT (message_id) DO UPDATE SET keep_until = GREATEST(mail_deliveries.keep_until, EXCLUDED.keep_until)`, ids, untils)
}

// Ping checks that the database answers.
func (m *MailDeliveries) Ping(ctx context.Context) error {
	if err := m.pool.Ping(ctx); err != nil {
		return fmt.Errorf("postgres: ping: %w", err)
	}
	return nil
}

// Close writes what is pending and closes the pool.
func (m *MailDeliveries) Close() {
	m.mu.Lock()
	if m.flush != nil {
		m.flush.Stop()
		m.flush = nil
	}
	m.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := m.write(ctx); err != nil {
		m.log.Warn("could not record sent emails; a redelivery would send them twice", "error", err)
	}
	m.pool.Close()
}
