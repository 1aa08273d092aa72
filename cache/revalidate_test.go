package cache

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
)

// revalidator is a loader that revalidates: when the cache hands it the
// value it reloads (Previous), it answers it renewed (NotModified), as an
// origin answering 304 would; without one it loads "v<n>". It records what
// each call got.
type revalidator struct {
	ttl   time.Duration
	calls atomic.Int64
	prevs atomic.Int64 // calls that got a previous value
	last  atomic.Value // string: the last previous value
}

func (l *revalidator) load(ctx context.Context) (Entry, error) {
	n := l.calls.Add(1)
	if _, ok := Previous(ctx, "other"); ok {
		return Entry{}, errors.New("Previous answered for another key")
	}
	if v, ok := Previous(ctx, "k"); ok {
		l.prevs.Add(1)
		l.last.Store(v.String())
		return Entry{Value: v, TTL: l.ttl, Revalidated: true, NotModified: true, Saved: int64(v.Len())}, nil
	}
	return Entry{Value: StringValue("v" + string(rune('0'+n))), TTL: l.ttl}, nil
}

// TestPreviousToReload: a cold load gets no previous value; a refresh-ahead
// reload and a Force get the value the cache holds, and a NotModified
// answer renews it and counts in Stats.
func TestPreviousToReload(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		tr := NewTiered(NewMemoryStore(MemoryOptions{MaxEntries: 10}), nil, TieredOptions{NoJitter: true})
		defer tr.Close()
		ld := &revalidator{ttl: 10 * time.Second}
		opts := LoadOptions{RefreshBefore: 2 * time.Second}
		if v, _, err := tr.GetOrLoad(ctx, "k", ld.load, opts); err != nil || v.String() != "v1" || ld.prevs.Load() != 0 {
			t.Fatalf("cold GetOrLoad = %q, %v with %d previous values; want v1 and none", v, err, ld.prevs.Load())
		}
		time.Sleep(9 * time.Second) // due
		if v, _, err := tr.GetOrLoad(ctx, "k", ld.load, opts); err != nil || v.String() != "v1" {
			t.Fatalf("due GetOrLoad = %q, %v; want v1", v, err)
		}
		synctest.Wait()
		if ld.prevs.Load() != 1 || ld.last.Load() != "v1" {
			t.Fatalf("refresh: %d previous values, last %v; want 1, v1", ld.prevs.Load(), ld.last.Load())
		}
		time.Sleep(5 * time.Second) // v1 renewed at 9 s: 5 s left, fresh
		if left := ttlLeft(t, memoryStore(t, tr), "k"); left != 5*time.Second {
			t.Fatalf("after the 304-like reload: %v left, want 5s (renewed for 10 s)", left)
		}
		o := opts
		o.Force = true
		if v, _, err := tr.GetOrLoad(ctx, "k", ld.load, o); err != nil || v.String() != "v1" || ld.prevs.Load() != 2 {
			t.Fatalf("Force = %q, %v with %d previous values; want v1 revalidated (2)", v, err, ld.prevs.Load())
		}
		s := tr.Stats()
		if s.Revalidations != 2 || s.NotModified != 2 || s.BytesSaved != 4 {
			t.Fatalf("Stats: Revalidations %d, NotModified %d, BytesSaved %d; want 2, 2, 4", s.Revalidations, s.NotModified, s.BytesSaved)
		}
	})
	if _, ok := Previous(context.Background(), "k"); ok {
		t.Fatal("Previous outside a loader: ok, want false")
	}
}

// TestNotModifiedAcrossInstances: a NotModified reload on one instance
// renews the entry in L2 and drops the other instance's L1 copy, as any
// write does; a cold miss reads L2 once, no more, to find no previous value.
func TestNotModifiedAcrossInstances(t *testing.T) {
	eachBackend(t, func(t *testing.T, b *backend) {
		ctx := context.Background()
		prefix := b.prefix(t)
		var gets atomic.Int64
		a := newTiered(t, b, prefix, TieredOptions{NoJitter: true, OnL2Call: func(_ context.Context, c L2Call) {
			if c.Op == "get" {
				gets.Add(1)
			}
		}})
		o := newTiered(t, b, prefix, TieredOptions{NoJitter: true})
		waitSubscribed(t, a, 1)
		waitSubscribed(t, o, 1)
		ld := &revalidator{ttl: 10 * time.Second}
		if v, _, err := a.GetOrLoad(ctx, "k", ld.load, LoadOptions{}); err != nil || v.String() != "v1" {
			t.Fatalf("cold GetOrLoad = %q, %v", v, err)
		}
		if n := gets.Load(); n != 1 {
			t.Fatalf("cold miss: %d L2 reads, want 1", n)
		}
		if v, tier, err := o.GetOrLoad(ctx, "k", ld.load, LoadOptions{}); err != nil || v.String() != "v1" || tier != TierL2 {
			t.Fatalf("other instance: GetOrLoad = %q, %v, %v; want v1 from L2", v, tier, err)
		}
		ld.ttl = time.Hour
		if v, _, err := a.GetOrLoad(ctx, "k", ld.load, LoadOptions{Force: true}); err != nil || v.String() != "v1" || ld.prevs.Load() != 1 {
			t.Fatalf("Force = %q, %v with %d previous values; want v1 revalidated", v, err, ld.prevs.Load())
		}
		if pttl := b.direct.PTTL(ctx, prefix+"k").Val(); pttl < 10*time.Minute {
			t.Fatalf("L2 TTL after the NotModified reload = %v, want about 1h (renewed)", pttl)
		}
		eventually(t, 5*time.Second, "the other instance drops its L1 copy", func() bool { return !inL1(o, "k") })
		if n := ld.calls.Load(); n != 2 {
			t.Fatalf("loader calls = %d, want 2", n)
		}
	})
}

