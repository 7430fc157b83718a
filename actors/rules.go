package actors

import (
	"crypto/hmac"
	"errors"
	"time"
)

// Rules is the registration state machine: given the current registration
// (nil when the email is unknown), a command and the time, it decides the
// next state, the events and the answer. It does no I/O and reads no clock;
// randomness (new ids, new codes) and the password check come in as inputs.
type Rules struct {
	policy  Policy
	codeKey []byte
}

// minCodeKeyLen is the shortest HMAC key accepted for codes (256 bits).
const minCodeKeyLen = 32

// NewRules validates the policy and the code key.
func NewRules(p Policy, codeKey []byte) (Rules, error) {
	if err := p.Validate(); err != nil {
		return Rules{}, err
	}
	if len(codeKey) < minCodeKeyLen {
		return Rules{}, errors.New("code HMAC key must be at least 32 bytes")
	}
	return Rules{policy: p, codeKey: append([]byte(nil), codeKey...)}, nil
}

// Policy returns the limits the rules apply.
func (r Rules) Policy() Policy { return r.policy }

// Decision is the outcome of one command.
type Decision struct {
	// Next is the state to persist before answering; nil when nothing changes.
	Next *Registration
	// Events to publish with Next, in order.
	Events []Event
	// Err is the rejection to answer with (nil on success). A rejection may
	// still change the state: a wrong password counts against the budget.
	Err error
}

// State returns the registration after the decision.
func (d Decision) State(cur *Registration) *Registration {
	if d.Next != nil {
		return d.Next
	}
	return cur
}

// RegisterInput is a registration request whose password is already hashed.
type RegisterInput struct {
	Email        string
	PasswordHash string
	NewID        string // the id of the account if the email is unknown
	NewCode      string // the code to issue, if one is issued
}

// Register creates a pending account, or replaces a pending one whose
// issuing cooldown has passed (new password, new code, same id).
func (r Rules) Register(cur *Registration, in RegisterInput, now time.Time) Decision {
	p := r.policy
	if cur == nil {
		next := &Registration{
			ID:           in.NewID,
			Email:        in.Email,
			PasswordHash: in.PasswordHash,
			Status:       StatusPending,
			CreatedAt:    now,
		}
		events := []Event{Registered{UserID: next.ID, Email: next.Email, At: now}}
		events = append(events, r.issue(next, in.NewCode, IssueRegistration, now))
		return Decision{Next: next, Events: events}
	}
	if cur.Status == StatusActive {
		return Decision{Err: ErrEmailTaken}
	}
	if wait, locked := p.lockedFor(cur, now); locked {
		return Decision{Err: reject(ErrTooManyAttempts, wait)}
	}
	if wait := p.issueWait(cur, now); wait > 0 {
		return Decision{Err: reject(ErrRateLimited, wait)}
	}
	next := cur.clone()
	next.PasswordHash = in.PasswordHash
	events := []Event{Registered{UserID: next.ID, Email: next.Email, At: now, Replaced: true}}
	events = append(events, r.issue(next, in.NewCode, IssueReregistration, now))
	return Decision{Next: next, Events: events}
}

// Precheck is the part of authentication that comes before the password is
// verified: a locked account answers 429 without its password being checked,
// so it is no password oracle. The actor calls it before paying for a hash.
func (r Rules) Precheck(cur *Registration, now time.Time) error {
	if cur == nil {
		return nil
	}
	if wait, locked := r.policy.lockedFor(cur, now); locked {
		return reject(ErrTooManyAttempts, wait)
	}
	return nil
}

// authenticate applies the credential checks common to the authenticated
// commands. It returns ok when the command may proceed; otherwise the
// decision to answer with.
func (r Rules) authenticate(cur *Registration, passwordOK bool, now time.Time) (Decision, bool) {
	if err := r.Precheck(cur, now); err != nil {
		return Decision{Err: err}, false
	}
	if cur == nil {
		return Decision{Err: ErrInvalidCredentials}, false
	}
	if !passwordOK {
		next := cur.clone()
		events := r.policy.recordFailure(next, now)
		return Decision{Next: next, Events: events, Err: ErrInvalidCredentials}, false
	}
	return Decision{}, true
}

// Activate checks, in the contract's order: budget, password, status, code
// format, expiry, burned code, then the code itself.
func (r Rules) Activate(cur *Registration, passwordOK bool, code string, now time.Time) Decision {
	if d, ok := r.authenticate(cur, passwordOK, now); !ok {
		return d
	}
	p := r.policy
	if cur.Status == StatusActive {
		return Decision{Err: ErrAlreadyActive}
	}
	if !validCodeFormat(code) {
		return Decision{Err: ErrInvalidCodeFormat}
	}
	if cur.Code.MAC == nil || !now.Before(cur.Code.ExpiresAt) {
		return r.noteExpiry(cur, now, ErrCodeExpired)
	}
	if cur.Code.Attempts >= p.CodeMaxAttempts {
		return Decision{Err: reject(ErrTooManyAttempts, p.issueWait(cur, now))}
	}
	if !hmac.Equal(codeMAC(r.codeKey, cur.ID, cur.Generation, code), cur.Code.MAC) {
		return r.wrongCode(cur, now)
	}
	next := cur.clone()
	next.Status = StatusActive
	next.ActivatedAt = now
	next.UpdatedAt = now
	next.Code = Code{}
	return Decision{Next: next, Events: []Event{Activated{UserID: next.ID, Email: next.Email, At: now}}}
}

