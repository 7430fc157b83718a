package mailer

// PruneNow exposes Memory's pruning to the tests.
func (m *Memory) PruneNow() { m.prune() }
