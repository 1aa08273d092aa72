package cache

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
)

// firstFast is a loader whose first call answers at once and every later one
// after slow, each "v<n>" living ttl.
type firstFast struct {
	slow, ttl time.Duration
	calls     atomic.Int64
}

func (l *firstFast) load(ctx context.Context) (Entry, error) {
	n := l.calls.Add(1)
	if n > 1 {
		select {
		case <-time.After(l.slow):
		case <-ctx.Done():
			return Entry{}, ctx.Err()
		}
	}
	return Entry{Value: StringValue("v" + string(rune('0'+n))), TTL: l.ttl}, nil
}

// TestSoftTimeout: a downstream answering in 3 s, a soft timeout of 100 ms.
// Once the entry has expired, every reader is answered the last good value
// after 100 ms while one reload runs; once it lands the entry is fresh.
func TestSoftTimeout(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		tr := NewTiered(NewMemoryStore(MemoryOptions{MaxEntries: 10}), nil, TieredOptions{NoJitter: true})
		defer tr.Close()
		ld := &firstFast{slow: 3 * time.Second, ttl: 10 * time.Second}
		opts := LoadOptions{SoftTimeout: 100 * time.Millisecond, FailSafeFor: time.Minute}
		if v, tier, err := tr.GetOrLoad(ctx, "k", ld.load, opts); err != nil || v.String() != "v1" || tier != TierOrigin {
			t.Fatalf("cold GetOrLoad = %q, %v, %v; want v1, MISS, nil", v, tier, err)
		}
		time.Sleep(11 * time.Second) // expired 1 s ago, kept as the last good value
		var wg sync.WaitGroup
		var slowest atomic.Int64
		for i := range 50 {
			wg.Go(func() {
				time.Sleep(time.Duration(i) * time.Millisecond) // readers keep arriving
				start := time.Now()
				v, tier, err := tr.GetOrLoad(ctx, "k", ld.load, opts)
				took := time.Since(start)
				if err != nil || v.String() != "v1" || tier != TierL1 {
					t.Errorf("expired: GetOrLoad = %q, %v, %v; want the last good v1 from L1", v, tier, err)
				}
				for s := slowest.Load(); int64(took) > s && !slowest.CompareAndSwap(s, int64(took)); s = slowest.Load() {
				}
			})
		}
		wg.Wait()
		if d := time.Duration(slowest.Load()); d > 150*time.Millisecond {
			t.Errorf("the slowest stale answer took %v, want <= 150ms (soft timeout 100ms)", d)
		}
		t.Logf("slowest stale answer: %v", time.Duration(slowest.Load()))
		if n := ld.calls.Load(); n != 2 {
			t.Errorf("loader calls = %d, want 2 (one reload for 50 readers)", n)
		}
		if s := tr.Stats(); s.SoftTimeouts != 50 || s.StaleHits != 50 {
			t.Errorf("Stats: SoftTimeouts %d, StaleHits %d; want 50, 50", s.SoftTimeouts, s.StaleHits)
		}
		time.Sleep(3 * time.Second) // the reload lands
		synctest.Wait()
		start := time.Now()
		if v, tier, err := tr.GetOrLoad(ctx, "k", ld.load, opts); err != nil || v.String() != "v2" || tier != TierL1 || time.Since(start) != 0 {
			t.Errorf("after the reload: GetOrLoad = %q, %v, %v in %v; want v2 from L1 at once", v, tier, err, time.Since(start))
		}
		if n := ld.calls.Load(); n != 2 {
			t.Errorf("after the reload: loader calls = %d, want 2", n)
		}
	})
}

// TestSoftTimeoutFastReload: a reload that lands within the soft timeout is
// the answer; an entry past FailSafeFor is gone, and its load is waited for.
func TestSoftTimeoutFastReload(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		tr := NewTiered(NewMemoryStore(MemoryOptions{MaxEntries: 10}), nil, TieredOptions{NoJitter: true})
		defer tr.Close()
		ld := &firstFast{slow: 40 * time.Millisecond, ttl: 10 * time.Second}
		opts := LoadOptions{SoftTimeout: 100 * time.Millisecond, FailSafeFor: time.Minute}
		_, _, _ = tr.GetOrLoad(ctx, "k", ld.load, opts)
		time.Sleep(11 * time.Second)
		start := time.Now()
		if v, tier, err := tr.GetOrLoad(ctx, "k", ld.load, opts); err != nil || v.String() != "v2" || tier != TierOrigin || time.Since(start) != 40*time.Millisecond {
			t.Errorf("fast reload: GetOrLoad = %q, %v, %v in %v; want v2 from the origin in 40ms", v, tier, err, time.Since(start))
		}
		time.Sleep(75 * time.Second) // past TTL + FailSafeFor: nothing to fall back on
		start = time.Now()
		if v, tier, err := tr.GetOrLoad(ctx, "k", ld.load, opts); err != nil || v.String() != "v3" || tier != TierOrigin || time.Since(start) != 40*time.Millisecond {
			t.Errorf("past FailSafeFor: GetOrLoad = %q, %v, %v in %v; want v3 from the origin in 40ms", v, tier, err, time.Since(start))
		}
		if s := tr.Stats(); s.SoftTimeouts != 0 || s.StaleHits != 0 {
			t.Errorf("Stats: SoftTimeouts %d, StaleHits %d; want 0, 0", s.SoftTimeouts, s.StaleHits)
		}
	})
}

