package actors

import (
	"errors"
	"fmt"
	"time"
)

// Policy holds the tunable limits of the registration rules.
type Policy struct {
	CodeTTL         time.Duration // a code is valid while now < issued_at + CodeTTL
	CodeMaxAttempts int           // wrong guesses per code; the last one burns it
	ResendCooldown  time.Duration // minimum time between two codes for one email
	HourlyCodeLimit int           // codes per email in any rolling hour
	// FailureLimit wrong codes per FailureWindow use up the code budget;
	// as many wrong passwords engage the password throttle.
	FailureLimit  int
	FailureWindow time.Duration
	// ThrottleDelay is the first wait of a throttled password check; each
	// further wrong password doubles it, up to MaxThrottleDelay.
	ThrottleDelay    time.Duration
	MaxThrottleDelay time.Duration
	// PendingRetention: a pending registration whose last code expired
	// longer ago than this is deleted (0 keeps them).
	PendingRetention time.Duration
}

// MaxPasswordWait is the longest a throttled password check ever waits: the
// contract's bound on how long a stranger can keep an owner out.
const MaxPasswordWait = 15 * time.Minute

// MaxFailureLimit bounds FailureLimit: the failure log is stored with the
// row, and NIST SP 800-63B §5.2.2 caps consecutive failures at 100.
const MaxFailureLimit = 100

// maxHourlyCodeLimit bounds the issue log stored with the row.
const maxHourlyCodeLimit = 100

// DefaultPolicy is the policy of the API contract.
func DefaultPolicy() Policy {
	return Policy{
		CodeTTL:          60 * time.Second,
		CodeMaxAttempts:  3,
		ResendCooldown:   30 * time.Second,
		HourlyCodeLimit:  5,
		FailureLimit:     10,
		FailureWindow:    24 * time.Hour,
		ThrottleDelay:    time.Minute,
		MaxThrottleDelay: MaxPasswordWait,
		PendingRetention: 168 * time.Hour,
	}
}

// Validate reports the first setting out of range.
func (p Policy) Validate() error {
	var errs []error
	if p.CodeTTL <= 0 {
		errs = append(errs, fmt.Errorf("code TTL must be positive, got %s", p.CodeTTL))
	}
	if p.CodeMaxAttempts < 1 {
		errs = append(errs, fmt.Errorf("code max attempts must be at least 1, got %d", p.CodeMaxAttempts))
	}
	if p.ResendCooldown < 0 {
		errs = append(errs, fmt.Errorf("resend cooldown must not be negative, got %s", p.ResendCooldown))
	}
	if p.HourlyCodeLimit < 1 || p.HourlyCodeLimit > maxHourlyCodeLimit {
		errs = append(errs, fmt.Errorf("hourly code limit must be within 1..%d, got %d", maxHourlyCodeLimit, p.HourlyCodeLimit))
	}
	if p.FailureLimit < 1 || p.FailureLimit > MaxFailureLimit {
		errs = append(errs, fmt.Errorf("failure limit must be within 1..%d, got %d", MaxFailureLimit, p.FailureLimit))
	}
	if p.FailureWindow <= 0 {
		errs = append(errs, fmt.Errorf("failure window must be positive, got %s", p.FailureWindow))
	}
	if p.ThrottleDelay <= 0 || p.ThrottleDelay > p.MaxThrottleDelay || p.MaxThrottleDelay > MaxPasswordWait {
		errs = append(errs, fmt.Errorf("password throttle delays must satisfy 0 < first (%s) <= longest (%s) <= %s",
			p.ThrottleDelay, p.MaxThrottleDelay, MaxPasswordWait))
	}
	if p.PendingRetention < 0 {
		errs = append(errs, fmt.Errorf("pending retention must not be negative, got %s", p.PendingRetention))
	}
	return errors.Join(errs...)
}
