package cache

import (
	"cmp"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// fakeClock is a manual clock for a MemoryStore.
type fakeClock struct {
	mu sync.Mutex
	ns int64
}

func (c *fakeClock) now() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.ns
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	c.ns += int64(d)
	c.mu.Unlock()
}

// newClockedMemory returns a MemoryStore whose clock moves only when told to.
func newClockedMemory(opts MemoryOptions) (*MemoryStore, *fakeClock) {
	m := NewMemoryStore(opts)
	c := &fakeClock{ns: 1}
	m.now = c.now
	return m, c
}

// item is an Item holding s with the tags.
func item(s string, tags ...string) Item { return Item{Value: StringValue(s), Tags: tags} }

// has reports whether m holds key, without changing the LRU order.
func has(m *MemoryStore, key string) bool {
	h := m.hash(key)
	s := m.shard(h)
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.table.Load().walk(h, key)
	return e != nil && e.linked
}

// entries returns the entries of s's list, most recent first. The caller
// holds s.mu.
func (s *memShard) entries() []*memEntry {
	var out []*memEntry
	for e := s.head; e != nil; e = e.next {
		out = append(out, e)
	}
	return out
}

func TestMemoryExpiryPerEntry(t *testing.T) {
	t.Parallel()
	m, clock := newClockedMemory(MemoryOptions{MaxEntries: 10})
	m.Set("short", item("s"), time.Second)
	m.Set("long", item("l"), time.Minute)

	tests := []struct {
		after     time.Duration // since the writes
		key       string
		wantValue string // "" for a miss
		wantTTL   time.Duration
	}{
		{0, "short", "s", time.Second},
		{0, "long", "l", time.Minute},
		{999 * time.Millisecond, "short", "s", time.Millisecond},
		{time.Second, "short", "", 0},
		{time.Second, "long", "l", 59 * time.Second},
		{time.Minute, "long", "", 0},
	}
	var elapsed time.Duration
	for _, tc := range tests {
		clock.advance(tc.after - elapsed)
		elapsed = tc.after
		if tc.wantValue != "" {
			if ttl := ttlLeft(t, m, tc.key); ttl != tc.wantTTL {
				t.Errorf("at +%v: %q has %v left, want %v", tc.after, tc.key, ttl, tc.wantTTL)
			}
		}
		it, ok := m.Get(tc.key)
		if got := it.Value.String(); ok != (tc.wantValue != "") || ok && got != tc.wantValue {
			t.Errorf("at +%v: Get(%q) = %q, %v; want %q (\"\": a miss)", tc.after, tc.key, got, ok, tc.wantValue)
		}
	}
	// Expired entries were removed when seen, with their bytes.
	if n, b := m.count(), m.size(); n != 0 || b != 0 {
		t.Errorf("Len() = %d, Bytes() = %d after both entries expired and were read, want 0, 0", n, b)
	}
}

// TestMemoryExpirySynctest: the store's default clock is the monotonic
// clock, which a synctest bubble fakes: an entry lives exactly its TTL.
func TestMemoryExpirySynctest(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		m := NewMemoryStore(MemoryOptions{})
		m.Set("k", item("v"), time.Second)
		time.Sleep(time.Second - time.Nanosecond)
		if it, ok := m.Get("k"); !ok || it.Value.String() != "v" {
			t.Fatalf("Get 1ns before expiry = %q, %v; want v", it.Value.String(), ok)
		}
		time.Sleep(time.Nanosecond)
		if it, ok := m.Get("k"); ok {
			t.Fatalf("Get at expiry = %q, want a miss", it.Value.String())
		}
	})
}

func TestMemoryBoundedByCount(t *testing.T) {
	t.Parallel()
	m := NewMemoryStore(MemoryOptions{MaxEntries: 3})
	for i := range 5 {
		m.Set(fmt.Sprint(i), Item{Value: ValueOf([]byte{byte(i)})}, time.Minute)
	}
	if n := m.count(); n != 3 {
		t.Fatalf("Len() = %d, want 3", n)
	}
	if b := m.size(); b != 3 {
		t.Errorf("Bytes() = %d, want 3 (the evicted entries' bytes released)", b)
	}
	for i, want := range []bool{false, false, true, true, true} {
		if _, got := m.Get(fmt.Sprint(i)); got != want {
			t.Errorf("Get(%d) present = %v, want %v", i, got, want)
		}
	}
}

