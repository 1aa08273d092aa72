package cache

import (
	"hash/maphash"
	"math"
	"math/bits"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/puzpuzpuz/xsync/v4"
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
	// MaxEntries bounds the number of entries; storing past it evicts the
	// entries least likely to be read again (see [MemoryStore]). Zero
	// means DefaultMaxEntries (10,000).
	MaxEntries int
	// MaxBytes bounds the bytes of all values together; storing past it
	// evicts entries until they fit. Zero means DefaultMaxBytes (64 MiB).
	MaxBytes int64
	// MaxEntryBytes is the largest value kept: a larger one is not stored
	// in this tier (it still reaches L2). Zero means DefaultMaxEntryBytes
	// (1 MiB), or MaxBytes when that is smaller.
	MaxEntryBytes int64
}

// MemoryStore is the in-process tier (L1): a cache bounded by entry count
// and by bytes, with an absolute expiry per entry, whose eviction policy is
// W-TinyLFU with an adaptive window: a window of recent entries in least
// recently used order in front of a main area that admits a newcomer only
// when a frequency sketch says it is read more often than the entry it
// would evict. Scans, loops and one-off keys therefore do not flush the
// entries read again and again, which keeps more reads in this tier than a
// least recently used order does. Where recency pays better than frequency
// (a hot set that moves, reads that come back soon or never), the window
// grows, up to plain LRU: the store replays a sample of the keys against
// small copies of the policy with windows of 1 %, 10 %, 30 %, 60 % and 100 %
// of its capacity, and moves to the window of a copy that lately hit
// significantly more often than the copy of its current one. A Set may
// thus store nothing lasting: the newcomer itself can be the entry
// evicted.
//
// An expired entry is never returned; it is removed when a read finds it,
// or evicted like any other. No goroutine sweeps it: the policy's upkeep
// runs on the goroutines that read and write, so a MemoryStore owns no
// background work and needs no Close.
//
// # Bounds
//
// Entries and bytes are bounded together through one weight: an entry
// weighs the larger of one entry's share of the bounds and its bytes' share
// (its length × MaxEntries / MaxBytes slots, rounded up), against a budget
// of MaxEntries slots. The store thus never holds more than MaxEntries
// entries nor more than MaxBytes bytes, though a mix of values much larger
// than MaxBytes/MaxEntries and much smaller ones fills before either bound
// is reached.
//
// Values are immutable ([Value]), so a hit hands out the stored value itself,
// without a copy: Get returns the Item given to Set, unchanged.
//
// Reads do not wait for a lock: the index is a concurrent hash table whose
// lookups only read (github.com/puzpuzpuz/xsync), and a hit is noted in a
// small buffer of the processor's own, which every 16th hit hands to the
// policy if its lock is free (under load, some hits go unrecorded; they
// still hit). Writes take the lock. A read concurrent with a Set of the
// same key finds the entry before the Set or after it, never a miss in
// between. It is safe for concurrent use.
type MemoryStore struct {
	maxEntry int64
	// slots is the weight of one entry's share; perByte the weight of a
	// byte times maxBytes (see weigh).
	slots   uint64
	perByte uint64
	budget  uint64 // MaxBytes
	seed    maphash.Seed
	idx     *xsync.Map[string, *memEntry] // changed only under mu
	// reads holds *readBuffer: a sync.Pool hands a goroutine the buffer
	// of the processor it runs on, so readers on different processors
	// write to different memory.
	reads sync.Pool
	// tracking is set once the store has held half its capacity: until
	// then nothing is evicted soon, so hits are not recorded (as Caffeine
	// and otter start their sketch), and a hit costs a lookup and a clock
	// read only.
	tracking atomic.Bool
	// now is the clock; tests replace it.
	now func() int64

	// mu guards the policy (and the entries' places in it), the index of
	// tags and the counts, and serialises the changes of idx.
	mu     sync.Mutex
	policy tinyLFU
	sketch *sketch
	adapt  adapter
	tags   map[string]map[string]*memEntry
	n      int
	bytes  int64
}

