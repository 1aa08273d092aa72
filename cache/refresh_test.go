package cache

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
)

// slowLoader returns "v1", "v2", … after d, counting its calls.
type slowLoader struct {
	d     time.Duration
	ttl   time.Duration
	calls atomic.Int64
}

func (l *slowLoader) load(ctx context.Context) (Entry, error) {
	n := l.calls.Add(1)
	select {
	case <-time.After(l.d):
	case <-ctx.Done():
		return Entry{}, ctx.Err()
	}
	return Entry{Value: StringValue("v" + string(rune('0'+n))), TTL: l.ttl}, nil
}

// TestRefreshAhead: a hit within RefreshBefore of the end of the TTL is
// answered at once from the cache and reloads the key in the background,
// once however many readers hit it; the reload renews the TTL.
func TestRefreshAhead(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		tr := NewTiered(NewMemoryStore(MemoryOptions{MaxEntries: 10}), nil, TieredOptions{NoJitter: true})
		defer tr.Close()
		ld := &slowLoader{d: 50 * time.Millisecond, ttl: 10 * time.Second}
		opts := LoadOptions{RefreshBefore: 2 * time.Second}
		get := func(step, want string) {
			t.Helper()
			start := time.Now()
			v, tier, err := tr.GetOrLoad(ctx, "k", ld.load, opts)
			if err != nil || v.String() != want {
				t.Fatalf("%s: GetOrLoad = %q, %v, want %q", step, v, err, want)
			}
			if tier != TierOrigin && time.Since(start) != 0 {
				t.Fatalf("%s: a hit waited %v", step, time.Since(start))
			}
		}
		get("cold", "v1")
		time.Sleep(7 * time.Second)
		get("7s: fresh", "v1")
		synctest.Wait()
		if n := ld.calls.Load(); n != 1 {
			t.Fatalf("7s: loader calls = %d, want 1 (no refresh yet)", n)
		}
		time.Sleep(1500 * time.Millisecond) // 8.5 s: within RefreshBefore
		var wg sync.WaitGroup
		for range 100 {
			wg.Go(func() { get("8.5s: due", "v1") })
		}
		wg.Wait()
		synctest.Wait()
		time.Sleep(100 * time.Millisecond)
		if n := ld.calls.Load(); n != 2 {
			t.Fatalf("8.6s: loader calls = %d, want 2 (one refresh for 100 hits)", n)
		}
		get("after refresh", "v2")
		time.Sleep(5 * time.Second) // 13.6 s: v1 would have expired at 10 s
		get("13.6s", "v2")
		if s := tr.Stats(); s.Refreshes != 1 || s.StaleHits != 0 {
			t.Errorf("Stats: Refreshes %d, StaleHits %d; want 1, 0", s.Refreshes, s.StaleHits)
		}
	})
}

// TestStaleWhileRevalidate: past its TTL but within StaleFor, an entry is
// served stale at once while one reload runs; past StaleFor it is gone.
func TestStaleWhileRevalidate(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		tr := NewTiered(NewMemoryStore(MemoryOptions{MaxEntries: 10}), nil, TieredOptions{NoJitter: true})
		defer tr.Close()
		ld := &slowLoader{d: 50 * time.Millisecond, ttl: 10 * time.Second}
		opts := LoadOptions{StaleFor: 5 * time.Second}
		if v, _, _ := tr.GetOrLoad(ctx, "k", ld.load, opts); v.String() != "v1" {
			t.Fatalf("cold: %q", v)
		}
		if left := l1TTL(t, tr, "k"); left != 15*time.Second {
			t.Fatalf("L1 TTL = %v, want 15s (TTL + StaleFor)", left)
		}
		time.Sleep(12 * time.Second)
		v, tier, err := tr.GetOrLoad(ctx, "k", ld.load, opts)
		if v.String() != "v1" || tier != TierL1 || err != nil {
			t.Fatalf("12s: GetOrLoad = %q, %v, %v; want the stale v1 from L1", v, tier, err)
		}
		synctest.Wait()
		time.Sleep(time.Second)
		if v, _, _ := tr.GetOrLoad(ctx, "k", ld.load, opts); v.String() != "v2" {
			t.Fatalf("13s: %q, want the reloaded v2", v)
		}
		if s := tr.Stats(); s.StaleHits != 1 || s.Refreshes != 1 || s.Loads != 2 {
			t.Errorf("Stats: StaleHits %d, Refreshes %d, Loads %d; want 1, 1, 2", s.StaleHits, s.Refreshes, s.Loads)
		}
		// No reader for longer than TTL + StaleFor: the entry is gone.
		time.Sleep(16 * time.Second)
		if _, tier, _ := tr.GetOrLoad(ctx, "k", ld.load, opts); tier != TierOrigin {
			t.Fatalf("after TTL+StaleFor: tier %v, want a load", tier)
		}
	})
}

