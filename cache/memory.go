package cache

import (
	"hash/maphash"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/golang-lru/v2/simplelru"
)

var _ Local = (*MemoryStore)(nil)

// Defaults of [MemoryOptions].
const (
	defaultMaxEntries    = 10_000
	defaultMaxBytes      = 64 << 20
	defaultMaxEntryBytes = 1 << 20
)

// epoch anchors the monotonic clock the L1 expiries are measured on, so that
// a wall-clock jump never expires or revives an entry.
var epoch = time.Now()

// monotonic returns the nanoseconds since epoch on the monotonic clock.
func monotonic() int64 { return int64(time.Since(epoch)) }

// MemoryOptions configures a [MemoryStore]. The zero value is ready to use;
// every field states its default.
type MemoryOptions struct {
	// MaxEntries bounds the number of entries; adding one more evicts the
	// least recently used (of its shard: see [MemoryStore]). Zero means
	// DefaultMaxEntries (10,000).
	MaxEntries int
	// MaxBytes bounds the bytes of all values together; storing past it
	// evicts the least recently used entries (of its shard) until it fits.
	// Zero means DefaultMaxBytes (64 MiB).
	MaxBytes int64
	// MaxEntryBytes is the largest value kept: a larger one is not stored
	// in this tier (it still reaches L2). Zero means DefaultMaxEntryBytes
	// (1 MiB), or MaxBytes when that is smaller.
	MaxEntryBytes int64
}

// Sharding of a [MemoryStore]: a store large enough is split into shards by
// a hash of the key, each with its own lock and its own share of the bounds,
// so that readers on different cores rarely meet on one lock.
const (
	maxShards = 16
	// minShardEntries is the fewest entries a shard may be given: below
	// it, a shard's own LRU order would stray too far from the store's.
	minShardEntries = 512
)

// MemoryStore is the in-process tier (L1): a least-recently-used cache
// bounded by entry count and by bytes, with an absolute expiry per entry. An
// expired entry is never returned; it is removed when a read finds it, or
// when it falls off the end of the LRU order. No goroutine sweeps it, so a
// MemoryStore owns no background work and needs no Close.
//
// Values are immutable ([Value]), so a hit hands out the stored value itself,
// without a copy: Get returns the Item given to Set, unchanged.
//
// # Shards
//
// A store that can give each of its shards at least 512 entries and
// MaxEntryBytes of bytes is split into up to 16 shards by a hash of the key
// (the defaults give 16; a store of fewer than 1,024 entries has one). Each
// shard has its own lock, its own LRU order, and an equal share of MaxEntries
// and MaxBytes, so that readers on different cores rarely wait for each
// other. The bounds hold for the store as a whole (the shares add up to
// them), but the least recently used order is kept per shard: an entry is
// evicted when its shard is full, even if another shard has room or holds
// older entries. With many keys the shards fill evenly and this is close to
// one LRU; a store that must evict in exact LRU order should keep
// MaxEntries below 1,024.
//
// A hit moves its entry to the front of its shard's order only when the
// entry is not already in the front quarter, so that a hot entry's hits do
// not write to the list: the order among the most recent quarter is
// approximate, and eviction still takes the least recently used.
//
// Each shard is hashicorp/golang-lru/v2's simplelru under one mutex of its
// own, so that "find, see it expired, remove it" and "overwrite, re-index its
// tags" are atomic. It is safe for concurrent use.
type MemoryStore struct {
	maxEntry int64
	seed     maphash.Seed
	mask     uint64 // len(shards) - 1; len(shards) is a power of two
	shards   []memShard
	// now is the clock; tests replace it.
	now func() int64
}