// wrongCode counts a wrong guess against the code and against the budget.
// The answer tells how many guesses are left, the fewer of the two.
func (r Rules) wrongCode(cur *Registration, now time.Time) Decision {
	p := r.policy
	next := cur.clone()
	next.Code.Attempts++
	events := p.recordFailure(next, now)
	codeLeft := p.CodeMaxAttempts - next.Code.Attempts
	budgetLeft := p.failuresLeft(next, now)
	if codeLeft > 0 && budgetLeft > 0 {
		return Decision{Next: next, Events: events, Err: &Rejection{
			Reason:            ErrInvalidCode,
			AttemptsRemaining: min(codeLeft, budgetLeft),
		}}
	}
	var wait time.Duration
	if codeLeft == 0 {
		events = append(events, CodeBurned{UserID: next.ID, Generation: next.Generation, At: now})
		wait = p.issueWait(next, now)
	}
	if lock, locked := p.lockedFor(next, now); locked {
		wait = max(wait, lock)
	}
	return Decision{Next: next, Events: events, Err: reject(ErrTooManyAttempts, wait)}
}

// ResendCode issues a new code to a pending account outside its cooldown.
func (r Rules) ResendCode(cur *Registration, passwordOK bool, code string, now time.Time) Decision {
	if d, ok := r.authenticate(cur, passwordOK, now); !ok {
		return d
	}
	if cur.Status == StatusActive {
		return Decision{Err: ErrAlreadyActive}
	}
	if wait := r.policy.issueWait(cur, now); wait > 0 {
		return Decision{Err: reject(ErrRateLimited, wait)}
	}
	next := cur.clone()
	return Decision{Next: next, Events: []Event{r.issue(next, code, IssueResend, now)}}
}

// Describe authenticates a read of the account (GET /v1/users/me).
func (r Rules) Describe(cur *Registration, passwordOK bool, now time.Time) Decision {
	d, _ := r.authenticate(cur, passwordOK, now)
	return d
}

// Expire notes that the code of the given generation has expired. It is
// driven by the actor's timer; stale timers (older generations, codes already
// used or noted) change nothing.
func (r Rules) Expire(cur *Registration, generation int64, now time.Time) Decision {
	if cur == nil || cur.Generation != generation {
		return Decision{}
	}
	if !r.ExpiryPending(cur) || now.Before(cur.Code.ExpiresAt) {
		return Decision{}
	}
	return r.noteExpiry(cur, now, nil)
}

// ExpiryPending reports whether reg has a code whose expiry has not been
// noted yet: the actor keeps a timer for it and does not passivate.
func (r Rules) ExpiryPending(reg *Registration) bool {
	return reg != nil && reg.Status == StatusPending && reg.Code.MAC != nil && !reg.Code.ExpiryNoted
}

// noteExpiry answers err and, the first time an expired code is seen, records
// it and emits CodeExpired.
func (r Rules) noteExpiry(cur *Registration, now time.Time, err error) Decision {
	if !r.ExpiryPending(cur) {
		return Decision{Err: err}
	}
	next := cur.clone()
	next.Code.ExpiryNoted = true
	next.UpdatedAt = now
	return Decision{
		Next:   next,
		Events: []Event{CodeExpired{UserID: next.ID, Generation: next.Generation, At: next.Code.ExpiresAt}},
		Err:    err,
	}
}

// issue gives next a new code of a new generation; every earlier code dies.
func (r Rules) issue(next *Registration, code string, reason IssueReason, now time.Time) Event {
	next.Generation++
	next.Code = Code{
		MAC:       codeMAC(r.codeKey, next.ID, next.Generation, code),
		IssuedAt:  now,
		ExpiresAt: now.Add(r.policy.CodeTTL),
	}
	r.policy.recordIssue(next, now)
	next.UpdatedAt = now
	return CodeIssued{
		UserID:     next.ID,
		Email:      next.Email,
		Code:       code,
		Generation: next.Generation,
		IssuedAt:   now,
		ExpiresAt:  next.Code.ExpiresAt,
		Reason:     reason,
	}
}

// View is what the caller may see of reg at now.
func (r Rules) View(reg *Registration, now time.Time) Account {
	a := Account{
		ID:          reg.ID,
		Email:       reg.Email,
		Status:      reg.Status,
		CreatedAt:   reg.CreatedAt,
		ActivatedAt: reg.ActivatedAt,
	}
	if reg.Status == StatusPending {
		a.CodeExpiresAt = reg.Code.ExpiresAt
		a.ResendAvailableAt = r.policy.nextIssueAt(reg, now)
	}
	return a
}
