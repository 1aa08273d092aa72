package lock

import (
	"context"
	"sync"
	"time"

	"github.com/alovago/alova/internal/sweep"
)

var _ Locker = (*Memory)(nil)

// Memory is a [Locker] for the goroutines of one process. It is safe for
// concurrent use. Expired locks are dropped lazily (every so often a call
// sweeps the map), so there is no goroutine and nothing to close.
type Memory struct {
	mu    sync.Mutex
	m     map[string]memLock
	calls int // calls since the last sweep
	now   func() time.Time
}

type memLock struct {
	token   string
	expires time.Time
}

// NewMemory returns a Locker with no lock held.
func NewMemory() *Memory {
	return &Memory{m: make(map[string]memLock), now: time.Now}
}

// TryLock implements [Locker].
func (m *Memory) TryLock(_ context.Context, name, token string, ttl time.Duration) (bool, error) {
	now := m.now()
	m.mu.Lock()
	defer m.mu.Unlock()
	sweep.Maybe(m.m, &m.calls, func(e memLock) bool { return !now.Before(e.expires) })
	if e, ok := m.m[name]; ok && now.Before(e.expires) {
		return false, nil
	}
	m.m[name] = memLock{token: token, expires: now.Add(ttl)}
	return true, nil
}

// Extend implements [Locker].
func (m *Memory) Extend(_ context.Context, name, token string, ttl time.Duration) (bool, error) {
	now := m.now()
	m.mu.Lock()
	defer m.mu.Unlock()
	e, ok := m.m[name]
	if !ok || e.token != token || !now.Before(e.expires) {
		return false, nil
	}
	m.m[name] = memLock{token: token, expires: now.Add(ttl)}
	return true, nil
}

// Unlock implements [Locker].
func (m *Memory) Unlock(_ context.Context, name, token string) (bool, error) {
	now := m.now()
	m.mu.Lock()
	defer m.mu.Unlock()
	e, ok := m.m[name]
	if !ok || e.token != token {
		return false, nil
	}
	delete(m.m, name) // ours, live or expired: either way nobody else holds it
	return now.Before(e.expires), nil
}