// TestRefreshStopsOnClose: Close cancels a running reload's context and
// waits for it; no reload starts after Close.
func TestRefreshStopsOnClose(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		tr := NewTiered(NewMemoryStore(MemoryOptions{MaxEntries: 10}), nil, TieredOptions{NoJitter: true})
		var cancelled atomic.Bool
		calls := 0
		load := func(ctx context.Context) (Entry, error) {
			calls++
			if calls > 1 {
				<-ctx.Done()
				cancelled.Store(true)
				return Entry{}, ctx.Err()
			}
			return Entry{Value: StringValue("v"), TTL: time.Second}, nil
		}
		opts := LoadOptions{RefreshBefore: time.Second}
		_, _, _ = tr.GetOrLoad(ctx, "k", load, opts)
		_, _, _ = tr.GetOrLoad(ctx, "k", load, opts) // due at once: reload blocks
		synctest.Wait()
		if err := tr.Close(); err != nil {
			t.Fatal(err)
		}
		if !cancelled.Load() {
			t.Fatal("Close returned before the reload's context was cancelled")
		}
		_, _, _ = tr.GetOrLoad(ctx, "k", load, opts)
		synctest.Wait()
		if calls != 2 {
			t.Fatalf("loader calls = %d, want 2: no reload after Close", calls)
		}
	})
}

// TestRefreshBounded: no more than MaxRefreshes reloads run at once.
func TestRefreshBounded(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		tr := NewTiered(NewMemoryStore(MemoryOptions{MaxEntries: 100}), nil, TieredOptions{NoJitter: true, MaxRefreshes: 2})
		defer tr.Close()
		ld := &slowLoader{d: time.Second, ttl: time.Minute}
		opts := LoadOptions{RefreshBefore: time.Hour} // every hit is due
		keys := []string{"a", "b", "c", "d"}
		for _, k := range keys {
			_, _, _ = tr.GetOrLoad(ctx, k, ld.load, opts)
		}
		ld.calls.Store(0)
		for _, k := range keys {
			_, _, _ = tr.GetOrLoad(ctx, k, ld.load, opts)
		}
		synctest.Wait()
		if n := ld.calls.Load(); n != 2 {
			t.Fatalf("reloads running = %d, want MaxRefreshes = 2", n)
		}
	})
}

