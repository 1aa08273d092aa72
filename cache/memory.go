package cache

import (
	"hash/maphash"
	"math"
	"math/bits"
	"strings"
	"sync"
	"time"

	"github.com/maypok86/otter/v2"
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

// setLocks is the number of locks that serialise the Sets of one key.
const setLocks = 64

// MemoryStore is the in-process tier (L1): a cache bounded by entry count
// and by bytes, with an absolute expiry per entry, whose eviction policy is
// W-TinyLFU with an adaptive window ([otter] v2, after Caffeine): a small
// window of recent entries in front of a main area that admits a newcomer
// only when a frequency sketch says it is read more often than the entry it
// would evict. Scans and one-off keys therefore do not flush the entries
// read again and again, which keeps more reads in this tier than a least
// recently used order does, and a hill climber grows the window when
// recency pays better than frequency. A Set may thus store nothing lasting:
// the newcomer itself can be the entry evicted.
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
// is reached. Under concurrent writes the bounds may be exceeded for the
// moment an eviction waits for another writer's.
//
// Values are immutable ([Value]), so a hit hands out the stored value itself,
// without a copy: Get returns the Item given to Set, unchanged.
//
// Reads take no lock: the index is otter's concurrent hash table, and a hit
// is recorded in a lossy striped buffer that the policy drains in batches.
// Writes of one key are serialised, so that "overwrite, re-index its tags"
// is atomic. A read concurrent with a Set of the same key finds the entry
// before the Set or after it, never a miss in between. It is safe for
// concurrent use.
//
// [otter]: https://github.com/maypok86/otter
type MemoryStore struct {
	maxEntry int64
	// slots is the weight of one entry's share; perByte the weight of a
	// byte times maxBytes (see weigh).
	slots   uint64
	perByte uint64
	budget  uint64 // MaxBytes
	c       *otter.Cache[string, *memEntry]
	seed    maphash.Seed
	setMu   [setLocks]paddedMutex

	// mu guards the index of tags and the counts, which the deletion
	// callback keeps in step with the cache. It is taken inside otter's
	// locks and never held while calling otter.
	mu    sync.Mutex
	tags  map[string]map[string]*memEntry
	n     int
	bytes int64
	// now is the clock; tests replace it.
	now func() int64
}

// paddedMutex keeps neighbouring locks off one cache line.
type paddedMutex struct {
	sync.Mutex
	_ [56]byte
}

// memEntry is one stored item and its expiry. It never changes once
// stored: a new Set of its key stores a new entry.
type memEntry struct {
	Item
	exp    int64 // expiry on the monotonic clock, in ns
	weight uint32
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
	// One entry weighs slots; the budget is MaxEntries × slots, which
	// stays within a uint32 weight for the largest entry.
	slots := max(1, uint64(math.MaxUint32/2)/uint64(opts.MaxEntries))
	m := &MemoryStore{
		maxEntry: min(opts.MaxEntryBytes, opts.MaxBytes),
		slots:    slots,
		perByte:  uint64(opts.MaxEntries) * slots,
		budget:   uint64(opts.MaxBytes),
		seed:     maphash.MakeSeed(),
		now:      monotonic,
	}
	m.c = otter.Must(&otter.Options[string, *memEntry]{
		MaximumWeight:   uint64(opts.MaxEntries) * slots,
		InitialCapacity: min(opts.MaxEntries, 1<<16), // sizes the frequency sketch too
		Weigher:         func(_ string, e *memEntry) uint32 { return e.weight },
		// Upkeep runs on the caller: no goroutine outlives a call.
		Executor:         func(fn func()) { fn() },
		OnAtomicDeletion: m.deleted,
	})
	return m
}

// weigh returns the weight of a value of size bytes: the larger of one
// entry's slots and its bytes' share of the budget, rounded up, so that a
// full store is within both bounds.
func (m *MemoryStore) weigh(size int64) uint32 {
	hi, lo := bits.Mul64(uint64(size), m.perByte)
	w, rem := bits.Div64(hi, lo, m.budget) // size <= maxBytes: no overflow
	if rem != 0 {
		w++
	}
	return uint32(min(max(w, m.slots), math.MaxUint32))
}

// deleted drops an entry that left the cache from the tag index and the
// counts. It runs inside otter's atomic deletion.
func (m *MemoryStore) deleted(ev otter.DeletionEvent[string, *memEntry]) {
	e := ev.Value
	m.mu.Lock()
	defer m.mu.Unlock()
	m.n--
	m.bytes -= int64(e.Value.Len())
	for _, tag := range e.Tags {
		keys := m.tags[tag]
		if keys[ev.Key] == e { // a newer entry of the key keeps its place
			delete(keys, ev.Key)
			if len(keys) == 0 {
				delete(m.tags, tag)
			}
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
	e, ok := m.c.GetIfPresent(key)
	if !ok {
		return Item{}, 0, false
	}
	now := m.now()
	if e.exp <= now {
		m.removeEntry(key, e)
		return Item{}, 0, false
	}
	return e.Item, time.Duration(e.exp - now), true
}

// removeEntry removes e from under key, unless another entry replaced it.
func (m *MemoryStore) removeEntry(key string, e *memEntry) {
	m.c.ComputeIfPresent(key, func(old *memEntry) (*memEntry, otter.ComputeOp) {
		if old != e {
			return old, otter.CancelOp
		}
		return nil, otter.InvalidateOp
	})
}

// Set stores it under key for ttl, replacing any entry there (and the tags
// it carried). A ttl <= 0, or a value larger than MaxEntryBytes, stores
// nothing and removes any entry under key. The store keeps it as given (Get
// returns it unchanged): the caller must not change its Tags afterwards.
func (m *MemoryStore) Set(key string, it Item, ttl time.Duration) {
	size := int64(it.Value.Len())
	if ttl <= 0 || size > m.maxEntry {
		m.c.Invalidate(key)
		return
	}
	e := &memEntry{Item: it, exp: m.now() + int64(ttl), weight: m.weigh(size)}
	l := &m.setMu[maphash.String(m.seed, key)%setLocks]
	l.Lock()
	defer l.Unlock()
	// Indexed first: if the policy evicts e at once, its deletion finds it.
	m.mu.Lock()
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
	m.mu.Unlock()
	m.c.Set(key, e)
}

// Delete removes the keys; absent keys are not an error.
func (m *MemoryStore) Delete(keys ...string) {
	for _, k := range keys {
		m.c.Invalidate(k)
	}
}

// DeleteTags removes every entry carrying any of the tags.
func (m *MemoryStore) DeleteTags(tags ...string) {
	type held struct {
		key string
		e   *memEntry
	}
	var gone []held
	m.mu.Lock()
	for _, tag := range tags {
		for k, e := range m.tags[tag] {
			gone = append(gone, held{k, e})
		}
	}
	m.mu.Unlock()
	for _, h := range gone {
		m.removeEntry(h.key, h.e)
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
func (m *MemoryStore) Purge() { m.c.InvalidateAll() }
