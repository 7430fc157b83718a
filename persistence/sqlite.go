package persistence

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/pressly/goose/v3"
	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver

	"github.com/acme/registrar/actors"
	"github.com/acme/registrar/persistence/migrations"
	registrationv1 "github.com/acme/registrar/protos/registration/v1"
)

// SQLite is the embedded store: registrations and outbox in one SQLite file
// (pure Go, no cgo). SQLite has a single writer, so writes go through a pool
// of exactly one connection (no busy-wait storms) and reads through a pool of
// their own; WAL lets them run side by side.
type SQLite struct {
	writer *sql.DB
	reader *sql.DB
	// The hot statements, prepared once per pool: the driver parses every
	// query it is given afresh, a third of the database's CPU per
	// registration (docs/BENCHMARKS.md).
	writes, reads *statements
	notify        chan struct{}
}

// statements holds one prepared statement per query text of a pool.
type statements struct {
	db    *sql.DB
	mu    sync.Mutex
	stmts map[string]*sql.Stmt
}

func newStatements(db *sql.DB) *statements {
	return &statements{db: db, stmts: map[string]*sql.Stmt{}}
}

// get returns query prepared, preparing it the first time: on the writer
// pool never during a transaction (it holds the pool's one connection), so
// the transactions' statements are prepared at open.
func (p *statements) get(ctx context.Context, query string) (*sql.Stmt, error) {
	p.mu.Lock()
	st, ok := p.stmts[query]
	p.mu.Unlock()
	if ok {
		return st, nil
	}
	// Not under the lock: preparing waits for a connection, whose
	// transaction may be asking for its own statements meanwhile.
	st, err := p.db.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if prev, ok := p.stmts[query]; ok {
		_ = st.Close()
		return prev, nil
	}
	p.stmts[query] = st
	return st, nil
}

func (p *statements) close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	var errs []error
	for _, st := range p.stmts {
		errs = append(errs, st.Close())
	}
	return errors.Join(errs...)
}

// The statements of the write transactions, prepared when the store opens:
// the writer pool's one connection is the transaction's then.
const (
	sqliteInsertRegistration = `INSERT INTO registrations (` + sqliteColumns + `)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`
	sqliteUpdateRegistration = `UPDATE registrations SET id = ?2, password_hash = ?3, status = ?4,
		generation = ?5, code_mac = ?6, code_issued_at = ?7, code_expires_at = ?8, code_attempts = ?9,
		code_expiry_noted = ?10, code_failures = ?11, issues = ?12, created_at = ?13, activated_at = ?14,
		updated_at = ?15, version = ?16, password_guard = ?17
		WHERE email = ?1 AND version = ?16 - 1`
	sqliteAppendOutbox = `INSERT INTO outbox (id, topic, key, type, source, time, payload, traceparent, tracestate)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`
)

// txExec runs query, prepared once, in tx.
func (s *SQLite) txExec(ctx context.Context, tx *sql.Tx, query string, args ...any) (sql.Result, error) {
	st, err := s.writes.get(ctx, query)
	if err != nil {
		return nil, err
	}
	return tx.StmtContext(ctx, st).ExecContext(ctx, args...)
}

// SQLiteConfig configures OpenSQLite.
type SQLiteConfig struct {
	// Path of the database file; its directory is created if missing.
	Path string
	// Synchronous is SQLite's synchronous pragma: "FULL" (default) syncs the
	// WAL at every commit, so an answered request survives a power loss too;
	// "NORMAL" survives a crash of the process but may lose the last commits
	// on a power loss.
	Synchronous string
	Logger      *slog.Logger
}

