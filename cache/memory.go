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
	// shardBits is log2(maxShards): a key's hash picks its shard with its
	// low bits and its chain in the shard's table with the bits above.
	shardBits = 4
	// minTable is the number of chains a shard's table starts with.
	minTable = 8
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
// Each shard finds its entries through a hash table of its own that readers
// walk without a lock, with atomic loads, and that only the shard's writers
// change, under its lock. A hit moves its entry to the front of its shard's
// order only when the entry is neither at the front nor in the front
// quarter, and only that move takes the shard's lock; so the hits of a hot
// entry write nothing shared, and readers on different cores wait neither
// for each other nor for a writer of the same shard. A miss takes no lock
// either (unless the shard's table is growing); a read that finds its entry
// expired takes it to remove the entry. The order among the most recent
// quarter is approximate: the entry evicted is always among the quarter of
// its shard's entries least recently used (read or stored), and with fewer
// than 4 entries in the shard it is exactly the least recently used.
//
// Writes (Set, Delete, DeleteTags, Purge) take the lock of each shard they
// change, so that "overwrite, re-index its tags" and "evict until it fits"
// are atomic. A read concurrent with a Set of the same key finds the entry
// before the Set or after it, never a miss in between. It is safe for
// concurrent use.
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
	mu sync.Mutex
	// table finds an entry by key (see memTable); replaced under mu when
	// it grows, read without it.
	table atomic.Pointer[memTable]
	// grows is odd while the table grows (see find); written under mu.
	grows atomic.Uint64
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

// memEntry is one stored item, its expiry, and its places in its shard's
// table and LRU list. Only seq and the links change once it is in the table:
// a new Set of its key stores a new entry.
type memEntry struct {
	key  string
	hash uint64 // maphash of key under the store's seed
	// hnext is the next entry of its chain in the shard's table; written
	// under the shard's lock, read without it.
	hnext atomic.Pointer[memEntry]
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
		s.table.Store(newMemTable(minTable))
	}
	return m
}

// hash returns the hash of key that picks its shard and its chain.
func (m *MemoryStore) hash(key string) uint64 { return maphash.String(m.seed, key) }

// shard returns the shard of a key whose hash is h.
func (m *MemoryStore) shard(h uint64) *memShard { return &m.shards[h&m.mask] }

// lookup returns the entry under key, live or not, or nil. It takes no lock
// unless the table grew meanwhile.
func (m *MemoryStore) lookup(key string) *memEntry {
	h := m.hash(key)
	return m.shard(h).find(h, key)
}

// memTable is a shard's index from key to entry: a power-of-two array of
// chains linked through memEntry.hnext. Readers walk it without the shard's
// lock, with atomic loads; writers change it under the lock, so that a
// reader walking a chain always reaches every entry that stays in it:
//   - a new key is put at the head of its chain;
//   - a Set of a key held puts its new entry in the old one's place (one
//     pointer store: a reader sees the old entry or the new, never neither);
//   - a removed entry keeps its hnext, so a reader standing on it goes on;
//   - growing moves the entries to the chains of a new, twice larger table
//     and then publishes it. A reader walking an old chain meanwhile may be
//     led into a new one and miss its key: grows counts the growths (odd
//     while one runs), and a reader whose walk overlapped one looks again
//     under the lock.
//
// A table starts with 8 chains and doubles when its shard is to hold more
// entries than it has chains, up to twice the shard's share of MaxEntries;
// it never shrinks. Each chain costs 8 bytes.
type memTable struct {
	mask   uint64
	chains []atomic.Pointer[memEntry]
}

// newMemTable returns a table of n chains; n is a power of two.
func newMemTable(n int) *memTable {
	return &memTable{mask: uint64(n - 1), chains: make([]atomic.Pointer[memEntry], n)}
}

// chain returns the head of the chain of hash h.
func (t *memTable) chain(h uint64) *atomic.Pointer[memEntry] {
	return &t.chains[(h>>shardBits)&t.mask]
}

// walk returns the entry of t under key (whose hash is h), or nil.
func (t *memTable) walk(h uint64, key string) *memEntry {
	for e := t.chain(h).Load(); e != nil; e = e.hnext.Load() {
		if e.hash == h && e.key == key {
			return e
		}
	}
	return nil
}

// find returns the entry under key (whose hash is h), or nil, without the
// lock; a walk that a growth overlapped is done again under the lock.
func (s *memShard) find(h uint64, key string) *memEntry {
	g := s.grows.Load()
	if g&1 == 0 {
		if e := s.table.Load().walk(h, key); e != nil || s.grows.Load() == g {
			return e
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.table.Load().walk(h, key)
}

// index puts the new entry e in the table: in the place of old, the entry
// it replaces under the same key, if not nil. The caller holds s.mu.
func (s *memShard) index(e, old *memEntry) {
	t := s.table.Load()
	if old == nil {
		if int(s.n.Load()) >= len(t.chains) && len(t.chains) < 2*s.maxLen {
			t = s.grow(t)
		}
		head := t.chain(e.hash)
		e.hnext.Store(head.Load())
		head.Store(e)
		return
	}
	e.hnext.Store(old.hnext.Load())
	for p := t.chain(e.hash); ; p = &p.Load().hnext {
		if p.Load() == old {
			p.Store(e)
			return
		}
	}
}

// unindex takes e out of the table; e keeps its hnext. The caller holds
// s.mu.
func (s *memShard) unindex(e *memEntry) {
	for p := s.table.Load().chain(e.hash); ; p = &p.Load().hnext {
		if p.Load() == e {
			p.Store(e.hnext.Load())
			return
		}
	}
}

// grow moves the entries of t to a table twice as large and publishes it.
// The caller holds s.mu.
func (s *memShard) grow(t *memTable) *memTable {
	s.grows.Add(1) // odd: readers will not trust a miss
	nt := newMemTable(2 * len(t.chains))
	for i := range t.chains {
		for e := t.chains[i].Load(); e != nil; {
			next := e.hnext.Load()
			head := nt.chain(e.hash)
			e.hnext.Store(head.Load())
			head.Store(e)
			e = next
		}
	}
	s.table.Store(nt)
	s.grows.Add(1)
	return nt
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

// unlink takes e out of the list (not out of the table). The caller holds
// s.mu.
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

// remove takes the linked entry e out of its shard's list and table, and
// releases its bytes and tags. The caller holds e.shard.mu.
func (m *MemoryStore) remove(e *memEntry) {
	s := e.shard
	s.unlink(e)
	s.release(e)
	s.unindex(e)
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
	h := m.hash(key)
	s := m.shard(h)
	exp := m.now() + int64(ttl)
	s.mu.Lock()
	defer s.mu.Unlock()
	old := s.table.Load().walk(h, key)
	if ttl <= 0 || size > m.maxEntry {
		if old != nil {
			m.remove(old)
		}
		return
	}
	if old != nil {
		// Out of the list but still in the table: a concurrent read finds
		// the old entry until the new one takes its place there below.
		s.unlink(old)
		s.release(old)
	}
	for s.tail != nil && (s.bytes+size > s.maxBytes || int(s.n.Load()) >= s.maxLen) {
		m.remove(s.tail)
	}
	e := &memEntry{key: key, hash: h, Item: it, exp: exp, shard: s}
	s.index(e, old)
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
}

// Delete removes the keys; absent keys are not an error.
func (m *MemoryStore) Delete(keys ...string) {
	for _, k := range keys {
		h := m.hash(k)
		s := m.shard(h)
		s.mu.Lock()
		if e := s.table.Load().walk(h, k); e != nil {
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
				m.remove(s.table.Load().walk(m.hash(key), key))
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