// TestMemoryBoundedByBytes: storing past MaxBytes evicts the least recently
// used entries until the new one fits.
func TestMemoryBoundedByBytes(t *testing.T) {
	t.Parallel()
	m := NewMemoryStore(MemoryOptions{MaxBytes: 100})
	val := func(n int) Item { return Item{Value: StringValue(strings.Repeat("x", n))} }
	m.Set("a", val(30), time.Minute)
	m.Set("b", val(30), time.Minute)
	m.Set("c", val(30), time.Minute)
	if b := m.size(); b != 90 {
		t.Fatalf("Bytes() = %d, want 90", b)
	}
	m.Get("a") // a is now the most recently used: b is the oldest
	m.Set("d", val(20), time.Minute)
	for key, want := range map[string]bool{"a": true, "b": false, "c": true, "d": true} {
		if got := has(m, key); got != want {
			t.Errorf("after d (20 bytes) over 90 of 100: %q present = %v, want %v", key, got, want)
		}
	}
	if b := m.size(); b != 80 {
		t.Errorf("Bytes() = %d, want 80", b)
	}
	// One entry of 100 bytes evicts everything else.
	m.Set("big", val(100), time.Minute)
	if n, b := m.count(), m.size(); n != 1 || b != 100 || !has(m, "big") {
		t.Errorf("after a 100-byte entry: Len %d, Bytes %d, big present %v; want 1, 100, true", n, b, has(m, "big"))
	}
	// Overwriting replaces the bytes rather than adding to them.
	m.Set("big", val(10), time.Minute)
	if b := m.size(); b != 10 {
		t.Errorf("Bytes() after overwriting 100 with 10 = %d, want 10", b)
	}
	m.Set("e", val(90), time.Minute)
	if n, b := m.count(), m.size(); n != 2 || b != 100 {
		t.Errorf("exactly full: Len %d, Bytes %d; want 2, 100 (nothing evicted)", n, b)
	}
	m.Delete("e")
	if b := m.size(); b != 10 {
		t.Errorf("Bytes() after Delete = %d, want 10", b)
	}
	m.Purge()
	if n, b := m.count(), m.size(); n != 0 || b != 0 {
		t.Errorf("after Purge: Len %d, Bytes %d", n, b)
	}
}

// TestMemoryMaxEntryBytes: a value larger than MaxEntryBytes is not kept,
// and storing one removes the (now stale) entry under its key.
func TestMemoryMaxEntryBytes(t *testing.T) {
	t.Parallel()
	m := NewMemoryStore(MemoryOptions{MaxEntryBytes: 8})
	m.Set("k", item("12345678"), time.Minute) // exactly the bound: kept
	if it, ok := m.Get("k"); !ok || it.Value.String() != "12345678" {
		t.Fatalf("8-byte value with MaxEntryBytes 8: Get = %q, %v; want it kept", it.Value.String(), ok)
	}
	m.Set("k", item("123456789", "t"), time.Minute)
	if it, ok := m.Get("k"); ok {
		t.Fatalf("9-byte value with MaxEntryBytes 8: Get = %q; want a miss (and the old value gone)", it.Value.String())
	}
	if n, b, tags := m.count(), m.size(), m.Tags(""); n != 0 || b != 0 || len(tags) != 0 {
		t.Errorf("after an oversized Set: Len %d, Bytes %d, Tags %q; want nothing", n, b, tags)
	}
}

func TestMemoryDefaults(t *testing.T) {
	t.Parallel()
	m := NewMemoryStore(MemoryOptions{})
	if b := m.maxBytes(); b != defaultMaxBytes || m.maxEntry != defaultMaxEntryBytes {
		t.Errorf("zero options: maxBytes %d, maxEntry %d; want %d, %d", b, m.maxEntry, defaultMaxBytes, defaultMaxEntryBytes)
	}
	// Each shard holds its share: four times as many keys fill them all.
	const sets = 4 * defaultMaxEntries
	for i := range sets {
		m.Set(fmt.Sprint(i), Item{}, time.Minute)
	}
	if n := m.count(); n != defaultMaxEntries {
		t.Errorf("zero options: Len after %d Sets = %d, want %d", sets, n, defaultMaxEntries)
	}
	// MaxEntryBytes defaults to MaxBytes when that is smaller.
	if m := NewMemoryStore(MemoryOptions{MaxBytes: 1000}); m.maxEntry != 1000 {
		t.Errorf("MaxBytes 1000: maxEntry = %d, want 1000", m.maxEntry)
	}
	if m := NewMemoryStore(MemoryOptions{MaxBytes: 1000, MaxEntryBytes: 5000}); m.maxEntry != 1000 {
		t.Errorf("MaxBytes 1000, MaxEntryBytes 5000: maxEntry = %d, want 1000", m.maxEntry)
	}
}

