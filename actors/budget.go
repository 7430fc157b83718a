package actors

import "time"

// The code budget and the issue throttle are sliding logs: the row keeps
// the times of the most recent events, so "at most N per window" holds for
// every window, not only for aligned ones.

// recent returns the entries of log that are still inside window at now
// (now < t + window), keeping at most the last keep of them.
func recent(log []time.Time, window time.Duration, keep int, now time.Time) []time.Time {
	first := len(log)
	for i, t := range log {
		if now.Before(t.Add(window)) {
			first = i
			break
		}
	}
	log = log[first:]
	if len(log) > keep {
		log = log[len(log)-keep:]
	}
	return log
}

// codeBudgetWait reports whether the budget of wrong codes is used up at
// now, and for how long it stays so.
func (p Policy) codeBudgetWait(r *Registration, now time.Time) (time.Duration, bool) {
	fs := recent(r.CodeFailures, p.FailureWindow, p.FailureLimit, now)
	if len(fs) < p.FailureLimit {
		return 0, false
	}
	return fs[0].Add(p.FailureWindow).Sub(now), true
}

// codeGuessesLeft is how many more wrong codes the budget takes at now.
func (p Policy) codeGuessesLeft(r *Registration, now time.Time) int {
	return p.FailureLimit - len(recent(r.CodeFailures, p.FailureWindow, p.FailureLimit, now))
}

// failCode adds a wrong code at now and reports the event to emit when it
// used up the budget.
func (p Policy) failCode(r *Registration, now time.Time) []Event {
	r.CodeFailures = append(recent(r.CodeFailures, p.FailureWindow, p.FailureLimit-1, now), now)
	r.UpdatedAt = now
	if wait, exhausted := p.codeBudgetWait(r, now); exhausted {
		return []Event{Throttled{UserID: r.ID, Until: now.Add(wait), Scope: ThrottleCodes}}
	}
	return nil
}

// issueHorizon is how long an issue stays relevant: the hourly cap looks one
// hour back, the cooldown one cooldown back.
func (p Policy) issueHorizon() time.Duration { return max(time.Hour, p.ResendCooldown) }

// nextIssueAt is the earliest time a new code may be issued.
func (p Policy) nextIssueAt(r *Registration, now time.Time) time.Time {
	if len(r.Issues) == 0 {
		return now
	}
	at := r.Issues[len(r.Issues)-1].Add(p.ResendCooldown)
	hour := recent(r.Issues, time.Hour, p.HourlyCodeLimit, now)
	if len(hour) >= p.HourlyCodeLimit {
		if capped := hour[0].Add(time.Hour); capped.After(at) {
			at = capped
		}
	}
	return at
}

// issueWait is how long until a new code may be issued (0 when it may now).
func (p Policy) issueWait(r *Registration, now time.Time) time.Duration {
	return max(p.nextIssueAt(r, now).Sub(now), 0)
}

// recordIssue adds an issue at now. The most recent issue is always kept so
// that the cooldown can be read from it.
func (p Policy) recordIssue(r *Registration, now time.Time) {
	keep := max(p.HourlyCodeLimit, 1)
	r.Issues = append(recent(r.Issues, p.issueHorizon(), keep-1, now), now)
}