// OpenSQLite opens (creating if needed) and migrates the database.
func OpenSQLite(ctx context.Context, cfg SQLiteConfig) (*SQLite, error) {
	if cfg.Path == "" {
		return nil, errors.New("sqlite: empty path")
	}
	sync := strings.ToUpper(cfg.Synchronous)
	if sync == "" {
		sync = "FULL"
	}
	if sync != "FULL" && sync != "NORMAL" {
		return nil, fmt.Errorf("sqlite: synchronous must be FULL or NORMAL, got %q", cfg.Synchronous)
	}
	if dir := filepath.Dir(cfg.Path); dir != "." {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("sqlite: create directory: %w", err)
		}
	}
	pragmas := []string{"busy_timeout(10000)", "journal_mode(WAL)", "synchronous(" + sync + ")"}
	writer, err := sql.Open("sqlite", dsn(cfg.Path, pragmas, "immediate"))
	if err != nil {
		return nil, fmt.Errorf("sqlite: open: %w", err)
	}
	writer.SetMaxOpenConns(1)
	writer.SetConnMaxIdleTime(0)
	reader, err := sql.Open("sqlite", dsn(cfg.Path, append(pragmas, "query_only(1)"), ""))
	if err != nil {
		_ = writer.Close()
		return nil, fmt.Errorf("sqlite: open: %w", err)
	}
	reader.SetMaxOpenConns(8)
	s := &SQLite{writer: writer, reader: reader, writes: newStatements(writer), reads: newStatements(reader), notify: make(chan struct{}, 1)}
	if err := s.migrate(ctx, cfg.Logger); err != nil {
		_ = s.Close()
		return nil, err
	}
	for _, q := range []string{sqliteInsertRegistration, sqliteUpdateRegistration, sqliteAppendOutbox} {
		if _, err := s.writes.get(ctx, q); err != nil {
			_ = s.Close()
			return nil, fmt.Errorf("sqlite: prepare: %w", err)
		}
	}
	// One process owns an embedded database, so claims left by a previous
	// run (a crash between publish and delete) are stale: release them now
	// instead of letting their emails wait for the lease to run out.
	if _, err := s.writer.ExecContext(ctx, `UPDATE outbox SET claimed_until = 0 WHERE claimed_until > 0`); err != nil {
		_ = s.Close()
		return nil, fmt.Errorf("sqlite: release stale outbox claims: %w", err)
	}
	return s, nil
}

func dsn(path string, pragmas []string, txlock string) string {
	q := url.Values{}
	for _, p := range pragmas {
		q.Add("_pragma", p)
	}
	if txlock != "" {
		q.Set("_txlock", txlock)
	}
	return "file:" + path + "?" + q.Encode()
}

func (s *SQLite) migrate(ctx context.Context, logger *slog.Logger) error {
	fsys, err := subFS(migrations.SQLite, "sqlite")
	if err != nil {
		return err
	}
	p, err := goose.NewProvider(goose.DialectSQLite3, s.writer, fsys)
	if err != nil {
		return fmt.Errorf("sqlite: migrations: %w", err)
	}
	results, err := p.Up(ctx)
	if err != nil {
		return fmt.Errorf("sqlite: migrate: %w", err)
	}
	logMigrations(logger, "sqlite", results)
	return nil
}

// Close closes both pools.
func (s *SQLite) Close() error {
	return errors.Join(s.reads.close(), s.writes.close(), s.reader.Close(), s.writer.Close())
}

// Ping checks that the database answers (readiness).
func (s *SQLite) Ping(ctx context.Context) error {
	var one int
	if err := s.reader.QueryRowContext(ctx, "SELECT 1").Scan(&one); err != nil {
		return fmt.Errorf("sqlite: ping: %w", err)
	}
	return nil
}

const sqliteColumns = `email, id, password_hash, status, generation, code_mac, code_issued_at,
	code_expires_at, code_attempts, code_expiry_noted, code_failures, issues, created_at, activated_at,
	updated_at, version, password_guard`

