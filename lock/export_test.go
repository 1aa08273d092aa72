package lock

import "time"

// SetNow replaces the locker's clock, for tests.
func (m *Memory) SetNow(now func() time.Time) { m.now = now }

// Len returns the number of locks held, expired ones not yet swept included.
func (m *Memory) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.m)
}
