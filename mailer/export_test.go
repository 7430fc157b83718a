package mailer

// PruneNow and Len expose Memory's pruning to the tests.
func (m *Memory) PruneNow() { m.prune() }

func (m *Memory) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.until)
}