func TestMemoryZeroTTLRemoves(t *testing.T) {
	t.Parallel()
	m := NewMemoryStore(MemoryOptions{MaxEntries: 3})
	m.Set("k", item("v", "t"), time.Minute)
	m.Set("k", item("w"), 0)
	if it, ok := m.Get("k"); ok {
		t.Fatalf("Get after Set(ttl 0) = %q; want a miss", it.Value.String())
	}
	m.Set("k", item("v"), time.Minute)
	m.Set("k", item("w"), -time.Second)
	if it, ok := m.Get("k"); ok {
		t.Fatalf("Get after Set(ttl < 0) = %q; want a miss", it.Value.String())
	}
	if b, tags := m.size(), m.Tags(""); b != 0 || len(tags) != 0 {
		t.Errorf("after removing Sets: Bytes %d, Tags %q", b, tags)
	}
}

// TestMemoryValuesImmutable: what a writer or a reader does to its bytes
// never reaches the store (alova's issue #588). A Value offers no mutable
// view: Bytes is a copy.
func TestMemoryValuesImmutable(t *testing.T) {
	t.Parallel()
	m := NewMemoryStore(MemoryOptions{MaxEntries: 3})
	in := []byte("hello")
	m.Set("k", Item{Value: ValueOf(in)}, time.Minute)
	in[0] = 'J' // the writer changes its slice
	it, _ := m.Get("k")
	out := it.Value.Bytes()
	out[1] = 'A' // a reader changes its copy
	if got, _ := m.Get("k"); got.Value.String() != "hello" {
		t.Fatalf("Get = %q after callers changed their slices, want %q", got.Value.String(), "hello")
	}
}

// TestMemoryErrItem: a negative entry (Item.Err) is stored and returned as
// is, and takes no bytes.
func TestMemoryErrItem(t *testing.T) {
	t.Parallel()
	m := NewMemoryStore(MemoryOptions{})
	boom := errors.New("boom")
	m.Set("k", Item{Err: boom}, time.Minute)
	if it, ok := m.Get("k"); !ok || it.Err != boom || it.Value.Len() != 0 {
		t.Fatalf("Get = %+v, %v; want the stored error", it, ok)
	}
	if b := m.size(); b != 0 {
		t.Errorf("Bytes() = %d, want 0", b)
	}
}

func TestMemoryTags(t *testing.T) {
	t.Parallel()
	m := NewMemoryStore(MemoryOptions{MaxEntries: 3})
	sorted := func(s []string) []string { slices.Sort(s); return s }
	m.Set("a1", item("1", "a", "all"), time.Minute)
	m.Set("a2", item("2", "a", "all"), time.Minute)
	m.Set("b1", item("3", "b", "all"), time.Minute)
	if got, want := sorted(m.Tags("")), []string{"a", "all", "b"}; !slices.Equal(got, want) {
		t.Errorf("Tags(\"\") = %q, want %q", got, want)
	}
	if got, want := sorted(m.Tags("a")), []string{"a", "all"}; !slices.Equal(got, want) {
		t.Errorf("Tags(\"a\") = %q, want %q", got, want)
	}

	// Overwriting without tags drops a2 from its tags.
	m.Set("a2", item("2'"), time.Minute)
	// Evicting a1 (LRU order: a1 oldest) drops it from its tags.
	m.Set("c", item("4"), time.Minute)
	if got, want := sorted(m.Tags("")), []string{"all", "b"}; !slices.Equal(got, want) {
		t.Errorf("after overwrite and eviction: Tags = %q, want %q", got, want)
	}
	m.DeleteTags("a")   // carried by nothing any more
	m.DeleteTags("all") // b1
	m.DeleteTags()      // nothing
	for key, want := range map[string]bool{"a2": true, "b1": false, "c": true} {
		if got := has(m, key); got != want {
			t.Errorf("after DeleteTags: %q present = %v, want %v", key, got, want)
		}
	}
	if got := m.Tags(""); len(got) != 0 {
		t.Errorf("Tags after deleting them all = %q, want none", got)
	}
	m.Set("x", item("x", "t1"), time.Minute)
	m.Set("y", item("y", "t2"), time.Minute)
	m.DeleteTags("t1", "t2") // several at once
	if has(m, "x") || has(m, "y") {
		t.Error("DeleteTags(t1, t2) left an entry carrying one of them")
	}
	m.Set("x", item("x", "t"), time.Minute)
	m.Delete("x", "absent")
	if got := m.Tags(""); len(got) != 0 {
		t.Errorf("Tags after Delete = %q, want none", got)
	}
	m.Set("x", item("x", "t"), time.Minute)
	m.Purge()
	if got := m.Tags(""); len(got) != 0 || m.count() != 0 {
		t.Errorf("after Purge: Tags = %q, Len = %d", got, m.count())
	}
}

