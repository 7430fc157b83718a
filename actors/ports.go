package actors

import (
	"context"

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
	// nothing is.
	Save(ctx context.Context, reg *Registration, msgs []*registrationv1.Envelope) error
}

// PasswordVerifier checks a password against a stored hash.
type PasswordVerifier interface {
	// Verify reports whether password matches the encoded hash. It returns
	// ErrOverloaded when no hashing capacity frees up in time, and an error
	// for an unreadable hash.
	Verify(ctx context.Context, encodedHash, password string) (bool, error)
}