// Load implements actors.Store.
func (s *SQLite) Load(ctx context.Context, email string) (_ *actors.Registration, err error) {
	ctx, span := startSpan(ctx, "sqlite", "load")
	defer func() { endSpan(span, err) }()
	st, err := s.reads.get(ctx, `SELECT `+sqliteColumns+` FROM registrations WHERE email = ?`)
	if err != nil {
		return nil, fmt.Errorf("sqlite: load registration: %w", err)
	}
	row := st.QueryRowContext(ctx, email)
	var (
		r                                actors.Registration
		status, failures, issues, guard  string
		issuedAt, expiresAt, activatedAt sql.NullInt64
		createdAt, updatedAt             int64
		noted                            bool
	)
	err = row.Scan(&r.Email, &r.ID, &r.PasswordHash, &status, &r.Generation, &r.Code.MAC, &issuedAt,
		&expiresAt, &r.Code.Attempts, &noted, &failures, &issues, &createdAt, &activatedAt, &updatedAt, &r.Version, &guard)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, actors.ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("sqlite: load registration: %w", err)
	}
	if r.Status, err = parseStatus(status); err != nil {
		return nil, err
	}
	if r.CodeFailures, err = decodeTimes(failures); err != nil {
		return nil, err
	}
	if r.Passwords, err = decodeGuard(guard); err != nil {
		return nil, err
	}
	if r.Issues, err = decodeTimes(issues); err != nil {
		return nil, err
	}
	r.Code.ExpiryNoted = noted
	r.Code.IssuedAt, r.Code.ExpiresAt = fromNullMillis(issuedAt), fromNullMillis(expiresAt)
	r.CreatedAt, r.UpdatedAt, r.ActivatedAt = fromMillis(createdAt), fromMillis(updatedAt), fromNullMillis(activatedAt)
	return &r, nil
}

// Version implements actors.Store.
func (s *SQLite) Version(ctx context.Context, email string) (int64, error) {
	var v int64
	err := s.reader.QueryRowContext(ctx, `SELECT version FROM registrations WHERE email = ?`, email).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("sqlite: registration version: %w", err)
	}
	return v, nil
}

