// Package actorstest holds in-memory fakes of the actors' ports, for unit
// tests. The Store passes the same contract suite as the real adapters
// (actors/storetest), so it cannot drift from them.
package actorstest

import (
	"context"
	"slices"
	"sync"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/acme/registrar/actors"
	registrationv1 "github.com/acme/registrar/protos/registration/v1"
)

// Store is an in-memory actors.Store with an outbox.
type Store struct {
	mu     sync.Mutex
	rows   map[string]*actors.Registration
	outbox []*outboxRow
	notify chan struct{}
	// expiryClaims and staleClaims hold the leases of ClaimExpired and
	// ClaimStale, by email.
	expiryClaims, staleClaims map[string]time.Time
	// fail, when set, is called before every Load and Save; a non-nil error
	// is returned instead of touching the data (fault injection).
	fail func(op string) error
}

type outboxRow struct {
	env          *registrationv1.Envelope
	claimedUntil time.Time
}

// NewStore returns an empty store.
func NewStore() *Store {
	return &Store{rows: map[string]*actors.Registration{}, notify: make(chan struct{}, 1), expiryClaims: map[string]time.Time{}, staleClaims: map[string]time.Time{}}
}

// FailWith makes every later Load and Save call fail(op) first ("load" or
// "save"); a nil fail removes the fault.
func (s *Store) FailWith(fail func(op string) error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fail = fail
}

func (s *Store) Load(ctx context.Context, email string) (*actors.Registration, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.injected("load"); err != nil {
		return nil, err
	}
	r, ok := s.rows[email]
	if !ok {
		return nil, actors.ErrNotFound
	}
	return r.Clone(), nil
}

func (s *Store) Save(ctx context.Context, reg *actors.Registration, msgs []*registrationv1.Envelope) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.injected("save"); err != nil {
		return err
	}
	cur, exists := s.rows[reg.Email]
	switch {
	case reg.Version == 1 && exists, reg.Version > 1 && (!exists || cur.Version != reg.Version-1), reg.Version < 1:
		return actors.ErrConflict
	}
	s.rows[reg.Email] = reg.Clone()
	for _, m := range msgs {
		s.outbox = append(s.outbox, &outboxRow{env: proto.Clone(m).(*registrationv1.Envelope)})
	}
	if len(msgs) > 0 {
		select {
		case s.notify <- struct{}{}:
		default:
		}
	}
	return nil
}

// Purge implements actors.Store.
func (s *Store) Purge(ctx context.Context, reg *actors.Registration, msgs []*registrationv1.Envelope) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.injected("save"); err != nil {
		return err
	}
	if cur, ok := s.rows[reg.Email]; !ok || cur.Version != reg.Version {
		return actors.ErrConflict
	}
	delete(s.rows, reg.Email)
	delete(s.expiryClaims, reg.Email)
	delete(s.staleClaims, reg.Email)
	s.outbox = slices.DeleteFunc(s.outbox, func(r *outboxRow) bool { return r.env.GetKey() == reg.ID })
	for _, m := range msgs {
		s.outbox = append(s.outbox, &outboxRow{env: proto.Clone(m).(*registrationv1.Envelope)})
	}
	return nil
}

// Version implements actors.Store.
func (s *Store) Version(ctx context.Context, email string) (int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.injected("load"); err != nil {
		return 0, err
	}
	if r, ok := s.rows[email]; ok {
		return r.Version, nil
	}
	return 0, nil
}

// ClaimExpired implements actors.ExpiredCodes.
func (s *Store) ClaimExpired(ctx context.Context, limit int, lease time.Duration) ([]actors.ExpiredCode, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now()
	var out []actors.ExpiredCode
	for email, r := range s.rows {
		if len(out) == limit {
			break
		}
		if r.Status != actors.StatusPending || r.Code.MAC == nil || r.Code.ExpiryNoted || r.Code.ExpiresAt.After(now) ||
			s.expiryClaims[email].After(now) {
			continue
		}
		s.expiryClaims[email] = now.Add(lease)
		out = append(out, actors.ExpiredCode{Email: email, Generation: r.Generation})
	}
	return out, nil
}

// ClaimStale implements actors.StaleRegistrations.
func (s *Store) ClaimStale(ctx context.Context, retention time.Duration, limit int, lease time.Duration) ([]string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now()
	var out []string
	for email, r := range s.rows {
		if len(out) == limit {
			break
		}
		if r.Status != actors.StatusPending || actors.LastCodeExpiry(r).Add(retention).After(now) || s.staleClaims[email].After(now) {
			continue
		}
		s.staleClaims[email] = now.Add(lease)
		out = append(out, email)
	}
	return out, nil
}

func (s *Store) injected(op string) error {
	if s.fail == nil {
		return nil
	}
	return s.fail(op)
}

// Claim deletes the delivered messages, then returns up to limit unclaimed
// messages, oldest first, and hides them for lease.
func (s *Store) Claim(ctx context.Context, delivered []string, limit int, lease time.Duration) ([]*registrationv1.Envelope, error) {
	if err := ctx.Err(); err != nil { // as a database would
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.outbox = slices.DeleteFunc(s.outbox, func(r *outboxRow) bool { return slices.Contains(delivered, r.env.GetId()) })
	now := time.Now()
	var out []*registrationv1.Envelope
	for _, row := range s.outbox {
		if len(out) == limit {
			break
		}
		if row.claimedUntil.After(now) {
			continue
		}
		row.claimedUntil = now.Add(lease)
		out = append(out, proto.Clone(row.env).(*registrationv1.Envelope))
	}
	return out, nil
}

// Release makes claimed messages claimable again.
func (s *Store) Release(ctx context.Context, ids []string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, r := range s.outbox {
		if slices.Contains(ids, r.env.GetId()) {
			r.claimedUntil = time.Time{}
		}
	}
	return nil
}

// Notify receives a value after messages are added.
func (s *Store) Notify() <-chan struct{} { return s.notify }

// Reset forgets every row and message (a test measuring memory does not
// want the fake database in it).
func (s *Store) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rows = map[string]*actors.Registration{}
	s.outbox = nil
}

// Pending returns copies of the messages not yet deleted, oldest first.
func (s *Store) Pending() []*registrationv1.Envelope {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]*registrationv1.Envelope, 0, len(s.outbox))
	for _, r := range s.outbox {
		out = append(out, proto.Clone(r.env).(*registrationv1.Envelope))
	}
	return out
}