// memEntry is one stored item and its expiry. It never changes once
// stored (a new Set of its key stores a new entry), so readers on any
// processor share its memory without writing it.
type memEntry struct {
	Item
	key string
	exp int64 // expiry on the monotonic clock, in ns
	// place is the entry's place in the policy, guarded by
	// MemoryStore.mu; its entry points back here. It is allocated apart,
	// so that moving it in the policy's lists does not write the memory
	// the entry's readers read.
	place *node
}

// entryOf returns the entry whose place in the policy n is. n must be the
// node of a memEntry, not one of the miniature simulations'.
func entryOf(n *node) *memEntry { return n.entry }

// readBuffer is a lossy buffer of recent hits, owned by whoever took it
// from MemoryStore.reads until it is put back.
type readBuffer struct {
	n    int
	slot [16]*memEntry
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
	// One entry weighs slots; the budget is MaxEntries × slots.
	slots := max(1, uint64(math.MaxUint32/2)/uint64(opts.MaxEntries))
	m := &MemoryStore{
		maxEntry: min(opts.MaxEntryBytes, opts.MaxBytes),
		slots:    slots,
		perByte:  uint64(opts.MaxEntries) * slots,
		budget:   uint64(opts.MaxBytes),
		seed:     maphash.MakeSeed(),
		idx:      xsync.NewMap[string, *memEntry](),
		now:      monotonic,
		sketch:   newSketch(opts.MaxEntries),
	}
	m.reads.New = func() any { return new(readBuffer) }
	m.policy.init(uint64(opts.MaxEntries)*slots, m.sketch, func(n *node) { m.drop(entryOf(n)) })
	m.adapt.init(opts.MaxEntries, m.sketch)
	m.adaptTo(m.adapt.choice)
	return m
}

// weigh returns the weight of a value of size bytes: the larger of one
// entry's slots and its bytes' share of the budget, rounded up, so that a
// full store is within both bounds.
func (m *MemoryStore) weigh(size int64) uint64 {
	hi, lo := bits.Mul64(uint64(size), m.perByte)
	w, rem := bits.Div64(hi, lo, m.budget) // size <= maxBytes: no overflow
	if rem != 0 {
		w++
	}
	return max(w, m.slots)
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
	e, ok := m.idx.Load(key)
	if !ok {
		return Item{}, 0, false
	}
	now := m.now()
	if e.exp <= now {
		m.mu.Lock()
		m.remove(e)
		m.mu.Unlock()
		return Item{}, 0, false
	}
	if m.tracking.Load() {
		m.record(e)
	}
	return e.Item, time.Duration(e.exp - now), true
}

// record notes a hit of e for the policy in the buffer of the processor
// it runs on. A full buffer is handed to the policy if its lock is free;
// if not, its hits go unrecorded (as Caffeine drops reads under load):
// waiting, or trying the lock again on every later hit, would make the
// readers queue on the one lock.
func (m *MemoryStore) record(e *memEntry) {
	b := m.reads.Get().(*readBuffer)
	b.slot[b.n] = e
	if b.n++; b.n == len(b.slot) {
		if m.mu.TryLock() {
			m.drain(b)
			m.mu.Unlock()
		} else {
			b.n = 0 // the policy is busy: these hits go unrecorded
		}
	}
	m.reads.Put(b)
}

// drain hands the hits buffered in b to the policy and empties it. The
// caller holds mu.
func (m *MemoryStore) drain(b *readBuffer) {
	for i, e := range b.slot[:b.n] {
		b.slot[i] = nil
		if n := e.place; n.queue != qNone {
			m.sketch.increment(n.hash)
			m.policy.touch(n)
			m.adaptTo(m.adapt.access(n.hash))
		}
	}
	b.n = 0
}

// adaptTo sets the policy to settings[i], unless i < 0. The caller holds
// mu.
func (m *MemoryStore) adaptTo(i int) {
	if i >= 0 {
		m.policy.margin = settings[i].margin
		m.policy.setWindow(uint64(settings[i].window * float64(m.policy.max)))
	}
}

