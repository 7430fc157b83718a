package mailer

import (
	"context"
	"sync"
	"time"
)

// Deduper remembers which messages were sent, so a redelivered message does
// not send a second email. Implementations: Memory (one process) and the
// PostgreSQL table of the separate mailer.
type Deduper interface {
	// Seen reports whether id was remembered and has not been forgotten.
	Seen(ctx context.Context, id string) (bool, error)
	// Remember records id until the given time (after which a redelivery
	// is harmless: the code has expired and would be skipped anyway).
	Remember(ctx context.Context, id string, until time.Time) error
}

// Memory is an in-process Deduper. Its entries are forgotten at their time,
// so it stays as small as the number of codes alive.
type Memory struct {
	mu        sync.Mutex
	until     map[string]time.Time
	nextPrune int
	now       func() time.Time
}

// NewMemory returns an empty Memory deduper.
func NewMemory() *Memory {
	return &Memory{until: map[string]time.Time{}, nextPrune: 1024, now: time.Now}
}

// Seen implements Deduper.
func (m *Memory) Seen(_ context.Context, id string) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	u, ok := m.until[id]
	return ok && m.now().Before(u), nil
}

// Remember implements Deduper.
func (m *Memory) Remember(_ context.Context, id string, until time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.until) >= m.nextPrune {
		now := m.now()
		for k, u := range m.until {
			if !now.Before(u) {
				delete(m.until, k)
			}
		}
		m.nextPrune = max(1024, 2*len(m.until))
	}
	if until.After(m.until[id]) {
		m.until[id] = until
	}
	return nil
}