func TestMemoryConcurrent(t *testing.T) {
	t.Parallel()
	m := NewMemoryStore(MemoryOptions{MaxEntries: 64, MaxBytes: 512})
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 2000 {
				k := fmt.Sprint((g + i) % 100)
				switch i % 5 {
				case 0:
					m.Set(k, Item{Value: StringValue(strings.Repeat(k, i%7)), Tags: []string{"t" + fmt.Sprint(i%5)}},
						time.Duration(i%3)*time.Millisecond)
				case 1:
					if it, ok := m.Get(k); ok && it.Value.String() != strings.Repeat(k, len(it.Value.String())/len(k)) {
						t.Errorf("Get(%q) = %q", k, it.Value.String())
					}
				case 2:
					m.Delete(k)
				case 3:
					m.DeleteTags("t" + fmt.Sprint(i%5))
				case 4:
					m.Tags("t")
				}
			}
		})
	}
	wg.Wait()
	// The tag index holds only keys that are in the LRU, with that tag, and
	// the byte count is the sum of the values held.
	checkShards(t, m)
	if b := m.size(); b > 512 {
		t.Errorf("bytes = %d, want <= 512", b)
	}
}

func TestNewMemoryStorePanics(t *testing.T) {
	t.Parallel()
	for _, opts := range []MemoryOptions{{MaxEntries: -1}, {MaxBytes: -1}, {MaxEntryBytes: -1}} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("NewMemoryStore(%+v) did not panic", opts)
				}
			}()
			NewMemoryStore(opts)
		}()
	}
}

// maxBytes returns the sum of the shards' byte budgets.
func (m *MemoryStore) maxBytes() int64 {
	var n int64
	for i := range m.shards {
		n += m.shards[i].maxBytes
	}
	return n
}

// checkShards checks that each shard's list is well linked and its length
// counted, that its table holds exactly the listed entries, each in the
// chain of its hash, that each shard's
// tag index lists only keys it holds with that tag, that each key lives in
// its own shard, and that each shard's byte count is the sum of its values
// and within its budget.
func checkShards(t *testing.T, m *MemoryStore) {
	t.Helper()
	for i := range m.shards {
		s := &m.shards[i]
		s.mu.Lock()
		list := s.entries()
		if int64(len(list)) != s.n.Load() || len(list) > s.maxLen {
			t.Errorf("shard %d: %d entries listed, %d counted, at most %d allowed", i, len(list), s.n.Load(), s.maxLen)
		}
		var sum int64
		var prev *memEntry
		for _, e := range list {
			if e.prev != prev || !e.linked || e.shard != s {
				t.Errorf("shard %d: entry %q badly linked (prev %p, want %p; linked %v)", i, e.key, e.prev, prev, e.linked)
			}
			prev = e
			if e.hash != m.hash(e.key) || m.shard(e.hash) != s {
				t.Errorf("shard %d holds %q, which hashes to another shard", i, e.key)
			}
			if got := s.table.Load().walk(e.hash, e.key); got != e {
				t.Errorf("shard %d: table has %p under %q, the list %p", i, got, e.key, e)
			}
			sum += int64(e.Value.Len())
		}
		if s.tail != prev {
			t.Errorf("shard %d: tail %p, last listed %p", i, s.tail, prev)
		}
		for tag, keys := range s.tags {
			for k := range keys {
				if e := s.table.Load().walk(m.hash(k), k); e == nil || !e.linked || e.shard != s || !slices.Contains(e.Tags, tag) {
					t.Errorf("shard %d: tag index lists %q under %q, but the entry is %+v", i, k, tag, e)
				}
			}
		}
		if sum != s.bytes || sum > s.maxBytes {
			t.Errorf("shard %d: bytes = %d, the values hold %d, budget %d; want them equal and within it", i, s.bytes, sum, s.maxBytes)
		}
		tab, inTable := s.table.Load(), 0
		for c := range tab.chains {
			for e := tab.chains[c].Load(); e != nil; e = e.hnext.Load() {
				inTable++
				if !e.linked || uint64(c) != (e.hash>>shardBits)&tab.mask {
					t.Errorf("shard %d: chain %d holds %q (linked %v), which belongs in chain %d", i, c, e.key, e.linked, (e.hash>>shardBits)&tab.mask)
				}
			}
		}
		if inTable != len(list) || len(tab.chains) > max(minTable, 2*s.maxLen) {
			t.Errorf("shard %d: table holds %d entries in %d chains, the list %d (at most %d chains)", i, inTable, len(tab.chains), len(list), max(minTable, 2*s.maxLen))
		}
		s.mu.Unlock()
	}
}