// TestHardTimeout: with nothing to fall back on, a reader waits at most the
// hard timeout and gets an error wrapping context.DeadlineExceeded; the
// load goes on and fills the cache.
func TestHardTimeout(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		tr := NewTiered(NewMemoryStore(MemoryOptions{MaxEntries: 10}), nil, TieredOptions{NoJitter: true})
		defer tr.Close()
		ld := &slowLoader{d: 3 * time.Second, ttl: 10 * time.Second}
		opts := LoadOptions{SoftTimeout: 100 * time.Millisecond, HardTimeout: 500 * time.Millisecond}
		start := time.Now()
		_, _, err := tr.GetOrLoad(ctx, "k", ld.load, opts)
		if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) != 500*time.Millisecond {
			t.Fatalf("cold GetOrLoad: %v after %v; want context.DeadlineExceeded after 500ms", err, time.Since(start))
		}
		time.Sleep(3 * time.Second)
		synctest.Wait()
		if v, tier, err := tr.GetOrLoad(ctx, "k", ld.load, opts); err != nil || v.String() != "v1" || tier != TierL1 {
			t.Errorf("after the load landed: GetOrLoad = %q, %v, %v; want v1 from L1", v, tier, err)
		}
		if n, s := ld.calls.Load(), tr.Stats(); n != 1 || s.HardTimeouts != 1 {
			t.Errorf("loader calls %d, HardTimeouts %d; want 1, 1", n, s.HardTimeouts)
		}
	})
}

// TestSoftTimeoutJoinsRefreshAhead: a refresh-ahead still running when the
// entry expires is the reload the soft timeout waits for: one loader call.
func TestSoftTimeoutJoinsRefreshAhead(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		tr := NewTiered(NewMemoryStore(MemoryOptions{MaxEntries: 10}), nil, TieredOptions{NoJitter: true})
		defer tr.Close()
		ld := &firstFast{slow: 3 * time.Second, ttl: 10 * time.Second}
		opts := LoadOptions{RefreshBefore: 2 * time.Second, SoftTimeout: 100 * time.Millisecond, FailSafeFor: time.Minute}
		_, _, _ = tr.GetOrLoad(ctx, "k", ld.load, opts)
		time.Sleep(9 * time.Second)
		if v, tier, err := tr.GetOrLoad(ctx, "k", ld.load, opts); err != nil || v.String() != "v1" || tier != TierL1 {
			t.Fatalf("due: GetOrLoad = %q, %v, %v; want v1 from L1", v, tier, err)
		}
		time.Sleep(1500 * time.Millisecond) // expired; the refresh runs until 12 s
		start := time.Now()
		if v, tier, err := tr.GetOrLoad(ctx, "k", ld.load, opts); err != nil || v.String() != "v1" || tier != TierL1 || time.Since(start) != 100*time.Millisecond {
			t.Errorf("expired: GetOrLoad = %q, %v, %v in %v; want the last good v1 after 100ms", v, tier, err, time.Since(start))
		}
		time.Sleep(2 * time.Second)
		synctest.Wait()
		if v, _, err := tr.GetOrLoad(ctx, "k", ld.load, opts); err != nil || v.String() != "v2" {
			t.Errorf("after the refresh: GetOrLoad = %q, %v; want v2", v, err)
		}
		if n := ld.calls.Load(); n != 2 {
			t.Errorf("loader calls = %d, want 2 (the refresh and the soft timeout share one reload)", n)
		}
	})
}

// TestSoftTimeoutFailedReload: a reload that fails answers the last good
// value, and does not replace it.
func TestSoftTimeoutFailedReload(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		tr := NewTiered(NewMemoryStore(MemoryOptions{MaxEntries: 10}), nil, TieredOptions{NoJitter: true})
		defer tr.Close()
		opts := LoadOptions{SoftTimeout: 100 * time.Millisecond, FailSafeFor: time.Minute}
		ok := func(context.Context) (Entry, error) {
			return Entry{Value: StringValue("good"), TTL: 10 * time.Second}, nil
		}
		bad := func(context.Context) (Entry, error) { return Entry{}, errors.New("origin down") }
		_, _, _ = tr.GetOrLoad(ctx, "k", ok, opts)
		time.Sleep(11 * time.Second)
		for i := range 2 {
			if v, tier, err := tr.GetOrLoad(ctx, "k", bad, opts); err != nil || v.String() != "good" || tier != TierL1 {
				t.Errorf("read %d with the origin down: GetOrLoad = %q, %v, %v; want the last good value from L1", i, v, tier, err)
			}
		}
	})
}
