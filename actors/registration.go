package actors

import (
	"slices"
	"time"
)

// Status of a registration.
type Status int8

const (
	StatusPending Status = iota + 1
	StatusActive
)

func (s Status) String() string {
	switch s {
	case StatusPending:
		return "pending"
	case StatusActive:
		return "active"
	}
	return "unknown"
}

// Registration is the state of one account, keyed by its normalized email.
// It is what the Store persists and what the rules decide on.
type Registration struct {
	ID           string // UUIDv7, stable across re-registrations
	Email        string // normalized
	PasswordHash string // argon2id PHC string
	Status       Status
	// Generation counts the codes issued so far. A code is only good for the
	// generation it was issued in: issuing a new code kills every earlier one.
	Generation int64
	Code       Code
	// CodeFailures holds the times of the most recent wrong codes, oldest
	// first: the sliding log of the code budget. It survives resends and
	// re-registrations.
	CodeFailures []time.Time
	// Passwords is the state of the password throttle; a new registration
	// (a new password) starts it afresh.
	Passwords PasswordGuard
	// Issues holds the times of the most recent code issues, oldest first:
	// the cooldown and the hourly cap are read from it.
	Issues      []time.Time
	CreatedAt   time.Time
	ActivatedAt time.Time // zero while pending
	UpdatedAt   time.Time
	// Version is the optimistic-lock version of the stored row: 1 after the
	// first save, incremented by every save. 0 means never stored.
	Version int64
}

// Code is the outstanding verification code of a pending registration.
type Code struct {
	// MAC is HMAC-SHA-256 of the code under the server key, bound to the user
	// id and generation. The code itself is never stored. Nil when no code is
	// outstanding (consumed by the activation).
	MAC       []byte
	IssuedAt  time.Time
	ExpiresAt time.Time // valid while now < ExpiresAt
	// Attempts counts wrong guesses; at the policy's maximum the code is burned.
	Attempts int
	// ExpiryNoted records that the expiry event of this code was emitted.
	ExpiryNoted bool
}

// Clone returns a deep copy of r.
func (r *Registration) Clone() *Registration {
	c := *r
	c.Code.MAC = slices.Clone(r.Code.MAC)
	c.CodeFailures = slices.Clone(r.CodeFailures)
	c.Passwords = r.Passwords.Clone()
	c.Issues = slices.Clone(r.Issues)
	return &c
}

// Account is what a caller may see of a registration.
type Account struct {
	ID        string
	Email     string
	Status    Status
	CreatedAt time.Time
	// Zero when not applicable.
	ActivatedAt       time.Time
	CodeExpiresAt     time.Time
	ResendAvailableAt time.Time
}