var (
	errDown   = errors.New("origin down")
	errClient = errors.New("bad request")
)

// flaky loads "v<n>" for ttl, or fails with err while it is set.
type flaky struct {
	ttl   time.Duration
	calls atomic.Int64
	err   atomic.Pointer[error]
}

func (l *flaky) load(context.Context) (Entry, error) {
	n := l.calls.Add(1)
	if p := l.err.Load(); p != nil {
		return Entry{}, *p
	}
	return Entry{Value: StringValue("v" + string(rune('0'+n))), TTL: l.ttl}, nil
}

func (l *flaky) fail(err error) {
	if err == nil {
		l.err.Store(nil)
		return
	}
	l.err.Store(&err)
}

// TestStaleIfError: once its entry has expired, a reload that fails answers
// the kept value, and so do the reads that follow, at once, with one
// reload a second; the first reload that succeeds ends it. An error that
// StaleOnError refuses is returned, and nothing is kept past StaleIfError.
func TestStaleIfError(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		tr := NewTiered(NewMemoryStore(MemoryOptions{MaxEntries: 10}), nil, TieredOptions{NoJitter: true})
		defer tr.Close()
		ld := &flaky{ttl: 10 * time.Second}
		var staleErrs atomic.Int64
		opts := LoadOptions{StaleIfError: time.Minute,
			StaleOnError: func(err error) bool { return !errors.Is(err, errClient) },
			OnStale: func(err error) {
				if errors.Is(err, errDown) {
					staleErrs.Add(1)
				}
			}}
		get := func(step, want string) {
			t.Helper()
			start := time.Now()
			v, _, err := tr.GetOrLoad(ctx, "k", ld.load, opts)
			if err != nil || v.String() != want {
				t.Fatalf("%s: GetOrLoad = %q, %v; want %q", step, v, err, want)
			}
			if took := time.Since(start); took != 0 {
				t.Fatalf("%s: waited %v", step, took)
			}
		}
		get("cold", "v1")
		ld.fail(errDown)
		time.Sleep(11 * time.Second)
		get("expired, origin down", "v1")
		for range 100 {
			get("within the second", "v1")
		}
		if n := ld.calls.Load(); n != 2 {
			t.Fatalf("loader calls within the first second of failure = %d, want 2 (one reload)", n)
		}
		time.Sleep(time.Second)
		get("a second later", "v1")
		synctest.Wait()
		if n := ld.calls.Load(); n != 3 {
			t.Fatalf("loader calls a second later = %d, want 3 (one background retry)", n)
		}
		s := tr.Stats()
		if s.StaleIfErrorHits != 102 || staleErrs.Load() != 102 {
			t.Fatalf("StaleIfErrorHits = %d, OnStale(errDown) %d times; want 102", s.StaleIfErrorHits, staleErrs.Load())
		}
		ld.fail(nil)
		time.Sleep(time.Second)
		get("origin back: still the kept value", "v1")
		synctest.Wait()
		get("origin back, after the retry", "v4")

		// A refused error is returned.
		ld.fail(errClient)
		time.Sleep(11 * time.Second)
		if _, _, err := tr.GetOrLoad(ctx, "k", ld.load, opts); !errors.Is(err, errClient) {
			t.Fatalf("refused error: GetOrLoad err = %v, want %v", err, errClient)
		}
		// Nothing is kept past StaleIfError.
		ld.fail(errDown)
		time.Sleep(2 * time.Minute)
		if _, _, err := tr.GetOrLoad(ctx, "k", ld.load, opts); !errors.Is(err, errDown) {
			t.Fatalf("past StaleIfError: GetOrLoad err = %v, want %v", err, errDown)
		}
	})
}