// TestRefreshAheadLatency measures, in real time, the latency of a steady
// load on one hot key whose TTL ends three times during the run, against a
// loader of 50 ms: reads arrive at a fixed rate (open loop, 4,000/s), each
// on its own goroutine. With refresh-ahead no read waits for the loader and
// the p99 stays within 2× the p99 of plain L1 hits; without it every read
// arriving in the 50 ms after an expiry waits.
func TestRefreshAheadLatency(t *testing.T) {
	if testing.Short() {
		t.Skip("real-time latency measure")
	}
	const (
		every  = 250 * time.Microsecond // 4,000 reads/s
		ttl    = 400 * time.Millisecond
		run    = 1200 * time.Millisecond // three expiries
		origin = 50 * time.Millisecond
	)
	type result struct {
		lat    []time.Duration
		waited int64 // reads answered by a load (they waited for the loader)
		loads  uint64
	}
	measure := func(entryTTL time.Duration, opts LoadOptions) result {
		tr := NewTiered(NewMemoryStore(MemoryOptions{MaxEntries: 10}), nil, TieredOptions{NoJitter: true})
		defer tr.Close()
		load := func(ctx context.Context) (Entry, error) {
			time.Sleep(origin)
			return Entry{Value: StringValue("v"), TTL: entryTTL}, nil
		}
		ctx := context.Background()
		_, _, _ = tr.GetOrLoad(ctx, "hot", load, opts)
		n := int(run / every)
		lat := make([]time.Duration, n)
		var waited atomic.Int64
		var wg sync.WaitGroup
		tick := time.NewTicker(every)
		defer tick.Stop()
		for i := range n {
			<-tick.C
			wg.Go(func() {
				start := time.Now()
				_, tier, _ := tr.GetOrLoad(ctx, "hot", load, opts)
				lat[i] = time.Since(start)
				if tier != TierL1 {
					waited.Add(1)
				}
			})
		}
		wg.Wait()
		slices.Sort(lat)
		return result{lat, waited.Load(), tr.Stats().Loads - 1}
	}
	pct := func(l []time.Duration, p float64) time.Duration { return l[int(float64(len(l)-1)*p)] }

	hits := measure(time.Hour, LoadOptions{})
	ahead := measure(ttl, LoadOptions{RefreshBefore: ttl / 2}) // a lead of 4× the loader: room for a busy machine
	plain := measure(ttl, LoadOptions{})
	t.Logf("%-14s %6s %9s %9s %9s %9s %7s %6s", "mode", "reads", "p50", "p99", "p99.9", "max", "waited", "loads")
	for _, r := range []struct {
		name string
		result
	}{{"L1 hits", hits}, {"refresh-ahead", ahead}, {"plain", plain}} {
		t.Logf("%-14s %6d %9v %9v %9v %9v %7d %6d", r.name, len(r.lat), pct(r.lat, .5), pct(r.lat, .99),
			pct(r.lat, .999), r.lat[len(r.lat)-1], r.waited, r.loads)
	}
	if ahead.waited != 0 || ahead.loads == 0 {
		t.Errorf("refresh-ahead: %d reads waited for the loader (want 0), %d background loads (want > 0)", ahead.waited, ahead.loads)
	}
	// The bound is 2× the L1-hit p99. At the scale of tens of µs,
	// an open loop on a shared 2-core machine under -race moves the p99 by
	// 4× between runs (both ways), so the test holds it only within 1 ms,
	// still 50× under the loader's 50 ms: the figures are logged above.
	if p, h := pct(ahead.lat, 0.99), pct(hits.lat, 0.99); p > max(2*h, time.Millisecond) {
		t.Errorf("refresh-ahead p99 %v > max(2 × L1-hit p99 %v, 1ms)", p, h)
	} else if p > 2*h {
		t.Logf("refresh-ahead p99 %v is over 2 × the L1-hit p99 %v this run (scheduling noise)", p, h)
	}
	if plain.waited == 0 || pct(plain.lat, 0.99) < origin/2 {
		t.Errorf("plain: %d reads waited, p99 %v: the expiry spike did not show", plain.waited, pct(plain.lat, 0.99))
	}
}

