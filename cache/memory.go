package cache

import (
	"hash/maphash"
	"strings"
	"sync"
	"sync/atomic"
	"time"
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
// so that writers on different cores rarely meet on one lock.
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
// and MaxBytes, so that writers on different cores rarely wait for each
// other. The bounds hold for the store as a whole (the shares add up to
// them), but the least recently used order is kept per shard: an entry is
// evicted when its shard is full, even if another shard has room or holds
// older entries. With many keys the shards fill evenly and this is close to
// one LRU; a store that must evict in exact LRU order should keep
// MaxEntries below 1,024.
//
// # Reads take no lock
//
// A read finds its entry in an index that readers consult without a lock
// (a [sync.Map], written only under the lock of the key's shard). A hit
// moves its entry to the front of its shard's order only when the entry is
// neither at the front nor in the front quarter, and only that move takes
// the shard's lock; so the hits of a hot entry write nothing shared, and
// readers on different cores wait neither for each other nor for a writer
// of the same shard. A miss takes no lock either; a read that finds its
// entry expired takes it to remove the entry. The order among the most
// recent quarter is approximate: the entry evicted is always among the
// quarter of its shard's entries least recently used (read or stored), and
// with fewer than 4 entries in the shard it is exactly the least recently
// used.
//
// Writes (Set, Delete, DeleteTags, Purge) take the lock of each shard they
// change, so that "overwrite, re-index its tags" and "evict until it fits"
// are atomic. A read concurrent with a Set of the same key finds the entry
// before the Set or after it, never a miss in between. The index costs each
// Set about three small allocations more than a plain map would. It is safe
// for concurrent use.
type MemoryStore struct {
	maxEntry int64
	seed     maphash.Seed
	mask     uint64 // len(shards) - 1; len(shards) is a power of two
	shards   []memShard
	// index maps each key held to its entry (string → *memEntry). It
	// holds exactly the entries in the shards' lists: an entry is added
	// and removed under the lock of its shard, and read without one.
	index sync.Map
	// now is the clock; tests replace it.
	now func() int64
}

// memShard is one shard of a [MemoryStore].
type memShard struct {
	mu sync.Mutex
	// head and tail are the ends of the LRU list: head the most recently
	// used entry, tail the least. Guarded by mu.
	head, tail *memEntry
	// n is the length of the list; written under mu, read without it.
	n        atomic.Int64
	maxLen   int // the shard's share of MaxEntries
	maxBytes int64
	bytes    int64 // sum of the live values' lengths; guarded by mu
	// tags maps a tag to the keys of the live entries carrying it; guarded
	// by mu and kept in step with the list.
	tags map[string]map[string]struct{}
	// seq counts the entries stored or moved to the front; written under
	// mu, read without it.
	seq atomic.Uint64
	// The shards sit side by side: padding keeps each one's lock and
	// counters off its neighbours' cache lines.
	_ [64]byte
}

// memEntry is one stored item, its expiry, and its place in its shard's
// LRU list. Only seq and the links change after it is indexed: a new Set
// of its key stores a new entry.
type memEntry struct {
	key string
	Item
	exp   int64 // expiry on the monotonic clock, in ns
	shard *memShard
	// seq is the shard's use count when the entry was stored or last
	// moved to the front (see memShard.recent); written under the
	// shard's lock, read without it.
	seq atomic.Uint64
	// prev (towards head) and next (towards tail) link the list; linked
	// says the entry is in it. Guarded by the shard's lock.
	prev, next *memEntry
	linked     bool
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
		s.maxLen = opts.MaxEntries / n
		if i < opts.MaxEntries%n {
			s.maxLen++
		}
		s.maxBytes = opts.MaxBytes / int64(n)
		if int64(i) < opts.MaxBytes%int64(n) {
			s.maxBytes++
		}
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

// lookup returns the indexed entry of key, live or not, without a lock.
func (m *MemoryStore) lookup(key string) *memEntry {
	v, ok := m.index.Load(key)
	if !ok {
		return nil
	}
	return v.(*memEntry)
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
	e := m.lookup(key)
	if e == nil {
		return Item{}, 0, false
	}
	now := m.now()
	s := e.shard
	if e.exp <= now {
		s.mu.Lock()
		if e.linked {
			m.remove(e)
		}
		s.mu.Unlock()
		return Item{}, 0, false
	}
	if !s.recent(e) {
		s.mu.Lock()
		// Still held and still not recent: another reader may have moved
		// it meanwhile, or a write replaced it (then this read is of the
		// entry as it was, and the new one keeps its place).
		if e.linked && !s.recent(e) {
			s.unlink(e)
			s.pushFront(e)
		}
		s.mu.Unlock()
	}
	return e.Item, time.Duration(e.exp - now), true
}

// recent reports whether a hit on e can leave it where it is: it is at the
// front of the list, or fewer than a quarter of the shard's entries can be
// in front of it. Fewer than seq - e.seq entries were stored or moved in
// front of it since it was, so when that is below a quarter of the shard's
// length it is that near the front already, and a hit skips the move: a
// hot entry costs a lookup and no write (to the list, whose neighbouring
// entries are cache misses on a large store, nor to the lock). Order within
// the front quarter is therefore approximate; eviction takes from the back,
// which stays least recently used. A shard of fewer than 4 entries is kept
// in exact order. It needs no lock: e.seq is read first, so the shard's
// count read after it is at least as large.
func (s *memShard) recent(e *memEntry) bool {
	es := e.seq.Load()
	d := s.seq.Load() - es
	return d == 0 || d < uint64(s.n.Load()/4)
}

// pushFront puts the unlinked entry e at the front of the list and counts
// the use. The caller holds s.mu.
func (s *memShard) pushFront(e *memEntry) {
	e.prev, e.next, e.linked = nil, s.head, true
	if s.head != nil {
		s.head.prev = e
	} else {
		s.tail = e
	}
	s.head = e
	seq := s.seq.Load() + 1
	s.seq.Store(seq)
	e.seq.Store(seq)
}

// unlink takes e out of the list, its bytes and its tags out of the
// shard's counts; the index is left to the caller. The caller holds s.mu.
func (s *memShard) unlink(e *memEntry) {
	if e.prev != nil {
		e.prev.next = e.next
	} else {
		s.head = e.next
	}
	if e.next != nil {
		e.next.prev = e.prev
	} else {
		s.tail = e.prev
	}
	e.prev, e.next, e.linked = nil, nil, false
}

// remove takes the linked entry e out of its shard and out of the index,
// and releases its bytes and tags. The caller holds e.shard.mu.
func (m *MemoryStore) remove(e *memEntry) {
	s := e.shard
	s.unlink(e)
	s.release(e)
	m.index.Delete(e.key)
}

// release drops the bytes and the tags of e, which has left the list. The
// caller holds s.mu.
func (s *memShard) release(e *memEntry) {
	s.n.Add(-1)
	s.bytes -= int64(e.Value.Len())
	for _, tag := range e.Tags {
		keys := s.tags[tag]
		delete(keys, e.key)
		if len(keys) == 0 {
			delete(s.tags, tag)
		}
	}
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
	old := m.lookup(key)
	if ttl <= 0 || size > m.maxEntry {
		if old != nil {
			m.remove(old)
		}
		return
	}
	if old != nil {
		// Out of the list but still indexed: a concurrent read finds the
		// old entry until the new one replaces it in the index below.
		s.unlink(old)
		s.release(old)
	}
	for s.tail != nil && (s.bytes+size > s.maxBytes || int(s.n.Load()) >= s.maxLen) {
		m.remove(s.tail)
	}
	e := &memEntry{key: key, Item: it, exp: exp, shard: s}
	s.pushFront(e)
	s.n.Add(1)
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
	m.index.Store(key, e)
}

// Delete removes the keys; absent keys are not an error.
func (m *MemoryStore) Delete(keys ...string) {
	for _, k := range keys {
		s := m.shard(k)
		s.mu.Lock()
		if e := m.lookup(k); e != nil {
			m.remove(e)
		}
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
			for key := range s.tags[tag] { // remove edits s.tags[tag]
				m.remove(m.lookup(key))
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
		n += int(m.shards[i].n.Load())
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
		for s.tail != nil {
			m.remove(s.tail)
		}
		s.mu.Unlock()
	}
}
