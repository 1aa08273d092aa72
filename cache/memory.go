package cache

import (
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
	// least recently used. Zero means DefaultMaxEntries (10,000).
	MaxEntries int
	// MaxBytes bounds the bytes of all values together; storing past it
	// evicts the least recently used entries until it fits. Zero means
	// DefaultMaxBytes (64 MiB).
	MaxBytes int64
	// MaxEntryBytes is the largest value kept: a larger one is not stored
	// in this tier (it still reaches L2). Zero means DefaultMaxEntryBytes
	// (1 MiB), or MaxBytes when that is smaller.
	MaxEntryBytes int64
}

// MemoryStore is the in-process tier (L1): a least-recently-used cache
// bounded by entry count and by bytes, with an absolute expiry per entry. An
// expired entry is never returned; it is removed when a read finds it, or
// when it falls off the end of the LRU order. No goroutine sweeps it, so a
// MemoryStore owns no background work and needs no Close.
//
// Values are immutable ([Value]), so a hit hands out the stored value itself,
// without a copy.
//
// MemoryStore is built on hashicorp/golang-lru/v2's simplelru under one mutex
// of its own, so that "find, see it expired, remove it" and "overwrite,
// re-index its tags" are atomic. It is safe for concurrent use.
type MemoryStore struct {
	maxBytes, maxEntry int64

	mu    sync.Mutex
	lru   *simplelru.LRU[string, memEntry]
	bytes int64 // sum of the live values' lengths; guarded by mu
	// tags maps a tag to the keys of the live entries carrying it; guarded
	// by mu and kept in step with lru by the eviction callback.
	tags map[string]map[string]struct{}
	// now is the clock; tests replace it.
	now func() int64
}

// memEntry is one stored item with its expiry on the monotonic clock, in ns.
type memEntry struct {
	Item
	exp int64
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
	m := &MemoryStore{maxBytes: opts.MaxBytes, maxEntry: min(opts.MaxEntryBytes, opts.MaxBytes), now: monotonic}
	m.lru, _ = simplelru.NewLRU(opts.MaxEntries, m.onEvict) // size >= 1: no error
	return m
}

// onEvict keeps the byte count and the tag index in step when an entry
// leaves the LRU (removed, evicted or purged). The caller holds m.mu:
// simplelru calls it from inside Add, Remove and Purge.
func (m *MemoryStore) onEvict(key string, e memEntry) {
	m.bytes -= int64(e.Value.Len())
	m.unindex(key, e.Tags)
}

// unindex removes key from the index of each tag. The caller holds m.mu.
func (m *MemoryStore) unindex(key string, tags []string) {
	for _, tag := range tags {
		keys := m.tags[tag]
		delete(keys, key)
		if len(keys) == 0 {
			delete(m.tags, tag)
		}
	}
}

// Get returns the live item under key. An expired entry found here is
// removed.
func (m *MemoryStore) Get(key string) (Item, bool) {
	it, _, ok := m.GetTTL(key)
	return it, ok
}

// Set stores it under key for ttl, replacing any entry there (and the tags
// it carried). A ttl <= 0, or a value larger than MaxEntryBytes, stores
// nothing and removes any entry under key. The store keeps it.Tags as given:
// the caller must not change them afterwards.
func (m *MemoryStore) Set(key string, it Item, ttl time.Duration) {
	size := int64(it.Value.Len())
	exp := m.now() + int64(ttl)
	m.mu.Lock()
	defer m.mu.Unlock()
	if ttl <= 0 || size > m.maxEntry {
		m.lru.Remove(key)
		return
	}
	m.lru.Remove(key) // the callback drops its bytes and tags
	for m.bytes+size > m.maxBytes && m.lru.Len() > 0 {
		m.lru.RemoveOldest()
	}
	m.lru.Add(key, memEntry{Item: it, exp: exp})
	m.bytes += size
	for _, tag := range it.Tags {
		keys := m.tags[tag]
		if keys == nil {
			if m.tags == nil {
				m.tags = make(map[string]map[string]struct{})
			}
			keys = make(map[string]struct{})
			m.tags[tag] = keys
		}
		keys[key] = struct{}{}
	}
}

// Delete removes the keys; absent keys are not an error.
func (m *MemoryStore) Delete(keys ...string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, k := range keys {
		m.lru.Remove(k)
	}
}

// DeleteTags removes every entry carrying any of the tags.
func (m *MemoryStore) DeleteTags(tags ...string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, tag := range tags {
		for key := range m.tags[tag] { // Remove edits m.tags[tag] through onEvict
			m.lru.Remove(key)
		}
	}
}

// Tags returns the tags carried by the entries whose name starts with
// prefix (all of them for ""), in no particular order. Entries that have
// expired but not yet been seen may still count.
func (m *MemoryStore) Tags(prefix string) []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []string
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
	return m.lru.Len()
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
	m.lru.Purge()
}