// TestRefreshOncePerWindow: on one Tiered with L1, L2 and the invalidation
// feed (and the lease of LockWait, as the client's Policy.Lock sets it),
// many concurrent reads of n keys inside their refresh window refresh each
// key once: n refreshes, n loader calls. After its refresh a key's L1 entry
// is fresh, so further reads inside the old window start no refresh.
func TestRefreshOncePerWindow(t *testing.T) {
	t.Parallel()
	const (
		n       = 100
		ttl     = 4 * time.Second
		before  = 2 * time.Second
		readers = 8
		reading = time.Second // much longer than a refresh takes
	)
	eachBackend(t, func(t *testing.T, b *backend) {
		for _, lock := range []time.Duration{0, 2 * time.Second} {
			t.Run(fmt.Sprintf("LockWait=%v", lock), func(t *testing.T) {
				t.Parallel()
				tr := newTiered(t, b, b.prefix(t), TieredOptions{NoJitter: true, MaxRefreshes: n})
				waitSubscribed(t, tr, 1)
				ctx := context.Background()
				opts := LoadOptions{RefreshBefore: before, LockWait: lock}
				var calls [n]atomic.Int64
				keys := make([]string, n)
				loaders := make([]Loader, n)
				for i := range n {
					keys[i] = fmt.Sprintf("product:%d", i)
					loaders[i] = func(context.Context) (Entry, error) {
						c := calls[i].Add(1)
						return Entry{Value: StringValue(fmt.Sprintf("%s#%d", keys[i], c)), TTL: ttl}, nil
					}
				}
				read := func(i int) Tier {
					v, tier, err := tr.GetOrLoad(ctx, keys[i], loaders[i], opts)
					if err != nil || !strings.HasPrefix(v.String(), keys[i]+"#") {
						t.Errorf("GetOrLoad(%q) = %q, %v, %v", keys[i], v, tier, err)
					}
					return tier
				}
				settled := func() {
					t.Helper()
					eventually(t, 10*time.Second, "the background refreshes to end", func() bool {
						tr.bg.mu.Lock()
						defer tr.bg.mu.Unlock()
						return len(tr.bg.running) == 0
					})
				}
				for i := range n {
					read(i)
				}
				warm := tr.Stats()
				time.Sleep(ttl - before + 300*time.Millisecond) // every key has 1.7 s left: due
				var reads, notL1 atomic.Int64
				var wg sync.WaitGroup
				end := time.Now().Add(reading)
				for r := range readers {
					wg.Go(func() {
						for j := r * 7; time.Now().Before(end); j++ {
							if read(j%n) != TierL1 {
								notL1.Add(1)
							}
							reads.Add(1)
							if j%10 == 0 {
								time.Sleep(time.Millisecond) // as clients do: leave the refreshes some CPU
							}
						}
					})
				}
				wg.Wait()
				settled()
				after := tr.Stats()
				// Once more over every key, still inside the old window.
				for i := range n {
					read(i)
				}
				settled()
				again := tr.Stats()

				refreshes, loads := after.Refreshes-warm.Refreshes, after.Loads-warm.Loads
				// On a machine too loaded to read every key while it was
				// due (some expired first and were loaded by a miss), only
				// the storm is judged: at most one refresh and one load per
				// key, and none after. Otherwise each key must have been
				// refreshed exactly once.
				keptUp := reads.Load() >= 10*n && notL1.Load() == 0
				var stale []string
				for i, k := range keys {
					c := calls[i].Load()
					if c > 2 || (keptUp && c != 2) {
						stale = append(stale, fmt.Sprintf("%s: %d loader calls", k, c))
						continue
					}
					if left := l1TTL(t, tr, k); keptUp && left <= before {
						stale = append(stale, fmt.Sprintf("%s: L1 has %v left after its refresh", k, left))
					}
				}
				if !keptUp {
					t.Logf("the machine did not keep up (%d reads, %d not from L1): judging the storm only "+
						"(%d refreshes, %d loader calls for %d keys)", reads.Load(), notL1.Load(), refreshes, loads, n)
				}
				if (keptUp && (refreshes != n || loads != n)) || refreshes > n || loads > n || len(stale) > 0 || again.Refreshes != after.Refreshes {
					t.Errorf("%d reads of %d keys in the window: %d refreshes, %d loader calls (want %d, %d); "+
						"%d reads not from L1; a further pass started %d refreshes (want 0)",
						reads.Load(), n, refreshes, loads, n, n, notL1.Load(), again.Refreshes-after.Refreshes)
					if len(stale) > 0 {
						t.Errorf("%d keys not refreshed as they should be, e.g. %s", len(stale), strings.Join(stale[:min(3, len(stale))], "; "))
					}
					d := statsDelta(warm, again)
					t.Logf("stats in the window: %+v", d)
					switch {
					case d["Loads"] < n && d["L2Hits"] >= d["Refreshes"]:
						t.Errorf("cause: refreshes ended on an L2 hit without loading (L2Hits %d, Loads %d, Refreshes %d): "+
							"the old entry, still in L2 and due, was taken for a fresher one and put back in L1, "+
							"so the next read in the window starts another refresh", d["L2Hits"], d["Loads"], d["Refreshes"])
					case d["Loads"] == n && d["Refreshes"] > n:
						t.Errorf("cause: %d refreshes beyond one per key, which found L2 fresh: a read that saw the old "+
							"L1 entry before its key's refresh ended started another one after it", d["Refreshes"]-n)
					}
				}
			})
		}
	})
}

// statsDelta returns the counters of b less those of a (the few that the
// refresh tests look at).
func statsDelta(a, b Stats) map[string]uint64 {
	return map[string]uint64{
		"L1Hits": b.L1Hits - a.L1Hits, "L1Misses": b.L1Misses - a.L1Misses,
		"L2Hits": b.L2Hits - a.L2Hits, "L2Misses": b.L2Misses - a.L2Misses,
		"Loads": b.Loads - a.Loads, "Refreshes": b.Refreshes - a.Refreshes,
		"LockWaits": b.LockWaits - a.LockWaits, "Invalidations": b.Invalidations - a.Invalidations,
	}
}