// TestMemoryShards: a store is split only when every shard gets at least
// minShardEntries entries and room for the largest value, and the shares
// add up to the bounds exactly.
func TestMemoryShards(t *testing.T) {
	t.Parallel()
	tests := []struct {
		opts       MemoryOptions
		wantShards int
	}{
		{MemoryOptions{}, 16}, // 10,000 entries, 64 MiB, 1 MiB values
		{MemoryOptions{MaxEntries: 1023}, 1},
		{MemoryOptions{MaxEntries: 1024}, 2},
		{MemoryOptions{MaxEntries: 1_000_000}, 16},
		{MemoryOptions{MaxEntries: 10_001, MaxBytes: 1000}, 1}, // a value may take all the bytes
		{MemoryOptions{MaxEntries: 10_001, MaxBytes: 1 << 20, MaxEntryBytes: 256 << 10}, 4},
	}
	for _, tc := range tests {
		m := NewMemoryStore(tc.opts)
		if len(m.shards) != tc.wantShards {
			t.Errorf("NewMemoryStore(%+v): %d shards, want %d", tc.opts, len(m.shards), tc.wantShards)
		}
		entries, bytes := 0, int64(0)
		for i := range m.shards {
			s := &m.shards[i]
			entries += s.maxLen
			bytes += s.maxBytes
			if s.maxBytes < m.maxEntry {
				t.Errorf("NewMemoryStore(%+v): shard %d has %d bytes, less than MaxEntryBytes %d", tc.opts, i, s.maxBytes, m.maxEntry)
			}
		}
		wantEntries, wantBytes := cmp.Or(tc.opts.MaxEntries, defaultMaxEntries), cmp.Or(tc.opts.MaxBytes, defaultMaxBytes)
		if entries != wantEntries || bytes != wantBytes {
			t.Errorf("NewMemoryStore(%+v): shares add up to %d entries, %d bytes; want %d, %d", tc.opts, entries, bytes, wantEntries, wantBytes)
		}
	}
}

