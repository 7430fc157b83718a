package actors

import (
	"log/slog"
	"time"
)

// Event is something the rules decided happened. The actor turns events into
// outbox messages in the same transaction as the state change.
type Event interface{ event() }

// IssueReason says why a code was issued.
type IssueReason int8

const (
	IssueRegistration IssueReason = iota + 1
	IssueReregistration
	IssueResend
)

// Registered: a pending account was created, or replaced (same id, new
// password) by a new registration.
type Registered struct {
	UserID   string
	Email    string
	At       time.Time
	Replaced bool
}

// CodeIssued: a new code was issued. It carries the code for the email; the
// public event built from it does not.
type CodeIssued struct {
	UserID     string
	Email      string
	Code       string
	Generation int64
	IssuedAt   time.Time
	ExpiresAt  time.Time
	Reason     IssueReason
}

// LogValue keeps the code out of logs.
func (e CodeIssued) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("user_id", e.UserID),
		slog.Int64("generation", e.Generation),
		slog.Time("expires_at", e.ExpiresAt),
	)
}

// Activated: the account proved control of its address.
type Activated struct {
	UserID string
	Email  string
	At     time.Time
}

// CodeExpired: the code of this generation reached its expiry unused.
type CodeExpired struct {
	UserID     string
	Generation int64
	At         time.Time
}

// CodeBurned: the code of this generation took its last wrong guess.
type CodeBurned struct {
	UserID     string
	Generation int64
	At         time.Time
}

// ThrottleScope says what a throttle holds back.
type ThrottleScope int8

const (
	// ThrottlePasswords: the account's password checks wait (until Until,
	// at the first engagement).
	ThrottlePasswords ThrottleScope = iota + 1
	// ThrottleCodes: the budget of wrong codes is used up until Until.
	ThrottleCodes
)

// Throttled: a throttle of the account engaged.
type Throttled struct {
	UserID string
	Until  time.Time
	Scope  ThrottleScope
}

// RegistrationPurged: a pending registration past its retention was
// deleted with its outbox history; the email is unknown again.
type RegistrationPurged struct {
	UserID string
	At     time.Time
}

func (Registered) event()  {}
func (CodeIssued) event()  {}
func (Activated) event()   {}
func (CodeExpired) event() {}
func (CodeBurned) event()  {}
func (Throttled) event()   {}

func (RegistrationPurged) event() {}

// eventTypes are the names of the events, as metrics label them.
var eventTypes = []string{"registered", "code_issued", "activated", "code_expired", "code_burned", "throttled", "purged"}

// eventType is the name of e among eventTypes.
func eventType(e Event) string {
	switch e.(type) {
	case Registered:
		return "registered"
	case CodeIssued:
		return "code_issued"
	case Activated:
		return "activated"
	case CodeExpired:
		return "code_expired"
	case CodeBurned:
		return "code_burned"
	case Throttled:
		return "throttled"
	case RegistrationPurged:
		return "purged"
	}
	return "other"
}
