package actors

import (
	"context"
	"time"

	registrationv1 "github.com/acme/registrar/protos/registration/v1"
)

// Store persists registrations and their outbox. Implementations: the SQLite
// and PostgreSQL adapters in persistence/, and an in-memory fake for tests;
// all pass the same contract suite (actors/storetest).
type Store interface {
	// Load returns the registration of a normalized email, or ErrNotFound.
	Load(ctx context.Context, email string) (*Registration, error)
	// Save writes reg and appends msgs to the outbox in one transaction.
	// reg.Version is the version the row will have: 1 inserts a new row,
	// n > 1 updates the row only if it is at version n-1. Otherwise nothing is
	// written and Save returns ErrConflict. Either everything is written or
	// nothing is, and Save says which: ctx bounds the transaction, and when
	// the answer to its COMMIT is lost (a deadline, a broken connection)
	// Save finds out from the database, within a short grace, rather than
	// guess. An error means nothing was written, except when the database
	// itself cannot tell in that grace (the error then says so).
	Save(ctx context.Context, reg *Registration, msgs []*registrationv1.Envelope) error
	// Version returns the version of the stored row of email, 0 when there
	// is none: a cheap check that memory is still the truth.
	Version(ctx context.Context, email string) (int64, error)
	// Purge deletes the row of reg.Email if it is at reg.Version (else
	// nothing changes and it returns ErrConflict), deletes every outbox
	// message keyed by reg.ID not yet published, and appends msgs, in one
	// transaction, with Save's guarantees about its outcome.
	Purge(ctx context.Context, reg *Registration, msgs []*registrationv1.Envelope) error
}

// ExpiredCode is a pending code whose expiry has not been noted.
type ExpiredCode struct {
	Email      string
	Generation int64
}

// ExpiredCodes finds the codes whose expiry event is missing.
type ExpiredCodes interface {
	// ClaimExpired returns up to limit pending codes that expired (by the
	// store's clock) without their expiry being noted, and hides them from
	// other claimers for lease: several members sweeping at once share the
	// rows out, each row to one of them.
	ClaimExpired(ctx context.Context, limit int, lease time.Duration) ([]ExpiredCode, error)
}

// StaleRegistrations finds the pending registrations past their retention.
type StaleRegistrations interface {
	// ClaimStale returns the emails of up to limit pending registrations
	// whose last code expired (code_expires_at, by the store's clock) more
	// than retention ago, and hides them from other claimers for lease.
	ClaimStale(ctx context.Context, retention time.Duration, limit int, lease time.Duration) ([]string, error)
}

// PasswordVerifier checks a password against a stored hash.
type PasswordVerifier interface {
	// Verify reports whether password matches the encoded hash. It returns
	// ErrOverloaded when no hashing capacity frees up in time, and an error
	// for an unreadable hash.
	Verify(ctx context.Context, encodedHash, password string) (bool, error)
}