// TestRefreshYieldsToHeldLease: a refresh that waits LockWait for another
// instance's lease and gives up leaves the entry as it is, and the reads
// that follow within another LockWait serve it without starting a refresh
// each (each would wait LockWait on L2 again); after that, a read starts one.
func TestRefreshYieldsToHeldLease(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, b *backend) {
		const wait = 300 * time.Millisecond
		trs := instances(t, b, b.prefix(t), 2, TieredOptions{})
		a := trs[0]
		opts := LoadOptions{LockWait: wait, RefreshBefore: 2 * time.Minute} // every hit is due
		c := &counter{entry: Entry{Value: StringValue("v"), TTL: time.Minute}}
		if _, _, err := a.GetOrLoad(context.Background(), "k", c.load, opts); err != nil {
			t.Fatal(err)
		}
		// The other instance takes the lease and never writes.
		if rel, err := l2Store(t, trs[1]).TryLock(context.Background(), "k", time.Minute); err != nil || rel == nil {
			t.Fatalf("TryLock = %v, %v", rel != nil, err)
		}
		idle := func() bool {
			a.bg.mu.Lock()
			defer a.bg.mu.Unlock()
			return len(a.bg.running) == 0
		}
		read := func() {
			t.Helper()
			if v, tier, err := a.GetOrLoad(context.Background(), "k", c.load, opts); err != nil || v.String() != "v" || tier != TierL1 {
				t.Fatalf("GetOrLoad = %q, %v, %v; want v from L1", v, tier, err)
			}
		}
		read() // due: starts a refresh, which waits for the lease and gives up
		eventually(t, 10*time.Second, "the refresh to give up", idle)
		start := time.Now()
		for range 5 {
			read()
		}
		if time.Since(start) < wait { // else the back-off may rightly have ended
			if s := a.Stats(); s.Refreshes != 1 || s.LockWaits != 1 {
				t.Errorf("5 reads right after a refresh yielded to a held lease: Refreshes %d, LockWaits %d; want 1, 1 (no new refresh)", s.Refreshes, s.LockWaits)
			}
		}
		if c.calls.Load() != 1 {
			t.Errorf("loader called %d times, want 1 (the lease is held elsewhere)", c.calls.Load())
		}
		eventually(t, 10*time.Second, "a refresh after the back-off", func() bool {
			read()
			return a.Stats().Refreshes == 2
		})
	})
}

// TestRefreshBacksOffWhenTheLoaderFails: a refresh whose loader fails (the
// downstream is down) holds off the next refresh of that key for a second,
// so the reads of a due entry do not each start a reload against a failing
// downstream; the entry is served meanwhile, and refreshes resume.
func TestRefreshBacksOffWhenTheLoaderFails(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		tr := NewTiered(NewMemoryStore(MemoryOptions{MaxEntries: 10}), nil, TieredOptions{NoJitter: true})
		defer tr.Close()
		var calls atomic.Int64
		var down atomic.Bool
		load := func(context.Context) (Entry, error) {
			calls.Add(1)
			if down.Load() {
				return Entry{}, errors.New("downstream down")
			}
			return Entry{Value: StringValue("v"), TTL: time.Minute}, nil
		}
		opts := LoadOptions{RefreshBefore: time.Hour} // every hit is due
		if _, _, err := tr.GetOrLoad(ctx, "k", load, opts); err != nil {
			t.Fatal(err)
		}
		down.Store(true)
		// 50 reads over 500 ms, each due for a refresh.
		for range 50 {
			if v, _, err := tr.GetOrLoad(ctx, "k", load, opts); err != nil || v.String() != "v" {
				t.Fatalf("a read while the refreshes fail = %q, %v; want the cached v", v.String(), err)
			}
			synctest.Wait()
			time.Sleep(10 * time.Millisecond)
		}
		if n := calls.Load(); n != 2 {
			t.Fatalf("loader calls = %d after 50 due reads in 500 ms with the downstream failing, want 2 (the load, one failed refresh, then a 1 s back-off)", n)
		}
		time.Sleep(time.Second)
		down.Store(false)
		if _, _, err := tr.GetOrLoad(ctx, "k", load, opts); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		if n := calls.Load(); n != 3 {
			t.Fatalf("loader calls = %d after the back-off, want 3 (refreshes resume)", n)
		}
	})
}