// memShard is one shard of a [MemoryStore].
type memShard struct {
	mu       sync.Mutex
	lru      *simplelru.LRU[string, memEntry]
	maxLen   int // the shard's share of MaxEntries
	maxBytes int64
	bytes    int64 // sum of the live values' lengths; guarded by mu
	// tags maps a tag to the keys of the live entries carrying it; guarded
	// by mu and kept in step with lru by the eviction callback.
	tags map[string]map[string]struct{}
	// seq counts the entries stored or moved to the front; guarded by mu.
	seq uint64
	// The shards sit side by side: padding keeps each one's lock and
	// counters off its neighbours' cache lines.
	_ [64]byte
}

// memEntry is one stored item with its expiry on the monotonic clock, in ns.
type memEntry struct {
	Item
	exp int64
	// seq is the shard's use count when the entry was stored or last
	// moved to the front (see memShard.use).
	seq uint64
}

// NewMemoryStore returns an empty in-process tier. It panics if an option is
// negative.
func NewMemoryStore(opts MemoryOptions) *MemoryStore {
	if opts.MaxEntries < 0 || opts.MaxBytes < 0 || opts.MaxEntryBytes < 0 {
		panic("cache: NewMemoryStore: negative option")
	}
	if opts.MaxEntries == 0 {
		opts.MaxEntries = defaultMaxEntries
	}
	if opts.MaxBytes == 0 {
		opts.MaxBytes = defaultMaxBytes
	}
	if opts.MaxEntryBytes == 0 {
		opts.MaxEntryBytes = defaultMaxEntryBytes
	}
	maxEntry := min(opts.MaxEntryBytes, opts.MaxBytes)
	n := 1
	for n < maxShards && opts.MaxEntries/(2*n) >= minShardEntries && opts.MaxBytes/int64(2*n) >= maxEntry {
		n *= 2
	}
	m := &MemoryStore{maxEntry: maxEntry, seed: maphash.MakeSeed(), mask: uint64(n - 1),
		shards: make([]memShard, n), now: monotonic}
	for i := range m.shards {
		s := &m.shards[i]
		// Shares that add up to the bounds exactly.
		entries := opts.MaxEntries / n
		if i < opts.MaxEntries%n {
			entries++
		}
		s.maxBytes = opts.MaxBytes / int64(n)
		if int64(i) < opts.MaxBytes%int64(n) {
			s.maxBytes++
		}
		s.maxLen = entries
		s.lru, _ = simplelru.NewLRU(entries, s.onEvict) // entries >= 1: no error
	}
	return m
}

// shard returns the shard of key.
func (m *MemoryStore) shard(key string) *memShard {
	if m.mask == 0 {
		return &m.shards[0]
	}
	return &m.shards[maphash.String(m.seed, key)&m.mask]
}

// onEvict keeps the byte count and the tag index in step when an entry
// leaves the LRU (removed, evicted or purged). The caller holds s.mu:
// simplelru calls it from inside Add, Remove and Purge.
func (s *memShard) onEvict(key string, e memEntry) {
	s.bytes -= int64(e.Value.Len())
	for _, tag := range e.Tags {
		keys := s.tags[tag]
		delete(keys, key)
		if len(keys) == 0 {
			delete(s.tags, tag)
		}
	}
}

// Get returns the live item under key: the Item given to Set, unchanged. An
// expired entry found here is removed.
func (m *MemoryStore) Get(key string) (Item, bool) {
	it, _, ok := m.GetTTL(key)
	return it, ok
}

// GetTTL returns the live item under key and the time it has left before
// it expires. An expired entry found here is removed.
func (m *MemoryStore) GetTTL(key string) (Item, time.Duration, bool) {
	s := m.shard(key)
	now := m.now() // outside the lock: the clock read is a tenth of a hit
	s.mu.Lock()
	e, ok := s.lru.Peek(key)
	if ok {
		if e.exp <= now {
			s.lru.Remove(key)
			ok = false
		} else {
			s.use(key, e)
		}
	}
	s.mu.Unlock()
	return e.Item, time.Duration(e.exp - now), ok
}

