package cache

import (
	"context"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/golang-lru/v2/simplelru"
)

var _ Store = (*LRU)(nil)

// epoch anchors the monotonic clock the L1 expiries are measured on, so that
// a wall-clock jump never expires or revives an entry.
var epoch = time.Now()

// monotonic returns the nanoseconds since epoch on the monotonic clock.
func monotonic() int64 { return int64(time.Since(epoch)) }

// LRU is the in-process tier (L1): a least-recently-used cache bounded by
// entry count, with an absolute expiry per entry. An expired entry is never
// returned; it is removed when a read finds it, or when it falls off the end of
// the LRU order. No goroutine sweeps it, so an LRU owns no background work and
// needs no Close.
//
// Values are copied on the way in and on the way out: no caller can change
// what is cached, and a caller may keep or modify what it is given.
//
// LRU is built on hashicorp/golang-lru/v2's simplelru under one mutex of its
// own, so that "find, see it expired, remove it" and "overwrite, re-index its
// tags" are atomic. It is safe for concurrent use.
type LRU struct {
	mu  sync.Mutex
	lru *simplelru.LRU[string, l1Entry]
	// tags maps a tag to the keys of the live entries carrying it; guarded
	// by mu and kept in step with lru by the eviction callback.
	tags map[string]map[string]struct{}
	// now is the clock; tests replace it.
	now func() int64
}

// l1Entry is one cached value. Its value is never modified after it is
// stored and never handed out without a copy.
type l1Entry struct {
	value []byte
	exp   int64    // expiry on the monotonic clock, in ns
	tags  []string // nil for most entries
	err   error    // non-nil for a negative entry (see TieredOptions.NegativeTTL)
}

// NewLRU returns an L1 holding at most size entries; adding one more evicts
// the least recently used. It panics if size < 1.
func NewLRU(size int) *LRU {
	l := &LRU{now: monotonic}
	c, err := simplelru.NewLRU(size, l.onEvict)
	if err != nil {
		panic("cache: NewLRU: size must be at least 1")
	}
	l.lru = c
	return l
}

// onEvict keeps the tag index in step when an entry leaves the LRU (removed,
// evicted or purged). The caller holds l.mu: simplelru calls it from inside
// Add, Remove and Purge.
func (l *LRU) onEvict(key string, e l1Entry) {
	l.unindex(key, e.tags)
}

// unindex removes key from the index of each tag. The caller holds l.mu.
func (l *LRU) unindex(key string, tags []string) {
	for _, tag := range tags {
		keys := l.tags[tag]
		delete(keys, key)
		if len(keys) == 0 {
			delete(l.tags, tag)
		}
	}
}

// Get returns a copy of the value stored under key and the time it has left,
// or ErrMiss. An expired entry found here is removed. ctx is not used: the
// LRU never blocks on anything but its own mutex.
func (l *LRU) Get(_ context.Context, key string) ([]byte, time.Duration, error) {
	e, ttl, ok := l.lookup(key)
	if !ok {
		return nil, 0, ErrMiss
	}
	if e.err != nil {
		return nil, ttl, e.err
	}
	return clone(e.value), ttl, nil
}

// lookup returns the live entry under key, without copying its value.
func (l *LRU) lookup(key string) (l1Entry, time.Duration, bool) {
	now := l.now() // outside the lock: the clock read is a tenth of a hit
	l.mu.Lock()
	e, ok := l.lru.Get(key)
	if !ok {
		l.mu.Unlock()
		return l1Entry{}, 0, false
	}
	left := e.exp - now
	if left <= 0 {
		l.lru.Remove(key)
		l.mu.Unlock()
		return l1Entry{}, 0, false
	}
	l.mu.Unlock()
	return e, time.Duration(left), true
}

// Set stores a copy of value under key for ttl, replacing any entry there
// (and the tags it carried). A ttl <= 0 stores nothing and removes any entry
// under key.
func (l *LRU) Set(_ context.Context, key string, value []byte, ttl time.Duration) error {
	l.store(key, l1Entry{value: clone(value)}, ttl)
	return nil
}

// SetTagged is Set for an entry that belongs to tags: [LRU.DeleteTags] with
// any of them removes it. The LRU keeps its own copy of tags.
func (l *LRU) SetTagged(key string, value []byte, ttl time.Duration, tags []string) {
	l.store(key, l1Entry{value: clone(value), tags: slices.Clone(tags)}, ttl)
}

// store puts e under key for ttl. e must not be shared with anyone who may
// modify it.
func (l *LRU) store(key string, e l1Entry, ttl time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if ttl <= 0 {
		l.lru.Remove(key)
		return
	}
	if old, ok := l.lru.Peek(key); ok && len(old.tags) > 0 {
		l.unindex(key, old.tags)
	}
	e.exp = l.now() + int64(ttl)
	l.lru.Add(key, e)
	for _, tag := range e.tags {
		keys := l.tags[tag]
		if keys == nil {
			if l.tags == nil {
				l.tags = make(map[string]map[string]struct{})
			}
			keys = make(map[string]struct{})
			l.tags[tag] = keys
		}
		keys[key] = struct{}{}
	}
}

// Delete removes the keys; absent keys are not an error.
func (l *LRU) Delete(_ context.Context, keys ...string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, k := range keys {
		l.lru.Remove(k)
	}
	return nil
}

// DeleteTags removes every entry carrying any of the tags and returns how many
// it removed.
func (l *LRU) DeleteTags(tags ...string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, tag := range tags {
		for key := range l.tags[tag] { // Remove edits l.tags[tag] through onEvict
			if l.lru.Remove(key) {
				n++
			}
		}
	}
	return n
}

// Tags returns, sorted, the tags carried by the entries in the LRU whose name
// starts with prefix (all of them for ""). Entries that have expired but not
// yet been seen may still count.
func (l *LRU) Tags(prefix string) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for tag := range l.tags {
		if strings.HasPrefix(tag, prefix) {
			out = append(out, tag)
		}
	}
	slices.Sort(out)
	return out
}

// Len returns the number of entries, expired ones not yet removed included.
func (l *LRU) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.lru.Len()
}

// Purge removes every entry.
func (l *LRU) Purge() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lru.Purge()
}

// clone returns a copy of b that shares no memory with it; nil stays nil.
func clone(b []byte) []byte {
	if b == nil {
		return nil
	}
	return append(make([]byte, 0, len(b)), b...)
}
