package persistence

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"maps"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"

	"github.com/acme/registrar/actors"
	"github.com/acme/registrar/persistence/migrations"
	registrationv1 "github.com/acme/registrar/protos/registration/v1"
)

// Postgres is the store of the full stack: registrations and outbox in
// PostgreSQL, shared by any number of registrar instances. The versioned
// update is the fence between writers; relays claim outbox batches with
// FOR UPDATE SKIP LOCKED. A commit with messages wakes the relay of its own
// process; the others find what a process left behind when they poll.
type Postgres struct {
	pool   *pgxpool.Pool
	relay  *pgxpool.Pool // the outbox relay's, without synchronous commits
	notify chan struct{}
	log    *slog.Logger
}

// PostgresConfig configures OpenPostgres.
type PostgresConfig struct {
	// URL is a postgres:// connection string (search_path may select a
	// schema).
	URL    string
	Logger *slog.Logger
	// MaxConns bounds the pool; default 16.
	MaxConns int32
}

// openPool connects and checks that the server answers. Its errors never
// repeat the URL, which may hold a password.
func openPool(ctx context.Context, url string, maxConns int32, params map[string]string) (*pgxpool.Pool, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, errors.New("postgres: DATABASE_URL is not a valid PostgreSQL connection string")
	}
	maps.Copy(cfg.ConnConfig.RuntimeParams, params)
	if maxConns > 0 {
		cfg.MaxConns = maxConns
	} else {
		cfg.MaxConns = 16
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: connect: %w", err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("postgres: connect: %w", err)
	}
	return pool, nil
}

// migratePostgres applies a migration set under goose's session advisory
// lock, so that instances starting together migrate one at a time.
func migratePostgres(ctx context.Context, pool *pgxpool.Pool, fsys fs.FS, dir, table string, logger *slog.Logger) error {
	sub, err := subFS(fsys, dir)
	if err != nil {
		return err
	}
	locker, err := lock.NewPostgresSessionLocker()
	if err != nil {
		return fmt.Errorf("postgres: migration lock: %w", err)
	}
	db := stdlib.OpenDBFromPool(pool)
	defer func() { _ = db.Close() }()
	p, err := goose.NewProvider(goose.DialectPostgres, db, sub, goose.WithSessionLocker(locker), goose.WithTableName(table))
	if err != nil {
		return fmt.Errorf("postgres: migrations: %w", err)
	}
	results, err := p.Up(ctx)
	if err != nil {
		return fmt.Errorf("postgres: migrate: %w", err)
	}
	logMigrations(logger, "postgres", results)
	return nil
}

// OpenPostgres connects and migrates.
func OpenPostgres(ctx context.Context, cfg PostgresConfig) (*Postgres, error) {
	pool, err := openPool(ctx, cfg.URL, cfg.MaxConns, nil)
	if err != nil {
		return nil, err
	}
	if err := migratePostgres(ctx, pool, migrations.Postgres, "postgres", "goose_db_version", cfg.Logger); err != nil {
		pool.Close()
		return nil, err
	}
	// The relay's claims and deletions need not wait for their WAL to
	// reach the disk: one lost in a crash of the database means a message
	// published again, which consumers already expect (at least once, ce_id
	// deduplication). Not waiting takes two disk flushes off the way of
	// every email.
	relayPool, err := openPool(ctx, cfg.URL, 2, map[string]string{"synchronous_commit": "off"})
	if err != nil {
		pool.Close()
		return nil, err
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Postgres{
		pool:   pool,
		relay:  relayPool,
		notify: make(chan struct{}, 1),
		log:    logger.With("component", "postgres"),
	}, nil
}

// Close closes the pools.
func (p *Postgres) Close() error {
	p.pool.Close()
	p.relay.Close()
	return nil
}

// Ping checks that the database answers (readiness).
func (p *Postgres) Ping(ctx context.Context) error {
	if err := p.pool.Ping(ctx); err != nil {
		return fmt.Errorf("postgres: ping: %w", err)
	}
	return nil
}

const pgColumns = `email, id, password_hash, status, generation, code_mac, code_issued_at, code_expires_at,
	code_attempts, code_expiry_noted, code_failures, issues, created_at, activated_at, updated_at, version, password_guard`

// Load implements actors.Store.
func (p *Postgres) Load(ctx context.Context, email string) (_ *actors.Registration, err error) {
	ctx, span := startSpan(ctx, "postgresql", "load")
	defer func() { endSpan(span, err) }()
	var (
		r                                actors.Registration
		status, guard                    string
		issuedAt, expiresAt, activatedAt *time.Time
		failures, issues                 []time.Time
	)
	err = p.pool.QueryRow(ctx, `SELECT `+pgColumns+` FROM registrations WHERE email = $1`, email).Scan(
		&r.Email, &r.ID, &r.PasswordHash, &status, &r.Generation, &r.Code.MAC, &issuedAt, &expiresAt,
		&r.Code.Attempts, &r.Code.ExpiryNoted, &failures, &issues, &r.CreatedAt, &activatedAt, &r.UpdatedAt, &r.Version, &guard)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, actors.ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("postgres: load registration: %w", err)
	}
	if r.Status, err = parseStatus(status); err != nil {
		return nil, err
	}
	r.Code.IssuedAt, r.Code.ExpiresAt, r.ActivatedAt = utcOrZero(issuedAt), utcOrZero(expiresAt), utcOrZero(activatedAt)
	r.CreatedAt, r.UpdatedAt = r.CreatedAt.UTC(), r.UpdatedAt.UTC()
	r.CodeFailures, r.Issues = utcTimes(failures), utcTimes(issues)
	if r.Passwords, err = decodeGuard(guard); err != nil {
		return nil, err
	}
	return &r, nil
}