// use moves the entry e under key to the front of the LRU order, unless it
// is still in the front quarter. Fewer than seq - e.seq entries were stored
// or moved in front of it since it was, so when that is below a quarter of
// the shard's length it is that near the front already, and a hit skips the
// move: a hot entry costs a lookup and no writes to the list (whose
// neighbouring elements are cache misses on a large store). Order within
// the front quarter is therefore approximate; eviction takes from the back,
// which stays least recently used. A shard of fewer than 4 entries is kept
// in exact order. The caller holds s.mu.
func (s *memShard) use(key string, e memEntry) {
	if s.seq-e.seq < uint64(s.lru.Len()/4) {
		return
	}
	s.seq++
	e.seq = s.seq
	s.lru.Add(key, e) // present: moved to the front, no eviction
}

// Set stores it under key for ttl, replacing any entry there (and the tags
// it carried). A ttl <= 0, or a value larger than MaxEntryBytes, stores
// nothing and removes any entry under key. The store keeps it as given (Get
// returns it unchanged): the caller must not change its Tags afterwards.
func (m *MemoryStore) Set(key string, it Item, ttl time.Duration) {
	size := int64(it.Value.Len())
	s := m.shard(key)
	exp := m.now() + int64(ttl)
	s.mu.Lock()
	defer s.mu.Unlock()
	if ttl <= 0 || size > m.maxEntry {
		s.lru.Remove(key)
		return
	}
	s.lru.Remove(key) // the callback drops its bytes and tags
	for s.bytes+size > s.maxBytes && s.lru.Len() > 0 {
		s.lru.RemoveOldest()
	}
	s.seq++
	s.lru.Add(key, memEntry{Item: it, exp: exp, seq: s.seq})
	s.bytes += size
	for _, tag := range it.Tags {
		keys := s.tags[tag]
		if keys == nil {
			if s.tags == nil {
				s.tags = make(map[string]map[string]struct{})
			}
			keys = make(map[string]struct{})
			s.tags[tag] = keys
		}
		keys[key] = struct{}{}
	}
}

// Delete removes the keys; absent keys are not an error.
func (m *MemoryStore) Delete(keys ...string) {
	for _, k := range keys {
		s := m.shard(k)
		s.mu.Lock()
		s.lru.Remove(k)
		s.mu.Unlock()
	}
}

// DeleteTags removes every entry carrying any of the tags.
func (m *MemoryStore) DeleteTags(tags ...string) {
	if len(tags) == 0 {
		return
	}
	for i := range m.shards {
		s := &m.shards[i]
		s.mu.Lock()
		for _, tag := range tags {
			for key := range s.tags[tag] { // Remove edits s.tags[tag] through onEvict
				s.lru.Remove(key)
			}
		}
		s.mu.Unlock()
	}
}

// Tags returns the tags carried by the entries whose name starts with
// prefix (all of them for ""), in no particular order. Entries that have
// expired but not yet been seen may still count.
func (m *MemoryStore) Tags(prefix string) []string {
	var out []string
	seen := make(map[string]struct{})
	for i := range m.shards {
		s := &m.shards[i]
		s.mu.Lock()
		for tag := range s.tags {
			if _, dup := seen[tag]; !dup && strings.HasPrefix(tag, prefix) {
				seen[tag] = struct{}{}
				out = append(out, tag)
			}
		}
		s.mu.Unlock()
	}
	return out
}

// count returns the number of entries, expired ones not yet removed included.
func (m *MemoryStore) count() int {
	n := 0
	for i := range m.shards {
		s := &m.shards[i]
		s.mu.Lock()
		n += s.lru.Len()
		s.mu.Unlock()
	}
	return n
}

// size returns the total length of the values held.
func (m *MemoryStore) size() int64 {
	var n int64
	for i := range m.shards {
		s := &m.shards[i]
		s.mu.Lock()
		n += s.bytes
		s.mu.Unlock()
	}
	return n
}

// Purge removes every entry.
func (m *MemoryStore) Purge() {
	for i := range m.shards {
		s := &m.shards[i]
		s.mu.Lock()
		s.lru.Purge()
		s.mu.Unlock()
	}
}