// Set stores it under key for ttl, replacing any entry there (and the tags
// it carried). A ttl <= 0, or a value larger than MaxEntryBytes, stores
// nothing and removes any entry under key. The store keeps it as given (Get
// returns it unchanged): the caller must not change its Tags afterwards.
func (m *MemoryStore) Set(key string, it Item, ttl time.Duration) {
	size := int64(it.Value.Len())
	if ttl <= 0 || size > m.maxEntry {
		m.Delete(key)
		return
	}
	n := &node{weight: m.weigh(size), hash: maphash.String(m.seed, key)}
	e := &memEntry{Item: it, key: key, exp: m.now() + int64(ttl), place: n}
	n.entry = e
	// The hits this processor buffered go first, so that a goroutine's
	// reads and writes reach the policy in order.
	b := m.reads.Get().(*readBuffer)
	m.mu.Lock()
	defer m.mu.Unlock()
	m.drain(b)
	m.reads.Put(b)
	m.n++
	m.bytes += size
	for _, tag := range it.Tags {
		keys := m.tags[tag]
		if keys == nil {
			if m.tags == nil {
				m.tags = make(map[string]map[string]*memEntry)
			}
			keys = make(map[string]*memEntry)
			m.tags[tag] = keys
		}
		keys[key] = e
	}
	m.sketch.increment(n.hash)
	m.adaptTo(m.adapt.access(n.hash))
	if old, ok := m.idx.LoadAndStore(key, e); ok {
		m.unindex(old)
		m.policy.replace(old.place, n)
	} else {
		m.policy.add(n)
	}
	if !m.tracking.Load() && m.policy.total() >= m.policy.max/2 {
		m.tracking.Store(true)
	}
}

// remove takes e out of the store, unless it has left already. The caller
// holds mu.
func (m *MemoryStore) remove(e *memEntry) {
	if e.place.queue != qNone {
		m.policy.remove(e.place)
		m.drop(e)
	}
}

// drop removes e, which has left the policy, from the index, the tags and
// the counts. The caller holds mu.
func (m *MemoryStore) drop(e *memEntry) {
	m.idx.Compute(e.key, func(held *memEntry, ok bool) (*memEntry, xsync.ComputeOp) {
		if held == e {
			return nil, xsync.DeleteOp
		}
		return held, xsync.CancelOp
	})
	m.unindex(e)
}

// unindex takes e out of the tags and the counts. The caller holds mu.
func (m *MemoryStore) unindex(e *memEntry) {
	m.n--
	m.bytes -= int64(e.Value.Len())
	for _, tag := range e.Tags {
		keys := m.tags[tag]
		if keys[e.key] == e { // a newer entry of the key keeps its place
			delete(keys, e.key)
			if len(keys) == 0 {
				delete(m.tags, tag)
			}
		}
	}
}

// Delete removes the keys; absent keys are not an error.
func (m *MemoryStore) Delete(keys ...string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, k := range keys {
		if e, ok := m.idx.Load(k); ok {
			m.remove(e)
		}
	}
}

// DeleteTags removes every entry carrying any of the tags.
func (m *MemoryStore) DeleteTags(tags ...string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, tag := range tags {
		for _, e := range m.tags[tag] {
			m.remove(e)
		}
	}
}

// Tags returns the tags carried by the entries whose name starts with
// prefix (all of them for ""), in no particular order. Entries that have
// expired but not yet been seen may still count.
func (m *MemoryStore) Tags(prefix string) []string {
	var out []string
	m.mu.Lock()
	defer m.mu.Unlock()
	for tag := range m.tags {
		if strings.HasPrefix(tag, prefix) {
			out = append(out, tag)
		}
	}
	return out
}

// count returns the number of entries, expired ones not yet removed included.
func (m *MemoryStore) count() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.n
}

// size returns the total length of the values held.
func (m *MemoryStore) size() int64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.bytes
}

// Purge removes every entry.
func (m *MemoryStore) Purge() {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, q := range []uint8{qWindow, qProbation, qProtected} {
		for n := m.policy.q[q].back(); n != nil; n = m.policy.q[q].back() {
			m.remove(entryOf(n))
		}
	}
}