// TestMemoryShardedBounds: a sharded store never holds more than MaxEntries
// entries nor MaxBytes bytes, keeps a value of MaxEntryBytes, hands back the
// very Item it was given, and finds tags in every shard.
func TestMemoryShardedBounds(t *testing.T) {
	t.Parallel()
	opts := MemoryOptions{MaxEntries: 4096, MaxBytes: 64 << 10, MaxEntryBytes: 4 << 10}
	m := NewMemoryStore(opts)
	if len(m.shards) != 8 {
		t.Fatalf("%d shards, want 8", len(m.shards))
	}
	for i := range 20_000 {
		m.Set(fmt.Sprint(i), Item{Value: StringValue(strings.Repeat("x", i%40)), Tags: []string{"t" + fmt.Sprint(i%3)}}, time.Minute)
		if i%1000 == 0 {
			if n, b := m.count(), m.size(); n > opts.MaxEntries || b > opts.MaxBytes {
				t.Fatalf("after %d Sets: %d entries, %d bytes; want <= %d, %d", i+1, n, b, opts.MaxEntries, opts.MaxBytes)
			}
		}
	}
	checkShards(t, m)
	if n, b := m.count(), m.size(); n > opts.MaxEntries || b > opts.MaxBytes || n < opts.MaxEntries/2 {
		t.Errorf("full: %d entries, %d bytes; want within %d, %d and at least half the entries", n, b, opts.MaxEntries, opts.MaxBytes)
	}

	big := Item{Value: StringValue(strings.Repeat("b", 4<<10)), Tags: []string{"big"}, Err: nil}
	m.Set("big", big, time.Minute)
	got, ok := m.Get("big")
	if !ok || got.Value != big.Value || len(got.Tags) != 1 || &got.Tags[0] != &big.Tags[0] {
		t.Fatalf("Get(big) = %v, %v; want the Item given to Set (same Tags slice)", ok, got.Tags)
	}

	tags := m.Tags("t")
	slices.Sort(tags)
	if want := []string{"t0", "t1", "t2"}; !slices.Equal(tags, want) {
		t.Errorf("Tags(t) = %q, want %q (each once, though every shard carries them)", tags, want)
	}
	m.DeleteTags("t0", "t2")
	for i := range m.shards {
		s := &m.shards[i]
		for _, e := range s.entries() {
			if slices.Contains(e.Tags, "t0") || slices.Contains(e.Tags, "t2") {
				t.Fatalf("DeleteTags(t0, t2) left %q (%q) in shard %d", e.key, e.Tags, i)
			}
		}
	}
	checkShards(t, m)
	m.Purge()
	if n, b := m.count(), m.size(); n != 0 || b != 0 {
		t.Errorf("after Purge: %d entries, %d bytes", n, b)
	}
}

// TestMemoryHitKeepsEntry: a hit on the oldest entry of a full shard moves
// it to the front, so that the next store evicts the one after it; a hit on
// an entry near the front moves nothing.
func TestMemoryHitKeepsEntry(t *testing.T) {
	t.Parallel()
	m := NewMemoryStore(MemoryOptions{MaxEntries: 100})
	for i := range 100 {
		m.Set(fmt.Sprint(i), item("v"), time.Minute)
	}
	s := m.shard(m.hash("0"))
	seq := s.seq.Load()
	m.Get("99") // the newest: no move
	if got := s.seq.Load(); got != seq {
		t.Errorf("a hit on the newest entry moved it (seq %d -> %d)", seq, got)
	}
	m.Get("0") // the oldest: moved to the front
	m.Set("new", item("v"), time.Minute)
	if !has(m, "0") || has(m, "1") {
		t.Errorf("after a hit on 0 and one more store: 0 present %v, 1 present %v; want true, false", has(m, "0"), has(m, "1"))
	}
}

// TestMemoryHitTakesNoLock: a hit on an entry that needs no move, and a
// miss, do not wait for the shard's lock; a hit on an entry that must move
// does, and moves it.
func TestMemoryHitTakesNoLock(t *testing.T) {
	t.Parallel()
	m := NewMemoryStore(MemoryOptions{MaxEntries: 100})
	for i := range 100 {
		m.Set(fmt.Sprint(i), item(fmt.Sprint(i)), time.Minute)
	}
	s := m.shard(m.hash("99"))
	s.mu.Lock() // a writer holding the lock
	done := make(chan string)
	go func() {
		var got []string
		for _, k := range []string{"99", "98", "absent"} { // newest, in the front quarter, a miss
			it, ok := m.Get(k)
			got = append(got, fmt.Sprintf("%s=%q,%v", k, it.Value.String(), ok))
		}
		done <- strings.Join(got, " ")
	}()
	select {
	case got := <-done:
		if want := `99="99",true 98="98",true absent="",false`; got != want {
			t.Errorf("reads under a held lock = %s, want %s", got, want)
		}
	case <-time.After(time.Minute): // a guard, not a measurement: the reads take microseconds
		t.Fatal("a hit on a recent entry, or a miss, waited for the shard's lock")
	}
	go func() {
		it, ok := m.Get("0") // the oldest: must move, so it takes the lock
		done <- fmt.Sprintf("%q,%v", it.Value.String(), ok)
	}()
	s.mu.Unlock()
	if got := <-done; got != `"0",true` {
		t.Errorf(`Get("0") = %s, want "0",true`, got)
	}
	s.mu.Lock()
	head := s.head.key
	s.mu.Unlock()
	if head != "0" {
		t.Errorf("after a hit on the oldest entry the front is %q, want 0", head)
	}
	checkShards(t, m)
}

