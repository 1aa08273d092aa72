package cache

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"
)

// fakeClock is a manual clock for the LRU.
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

func newClockedLRU(size int) (*LRU, *fakeClock) {
	l := NewLRU(size)
	c := &fakeClock{ns: 1}
	l.now = c.now
	return l, c
}

func TestLRUExpiryPerEntry(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	l, clock := newClockedLRU(10)
	_ = l.Set(ctx, "short", []byte("s"), time.Second)
	_ = l.Set(ctx, "long", []byte("l"), time.Minute)

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
		v, ttl, err := l.Get(ctx, tc.key)
		if tc.wantValue == "" {
			if !errors.Is(err, ErrMiss) {
				t.Errorf("at +%v: Get(%q) = %q, %v, want ErrMiss", tc.after, tc.key, v, err)
			}
			continue
		}
		if err != nil || string(v) != tc.wantValue || ttl != tc.wantTTL {
			t.Errorf("at +%v: Get(%q) = %q, %v, %v; want %q, %v", tc.after, tc.key, v, ttl, err, tc.wantValue, tc.wantTTL)
		}
	}
	// Expired entries were removed when seen.
	if n := l.Len(); n != 0 {
		t.Errorf("Len() = %d after both entries expired and were read, want 0", n)
	}
}

func TestLRUBoundedByCount(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	l := NewLRU(3)
	for i := range 5 {
		_ = l.Set(ctx, fmt.Sprint(i), []byte{byte(i)}, time.Minute)
	}
	if n := l.Len(); n != 3 {
		t.Fatalf("Len() = %d, want 3", n)
	}
	for i, want := range []bool{false, false, true, true, true} {
		_, _, err := l.Get(ctx, fmt.Sprint(i))
		if got := err == nil; got != want {
			t.Errorf("Get(%d) present = %v, want %v", i, got, want)
		}
	}
}

func TestLRUZeroTTLRemoves(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	l := NewLRU(3)
	_ = l.Set(ctx, "k", []byte("v"), time.Minute)
	_ = l.Set(ctx, "k", []byte("w"), 0)
	if v, _, err := l.Get(ctx, "k"); !errors.Is(err, ErrMiss) {
		t.Fatalf("Get after Set(ttl 0) = %q, %v; want ErrMiss", v, err)
	}
}

func TestLRUCopies(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	l := NewLRU(3)
	in := []byte("hello")
	_ = l.Set(ctx, "k", in, time.Minute)
	in[0] = 'J' // the writer changes its slice
	out, _, _ := l.Get(ctx, "k")
	out[1] = 'A' // a reader changes its slice
	got, _, _ := l.Get(ctx, "k")
	if string(got) != "hello" {
		t.Fatalf("Get = %q after callers changed their slices, want %q", got, "hello")
	}
}

func TestLRUTags(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	l := NewLRU(3)
	l.SetTagged("a1", []byte("1"), time.Minute, []string{"a", "all"})
	l.SetTagged("a2", []byte("2"), time.Minute, []string{"a", "all"})
	l.SetTagged("b1", []byte("3"), time.Minute, []string{"b", "all"})
	if got, want := l.Tags(""), []string{"a", "all", "b"}; !slices.Equal(got, want) {
		t.Errorf("Tags(\"\") = %q, want %q", got, want)
	}
	if got, want := l.Tags("a"), []string{"a", "all"}; !slices.Equal(got, want) {
		t.Errorf("Tags(\"a\") = %q, want %q", got, want)
	}

	// Overwriting without tags drops a2 from its tags.
	_ = l.Set(ctx, "a2", []byte("2'"), time.Minute)
	// Evicting a1 (LRU order: a1 oldest) drops it from its tags.
	_ = l.Set(ctx, "c", []byte("4"), time.Minute)
	if got, want := l.Tags(""), []string{"all", "b"}; !slices.Equal(got, want) {
		t.Errorf("after overwrite and eviction: Tags = %q, want %q", got, want)
	}
	if n := l.DeleteTags("a"); n != 0 {
		t.Errorf("DeleteTags(a) removed %d, want 0", n)
	}
	if n := l.DeleteTags("all"); n != 1 {
		t.Errorf("DeleteTags(all) removed %d, want 1 (b1)", n)
	}
	for key, want := range map[string]bool{"a2": true, "b1": false, "c": true} {
		if got := l.lru.Contains(key); got != want {
			t.Errorf("after DeleteTags: %q present = %v, want %v", key, got, want)
		}
	}
	if got := l.Tags(""); len(got) != 0 {
		t.Errorf("Tags after deleting them all = %q, want none", got)
	}
	l.SetTagged("x", []byte("x"), time.Minute, []string{"t"})
	l.Purge()
	if got := l.Tags(""); len(got) != 0 || l.Len() != 0 {
		t.Errorf("after Purge: Tags = %q, Len = %d", got, l.Len())
	}
}

func TestLRUConcurrent(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	l := NewLRU(64)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 2000 {
				k := fmt.Sprint((g + i) % 100)
				switch i % 4 {
				case 0:
					l.SetTagged(k, []byte(k), time.Duration(i%3)*time.Millisecond, []string{"t" + fmt.Sprint(i%5)})
				case 1:
					if v, _, err := l.Get(ctx, k); err == nil && string(v) != k {
						t.Errorf("Get(%q) = %q", k, v)
					}
				case 2:
					_ = l.Delete(ctx, k)
				case 3:
					l.DeleteTags("t" + fmt.Sprint(i%5))
				}
			}
		})
	}
	wg.Wait()
	// The tag index holds only keys that are in the LRU.
	l.mu.Lock()
	defer l.mu.Unlock()
	for tag, keys := range l.tags {
		for k := range keys {
			if e, ok := l.lru.Peek(k); !ok || !slices.Contains(e.tags, tag) {
				t.Errorf("tag index lists %q under %q, but the LRU entry is %v, %v", k, tag, e, ok)
			}
		}
	}
}

func TestNewLRUPanics(t *testing.T) {
	t.Parallel()
	defer func() {
		if recover() == nil {
			t.Fatal("NewLRU(0) did not panic")
		}
	}()
	NewLRU(0)
}
