package cache

import (
	"hash/maphash"
	"sync"
)

// indexShards is the number of shards of an index, a power of two.
const indexShards = 16

// index maps the keys of a MemoryStore to their entries: shards, each a map
// behind a read-write lock, so that a lookup is one hash, one read lock and
// one probe of a flat table. (A sync.Map walks a trie of nodes spread over
// the heap: under load its lookups cost several cache misses.) It is safe
// for concurrent use; the store changes it only under its own lock.
type index struct {
	seed   maphash.Seed
	shards [indexShards]indexShard
}

// indexShard is one shard, alone on its cache lines.
type indexShard struct {
	mu sync.RWMutex
	m  map[string]*memEntry
	_  [64 - 32]byte
}

// newIndex returns an empty index.
func newIndex() *index {
	x := &index{seed: maphash.MakeSeed()}
	for i := range x.shards {
		x.shards[i].m = make(map[string]*memEntry)
	}
	return x
}

func (x *index) shard(key string) *indexShard {
	return &x.shards[maphash.String(x.seed, key)&(indexShards-1)]
}

// load returns the entry under key.
func (x *index) load(key string) (*memEntry, bool) {
	s := x.shard(key)
	s.mu.RLock()
	e, ok := s.m[key]
	s.mu.RUnlock()
	return e, ok
}

// swap stores e under key and returns the entry it replaced, if any.
func (x *index) swap(key string, e *memEntry) (*memEntry, bool) {
	s := x.shard(key)
	s.mu.Lock()
	old, ok := s.m[key]
	s.m[key] = e
	s.mu.Unlock()
	return old, ok
}

// compareAndDelete removes key if e is still its entry.
func (x *index) compareAndDelete(key string, e *memEntry) {
	s := x.shard(key)
	s.mu.Lock()
	if s.m[key] == e {
		delete(s.m, key)
	}
	s.mu.Unlock()
}

// each calls fn with every key and entry, a shard at a time, until fn
// returns false.
func (x *index) each(fn func(key string, e *memEntry) bool) {
	for i := range x.shards {
		s := &x.shards[i]
		s.mu.RLock()
		for k, e := range s.m {
			if !fn(k, e) {
				s.mu.RUnlock()
				return
			}
		}
		s.mu.RUnlock()
	}
}