// TestMemoryHitsDuringSets: readers of one key, while a writer replaces it
// again and again, always find it (a Set leaves no moment without an entry)
// and never see an older version after a newer one. Each reader reads
// until it has seen 50 versions, so reads and writes overlap.
func TestMemoryHitsDuringSets(t *testing.T) {
	t.Parallel()
	// 16 shards; the hot key shares its shard with many others, so that
	// its hits sometimes move it (taking the lock) and sometimes not.
	m := NewMemoryStore(MemoryOptions{})
	m.Set("hot", Item{Value: StringValue("0")}, time.Minute)
	var readers, writer sync.WaitGroup
	for range 4 {
		readers.Go(func() {
			last, seen := 0, 0
			for n := 0; seen < 50; n++ {
				it, ok := m.Get("hot")
				if !ok {
					t.Errorf("Get(hot) missed after %d reads (last version %d)", n, last)
					return
				}
				v, err := strconv.Atoi(it.Value.String())
				if err != nil || v < last {
					t.Errorf("Get(hot) = %q after version %d; want a version >= %d", it.Value.String(), last, last)
					return
				}
				if v > last {
					seen++
				}
				last = v
			}
		})
	}
	done := make(chan struct{})
	latest := 0
	writer.Go(func() {
		for {
			select {
			case <-done:
				return
			default:
			}
			latest++
			m.Set("hot", Item{Value: StringValue(strconv.Itoa(latest))}, time.Minute)
			m.Set("other"+strconv.Itoa(latest%5000), item("x"), time.Minute) // pushes hot back
		}
	})
	readers.Wait()
	close(done)
	writer.Wait()
	if it, ok := m.Get("hot"); !ok || it.Value.String() != strconv.Itoa(latest) {
		t.Errorf("Get(hot) at the end = %q, %v; want %q, true", it.Value.String(), ok, strconv.Itoa(latest))
	}
	checkShards(t, m)
}

// TestMemoryEvictsFromLeastRecentQuarter: in a random mix of hits, stores,
// overwrites and deletes on one full shard, every entry evicted is among the
// quarter of the shard's entries least recently used (read or stored): fewer
// than size/4 held entries were used less recently, and none with fewer than
// 4 entries. A hit skips the move only for an entry that fewer than a quarter
// of the entries can be in front of, and each of those accounts for at most
// one entry used less recently than it yet kept.
func TestMemoryEvictsFromLeastRecentQuarter(t *testing.T) {
	t.Parallel()
	for _, size := range []int{3, 16, 64} {
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			t.Parallel()
			m := NewMemoryStore(MemoryOptions{MaxEntries: size})
			rng := rand.New(rand.NewPCG(1, uint64(size)))
			lastUse := map[string]int{} // the model: key → time of its last hit or store
			evictions := 0
			for now := range 20_000 {
				key := fmt.Sprint(rng.IntN(3 * size))
				switch op := rng.IntN(10); {
				case op < 6:
					_, ok := m.Get(key)
					if _, held := lastUse[key]; ok != held {
						t.Fatalf("op %d: Get(%q) hit %v, the model holds it %v", now, key, ok, held)
					}
					if ok {
						lastUse[key] = now
					}
				case op < 9:
					_, held := lastUse[key]
					m.Set(key, item("v"), time.Hour)
					if !held && len(lastUse) == size {
						// Full: exactly one other key leaves, and few
						// held keys may be less recently used than it.
						var gone string
						for k := range lastUse {
							if !has(m, k) {
								if gone != "" {
									t.Fatalf("op %d: Set(%q) evicted both %q and %q", now, key, gone, k)
								}
								gone = k
							}
						}
						if gone == "" {
							t.Fatalf("op %d: Set(%q) on a full store evicted nothing", now, key)
						}
						older := 0
						for _, u := range lastUse {
							if u < lastUse[gone] {
								older++
							}
						}
						if limit := max(0, size/4-1); older > limit {
							t.Fatalf("op %d: evicted %q, but %d held keys were used less recently (want at most %d)", now, gone, older, limit)
						}
						delete(lastUse, gone)
						evictions++
					}
					lastUse[key] = now
				default:
					m.Delete(key)
					delete(lastUse, key)
				}
			}
			if evictions < 1000 {
				t.Errorf("only %d evictions checked", evictions)
			}
			checkShards(t, m)
		})
	}
}