// Version implements actors.Store.
func (p *Postgres) Version(ctx context.Context, email string) (int64, error) {
	var v int64
	err := p.pool.QueryRow(ctx, `SELECT version FROM registrations WHERE email = $1`, email).Scan(&v)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("postgres: registration version: %w", err)
	}
	return v, nil
}

// ClaimExpired implements actors.ExpiredCodes, on the database's clock.
func (p *Postgres) ClaimExpired(ctx context.Context, limit int, lease time.Duration) ([]actors.ExpiredCode, error) {
	rows, err := p.pool.Query(ctx, `UPDATE registrations SET expiry_claimed_until = now() + $2 * interval '1 millisecond'
		WHERE email IN (SELECT email FROM registrations
			WHERE status = 'pending' AND NOT code_expiry_noted AND code_mac IS NOT NULL
			  AND code_expires_at <= now() AND expiry_claimed_until <= now()
			ORDER BY code_expires_at LIMIT $1 FOR UPDATE SKIP LOCKED)
		RETURNING email, generation`, limit, lease.Milliseconds())
	if err != nil {
		return nil, fmt.Errorf("postgres: claim expired codes: %w", err)
	}
	codes, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (actors.ExpiredCode, error) {
		var c actors.ExpiredCode
		err := row.Scan(&c.Email, &c.Generation)
		return c, err
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: claim expired codes: %w", err)
	}
	return codes, nil
}

// ClaimStale implements actors.StaleRegistrations, on the database's clock.
func (p *Postgres) ClaimStale(ctx context.Context, retention time.Duration, limit int, lease time.Duration) ([]string, error) {
	rows, err := p.pool.Query(ctx, `UPDATE registrations SET purge_claimed_until = now() + $3 * interval '1 millisecond'
		WHERE email IN (SELECT email FROM registrations
			WHERE status = 'pending' AND coalesce(code_expires_at, updated_at) <= now() - $1 * interval '1 millisecond'
			  AND purge_claimed_until <= now()
			ORDER BY coalesce(code_expires_at, updated_at) LIMIT $2 FOR UPDATE SKIP LOCKED)
		RETURNING email`, retention.Milliseconds(), limit, lease.Milliseconds())
	if err != nil {
		return nil, fmt.Errorf("postgres: claim stale registrations: %w", err)
	}
	emails, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("postgres: claim stale registrations: %w", err)
	}
	return emails, nil
}

// Save implements actors.Store: the row and its messages in one
// transaction, sent as one batch.
func (p *Postgres) Save(ctx context.Context, reg *actors.Registration, msgs []*registrationv1.Envelope) error {
	if reg.Version < 1 {
		return actors.ErrConflict
	}
	args := []any{reg.Email, reg.ID, reg.PasswordHash, reg.Status.String(), reg.Generation, nilIfEmpty(reg.Code.MAC),
		nullTime(reg.Code.IssuedAt), nullTime(reg.Code.ExpiresAt), reg.Code.Attempts, reg.Code.ExpiryNoted,
		nonNilTimes(reg.CodeFailures), nonNilTimes(reg.Issues), reg.CreatedAt, nullTime(reg.ActivatedAt), reg.UpdatedAt, reg.Version,
		encodeGuard(reg.Passwords)}
	batch := transaction()
	if reg.Version == 1 {
		batch.Queue(`INSERT INTO registrations (`+pgColumns+`)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17) ON CONFLICT DO NOTHING`, args...)
	} else {
		batch.Queue(`UPDATE registrations SET id = $2, password_hash = $3, status = $4, generation = $5,
			code_mac = $6, code_issued_at = $7, code_expires_at = $8, code_attempts = $9, code_expiry_noted = $10,
			code_failures = $11, issues = $12, created_at = $13, activated_at = $14, updated_at = $15, version = $16,
			password_guard = $17
			WHERE email = $1 AND version = $16 - 1`, args...)
	}
	return p.write(ctx, "save registration", batch, msgs)
}

