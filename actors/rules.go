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
	// Delete removes the registration (and its outbox history) instead of
	// saving a Next: the email becomes unknown.
	Delete bool
}

// State returns the registration after the decision.
func (d Decision) State(cur *Registration) *Registration {
	if d.Delete {
		return nil
	}
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
// issuing cooldown has passed (new password, new code, same id). A
// throttled password check does not stand in the way: a registration proves
// nothing and replaces the password, so the throttle starts afresh; the code
// budget stays.
func (r Rules) Register(cur *Registration, in RegisterInput, now time.Time) Decision {
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
	if err := r.RegisterRefusal(cur, now); err != nil {
		return Decision{Err: err}
	}
	next := cur.Clone()
	next.PasswordHash = in.PasswordHash
	next.Passwords = PasswordGuard{}
	events := []Event{Registered{UserID: next.ID, Email: next.Email, At: now, Replaced: true}}
	events = append(events, r.issue(next, in.NewCode, IssueReregistration, now))
	return Decision{Next: next, Events: events}
}

// RegisterRefusal is what a registration of the email would be refused
// with now, whatever its password: the email is taken (409), or its
// issuing cooldown or hourly cap holds (429). The gateway asks it before
// hashing the new password, so that a registration that cannot succeed
// costs no hash; Register asks it again after the hash, so a race between
// the two changes nothing.
func (r Rules) RegisterRefusal(cur *Registration, now time.Time) error {
	switch {
	case cur == nil:
		return nil
	case cur.Status == StatusActive:
		return ErrEmailTaken
	}
	if wait := r.policy.issueWait(cur, now); wait > 0 {
		return reject(ErrRateLimited, wait)
	}
	return nil
}

// Authentication is two steps whose types enforce the order of the
// contract, so no command can check a password before the throttle:
//
//	ch, err := rules.Authenticate(cur, source, now)  // 429 here, before any hash
//	ok := verify(ch.PasswordHash(), password)        // the caller's hash check
//	auth, refused, ok := rules.Verified(ch, ok, now) // 401 here, the failure recorded
//	d := rules.Activate(auth, code, now)             // only with an Authenticated
//
// Outside this package an Authenticated can only be made by Verified, and
// Verified only takes a Challenge made by Authenticate; inside it, the
// actor uses only these steps (its fields are the rules' business).

// Challenge is a password check the throttle let through.
type Challenge struct {
	cur    *Registration
	source string // keyed tag, "" when unknown
	issued bool
}

// PasswordHash is the hash to verify the password against; "" when the
// email is unknown (verify a dummy hash then, so that it takes as long).
func (c Challenge) PasswordHash() string {
	if c.cur == nil {
		return ""
	}
	return c.cur.PasswordHash
}

// Authenticated is a registration whose password was just verified.
type Authenticated struct {
	reg     *Registration
	changed bool // the check itself changed reg (a source learnt, a bucket cleared)
}

// Authenticate is the first step of every authenticated command. A password
// check the throttle holds back answers ErrTooManyAttempts here, with the
// wait, before the password is verified. source identifies the client's
// network (see the gateway); "" is a stranger of its own.
func (r Rules) Authenticate(cur *Registration, source string, now time.Time) (Challenge, error) {
	c := Challenge{cur: cur, source: r.sourceTag(source), issued: true}
	if cur == nil {
		return c, nil
	}
	if wait := r.policy.passwordWait(cur.Passwords, c.source, now); wait > 0 {
		return Challenge{}, reject(ErrTooManyAttempts, wait)
	}
	return c, nil
}

// Verified is the second step: passwordOK is the outcome of verifying the
// password against c.PasswordHash(). Unless ok, refused is the decision to
// answer with: 401, with the wrong password recorded.
func (r Rules) Verified(c Challenge, passwordOK bool, now time.Time) (auth Authenticated, refused Decision, ok bool) {
	if !c.issued || c.cur == nil {
		return Authenticated{}, Decision{Err: ErrInvalidCredentials}, false
	}
	next := c.cur.Clone()
	next.UpdatedAt = now
	if !passwordOK {
		var events []Event
		if r.policy.failPassword(&next.Passwords, c.source, now) {
			events = []Event{Throttled{UserID: next.ID, Until: now.Add(r.policy.throttleDelay(1)), Scope: ThrottlePasswords}}
		}
		return Authenticated{}, Decision{Next: next, Events: events, Err: ErrInvalidCredentials}, false
	}
	if !next.Passwords.passed(c.source) {
		return Authenticated{reg: c.cur}, Decision{}, true
	}
	return Authenticated{reg: next, changed: true}, Decision{}, true
}

// keep makes d persist what the password check changed, when d itself
// changes nothing.
func (a Authenticated) keep(d Decision) Decision {
	if d.Next == nil && a.changed {
		d.Next = a.reg
	}
	return d
}

// Activate checks, in the contract's order after the credentials: status,
// code format, expiry, code budget, burned code, then the code itself.
func (r Rules) Activate(a Authenticated, code string, now time.Time) Decision {
	cur, p := a.reg, r.policy
	if cur == nil {
		return Decision{Err: ErrInvalidCredentials}
	}
	if cur.Status == StatusActive {
		return a.keep(Decision{Err: ErrAlreadyActive})
	}
	if !validCodeFormat(code) {
		return a.keep(Decision{Err: ErrInvalidCodeFormat})
	}
	if cur.Code.MAC == nil || !now.Before(cur.Code.ExpiresAt) {
		return a.keep(r.noteExpiry(cur, now, ErrCodeExpired))
	}
	if wait, exhausted := p.codeBudgetWait(cur, now); exhausted {
		return a.keep(Decision{Err: reject(ErrTooManyAttempts, wait)})
	}
	if cur.Code.Attempts >= p.CodeMaxAttempts {
		return a.keep(Decision{Err: reject(ErrTooManyAttempts, p.issueWait(cur, now))})
	}
	if !hmac.Equal(codeMAC(r.codeKey, cur.ID, cur.Generation, code), cur.Code.MAC) {
		return r.wrongCode(cur, now)
	}
	next := cur.Clone()
	next.Status = StatusActive
	next.ActivatedAt = now
	next.UpdatedAt = now
	next.Code = Code{}
	return Decision{Next: next, Events: []Event{Activated{UserID: next.ID, Email: next.Email, At: now}}}
}

// wrongCode counts a wrong guess against the code and against the code
// budget. The answer tells how many guesses are left, the fewer of the two.
func (r Rules) wrongCode(cur *Registration, now time.Time) Decision {
	p := r.policy
	next := cur.Clone()
	next.Code.Attempts++
	events := p.failCode(next, now)
	codeLeft := p.CodeMaxAttempts - next.Code.Attempts
	budgetLeft := p.codeGuessesLeft(next, now)
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
	if lock, exhausted := p.codeBudgetWait(next, now); exhausted {
		wait = max(wait, lock)
	}
	return Decision{Next: next, Events: events, Err: reject(ErrTooManyAttempts, wait)}
}

// ResendCode issues a new code to a pending account outside its cooldown.
func (r Rules) ResendCode(a Authenticated, code string, now time.Time) Decision {
	cur := a.reg
	if cur == nil {
		return Decision{Err: ErrInvalidCredentials}
	}
	if cur.Status == StatusActive {
		return a.keep(Decision{Err: ErrAlreadyActive})
	}
	if wait := r.policy.issueWait(cur, now); wait > 0 {
		return a.keep(Decision{Err: reject(ErrRateLimited, wait)})
	}
	next := cur.Clone()
	return Decision{Next: next, Events: []Event{r.issue(next, code, IssueResend, now)}}
}

// Describe is a read of the account (GET /v1/users/me).
func (r Rules) Describe(a Authenticated, _ time.Time) Decision {
	if a.reg == nil {
		return Decision{Err: ErrInvalidCredentials}
	}
	return a.keep(Decision{})
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

// Purge deletes a pending registration whose last code expired more than
// the retention ago: the personal data of someone who never proved the
// address is kept no longer than it serves (GDPR art. 5(1)(e)). The email
// can then be registered afresh, with a new id.
func (r Rules) Purge(cur *Registration, now time.Time) Decision {
	if !r.Purgeable(cur, now) {
		return Decision{}
	}
	return Decision{Delete: true, Events: []Event{RegistrationPurged{UserID: cur.ID, At: now}}}
}

// Purgeable reports whether reg is pending and past its retention at now.
func (r Rules) Purgeable(reg *Registration, now time.Time) bool {
	if reg == nil || reg.Status != StatusPending || r.policy.PendingRetention <= 0 {
		return false
	}
	return !now.Before(LastCodeExpiry(reg).Add(r.policy.PendingRetention))
}

// LastCodeExpiry is when the last code of a pending registration expired,
// or will (the stores' sweeps select on the same column).
func LastCodeExpiry(reg *Registration) time.Time {
	if reg.Code.ExpiresAt.IsZero() {
		return reg.UpdatedAt // no code was ever issued
	}
	return reg.Code.ExpiresAt
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
	next := cur.Clone()
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
