package lock

// StoreLen returns the number of locks a store from NewMemoryStore holds,
// expired ones not yet swept included.
func StoreLen(s Store) int {
	m := s.(*memoryStore)
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.m)
}