// Purge implements actors.Store.
func (p *Postgres) Purge(ctx context.Context, reg *actors.Registration, msgs []*registrationv1.Envelope) error {
	batch := transaction()
	batch.Queue(`DELETE FROM registrations WHERE email = $1 AND version = $2`, reg.Email, reg.Version)
	batch.Queue(`DELETE FROM outbox WHERE key = $1`, reg.ID)
	return p.write(ctx, "purge registration", batch, msgs)
}

// transaction is a batch that opens a transaction, for write: BEGIN goes
// with the statements in one round trip (pgx's Begin would be one more).
func transaction() *pgx.Batch {
	b := &pgx.Batch{}
	b.BeginTx(pgx.TxOptions{})
	return b
}

// write runs batch (from transaction), then appends msgs to the outbox, in
// one transaction: one round trip for the statements, one for COMMIT. The
// batch's first statement after BEGIN changes the registration's row: when
// it changes none, the row was not at the expected version and nothing is
// written (ErrConflict).
func (p *Postgres) write(ctx context.Context, what string, batch *pgx.Batch, msgs []*registrationv1.Envelope) (err error) {
	ctx, span := startSpan(ctx, "postgresql", strings.Fields(what)[0])
	defer func() { endSpan(span, err) }()
	if len(msgs) > 0 {
		n := len(msgs)
		ids, topics, keys, types, sources := make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		parents, states := make([]string, n), make([]string, n)
		times, payloads := make([]time.Time, n), make([][]byte, n)
		for i, m := range msgs {
			ids[i], topics[i], keys[i], types[i], sources[i] = m.GetId(), m.GetTopic(), m.GetKey(), m.GetType(), m.GetSource()
			parents[i], states[i] = m.GetTraceparent(), m.GetTracestate()
			times[i] = m.GetTime().AsTime()
			payloads[i] = m.GetPayload()
			if payloads[i] == nil {
				payloads[i] = []byte{} // a message of defaults only encodes to nothing
			}
		}
		batch.Queue(`INSERT INTO outbox (id, topic, key, type, source, time, payload, traceparent, tracestate)
			SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::timestamptz[], $7::bytea[], $8::text[], $9::text[])`,
			ids, topics, keys, types, sources, times, payloads, parents, states)
	}
	// The transaction's id, to find out what became of a COMMIT whose
	// answer is lost.
	batch.Queue(`SELECT pg_current_xact_id()::text`)
	results := p.pool.SendBatch(ctx, batch)
	tx := results.Tx() // pgx's, with its commit and rollback: a no-op once committed
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
	_, err = results.Exec() // BEGIN
	var tag pgconn.CommandTag
	if err == nil {
		tag, err = results.Exec()
	}
	if err == nil && tag.RowsAffected() == 0 {
		err = actors.ErrConflict
	}
	for i := 2; err == nil && i < batch.Len()-1; i++ {
		_, err = results.Exec()
	}
	var xid string
	if err == nil {
		err = results.QueryRow().Scan(&xid)
	}
	if cerr := results.Close(); err == nil {
		err = cerr
	}
	if errors.Is(err, actors.ErrConflict) {
		return err
	}
	if err != nil {
		return fmt.Errorf("postgres: %s: %w", what, err)
	}
	if err := tx.Commit(ctx); err != nil {
		if err := p.commitOutcome(ctx, xid, err); err != nil {
			return err
		}
	}
	if len(msgs) > 0 {
		p.wake()
	}
	return nil
}

// commitGrace bounds how long past the caller's deadline Save spends
// finding out what became of a COMMIT whose answer was lost, when the
// command's context does not say (actors.CommitGrace).
const commitGrace = 250 * time.Millisecond

