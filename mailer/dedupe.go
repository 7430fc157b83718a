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
// so it stays as small as the number of codes alive, also once the service
// has gone quiet: while it holds entries, a timer prunes it.
type Memory struct {
	mu     sync.Mutex
	until  map[string]time.Time
	pruner *time.Timer // armed while there are entries
	now    func() time.Time
}

// pruneEvery is how often a non-empty Memory drops its expired entries.
const pruneEvery = 30 * time.Second

// NewMemory returns an empty Memory deduper.
func NewMemory() *Memory {
	return &Memory{until: map[string]time.Time{}, now: time.Now}
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
	if until.After(m.until[id]) {
		m.until[id] = until
	}
	if m.pruner == nil {
		m.pruner = time.AfterFunc(pruneEvery, m.prune)
	}
	return nil
}

// Len is the number of messages remembered, expired ones not yet pruned
// included (the mailer_dedupe_entries gauge).
func (m *Memory) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.until)
}

// prune drops the expired entries into a fresh map (a map never shrinks),
// and stays armed while entries remain.
func (m *Memory) prune() {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	kept := make(map[string]time.Time, len(m.until)/2)
	for k, u := range m.until {
		if now.Before(u) {
			kept[k] = u
		}
	}
	m.until = kept
	if len(kept) > 0 {
		m.pruner.Reset(pruneEvery)
	} else {
		m.pruner = nil
	}
}
