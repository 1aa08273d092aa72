package ratelimit

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
	m     map[string]memEntry
	calls int // calls since the last sweep
}

type memEntry struct {
	count   int
	expires time.Time
}

// NewMemoryStore returns an empty in-memory store. Keys are kept as given:
// limiters sharing it share their counts, so give each limit its own store.
//
// The store is a [Store] in process memory, for a single instance. It is
// safe for concurrent use. Expired windows are dropped lazily: every so
// often (after as many calls as it holds keys) a call sweeps the whole map,
// so memory stays bounded by the live keys without a background goroutine
// and there is nothing to close.
func NewMemoryStore() Store {
	return &memoryStore{m: make(map[string]memEntry)}
}

// Add implements [Store].
func (s *memoryStore) Add(_ context.Context, key string, n int, window time.Duration, limit int, block time.Duration) (int, time.Duration, bool, error) {
	now := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	sweep.Maybe(s.m, &s.calls, func(e memEntry) bool { return !now.Before(e.expires) })
	e, ok := s.m[key]
	started := !ok || !now.Before(e.expires)
	if started {
		e = memEntry{expires: now.Add(window)}
	}
	old := e.count
	e.count = max(old+n, 0)
	if block > 0 && old <= limit && e.count > limit {
		e.expires = now.Add(block)
	}
	s.m[key] = e
	return e.count, e.expires.Sub(now), started, nil
}

// Set implements [Store].
func (s *memoryStore) Set(_ context.Context, key string, count int, ttl time.Duration) error {
	now := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	sweep.Maybe(s.m, &s.calls, func(e memEntry) bool { return !now.Before(e.expires) })
	s.m[key] = memEntry{count: count, expires: now.Add(ttl)}
	return nil
}

// Get implements [Store].
func (s *memoryStore) Get(_ context.Context, key string) (int, time.Duration, error) {
	now := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.m[key]
	if !ok || !now.Before(e.expires) {
		return 0, 0, nil
	}
	return e.count, e.expires.Sub(now), nil
}

// Delete implements [Store].
func (s *memoryStore) Delete(_ context.Context, key string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.m, key)
	return nil
}
