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

// lookup returns the entry under key, live or not, or nil, without
// counting a read.
func (m *MemoryStore) lookup(key string) *memEntry {
	e, ok := m.idx.Load(key)
	if !ok {
		return nil
	}
	return e
}

// all returns every entry the store holds, live or not, by key.
func (m *MemoryStore) all() map[string]*memEntry {
	held := map[string]*memEntry{}
	m.idx.Range(func(k string, e *memEntry) bool {
		held[k] = e
		return true
	})
	return held
}

// has reports whether m holds key, without counting a read.
func has(m *MemoryStore, key string) bool { return m.lookup(key) != nil }

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
	held := 0
	for i := range 5 {
		if _, ok := m.Get(fmt.Sprint(i)); ok {
			held++
		}
	}
	if held != 3 {
		t.Errorf("%d of the 5 keys stored are readable, want the 3 counted", held)
	}
	checkStore(t, m, MemoryOptions{MaxEntries: 3})
}

// TestMemoryBoundedByBytes: the values held never add up to more than
// MaxBytes, whatever is stored, and the count of bytes follows overwrites,
// deletes and evictions.
func TestMemoryBoundedByBytes(t *testing.T) {
	t.Parallel()
	opts := MemoryOptions{MaxBytes: 100}
	m := NewMemoryStore(opts)
	val := func(n int) Item { return Item{Value: StringValue(strings.Repeat("x", n))} }
	m.Set("a", val(30), time.Minute)
	m.Set("b", val(30), time.Minute)
	m.Set("c", val(30), time.Minute)
	if b := m.size(); b != 90 {
		t.Fatalf("Bytes() = %d, want 90 (nothing evicted below the bound)", b)
	}
	m.Set("d", val(20), time.Minute)
	if n, b := m.count(), m.size(); b > 100 || n != 3 {
		t.Errorf("after d (20 bytes) over 90 of 100: Len %d, Bytes %d; want 3 entries within 100 bytes", n, b)
	}
	checkStore(t, m, opts)
	// Overwriting replaces the bytes rather than adding to them.
	m.Purge()
	m.Set("big", val(10), time.Minute)
	m.Set("big", val(20), time.Minute)
	if b := m.size(); b != 20 {
		t.Errorf("Bytes() after overwriting 10 with 20 = %d, want 20", b)
	}
	m.Set("e", val(80), time.Minute)
	if n, b := m.count(), m.size(); n != 2 || b != 100 {
		t.Errorf("exactly full: Len %d, Bytes %d; want 2, 100 (nothing evicted)", n, b)
	}
	m.Delete("e")
	if b := m.size(); b != 20 {
		t.Errorf("Bytes() after Delete = %d, want 20", b)
	}
	// A random mix of sizes never passes the bound.
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range 5000 {
		m.Set(fmt.Sprint(rng.IntN(50)), val(rng.IntN(101)), time.Minute)
		if b := m.size(); b > 100 {
			t.Fatalf("after Set %d: Bytes() = %d, want <= 100", i, b)
		}
	}
	checkStore(t, m, opts)
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
	if b := m.budget; b != defaultMaxBytes || m.maxEntry != defaultMaxEntryBytes {
		t.Errorf("zero options: MaxBytes %d, maxEntry %d; want %d, %d", b, m.maxEntry, defaultMaxBytes, defaultMaxEntryBytes)
	}
	// Four times as many keys fill it.
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
	m, clock := newClockedMemory(MemoryOptions{MaxEntries: 3})
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
	// Removing a1 (here by expiry, found by a read) drops it from its tags.
	m.Set("a1", item("1", "a", "all"), time.Nanosecond)
	clock.advance(time.Nanosecond)
	m.Get("a1")
	m.Set("c", item("4"), time.Minute)
	if got, want := sorted(m.Tags("")), []string{"all", "b"}; !slices.Equal(got, want) {
		t.Errorf("after overwrite and eviction: Tags = %q, want %q", got, want)
	}
	m.DeleteTags("a")   // carried by nothing any more
	m.DeleteTags("all") // b1
	m.DeleteTags()      // nothing
	for key, want := range map[string]bool{"a1": false, "a2": true, "b1": false, "c": true} {
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
	checkStore(t, m, MemoryOptions{MaxEntries: 64, MaxBytes: 512})
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

// checkStore checks, on a store no one is changing, that the counts of
// entries and bytes are those of the entries held and within opts' bounds,
// and that the tag index lists exactly the held entries under each of their
// tags.
func checkStore(t *testing.T, m *MemoryStore, opts MemoryOptions) {
	t.Helper()
	held := map[string]*memEntry{}
	var sum int64
	for k, e := range m.all() {
		held[k] = e
		sum += int64(e.Value.Len())
	}
	maxEntries, maxBytes := cmp.Or(opts.MaxEntries, defaultMaxEntries), cmp.Or(opts.MaxBytes, defaultMaxBytes)
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.n != len(held) || m.bytes != sum {
		t.Errorf("counted %d entries, %d bytes; the store holds %d, %d", m.n, m.bytes, len(held), sum)
	}
	if len(held) > maxEntries || sum > maxBytes {
		t.Errorf("holds %d entries, %d bytes; want at most %d, %d", len(held), sum, maxEntries, maxBytes)
	}
	indexed := 0
	for tag, keys := range m.tags {
		if len(keys) == 0 {
			t.Errorf("tag %q indexed with no keys", tag)
		}
		for k, e := range keys {
			indexed++
			if held[k] != e || !slices.Contains(e.Tags, tag) {
				t.Errorf("tag index lists %q under %q as %p, but the store holds %p", k, tag, e, held[k])
			}
		}
	}
	want := 0
	for _, e := range held {
		want += len(e.Tags) // tags of one entry are distinct in these tests
	}
	if indexed != want {
		t.Errorf("tag index holds %d (tag, key) pairs, the entries carry %d", indexed, want)
	}
}

// TestMemoryChurnBounds: a store under a long run of stores of varied sizes
// and tags never holds more than MaxEntries entries nor MaxBytes bytes,
// stays full, hands back the very Item it was given, and keeps its tag index
// in step.
func TestMemoryChurnBounds(t *testing.T) {
	t.Parallel()
	opts := MemoryOptions{MaxEntries: 4096, MaxBytes: 64 << 10, MaxEntryBytes: 4 << 10}
	m := NewMemoryStore(opts)
	for i := range 20_000 {
		m.Set(fmt.Sprint(i), Item{Value: StringValue(strings.Repeat("x", i%40)), Tags: []string{"t" + fmt.Sprint(i%3)}}, time.Minute)
		if i%1000 == 0 {
			if n, b := m.count(), m.size(); n > opts.MaxEntries || b > opts.MaxBytes {
				t.Fatalf("after %d Sets: %d entries, %d bytes; want <= %d, %d", i+1, n, b, opts.MaxEntries, opts.MaxBytes)
			}
		}
	}
	checkStore(t, m, opts)
	if n, b := m.count(), m.size(); n < opts.MaxEntries/2 && b < opts.MaxBytes/2 {
		t.Errorf("full: %d entries, %d bytes; want at least half of %d entries or of %d bytes", n, b, opts.MaxEntries, opts.MaxBytes)
	}

	small := Item{Value: StringValue("s"), Tags: []string{"small"}}
	m.Set("small", small, time.Minute)
	got, ok := m.Get("small")
	if !ok || got.Value != small.Value || len(got.Tags) != 1 || &got.Tags[0] != &small.Tags[0] {
		t.Fatalf("Get(small) = %v, %v; want the Item given to Set (same Tags slice)", ok, got.Tags)
	}

	tags := m.Tags("t")
	slices.Sort(tags)
	if want := []string{"t0", "t1", "t2"}; !slices.Equal(tags, want) {
		t.Errorf("Tags(t) = %q, want %q (each once)", tags, want)
	}
	m.DeleteTags("t0", "t2")
	for k, e := range m.all() {
		if slices.Contains(e.Tags, "t0") || slices.Contains(e.Tags, "t2") {
			t.Fatalf("DeleteTags(t0, t2) left %q (%q)", k, e.Tags)
		}
	}
	checkStore(t, m, opts)
	m.Purge()
	if n, b := m.count(), m.size(); n != 0 || b != 0 {
		t.Errorf("after Purge: %d entries, %d bytes", n, b)
	}
}

// TestMemoryKeepsFrequentOverScan: keys read again and again survive a scan
// of twice the store's size in keys read once, which would flush a least
// recently used store.
func TestMemoryKeepsFrequentOverScan(t *testing.T) {
	t.Parallel()
	const size = 1000
	m := NewMemoryStore(MemoryOptions{MaxEntries: size})
	read := func(k string) bool {
		if _, ok := m.Get(k); ok {
			return true
		}
		m.Set(k, item("v"), time.Hour)
		return false
	}
	hot := func(i int) string { return "hot" + strconv.Itoa(i%(size/2)) }
	for i := range 20 * size { // the hot set, read 20 times each
		read(hot(i))
	}
	for i := range 2 * size {
		read("scan" + strconv.Itoa(i))
	}
	hits := 0
	for i := range size / 2 {
		if _, ok := m.Get(hot(i)); ok {
			hits++
		}
	}
	if hits < size/2*9/10 {
		t.Errorf("after a scan of %d keys read once, %d of the %d hot keys are held; want at least 90 %%", 2*size, hits, size/2)
	}
}

// TestMemoryHitsDuringSets: readers of one key, while a writer replaces it
// again and again, always find it (a Set leaves no moment without an entry)
// and never see an older version after a newer one. Each reader reads
// until it has seen 50 versions, so reads and writes overlap.
func TestMemoryHitsDuringSets(t *testing.T) {
	t.Parallel()
	// The hot key shares the store with many others, so that the policy
	// moves it among its areas now and then.
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
			m.Set("other"+strconv.Itoa(latest%5000), item("x"), time.Minute)
		}
	})
	readers.Wait()
	close(done)
	writer.Wait()
	if it, ok := m.Get("hot"); !ok || it.Value.String() != strconv.Itoa(latest) {
		t.Errorf("Get(hot) at the end = %q, %v; want %q, true", it.Value.String(), ok, strconv.Itoa(latest))
	}
	checkStore(t, m, MemoryOptions{})
}
