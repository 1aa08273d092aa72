package ratelimit

import "time"

// SetNow replaces the store's clock, for tests.
func (s *MemoryStore) SetNow(now func() time.Time) { s.now = now }