// commitOutcome finds out whether the transaction xid committed after its
// COMMIT failed: a deadline that struck, or a connection that broke, while
// the server was committing leaves the outcome unknown to the client, and
// the server's own record of the transaction is the only truth (a re-read
// of the row could run before the commit becomes visible). nil means it
// committed.
func (p *Postgres) commitOutcome(ctx context.Context, xid string, commitErr error) error {
	grace := actors.CommitGrace(ctx, commitGrace)
	deadline, ok := ctx.Deadline()
	if !ok || time.Until(deadline) < 0 {
		deadline = time.Now()
	}
	rctx, cancel := context.WithDeadline(context.WithoutCancel(ctx), deadline.Add(grace))
	defer cancel()
	for {
		var status *string
		err := p.pool.QueryRow(rctx, `SELECT pg_xact_status($1::xid8)`, xid).Scan(&status)
		switch {
		case err != nil:
			return fmt.Errorf("postgres: commit (outcome unknown: %w): %w", err, commitErr)
		case status != nil && *status == "committed":
			p.log.Info("a commit whose answer was lost went through", "commit_error", commitErr)
			return nil
		case status == nil || *status == "aborted":
			return fmt.Errorf("postgres: commit: %w", commitErr)
		}
		select { // in progress: the server is still committing
		case <-rctx.Done():
			return fmt.Errorf("postgres: commit (outcome unknown): %w", commitErr)
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// Claim deletes the delivered messages and leases up to limit others,
// oldest first, in one round trip and one implicit transaction (a batch
// ends in a single Sync): a failed claim keeps the delivered ones. Rows
// another relay holds are skipped, not waited for; the lease is measured on
// the database's clock.
func (p *Postgres) Claim(ctx context.Context, delivered []string, limit int, lease time.Duration) (envs []*registrationv1.Envelope, err error) {
	batch := &pgx.Batch{}
	if len(delivered) > 0 {
		batch.Queue(`DELETE FROM outbox WHERE id = ANY($1)`, delivered)
	}
	batch.Queue(`UPDATE outbox SET claimed_until = now() + $2 * interval '1 millisecond'
		WHERE seq IN (SELECT seq FROM outbox WHERE claimed_until <= now() ORDER BY seq LIMIT $1 FOR UPDATE SKIP LOCKED)
		RETURNING seq, id, topic, key, type, source, time, payload, traceparent, tracestate`, limit, lease.Milliseconds())
	results := p.relay.SendBatch(ctx, batch)
	defer func() {
		if cerr := results.Close(); err == nil && cerr != nil {
			envs, err = nil, fmt.Errorf("postgres: claim outbox: %w", cerr)
		}
	}()
	if len(delivered) > 0 {
		if _, err := results.Exec(); err != nil {
			return nil, fmt.Errorf("postgres: delete from outbox: %w", err)
		}
	}
	rows, err := results.Query()
	if err != nil {
		return nil, fmt.Errorf("postgres: claim outbox: %w", err)
	}
	defer rows.Close()
	envs, err = scanClaims(rows.Next, rows.Scan, func(t time.Time) time.Time { return t })
	if err == nil {
		err = rows.Err()
	}
	if err != nil {
		return nil, fmt.Errorf("postgres: claim outbox: %w", err)
	}
	return envs, nil
}

// Release makes claimed messages claimable again.
func (p *Postgres) Release(ctx context.Context, ids []string) error {
	if len(ids) == 0 {
		return nil
	}
	if _, err := p.relay.Exec(ctx, `UPDATE outbox SET claimed_until = '-infinity' WHERE id = ANY($1)`, ids); err != nil {
		return fmt.Errorf("postgres: release outbox claims: %w", err)
	}
	return nil
}

// OldestPending returns the time of the oldest message not yet delivered,
// or the zero time when the outbox is empty (for metrics).
func (p *Postgres) OldestPending(ctx context.Context) (time.Time, error) {
	var oldest *time.Time
	if err := p.pool.QueryRow(ctx, `SELECT min(time) FROM outbox`).Scan(&oldest); err != nil {
		return time.Time{}, fmt.Errorf("postgres: outbox age: %w", err)
	}
	return utcOrZero(oldest), nil
}

// Notify receives a value after a commit of this store that added
// messages. Not NOTIFY: every listener of a channel is woken by every
// commit, so each of n registrars would claim n times per registration
// (n-1 times for nothing). Messages of a process that died before relaying
// them are claimed by the others' relays on their next poll.
func (p *Postgres) Notify() <-chan struct{} { return p.notify }

func (p *Postgres) wake() {
	select {
	case p.notify <- struct{}{}:
	default:
	}
}

func nullTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

func utcOrZero(t *time.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return t.UTC()
}

func utcTimes(ts []time.Time) []time.Time {
	if len(ts) == 0 {
		return nil
	}
	for i := range ts {
		ts[i] = ts[i].UTC()
	}
	return ts
}

func nonNilTimes(ts []time.Time) []time.Time {
	if ts == nil {
		return []time.Time{}
	}
	return ts
}