// ClaimExpired implements actors.ExpiredCodes.
func (s *SQLite) ClaimExpired(ctx context.Context, limit int, lease time.Duration) ([]actors.ExpiredCode, error) {
	now := time.Now()
	rows, err := s.writer.QueryContext(ctx, `UPDATE registrations SET expiry_claimed_until = ?3
		WHERE email IN (SELECT email FROM registrations
			WHERE status = 'pending' AND code_expiry_noted = 0 AND code_mac IS NOT NULL
			  AND code_expires_at <= ?1 AND expiry_claimed_until <= ?1
			ORDER BY code_expires_at LIMIT ?2)
		RETURNING email, generation`, millis(now), limit, millis(now.Add(lease)))
	if err != nil {
		return nil, fmt.Errorf("sqlite: claim expired codes: %w", err)
	}
	defer func() { _ = rows.Close() }()
	var codes []actors.ExpiredCode
	for rows.Next() {
		var c actors.ExpiredCode
		if err := rows.Scan(&c.Email, &c.Generation); err != nil {
			return nil, fmt.Errorf("sqlite: claim expired codes: %w", err)
		}
		codes = append(codes, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: claim expired codes: %w", err)
	}
	return codes, nil
}

// Save implements actors.Store.
func (s *SQLite) Save(ctx context.Context, reg *actors.Registration, msgs []*registrationv1.Envelope) error {
	if reg.Version < 1 {
		return actors.ErrConflict
	}
	args := []any{reg.Email, reg.ID, reg.PasswordHash, reg.Status.String(), reg.Generation, nilIfEmpty(reg.Code.MAC),
		nullMillis(reg.Code.IssuedAt), nullMillis(reg.Code.ExpiresAt), reg.Code.Attempts, reg.Code.ExpiryNoted,
		encodeTimes(reg.CodeFailures), encodeTimes(reg.Issues), millis(reg.CreatedAt), nullMillis(reg.ActivatedAt),
		millis(reg.UpdatedAt), reg.Version, encodeGuard(reg.Passwords)}
	return s.write(ctx, "save registration", msgs, func(tx *sql.Tx) (sql.Result, error) {
		if reg.Version == 1 {
			return s.txExec(ctx, tx, sqliteInsertRegistration, args...)
		}
		return s.txExec(ctx, tx, sqliteUpdateRegistration, args...)
	})
}

// Purge implements actors.Store.
func (s *SQLite) Purge(ctx context.Context, reg *actors.Registration, msgs []*registrationv1.Envelope) error {
	return s.write(ctx, "purge registration", msgs, func(tx *sql.Tx) (sql.Result, error) {
		res, err := tx.ExecContext(ctx, `DELETE FROM registrations WHERE email = ? AND version = ?`, reg.Email, reg.Version)
		if err != nil {
			return nil, err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM outbox WHERE key = ?`, reg.ID); err != nil {
			return nil, err
		}
		return res, nil
	})
}

// write runs change, then appends msgs to the outbox, in one transaction.
// change writes the registration's row: when it changes none, the row was
// not at the expected version and nothing is written (ErrConflict).
func (s *SQLite) write(ctx context.Context, what string, msgs []*registrationv1.Envelope, change func(*sql.Tx) (sql.Result, error)) (err error) {
	ctx, span := startSpan(ctx, "sqlite", strings.Fields(what)[0])
	defer func() { endSpan(span, err) }()
	tx, err := s.writer.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sqlite: begin: %w", err)
	}
	defer func() { _ = tx.Rollback() }()
	res, err := change(tx)
	if err != nil {
		return fmt.Errorf("sqlite: %s: %w", what, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("sqlite: %s: %w", what, err)
	} else if n == 0 {
		return actors.ErrConflict
	}
	if err := s.append(ctx, tx, msgs); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("sqlite: commit: %w", err)
	}
	if len(msgs) > 0 {
		select {
		case s.notify <- struct{}{}:
		default:
		}
	}
	return nil
}

// ClaimStale implements actors.StaleRegistrations.
func (s *SQLite) ClaimStale(ctx context.Context, retention time.Duration, limit int, lease time.Duration) ([]string, error) {
	now := time.Now()
	rows, err := s.writer.QueryContext(ctx, `UPDATE registrations SET purge_claimed_until = ?4
		WHERE email IN (SELECT email FROM registrations
			WHERE status = 'pending' AND coalesce(code_expires_at, updated_at) <= ?2 AND purge_claimed_until <= ?1
			ORDER BY coalesce(code_expires_at, updated_at) LIMIT ?3)
		RETURNING email`, millis(now), millis(now.Add(-retention)), limit, millis(now.Add(lease)))
	if err != nil {
		return nil, fmt.Errorf("sqlite: claim stale registrations: %w", err)
	}
	defer func() { _ = rows.Close() }()
	var emails []string
	for rows.Next() {
		var e string
		if err := rows.Scan(&e); err != nil {
			return nil, fmt.Errorf("sqlite: claim stale registrations: %w", err)
		}
		emails = append(emails, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: claim stale registrations: %w", err)
	}
	return emails, nil
}

func (s *SQLite) append(ctx context.Context, tx *sql.Tx, msgs []*registrationv1.Envelope) error {
	if len(msgs) == 0 {
		return nil
	}
	prepared, err := s.writes.get(ctx, sqliteAppendOutbox)
	if err != nil {
		return fmt.Errorf("sqlite: prepare outbox insert: %w", err)
	}
	stmt := tx.StmtContext(ctx, prepared)
	for _, m := range msgs {
		// A message whose fields are all defaults encodes to no bytes at all.
		payload := m.GetPayload()
		if payload == nil {
			payload = []byte{}
		}
		if _, err := stmt.ExecContext(ctx, m.GetId(), m.GetTopic(), m.GetKey(), m.GetType(), m.GetSource(),
			millis(m.GetTime().AsTime()), payload, m.GetTraceparent(), m.GetTracestate()); err != nil {
			return fmt.Errorf("sqlite: append to outbox: %w", err)
		}
	}
	return nil
}

// Claim deletes the delivered messages and leases up to limit others whose
// lease is free, oldest first, in one transaction (one WAL sync for both).
func (s *SQLite) Claim(ctx context.Context, delivered []string, limit int, lease time.Duration) (envs []*registrationv1.Envelope, err error) {
	// Prepared before the transaction takes the writer's one connection,
	// which preparing would wait for.
	claim, err := s.writes.get(ctx, `UPDATE outbox SET claimed_until = ?
		WHERE seq IN (SELECT seq FROM outbox WHERE claimed_until <= ? ORDER BY seq LIMIT ?)
		RETURNING seq, id, topic, key, type, source, time, payload, traceparent, tracestate`)
	if err != nil {
		return nil, fmt.Errorf("sqlite: claim outbox: %w", err)
	}
	tx, err := s.writer.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("sqlite: claim outbox: begin: %w", err)
	}
	defer func() { _ = tx.Rollback() }()
	for chunk := range slices.Chunk(delivered, 500) { // under SQLite's limit on parameters
		args := make([]any, len(chunk))
		for i, id := range chunk {
			args[i] = id
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM outbox WHERE id IN (?`+strings.Repeat(", ?", len(chunk)-1)+`)`, args...); err != nil {
			return nil, fmt.Errorf("sqlite: delete from outbox: %w", err)
		}
	}
	now := time.Now()
	rows, err := tx.StmtContext(ctx, claim).QueryContext(ctx, millis(now.Add(lease)), millis(now), limit)
	if err != nil {
		return nil, fmt.Errorf("sqlite: claim outbox: %w", err)
	}
	envs, err = scanClaims(rows.Next, rows.Scan, fromMillis)
	if err == nil {
		err = rows.Err()
	}
	if cerr := rows.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = tx.Commit()
	}
	if err != nil {
		return nil, fmt.Errorf("sqlite: claim outbox: %w", err)
	}
	return envs, nil
}

// Release makes claimed messages claimable again.
func (s *SQLite) Release(ctx context.Context, ids []string) error {
	return s.byIDs(ctx, `UPDATE outbox SET claimed_until = 0 WHERE id IN `, ids, "release outbox claims")
}

// byIDs runs stmt (ending in "IN ") for ids, in chunks under SQLite's
// limit on parameters.
func (s *SQLite) byIDs(ctx context.Context, stmt string, ids []string, what string) error {
	for chunk := range slices.Chunk(ids, 500) {
		args := make([]any, len(chunk))
		for i, id := range chunk {
			args[i] = id
		}
		st, err := s.writes.get(ctx, stmt+`(?`+strings.Repeat(", ?", len(chunk)-1)+`)`)
		if err != nil {
			return fmt.Errorf("sqlite: %s: %w", what, err)
		}
		if _, err := st.ExecContext(ctx, args...); err != nil {
			return fmt.Errorf("sqlite: %s: %w", what, err)
		}
	}
	return nil
}

// Notify receives a value after a commit that added messages.
func (s *SQLite) Notify() <-chan struct{} { return s.notify }

// OldestPending returns the time of the oldest message not yet delivered,
// or the zero time when the outbox is empty (for metrics).
func (s *SQLite) OldestPending(ctx context.Context) (time.Time, error) {
	var oldest sql.NullInt64
	if err := s.reader.QueryRowContext(ctx, `SELECT min(time) FROM outbox`).Scan(&oldest); err != nil {
		return time.Time{}, fmt.Errorf("sqlite: outbox age: %w", err)
	}
	return fromNullMillis(oldest), nil
}
