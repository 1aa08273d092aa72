package lock

import (
	"context"
	"sync"
	"time"

	"github.com/alovago/alova/internal/sweep"
)

var _ Store = (*memoryStore)(nil)

// memoryStore is the store NewMemoryStore returns.
type memoryStore struct {
	mu    sync.Mutex
	m     map[string]memLock
	calls int // calls since the last sweep
}

type memLock struct {
	token   string
	expires time.Time
}

// NewMemoryStore returns a store with no lock held.
//
// The store is a [Store] for the goroutines of one process. It is safe for
// concurrent use. Expired locks are dropped lazily (every so often a call
// sweeps the map), so there is no goroutine and nothing to close.
func NewMemoryStore() Store {
	return &memoryStore{m: make(map[string]memLock)}
}

// TryLock implements [Store].
func (m *memoryStore) TryLock(_ context.Context, name, token string, ttl time.Duration) (bool, error) {
	now := time.Now()
	m.mu.Lock()
	defer m.mu.Unlock()
	sweep.Maybe(m.m, &m.calls, func(e memLock) bool { return !now.Before(e.expires) })
	if e, ok := m.m[name]; ok && now.Before(e.expires) {
		return false, nil
	}
	m.m[name] = memLock{token: token, expires: now.Add(ttl)}
	return true, nil
}

// Extend implements [Store].
func (m *memoryStore) Extend(_ context.Context, name, token string, ttl time.Duration) (bool, error) {
	now := time.Now()
	m.mu.Lock()
	defer m.mu.Unlock()
	e, ok := m.m[name]
	if !ok || e.token != token || !now.Before(e.expires) {
		return false, nil
	}
	m.m[name] = memLock{token: token, expires: now.Add(ttl)}
	return true, nil
}

// Unlock implements [Store].
func (m *memoryStore) Unlock(_ context.Context, name, token string) (bool, error) {
	now := time.Now()
	m.mu.Lock()
	defer m.mu.Unlock()
	e, ok := m.m[name]
	if !ok || e.token != token {
		return false, nil
	}
	delete(m.m, name) // ours, live or expired: either way nobody else holds it
	return now.Before(e.expires), nil
}
