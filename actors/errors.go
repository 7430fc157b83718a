package actors

import (
	"errors"
	"time"
)

// Outcomes of a command that the caller must be told about. The gateway maps
// each to one status code and problem type; everything else is a 503 or 500.
var (
	ErrEmailTaken         = errors.New("email already registered")
	ErrInvalidCredentials = errors.New("invalid credentials")
	ErrAlreadyActive      = errors.New("account already active")
	ErrInvalidCodeFormat  = errors.New("code must be exactly 4 ASCII digits")
	ErrCodeExpired        = errors.New("verification code expired")
	ErrInvalidCode        = errors.New("invalid verification code")
	ErrTooManyAttempts    = errors.New("too many attempts")
	ErrRateLimited        = errors.New("rate limited")
	ErrOverloaded         = errors.New("overloaded")
	ErrUnavailable        = errors.New("temporarily unavailable")
)

// Errors of the Store port.
var (
	// ErrNotFound: no registration for the email.
	ErrNotFound = errors.New("registration not found")
	// ErrConflict: the stored row is not at the version the writer expected
	// (someone else wrote it, or it already exists).
	ErrConflict = errors.New("registration changed concurrently")
)

// Rejection is a refused command with the details the caller needs. It
// unwraps to one of the sentinel errors above, so callers use errors.Is for
// the kind and errors.As for the details.
type Rejection struct {
	Reason error
	// RetryAfter is when trying again makes sense (too many attempts, rate
	// limited, overloaded, unavailable). Zero when it does not apply.
	RetryAfter time.Duration
	// AttemptsRemaining is set for ErrInvalidCode.
	AttemptsRemaining int
}

func (r *Rejection) Error() string { return r.Reason.Error() }
func (r *Rejection) Unwrap() error { return r.Reason }

func reject(reason error, retryAfter time.Duration) *Rejection {
	return &Rejection{Reason: reason, RetryAfter: max(retryAfter, 0)}
}
