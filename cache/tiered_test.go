package cache

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/alovago/alova/internal/redisop"
	"github.com/alovago/alova/internal/testredis"
	"github.com/redis/go-redis/v9"
	"go.uber.org/goleak"
)

// TestTieredSeedFlow walks the seed's chart one step at a time and checks,
// at each step, which tier answered, which tier was filled and with what TTL.
func TestTieredSeedFlow(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, b *backend) {
		ctx := context.Background()
		p := b.prefix(t)
		tr := newTiered(t, b, p, TieredOptions{NoJitter: true, NoInvalidation: true})
		ld := &counter{entry: Entry{Value: StringValue("v1"), TTL: 10 * time.Second}}
		const key = "GET /products/1"

		steps := []struct {
			name      string
			before    func()
			wantTier  Tier
			wantLoads int64
			// the TTL range the key must then have in each tier (0, 0: absent)
			l1Min, l1Max time.Duration
			l2Min, l2Max time.Duration
		}{
			{name: "cold: origin answers, L2 then L1 written for the entry's TTL",
				wantTier: TierOrigin, wantLoads: 1,
				l1Min: 9 * time.Second, l1Max: 10 * time.Second, l2Min: 9 * time.Second, l2Max: 10 * time.Second},
			{name: "warm: L1 answers, nothing else touched",
				wantTier: TierL1, wantLoads: 1,
				l1Min: 9 * time.Second, l1Max: 10 * time.Second, l2Min: 9 * time.Second, l2Max: 10 * time.Second},
			{name: "L1 lost, 7s later: L2 answers and fills L1 for the 3s left",
				before: func() {
					tr.l1.Delete(key)
					b.age(t, p+key, 7*time.Second)
				},
				wantTier: TierL2, wantLoads: 1,
				l1Min: 2 * time.Second, l1Max: 3 * time.Second, l2Min: 2 * time.Second, l2Max: 3 * time.Second},
			{name: "L1 answers again",
				wantTier: TierL1, wantLoads: 1,
				l1Min: 2 * time.Second, l1Max: 3 * time.Second, l2Min: 2 * time.Second, l2Max: 3 * time.Second},
			{name: "both gone: origin again",
				before: func() {
					tr.l1.Delete(key)
					b.direct.Del(ctx, p+key)
				},
				wantTier: TierOrigin, wantLoads: 2,
				l1Min: 9 * time.Second, l1Max: 10 * time.Second, l2Min: 9 * time.Second, l2Max: 10 * time.Second},
		}
		for _, s := range steps {
			if s.before != nil {
				s.before()
			}
			v, tier, err := tr.GetOrLoad(ctx, key, ld.load, LoadOptions{})
			if err != nil || v.String() != "v1" || tier != s.wantTier {
				t.Fatalf("%s: GetOrLoad = %q, %v, %v; want v1 from %v", s.name, v.String(), tier, err, s.wantTier)
			}
			if n := ld.calls.Load(); n != s.wantLoads {
				t.Errorf("%s: loader calls = %d, want %d", s.name, n, s.wantLoads)
			}
			if ttl := l1TTL(t, tr, key); ttl <= s.l1Min || ttl > s.l1Max {
				t.Errorf("%s: L1 TTL = %v, want in (%v, %v]", s.name, ttl, s.l1Min, s.l1Max)
			}
			if ttl := b.direct.PTTL(ctx, p+key).Val(); ttl <= s.l2Min || ttl > s.l2Max {
				t.Errorf("%s: L2 PTTL = %v, want in (%v, %v]", s.name, ttl, s.l2Min, s.l2Max)
			}
		}
		want := Stats{L1Hits: 2, L1Misses: 3, L2Hits: 1, L2Misses: 2, Loads: 2}
		if got := tr.Stats(); got != want {
			t.Errorf("Stats = %+v, want %+v", got, want)
		}
	})
}

func TestTieredL1Cap(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, b *backend) {
		ctx := context.Background()
		p := b.prefix(t)
		tr := newTiered(t, b, p, TieredOptions{NoJitter: true, NoInvalidation: true, L1MaxTTL: time.Second})
		ld := &counter{entry: Entry{Value: StringValue("v"), TTL: 10 * time.Second}}

		if _, tier, _ := tr.GetOrLoad(ctx, "k", ld.load, LoadOptions{}); tier != TierOrigin {
			t.Fatalf("tier = %v, want MISS", tier)
		}
		if ttl := l1TTL(t, tr, "k"); ttl > time.Second {
			t.Errorf("after a load: L1 TTL = %v, want <= 1s (the cap)", ttl)
		}
		if ttl := b.direct.PTTL(ctx, p+"k").Val(); ttl <= 9*time.Second {
			t.Errorf("after a load: L2 PTTL = %v, want > 9s (not capped)", ttl)
		}

		tests := []struct {
			name     string
			l2TTL    time.Duration // 0: no expiry
			wantFill bool
			max      time.Duration
		}{
			{"L2 has more than the cap: L1 gets the cap", 5 * time.Second, true, time.Second},
			{"L2 has less than the cap: L1 gets what is left", 300 * time.Millisecond, true, 300 * time.Millisecond},
			{"L2 entry without expiry: L1 gets the cap", 0, true, time.Second},
		}
		for _, tc := range tests {
			key := "fill:" + tc.name
			b.plant(t, p+key, "x", tc.l2TTL)
			if _, tier, err := tr.Get(ctx, key, ModeAll); tier != TierL2 || err != nil {
				t.Fatalf("%s: Get = %v, %v; want an L2 hit", tc.name, tier, err)
			}
			if ttl := l1TTL(t, tr, key); ttl > tc.max || ttl < tc.max-200*time.Millisecond {
				t.Errorf("%s: L1 TTL = %v, want just under %v", tc.name, ttl, tc.max)
			}
		}
	})
}

func TestTieredNoExpiryWithoutCapNotFilled(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, b *backend) {
		ctx := context.Background()
		p := b.prefix(t)
		tr := newTiered(t, b, p, TieredOptions{NoInvalidation: true})
		b.plant(t, p+"forever", "x", 0)
		if v, tier, err := tr.Get(ctx, "forever", ModeAll); tier != TierL2 || v.String() != "x" || err != nil {
			t.Fatalf("Get = %q, %v, %v; want x from L2", v, tier, err)
		}
		if inL1(tr, "forever") {
			t.Error("an L2 entry without expiry was copied into an uncapped L1: it would never expire there")
		}
	})
}

func TestTieredJitter(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		opts     TieredOptions
		min, max time.Duration
	}{
		{"default 10%", TieredOptions{}, 900 * time.Millisecond, time.Second},
		{"50%", TieredOptions{Jitter: 0.5}, 500 * time.Millisecond, time.Second},
		{"off", TieredOptions{NoJitter: true}, time.Second, time.Second},
		{"L1 cap jittered too", TieredOptions{Jitter: 0.5, L1MaxTTL: 100 * time.Millisecond}, 50 * time.Millisecond, 100 * time.Millisecond},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			l1, _ := newClockedMemory(MemoryOptions{MaxEntries: 1000}) // frozen clock: the TTL left is the TTL written
			tr := NewTiered(l1, nil, tc.opts)
			var lo, hi time.Duration = 1 << 62, 0
			for i := range 300 {
				key := fmt.Sprint(i)
				_ = tr.Set(ctx, key, Entry{Value: StringValue("v"), TTL: time.Second}, ModeAll)
				ttl := l1TTL(t, tr, key)
				lo, hi = min(lo, ttl), max(hi, ttl)
			}
			if lo < tc.min || hi > tc.max {
				t.Errorf("TTLs in [%v, %v], want within [%v, %v]", lo, hi, tc.min, tc.max)
			}
			if spread := tc.max - tc.min; spread > 0 && hi-lo < spread/2 {
				t.Errorf("TTLs in [%v, %v]: spread %v, want them spread over most of %v", lo, hi, hi-lo, spread)
			}
		})
	}
}

// TestTieredStampede: 1,000 goroutines miss one key at once; the loader runs
// once, whichever tiers are present.
func TestTieredStampede(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, b *backend) {
		p := b.prefix(t)
		tiers := []struct {
			name string
			l1   bool
			l2   bool
		}{{"L1+L2", true, true}, {"L1 only", true, false}, {"L2 only", false, true}, {"no tier", false, false}}
		for _, tc := range tiers {
			t.Run(tc.name, func(t *testing.T) {
				// Interface-typed: a nil *MemoryStore in a Local is not a nil Local.
				var l1 Local
				var l2 Shared
				if tc.l1 {
					l1 = NewMemoryStore(MemoryOptions{MaxEntries: 10})
				}
				if tc.l2 {
					l2 = newRedis(b.rdb, RedisOptions{KeyPrefix: p + tc.name + ":", Timeout: testL2Timeout})
				}
				tr := NewTiered(l1, l2, TieredOptions{NoInvalidation: true})
				defer tr.Close()

				var calls atomic.Int64
				release := make(chan struct{})
				load := func(ctx context.Context) (Entry, error) {
					calls.Add(1)
					<-release
					return Entry{Value: StringValue("v"), TTL: time.Minute}, nil
				}
				const n = 1000
				var started, done sync.WaitGroup
				started.Add(n)
				errs := make(chan error, n)
				for range n {
					done.Go(func() {
						started.Done()
						v, _, err := tr.GetOrLoad(context.Background(), "hot", load, LoadOptions{})
						if err == nil && v.String() != "v" {
							err = fmt.Errorf("value %q", v)
						}
						if err != nil {
							errs <- err
						}
					})
				}
				started.Wait()
				close(release)
				done.Wait()
				close(errs)
				for err := range errs {
					t.Fatalf("a caller got %v", err)
				}
				want := int64(1)
				if !tc.l1 && !tc.l2 {
					// Nothing to remember the value in: late callers load
					// again, but never while a load is in flight.
					want = calls.Load()
				}
				if got := calls.Load(); got != want || tr.Stats().Loads != uint64(got) {
					t.Fatalf("loader calls = %d (Stats.Loads %d), want %d", got, tr.Stats().Loads, want)
				}
				if s := tr.Stats(); s.SharedLoads == 0 {
					t.Errorf("Stats.SharedLoads = 0: no caller joined the load (%+v)", s)
				}
			})
		}
	})
}

func TestTieredLoaderError(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, b *backend) {
		tr := newTiered(t, b, b.prefix(t), TieredOptions{NoInvalidation: true})
		boom := errors.New("origin down")
		var calls atomic.Int64
		release := make(chan struct{})
		load := func(context.Context) (Entry, error) {
			calls.Add(1)
			<-release
			return Entry{}, fmt.Errorf("load: %w", boom)
		}
		const n = 20
		var wg sync.WaitGroup
		var ok atomic.Int64
		for range n {
			wg.Go(func() {
				_, tier, err := tr.GetOrLoad(context.Background(), "k", load, LoadOptions{})
				if errors.Is(err, boom) && tier == TierOrigin {
					ok.Add(1)
				}
			})
		}
		eventually(t, 5*time.Second, "callers waiting on the load", func() bool { return tr.flight.InFlight() == 1 && calls.Load() == 1 })
		close(release)
		wg.Wait()
		if ok.Load() != n {
			t.Errorf("%d of %d callers got the loader's error from MISS", ok.Load(), n)
		}
		// Not cached: the next read loads again.
		_, _, err := tr.GetOrLoad(context.Background(), "k", load, LoadOptions{})
		if !errors.Is(err, boom) || calls.Load() < 2 {
			t.Errorf("after an error: GetOrLoad = %v, loader calls = %d; want the loader called again", err, calls.Load())
		}
		if s := tr.Stats(); s.LoadErrors != uint64(calls.Load()) {
			t.Errorf("Stats.LoadErrors = %d, want %d", s.LoadErrors, calls.Load())
		}
	})
}

// TestTieredNegativeCaching: a loader error wrapped with Negative is kept in
// L1 for its ttl, and callers get the error itself; any other error, or a
// ttl <= 0, is not cached. Time passes in a synctest bubble: the L1 clock is
// the (faked) monotonic clock.
func TestTieredNegativeCaching(t *testing.T) {
	t.Parallel()
	notFound := errors.New("not found")
	origin := fmt.Errorf("GET /x: %w", notFound)
	tests := []struct {
		name       string
		err        error // what the loader returns
		wantCached bool
	}{
		{"Negative: cached", Negative(origin, time.Second), true},
		{"wrapped Negative: cached", fmt.Errorf("loader: %w", Negative(origin, time.Second)), true},
		{"plain error: not cached", origin, false},
		{"Negative with ttl 0: not cached", Negative(origin, 0), false},
		{"Negative with ttl < 0: not cached", Negative(origin, -time.Second), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				ctx := context.Background()
				tr := NewTiered(NewMemoryStore(MemoryOptions{MaxEntries: 10}), nil, TieredOptions{})
				ld := &counter{err: tc.err}
				callerErr := func(step string, err error) {
					t.Helper()
					var neg *negative
					if !errors.Is(err, notFound) || errors.As(err, &neg) {
						t.Fatalf("%s: error %v (%T); want one wrapping notFound, without the Negative wrapper", step, err, err)
					}
				}

				_, tier, err := tr.GetOrLoad(ctx, "k", ld.load, LoadOptions{})
				callerErr("first GetOrLoad", err)
				if tier != TierOrigin {
					t.Fatalf("first GetOrLoad from %v, want MISS", tier)
				}
				if tc.wantCached && err != origin {
					t.Errorf("first GetOrLoad = %v; want the error given to Negative itself", err)
				}
				_, tier, err = tr.GetOrLoad(ctx, "k", ld.load, LoadOptions{})
				callerErr("second GetOrLoad", err)
				if cached := ld.calls.Load() == 1; cached != tc.wantCached {
					t.Fatalf("second GetOrLoad = %v, %v, loader calls %d; want cached=%v", tier, err, ld.calls.Load(), tc.wantCached)
				}
				if s := tr.Stats(); s.LoadErrors != uint64(ld.calls.Load()) {
					t.Errorf("Stats.LoadErrors = %d, want %d", s.LoadErrors, ld.calls.Load())
				}
				if !tc.wantCached {
					if s := tr.Stats(); s.NegativeHits != 0 || s.L1Hits != 0 {
						t.Errorf("Stats = %+v; want no (negative) hits", s)
					}
					return
				}
				if s := tr.Stats(); tier != TierL1 || err != origin || s.NegativeHits != 1 || s.L1Hits != 1 {
					t.Errorf("negative hit: %v from %v, Stats %+v; want the same error from L1, NegativeHits 1, L1Hits 1", err, tier, s)
				}
				if v, tier, err := tr.Get(ctx, "k", ModeAll); err != origin || tier != TierL1 || v.Len() != 0 {
					t.Errorf("Get of a negative entry = %q, %v, %v; want the cached error from L1", v, tier, err)
				}
				time.Sleep(time.Second - time.Nanosecond)
				if _, _, err := tr.GetOrLoad(ctx, "k", ld.load, LoadOptions{}); err != origin || ld.calls.Load() != 1 {
					t.Errorf("just before the ttl ends: GetOrLoad = %v, loader calls %d; want the cached error", err, ld.calls.Load())
				}
				time.Sleep(time.Nanosecond)
				_, _, _ = tr.GetOrLoad(ctx, "k", ld.load, LoadOptions{})
				if n := ld.calls.Load(); n != 2 {
					t.Errorf("once the ttl has ended: loader calls = %d, want 2", n)
				}
				if s := tr.Stats(); s.NegativeHits != 3 {
					t.Errorf("Stats.NegativeHits = %d, want 3 (two GetOrLoad, one Get)", s.NegativeHits)
				}
			})
		})
	}
	if Negative(nil, time.Second) != nil {
		t.Error("Negative(nil, ttl) != nil")
	}
}

// TestTieredNegativeL1Only: a negative entry lives in this process's L1 only:
// L2 and the other instances never see it; every waiter of the load gets the
// error; and a Set or Delete of the key replaces it.
func TestTieredNegativeL1Only(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, b *backend) {
		ctx := context.Background()
		p := b.prefix(t)
		a := newTiered(t, b, p, TieredOptions{NoInvalidation: true})
		other := newTiered(t, b, p, TieredOptions{NoInvalidation: true})
		l2only := NewTiered(nil, newRedis(b.rdb, RedisOptions{KeyPrefix: p, Timeout: testL2Timeout}), TieredOptions{})
		t.Cleanup(func() { _ = l2only.Close() })
		gone := errors.New("gone")
		var calls atomic.Int64
		release := make(chan struct{})
		load := func(context.Context) (Entry, error) {
			calls.Add(1)
			<-release
			return Entry{}, Negative(gone, time.Minute)
		}
		const n = 10
		var wg sync.WaitGroup
		var fromLoad, fromL1 atomic.Int64
		for range n {
			wg.Go(func() {
				_, tier, err := a.GetOrLoad(ctx, "k", load, LoadOptions{})
				switch {
				case err != gone:
				case tier == TierOrigin: // waited on the load
					fromLoad.Add(1)
				case tier == TierL1: // came after it, found the negative entry
					fromL1.Add(1)
				}
			})
		}
		eventually(t, 5*time.Second, "callers waiting on the load", func() bool { return a.flight.InFlight() == 1 && calls.Load() == 1 })
		close(release)
		wg.Wait()
		if fromLoad.Load()+fromL1.Load() != n || fromLoad.Load() == 0 || calls.Load() != 1 {
			t.Fatalf("of %d callers, %d got the error from the load and %d from L1 (loader calls %d); want all of them, one load",
				n, fromLoad.Load(), fromL1.Load(), calls.Load())
		}
		if _, tier, err := a.Get(ctx, "k", ModeAll); err != gone || tier != TierL1 {
			t.Errorf("a.Get = %v, %v; want the negative entry from L1", tier, err)
		}
		if b.direct.Exists(ctx, p+"k").Val() != 0 {
			t.Error("a negative entry was written to L2")
		}
		if _, tier, err := other.Get(ctx, "k", ModeAll); !errors.Is(err, ErrMiss) || tier != TierNone {
			t.Errorf("another instance's Get = %v, %v; want ErrMiss", tier, err)
		}
		_, _, _ = other.GetOrLoad(ctx, "k", load, LoadOptions{})
		if calls.Load() != 2 {
			t.Errorf("another instance did not load for itself: loader calls %d, want 2", calls.Load())
		}
		// Without L1, nothing keeps it.
		for range 2 {
			_, _, _ = l2only.GetOrLoad(ctx, "k", load, LoadOptions{})
		}
		if calls.Load() != 4 {
			t.Errorf("an L2-only Tiered cached a negative entry: loader calls %d, want 4", calls.Load())
		}

		if err := a.Set(ctx, "k", Entry{Value: StringValue("back"), TTL: time.Minute}, ModeAll); err != nil {
			t.Fatal(err)
		}
		if v, tier, err := a.Get(ctx, "k", ModeAll); v.String() != "back" || tier != TierL1 || err != nil {
			t.Errorf("after Set: Get = %q, %v, %v; want back from L1", v, tier, err)
		}
		_, _, _ = a.GetOrLoad(ctx, "gone", load, LoadOptions{})
		if err := a.Delete(ctx, "gone"); err != nil {
			t.Fatal(err)
		}
		if inL1(a, "gone") {
			t.Error("Delete left the negative entry in L1")
		}
	})
}

// TestTieredTwoInstances: a Delete, an overwrite or a DeleteTags on one
// instance drops the key from the other's L1 within 100 ms.
func TestTieredTwoInstances(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, b *backend) {
		ctx := context.Background()
		p := b.prefix(t)
		a := newTiered(t, b, p, TieredOptions{NoJitter: true})
		bb := newTiered(t, b, p, TieredOptions{NoJitter: true})
		waitSubscribed(t, a, 1)
		waitSubscribed(t, bb, 1)
		const within = 100 * time.Millisecond

		// fill loads key through a and reads it into bb's L1 from L2.
		fill := func(t *testing.T, key string, tags ...string) {
			t.Helper()
			ld := &counter{entry: Entry{Value: StringValue("v1"), TTL: time.Minute, Tags: tags}}
			if _, tier, err := a.GetOrLoad(ctx, key, ld.load, LoadOptions{}); tier != TierOrigin || err != nil {
				t.Fatalf("a.GetOrLoad(%q) = %v, %v", key, tier, err)
			}
			if _, tier, err := bb.GetOrLoad(ctx, key, ld.load, LoadOptions{}); tier != TierL2 || err != nil {
				t.Fatalf("b.GetOrLoad(%q) = %v, %v; want an L2 hit", key, tier, err)
			}
			if !inL1(bb, key) {
				t.Fatalf("%q not in b's L1 after an L2 hit", key)
			}
		}

		t.Run("Delete", func(t *testing.T) {
			fill(t, "del")
			if err := a.Delete(ctx, "del"); err != nil {
				t.Fatal(err)
			}
			took := eventually(t, within, "b drops the deleted key", func() bool { return !inL1(bb, "del") })
			t.Logf("%s: dropped from the other L1 after %v", b.name, took)
		})

		t.Run("overwrite", func(t *testing.T) {
			fill(t, "over")
			if err := a.Set(ctx, "over", Entry{Value: StringValue("v2"), TTL: time.Minute}, ModeAll); err != nil {
				t.Fatal(err)
			}
			eventually(t, within, "b drops the overwritten key", func() bool { return !inL1(bb, "over") })
			if v, tier, _ := bb.Get(ctx, "over", ModeAll); v.String() != "v2" || tier != TierL2 {
				t.Errorf("b.Get after the overwrite = %q from %v, want v2 from L2", v, tier)
			}
		})

		t.Run("DeleteTags", func(t *testing.T) {
			fill(t, "tagged", "t1")
			// b's own memory-only entry carrying the tag: known to b alone.
			if err := bb.Set(ctx, "local", Entry{Value: StringValue("l"), TTL: time.Minute, Tags: []string{"t1"}}, ModeL1); err != nil {
				t.Fatal(err)
			}
			fill(t, "other", "t2")
			if err := a.DeleteTags(ctx, "t1"); err != nil {
				t.Fatal(err)
			}
			eventually(t, within, "b drops the tagged keys", func() bool { return !inL1(bb, "tagged") && !inL1(bb, "local") })
			if !inL1(bb, "other") || !inL1(a, "other") {
				t.Error("an entry with another tag was dropped")
			}
		})

		t.Run("own messages ignored", func(t *testing.T) {
			// A pair of its own, on a channel of its own: a message of the
			// subtests above that reached a late would count here.
			p := b.prefix(t)
			a, bb := newTiered(t, b, p, TieredOptions{NoJitter: true}), newTiered(t, b, p, TieredOptions{NoJitter: true})
			waitSubscribed(t, a, 1)
			waitSubscribed(t, bb, 1)
			before := a.Stats().Invalidations
			if err := a.Set(ctx, "mine", Entry{Value: StringValue("m"), TTL: time.Minute}, ModeAll); err != nil {
				t.Fatal(err)
			}
			// Redis delivers one publisher's messages in order: once b's
			// marker reaches a, so has a's own message.
			if err := bb.Delete(ctx, "marker"); err != nil {
				t.Fatal(err)
			}
			eventually(t, time.Second, "a gets b's marker", func() bool { return a.Stats().Invalidations > before })
			if !inL1(a, "mine") {
				t.Error("a dropped its own write on its own message")
			}
			if got := a.Stats().Invalidations - before; got != 1 {
				t.Errorf("a applied %d messages, want 1 (b's marker only)", got)
			}
		})
	})
}

func TestTieredInvalidationSurvivesRestart(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, b *backend) {
		ctx := context.Background()
		p := b.prefix(t)
		opts := TieredOptions{L2Cooldown: 50 * time.Millisecond, Logger: quiet}
		a := newTiered(t, b, p, opts)
		bb := newTiered(t, b, p, opts)
		waitSubscribed(t, a, 1)
		waitSubscribed(t, bb, 1)
		_ = bb.Set(ctx, "stale", Entry{Value: StringValue("s"), TTL: time.Minute}, ModeL1)

		b.down()
		b.up()
		waitSubscribed(t, a, 2)
		waitSubscribed(t, bb, 2)
		// The feed counts a confirmation before it hands on the purge, so
		// the purge may land just after the count.
		eventually(t, 2*time.Second, "L1 purged on resubscribing (invalidations sent while away are lost)",
			func() bool { return !inL1(bb, "stale") })

		ld := &counter{entry: Entry{Value: StringValue("v"), TTL: time.Minute}}
		eventually(t, 10*time.Second, "L2 usable again", func() bool {
			_ = a.Delete(ctx, "k")
			_, tier, _ := a.GetOrLoad(ctx, "k", ld.load, LoadOptions{})
			_, tier2, _ := bb.GetOrLoad(ctx, "k", ld.load, LoadOptions{})
			return tier == TierOrigin && tier2 == TierL2
		})
		if err := a.Delete(ctx, "k"); err != nil {
			t.Fatal(err)
		}
		eventually(t, time.Second, "b drops the key after the restart", func() bool { return !inL1(bb, "k") })
	})
}

// TestTieredSubscriptionRenewed: a connection that stays up without its
// subscription (what a SUBSCRIBE refused by a server still loading its data
// leaves behind) is noticed by the periodic check and replaced.
func TestTieredSubscriptionRenewed(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, b *backend) {
		ctx := context.Background()
		p := b.prefix(t)
		a := newTiered(t, b, p, TieredOptions{Logger: quiet})
		spy := &pubsubSpy{Client: b.rdb}
		bb := newTieredWith(t, spy, RedisOptions{KeyPrefix: p, Timeout: testL2Timeout}, TieredOptions{Logger: quiet})
		waitSubscribed(t, a, 1)
		waitSubscribed(t, bb, 1)

		// Drop the subscription, keep the connection. The feed checks
		// every second (feedCheck) and renews after two failed checks.
		if err := spy.ps.Load().Unsubscribe(ctx); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		waitSubscribed(t, bb, 2)
		t.Logf("%s: subscription renewed after %v", b.name, time.Since(start))
		if n := l2Store(t, bb).renewed.Load(); n < 1 {
			t.Errorf("subscriptions renewed = %d, want at least 1", n)
		}
		_ = bb.Set(ctx, "k", Entry{Value: StringValue("v"), TTL: time.Minute}, ModeL1)
		if err := a.Delete(ctx, "k"); err != nil {
			t.Fatal(err)
		}
		eventually(t, time.Second, "b drops the key on the renewed subscription", func() bool { return !inL1(bb, "k") })
	})
}

// logCounter is a slog.Handler counting records by level.
type logCounter struct {
	mu sync.Mutex
	n  map[slog.Level]int
}

func (h *logCounter) Enabled(context.Context, slog.Level) bool { return true }
func (h *logCounter) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.n == nil {
		h.n = map[slog.Level]int{}
	}
	h.n[r.Level]++
	return nil
}
func (h *logCounter) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *logCounter) WithGroup(string) slog.Handler      { return h }
func (h *logCounter) count(l slog.Level) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.n[l]
}

// TestTieredRedisDown: with Redis stopped, reads are served by the origin
// without an error; after L2Failures failures L2 is skipped; when Redis is
// back, L2 is used again by itself. Writes say they could not reach L2
// (with NoRecovery: recovery_test.go tests the queue).
func TestTieredRedisDown(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, b *backend) {
		ctx := context.Background()
		p := b.prefix(t)
		logs := &logCounter{}
		tr := newTieredWith(t, b.rdb, RedisOptions{KeyPrefix: p, Timeout: time.Second},
			TieredOptions{L2Failures: 2, L2Cooldown: 100 * time.Millisecond, Logger: slog.New(logs), NoRecovery: true})
		ld := &counter{entry: Entry{Value: StringValue("v"), TTL: time.Minute}}
		if _, tier, _ := tr.GetOrLoad(ctx, "primed", ld.load, LoadOptions{}); tier != TierOrigin {
			t.Fatalf("priming: tier %v", tier)
		}

		b.down()
		restored := false
		defer func() {
			if !restored {
				b.up()
			}
		}()
		for i := range 4 {
			key := fmt.Sprint("down", i)
			start := time.Now()
			v, tier, err := tr.GetOrLoad(ctx, key, ld.load, LoadOptions{})
			if err != nil || v.String() != "v" || tier != TierOrigin {
				t.Fatalf("read %d with Redis down = %q, %v, %v; want v from the origin, no error", i, v, tier, err)
			}
			if took := time.Since(start); took > 3*time.Second {
				t.Errorf("read %d took %v with Redis down", i, took)
			}
		}
		s := tr.Stats()
		if s.L2Errors < 2 || s.L2Skipped == 0 {
			t.Errorf("Stats with Redis down = %+v; want L2Errors >= 2 and L2Skipped > 0", s)
		}
		if logs.count(slog.LevelWarn) == 0 || logs.count(slog.LevelError) == 0 {
			t.Errorf("logged %v; want a warning per error and an error when L2 is skipped", logs.n)
		}
		// A delete cannot reach L2: it says so, and still clears L1.
		if err := tr.Delete(ctx, "down0"); !errors.Is(err, ErrUnavailable) {
			t.Errorf("Delete with Redis down = %v, want ErrUnavailable", err)
		}
		if inL1(tr, "down0") {
			t.Error("Delete with Redis down left the key in L1")
		}
		if err := tr.Set(ctx, "down1", Entry{Value: StringValue("x")}, ModeAll); !errors.Is(err, ErrUnavailable) || inL1(tr, "down1") {
			t.Errorf("uncacheable Set with Redis down = %v, in L1 %v; want ErrUnavailable and the key gone from L1", err, inL1(tr, "down1"))
		}
		if err := tr.Set(ctx, "down2", Entry{Value: StringValue("x"), TTL: time.Minute}, ModeAll); !errors.Is(err, ErrUnavailable) || !inL1(tr, "down2") {
			t.Errorf("Set with Redis down = %v, in L1 %v; want ErrUnavailable and the key in L1", err, inL1(tr, "down2"))
		}
		if err := tr.DeleteTags(ctx, "t"); !errors.Is(err, ErrUnavailable) {
			t.Errorf("DeleteTags with Redis down = %v, want ErrUnavailable", err)
		}
		if _, err := tr.KnownTags(ctx, ""); !errors.Is(err, ErrUnavailable) {
			t.Errorf("KnownTags with Redis down = %v, want ErrUnavailable", err)
		}
		// Clear cannot tell the other instances: it says so, and still
		// purges this L1.
		if err := tr.Clear(ctx); !errors.Is(err, ErrUnavailable) || inL1(tr, "down2") {
			t.Errorf("Clear with Redis down = %v, in L1 %v; want ErrUnavailable and L1 purged", err, inL1(tr, "down2"))
		}

		b.up()
		restored = true
		tr.l1.Delete("primed")
		// The entry primed before the outage is still in L2.
		eventually(t, 5*time.Second, "L2 answering again", func() bool {
			_, tier, err := tr.Get(ctx, "primed", ModeAll)
			tr.l1.Delete("primed")
			return tier == TierL2 && err == nil
		})
		if logs.count(slog.LevelInfo) == 0 {
			t.Errorf("logged %v; want an Info when L2 is back", logs.n)
		}
	})
}

// TestTieredHungRedis: a server that accepts connections and never answers
// holds a read no longer than RedisOptions.Timeout, whether or not the client bounds its
// I/O by context deadlines (go-redis's default is not to), even with a long
// client ReadTimeout.
func TestTieredHungRedis(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, b *backend) {
		for _, ctxDeadlines := range []bool{false, true} {
			t.Run(fmt.Sprintf("ContextTimeoutEnabled=%v", ctxDeadlines), func(t *testing.T) {
				px := newProxy(t, b.addr)
				opt := clientOptions(px.addr, b.db)
				opt.ReadTimeout, opt.WriteTimeout = 3*time.Second, 3*time.Second
				opt.ContextTimeoutEnabled = ctxDeadlines
				rdb := redis.NewClient(opt)
				t.Cleanup(func() { _ = rdb.Close() })
				px.hang.Store(true)

				if got := redisop.HonoursDeadlines(rdb); got != ctxDeadlines {
					t.Fatalf("HonoursDeadlines = %v, want %v", got, ctxDeadlines)
				}
				tr := newTieredWith(t, rdb, RedisOptions{KeyPrefix: b.prefix(t), Timeout: 50 * time.Millisecond}, TieredOptions{Logger: quiet})
				// Close waits for the subscriber, stuck in a 3 s read on the
				// hung server: let the server fail first (cleanups run
				// last-in first).
				t.Cleanup(px.stop)
				ld := &counter{entry: Entry{Value: StringValue("v"), TTL: time.Minute}}
				start := time.Now()
				v, tier, err := tr.GetOrLoad(context.Background(), "k", ld.load, LoadOptions{})
				took := time.Since(start)
				if err != nil || v.String() != "v" || tier != TierOrigin {
					t.Fatalf("GetOrLoad with a hung Redis = %q, %v, %v; want v from the origin", v, tier, err)
				}
				// One L2 read and one L2 write, 50 ms each at most; a
				// generous bound far below the client's 3 s ReadTimeout.
				if took > time.Second {
					t.Errorf("GetOrLoad with a hung Redis took %v, want about 100ms", took)
				}
				if s := tr.Stats(); s.L2Errors != 2 {
					t.Errorf("Stats.L2Errors = %d, want 2 (the read and the write timed out)", s.L2Errors)
				}
			})
		}
	})
}

// TestTieredFrozenRedis: a real redis-server of the test's own, stopped
// with SIGSTOP (it keeps its connections and answers nothing), reached by a
// client on go-redis's defaults (3 s ReadTimeout, retries): every read is
// bounded by RedisOptions.Timeout and answered by the origin, L2 is skipped
// after L2Failures, and once the server is thawed L2 answers again by
// itself.
func TestTieredFrozenRedis(t *testing.T) {
	t.Parallel()
	s := testredis.Server(t)
	rdb := s.Client()
	ctx := context.Background()
	tr := newTieredWith(t, rdb, RedisOptions{KeyPrefix: testredis.Prefix(t, nil), Timeout: 100 * time.Millisecond},
		TieredOptions{L2Failures: 2, L2Cooldown: 200 * time.Millisecond, Logger: quiet})
	waitSubscribed(t, tr, 1)
	ld := &counter{entry: Entry{Value: StringValue("v"), TTL: time.Minute}}
	if _, tier, err := tr.GetOrLoad(ctx, "primed", ld.load, LoadOptions{}); tier != TierOrigin || err != nil {
		t.Fatalf("priming: %v, %v", tier, err)
	}

	s.Freeze()
	for i := range 4 {
		start := time.Now()
		v, tier, err := tr.GetOrLoad(ctx, fmt.Sprint("frozen", i), ld.load, LoadOptions{})
		took := time.Since(start)
		if err != nil || v.String() != "v" || tier != TierOrigin {
			t.Fatalf("read %d with Redis frozen = %q, %v, %v; want v from the origin", i, v, tier, err)
		}
		// Two L2 calls of 100 ms at most: a generous bound far below 3 s.
		if took > time.Second {
			t.Errorf("read %d with Redis frozen took %v, want about 200ms at most", i, took)
		}
	}
	if st := tr.Stats(); st.L2Errors < 2 || st.L2Skipped == 0 {
		t.Errorf("Stats with Redis frozen = %+v; want L2Errors >= 2 and L2Skipped > 0", st)
	}

	s.Thaw()
	eventually(t, 10*time.Second, "L2 answering after the thaw", func() bool {
		tr.l1.Delete("primed")
		_, tier, err := tr.Get(ctx, "primed", ModeAll)
		return tier == TierL2 && err == nil
	})
}

// TestTieredValuesImmutable: nothing a caller does to bytes it gave or got
// changes what is cached (alova's issue #588). A Value has no mutable view:
// ValueOf copies what it is given, and Bytes returns a copy whose change the
// next read does not see, from whichever tier the value came.
func TestTieredValuesImmutable(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, b *backend) {
		ctx := context.Background()
		tr := newTiered(t, b, b.prefix(t), TieredOptions{NoInvalidation: true})
		origin := []byte("original")
		load := func(context.Context) (Entry, error) { return Entry{Value: ValueOf(origin), TTL: time.Minute}, nil }
		check := func(step string) {
			t.Helper()
			v, _, err := tr.GetOrLoad(ctx, "k", load, LoadOptions{})
			if err != nil || v.String() != "original" {
				t.Fatalf("%s: cached value became %q (%v)", step, v, err)
			}
		}
		change := func(v Value, c byte) {
			b := v.Bytes()
			b[0] = c
		}

		v, tier, _ := tr.GetOrLoad(ctx, "k", load, LoadOptions{})
		if tier != TierOrigin {
			t.Fatalf("tier %v, want MISS", tier)
		}
		change(v, 'X')
		check("caller changed the loaded value's bytes")
		origin[0] = 'Y' // the loader changes the slice it made the Value of
		check("loader changed its slice")
		origin[0] = 'o'
		v, tier, _ = tr.GetOrLoad(ctx, "k", load, LoadOptions{})
		if tier != TierL1 {
			t.Fatalf("tier %v, want L1", tier)
		}
		change(v, 'Z')
		check("caller changed an L1 hit's bytes")
		tr.l1.Delete("k")
		v, tier, _ = tr.GetOrLoad(ctx, "k", load, LoadOptions{})
		if tier != TierL2 {
			t.Fatalf("tier %v, want L2", tier)
		}
		change(v, 'W')
		check("caller changed an L2 hit's bytes")
		tr.l1.Delete("k")
		v, _, _ = tr.Get(ctx, "k", ModeAll)
		change(v, 'V')
		check("caller changed the bytes of a Get from L2")

		in := []byte("original")
		_ = tr.Set(ctx, "k", Entry{Value: ValueOf(in), TTL: time.Minute}, ModeAll)
		in[0] = 'U'
		check("caller changed the slice it Set")

		// Callers sharing one load share one Value; a copy one of them
		// changes is its own.
		release := make(chan struct{})
		slow := func(context.Context) (Entry, error) {
			<-release
			return Entry{Value: StringValue("shared"), TTL: time.Minute}, nil
		}
		got := make([]Value, 2)
		var wg sync.WaitGroup
		for i := range got {
			wg.Go(func() { got[i], _, _ = tr.GetOrLoad(ctx, "s", slow, LoadOptions{}) })
		}
		eventually(t, time.Second, "a load in flight", func() bool { return tr.flight.InFlight() == 1 })
		close(release)
		wg.Wait()
		change(got[0], 'X')
		if got[0].String() != "shared" || got[1].String() != "shared" {
			t.Errorf("a caller's change showed in the values: %q, %q", got[0], got[1])
		}
	})
}

func TestTieredTags(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, b *backend) {
		ctx := context.Background()
		p := b.prefix(t)
		tr := newTiered(t, b, p, TieredOptions{NoInvalidation: true})
		load := func(tags ...string) Loader {
			return func(context.Context) (Entry, error) {
				return Entry{Value: StringValue("v"), TTL: time.Minute, Tags: tags}, nil
			}
		}
		_, _, _ = tr.GetOrLoad(ctx, "/products/1", load("products", "product:1"), LoadOptions{})
		_, _, _ = tr.GetOrLoad(ctx, "/products/2", load("products", "product:2"), LoadOptions{})
		_, _, _ = tr.GetOrLoad(ctx, "/users/1", load("users"), LoadOptions{})
		_ = tr.Set(ctx, "/memory", Entry{Value: StringValue("m"), TTL: time.Minute, Tags: []string{"products:memory"}}, ModeL1)

		tags, err := tr.KnownTags(ctx, "product")
		if want := []string{"product:1", "product:2", "products", "products:memory"}; err != nil || !slices.Equal(tags, want) {
			t.Errorf("KnownTags(product) = %q, %v; want %q", tags, err, want)
		}
		if err := tr.DeleteTags(ctx, "products", "products:memory"); err != nil {
			t.Fatal(err)
		}
		for key, want := range map[string]bool{"/products/1": false, "/products/2": false, "/memory": false, "/users/1": true} {
			if got := inL1(tr, key); got != want {
				t.Errorf("after DeleteTags: %q in L1 = %v, want %v", key, got, want)
			}
			if key == "/memory" {
				continue
			}
			if got := b.direct.Exists(ctx, p+key).Val() == 1; got != want {
				t.Errorf("after DeleteTags: %q in L2 = %v, want %v", key, got, want)
			}
		}
		tags, _ = tr.KnownTags(ctx, "")
		if want := []string{"product:1", "product:2", "users"}; !slices.Equal(tags, want) {
			t.Errorf("KnownTags after DeleteTags = %q, want %q", tags, want)
		}
		if err := tr.DeleteTags(ctx, "no such tag"); err != nil {
			t.Errorf("DeleteTags(unknown tag) = %v", err)
		}
	})
}

func TestTieredModeL1(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, b *backend) {
		ctx := context.Background()
		p := b.prefix(t)
		tr := newTiered(t, b, p, TieredOptions{Logger: quiet})
		ld := &counter{entry: Entry{Value: StringValue("v"), TTL: time.Minute}}
		if _, tier, _ := tr.GetOrLoad(ctx, "k", ld.load, LoadOptions{Mode: ModeL1}); tier != TierOrigin {
			t.Fatalf("tier %v, want MISS", tier)
		}
		if b.direct.Exists(ctx, p+"k").Val() != 0 {
			t.Error("ModeL1 GetOrLoad wrote L2")
		}
		if _, tier, _ := tr.GetOrLoad(ctx, "k", ld.load, LoadOptions{Mode: ModeL1}); tier != TierL1 {
			t.Errorf("second ModeL1 read from %v, want L1", tier)
		}
		b.plant(t, p+"only-in-l2", "x", time.Minute)
		if _, _, err := tr.Get(ctx, "only-in-l2", ModeL1); !errors.Is(err, ErrMiss) {
			t.Errorf("ModeL1 Get of an L2-only key = %v, want ErrMiss", err)
		}
		b.down()
		defer b.up()
		before := tr.Stats()
		if _, tier, err := tr.GetOrLoad(ctx, "k2", ld.load, LoadOptions{Mode: ModeL1}); tier != TierOrigin || err != nil {
			t.Fatalf("ModeL1 with Redis down = %v, %v", tier, err)
		}
		if s := tr.Stats(); s.L2Errors != before.L2Errors || s.L2Skipped != before.L2Skipped || s.L2Misses != before.L2Misses {
			t.Errorf("ModeL1 read touched L2: stats %+v -> %+v", before, s)
		}
	})
}

func TestTieredForce(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, b *backend) {
		ctx := context.Background()
		p := b.prefix(t)
		a := newTiered(t, b, p, TieredOptions{NoJitter: true})
		other := newTiered(t, b, p, TieredOptions{NoJitter: true})
		waitSubscribed(t, other, 1)
		v1 := &counter{entry: Entry{Value: StringValue("v1"), TTL: time.Minute}}
		_, _, _ = a.GetOrLoad(ctx, "k", v1.load, LoadOptions{})
		_, _, _ = other.GetOrLoad(ctx, "k", v1.load, LoadOptions{})

		v2 := &counter{entry: Entry{Value: StringValue("v2"), TTL: 2 * time.Minute}}
		v, tier, err := a.GetOrLoad(ctx, "k", v2.load, LoadOptions{Force: true})
		if v.String() != "v2" || tier != TierOrigin || err != nil || v2.calls.Load() != 1 {
			t.Fatalf("forced GetOrLoad = %q, %v, %v (loader calls %d); want v2 from a load", v, tier, err, v2.calls.Load())
		}
		if got := b.stored(p + "k"); got != "v2" {
			t.Errorf("L2 after Force = %q, want v2", got)
		}
		if ttl := l1TTL(t, a, "k"); ttl <= time.Minute {
			t.Errorf("L1 TTL after Force = %v, want the new 2m", ttl)
		}
		eventually(t, time.Second, "the other instance drops the forced key", func() bool { return !inL1(other, "k") })

		// A forced load that must not be cached removes the old copies.
		none := &counter{entry: Entry{Value: StringValue("v3")}}
		if v, _, _ := a.GetOrLoad(ctx, "k", none.load, LoadOptions{Force: true}); v.String() != "v3" {
			t.Fatalf("forced uncacheable load = %q", v)
		}
		if inL1(a, "k") || b.direct.Exists(ctx, p+"k").Val() != 0 {
			t.Error("a forced load with TTL 0 left the old value cached")
		}
	})
}

func TestTieredGet(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, b *backend) {
		ctx := context.Background()
		p := b.prefix(t)
		tr := newTiered(t, b, p, TieredOptions{NoInvalidation: true})
		if v, tier, err := tr.Get(ctx, "k", ModeAll); !errors.Is(err, ErrMiss) || tier != TierNone {
			t.Fatalf("Get(absent) = %q, %v, %v; want ErrMiss", v, tier, err)
		}
		b.plant(t, p+"k", "v", time.Minute)
		if v, tier, err := tr.Get(ctx, "k", ModeAll); v.String() != "v" || tier != TierL2 || err != nil {
			t.Fatalf("Get = %q, %v, %v; want v from L2", v, tier, err)
		}
		if v, tier, err := tr.Get(ctx, "k", ModeAll); v.String() != "v" || tier != TierL1 || err != nil {
			t.Fatalf("second Get = %q, %v, %v; want v from L1", v, tier, err)
		}
		// An uncacheable Set deletes.
		_ = tr.Set(ctx, "k", Entry{Value: StringValue("x")}, ModeAll)
		if _, _, err := tr.Get(ctx, "k", ModeAll); !errors.Is(err, ErrMiss) {
			t.Errorf("Get after Set(TTL 0) = %v, want ErrMiss", err)
		}
	})
}

// TestTieredWaiterLeaves: a caller whose ctx ends leaves at once; the load
// goes on for the callers still waiting.
func TestTieredWaiterLeaves(t *testing.T) {
	t.Parallel()
	tr := NewTiered(NewMemoryStore(MemoryOptions{MaxEntries: 10}), nil, TieredOptions{})
	release := make(chan struct{})
	loadCtx := make(chan context.Context, 1)
	load := func(ctx context.Context) (Entry, error) {
		loadCtx <- ctx
		<-release
		return Entry{Value: StringValue("v"), TTL: time.Minute}, nil
	}
	patient := make(chan Value, 1)
	go func() {
		v, _, _ := tr.GetOrLoad(context.Background(), "k", load, LoadOptions{})
		patient <- v
	}()
	lctx := <-loadCtx // the patient caller's load is running

	impatient, cancel := context.WithCancel(context.Background())
	res := make(chan error, 1)
	go func() {
		_, _, err := tr.GetOrLoad(impatient, "k", load, LoadOptions{})
		res <- err
	}()
	cancel()
	select {
	case err := <-res:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("impatient caller got %v, want context.Canceled", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("impatient caller still waiting after its ctx ended")
	}
	if lctx.Err() != nil {
		t.Fatal("the load was cancelled while a caller still waited")
	}
	close(release)
	if v := <-patient; v.String() != "v" {
		t.Fatalf("patient caller got %q", v)
	}
}

func TestTieredSingleTier(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	ld := &counter{entry: Entry{Value: StringValue("v"), TTL: time.Minute, Tags: []string{"t"}}}

	t.Run("L1 only", func(t *testing.T) {
		t.Parallel()
		tr := NewTiered(NewMemoryStore(MemoryOptions{MaxEntries: 10}), nil, TieredOptions{})
		defer tr.Close()
		for _, want := range []Tier{TierOrigin, TierL1} {
			if _, tier, err := tr.GetOrLoad(ctx, "k", ld.load, LoadOptions{}); tier != want || err != nil {
				t.Fatalf("GetOrLoad = %v, %v; want %v", tier, err, want)
			}
		}
		if tags, err := tr.KnownTags(ctx, ""); err != nil || !slices.Equal(tags, []string{"t"}) {
			t.Errorf("KnownTags = %q, %v", tags, err)
		}
		if err := tr.DeleteTags(ctx, "t"); err != nil || inL1(tr, "k") {
			t.Errorf("DeleteTags = %v, key still in L1: %v", err, inL1(tr, "k"))
		}
		if err := tr.Delete(ctx, "k"); err != nil {
			t.Error(err)
		}
	})
	eachBackend(t, func(t *testing.T, b *backend) {
		p := b.prefix(t)
		tr := NewTiered(nil, newRedis(b.rdb, RedisOptions{KeyPrefix: p, Timeout: testL2Timeout}), TieredOptions{})
		defer tr.Close()
		if tr.stopFeed != nil {
			t.Error("an L2-only Tiered subscribed: it has no L1 to invalidate")
		}
		for _, want := range []Tier{TierOrigin, TierL2} {
			if _, tier, err := tr.GetOrLoad(ctx, "k", ld.load, LoadOptions{}); tier != want || err != nil {
				t.Fatalf("GetOrLoad = %v, %v; want %v", tier, err, want)
			}
		}
		if err := tr.DeleteTags(ctx, "t"); err != nil || b.direct.Exists(ctx, p+"k").Val() != 0 {
			t.Errorf("DeleteTags = %v; key left in L2", err)
		}
	})
}

func TestTieredCloseStopsSubscriber(t *testing.T) {
	eachBackend(t, func(t *testing.T, b *backend) {
		if err := b.rdb.Ping(context.Background()).Err(); err != nil {
			t.Fatal(err)
		}
		defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
		tr := NewTiered(NewMemoryStore(MemoryOptions{MaxEntries: 10}), newRedis(b.rdb, RedisOptions{KeyPrefix: b.prefix(t)}), TieredOptions{})
		waitSubscribed(t, tr, 1)
		if err := tr.Close(); err != nil {
			t.Fatal(err)
		}
		if err := tr.Close(); err != nil {
			t.Fatalf("second Close = %v", err)
		}
	})
}

func TestNewTieredPanics(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		opts TieredOptions
	}{
		{"jitter 1", TieredOptions{Jitter: 1}},
		{"negative jitter", TieredOptions{Jitter: -0.1}},
		{"negative cooldown", TieredOptions{L2Cooldown: -time.Second}},
		{"negative L1 cap", TieredOptions{L1MaxTTL: -time.Second}},
		{"negative failures", TieredOptions{L2Failures: -1}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			defer func() {
				if recover() == nil {
					t.Fatalf("NewTiered(%+v) did not panic", tc.opts)
				}
			}()
			NewTiered(nil, nil, tc.opts)
		})
	}
}

func TestTierString(t *testing.T) {
	t.Parallel()
	for tier, want := range map[Tier]string{TierNone: "NONE", TierL1: "L1", TierL2: "L2", TierOrigin: "MISS"} {
		if got := tier.String(); got != want {
			t.Errorf("%d.String() = %q, want %q", tier, got, want)
		}
	}
}

// TestTieredClear: Clear drops every L1 entry, here and on the other
// instances; L2 is left to expire.
func TestTieredClear(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, b *backend) {
		ctx := context.Background()
		p := b.prefix(t)
		a := newTiered(t, b, p, TieredOptions{})
		bb := newTiered(t, b, p, TieredOptions{})
		waitSubscribed(t, a, 1)
		waitSubscribed(t, bb, 1)
		ld := &counter{entry: Entry{Value: StringValue("v"), TTL: time.Minute, Tags: []string{"t"}}}
		for _, k := range []string{"k1", "k2"} {
			_, _, _ = a.GetOrLoad(ctx, k, ld.load, LoadOptions{})
			_, _, _ = bb.GetOrLoad(ctx, k, ld.load, LoadOptions{})
		}
		_ = bb.Set(ctx, "local", Entry{Value: StringValue("l"), TTL: time.Minute}, ModeL1)
		if !inL1(a, "k1") || !inL1(bb, "k2") || !inL1(bb, "local") {
			t.Fatal("entries not in L1 before Clear")
		}
		before := bb.Stats().Invalidations
		if err := a.Clear(ctx); err != nil {
			t.Fatal(err)
		}
		if n := memoryStore(t, a).count(); n != 0 {
			t.Errorf("a's L1 holds %d entries after Clear, want 0", n)
		}
		took := eventually(t, time.Second, "b's L1 purged", func() bool { return memoryStore(t, bb).count() == 0 })
		t.Logf("%s: the other L1 purged after %v", b.name, took)
		if got := bb.Stats().Invalidations - before; got != 1 {
			t.Errorf("b applied %d invalidations, want 1", got)
		}
		for _, k := range []string{"k1", "k2"} {
			if got := b.stored(p + k); got != "v" {
				t.Errorf("L2 %q after Clear = %q, want v (left to expire)", k, got)
			}
		}
		if _, tier, _ := bb.GetOrLoad(ctx, "k1", ld.load, LoadOptions{}); tier != TierL2 {
			t.Errorf("after Clear: read from %v, want L2", tier)
		}

		// With NoInvalidation, Clear is this instance's business only.
		c := newTiered(t, b, p, TieredOptions{NoInvalidation: true})
		_, _, _ = c.GetOrLoad(ctx, "k2", ld.load, LoadOptions{})
		_, _, _ = a.GetOrLoad(ctx, "k2", ld.load, LoadOptions{})
		if err := c.Clear(ctx); err != nil {
			t.Fatal(err)
		}
		if inL1(c, "k2") {
			t.Error("Clear with NoInvalidation left its own L1 entry")
		}
		// Redis delivers one publisher's messages in order: once a marker
		// from bb reaches a, a Clear published by c would have too.
		beforeA := a.Stats().Invalidations
		_ = bb.Delete(ctx, "marker")
		eventually(t, time.Second, "a gets b's marker", func() bool { return a.Stats().Invalidations > beforeA })
		if !inL1(a, "k2") {
			t.Error("a Clear with NoInvalidation purged another instance")
		}
	})
	t.Run("L1 only", func(t *testing.T) {
		t.Parallel()
		tr := NewTiered(NewMemoryStore(MemoryOptions{}), nil, TieredOptions{})
		_ = tr.Set(context.Background(), "k", Entry{Value: StringValue("v"), TTL: time.Minute}, ModeAll)
		if err := tr.Clear(context.Background()); err != nil || inL1(tr, "k") {
			t.Errorf("Clear = %v, key in L1 %v", err, inL1(tr, "k"))
		}
	})
}

// TestTieredOversizedEntry: a value over MaxEntryBytes is not kept in L1,
// but GetOrLoad still returns it, L2 still stores it, and the next read is
// an L2 hit, not a load.
func TestTieredOversizedEntry(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, b *backend) {
		ctx := context.Background()
		p := b.prefix(t)
		tr := NewTiered(NewMemoryStore(MemoryOptions{MaxEntryBytes: 16}),
			newRedis(b.rdb, RedisOptions{KeyPrefix: p, Timeout: testL2Timeout}), TieredOptions{NoInvalidation: true})
		t.Cleanup(func() { _ = tr.Close() })
		big := strings.Repeat("b", 100)
		ld := &counter{entry: Entry{Value: StringValue(big), TTL: time.Minute}}

		v, tier, err := tr.GetOrLoad(ctx, "big", ld.load, LoadOptions{})
		if err != nil || tier != TierOrigin || v.String() != big {
			t.Fatalf("GetOrLoad(big) = %d bytes, %v, %v; want the 100 bytes from the origin", v.Len(), tier, err)
		}
		if inL1(tr, "big") {
			t.Error("a 100-byte value was kept in an L1 with MaxEntryBytes 16")
		}
		if got := b.stored(p + "big"); got != big {
			t.Errorf("L2 holds %d bytes, want the 100", len(got))
		}
		for range 2 {
			v, tier, err = tr.GetOrLoad(ctx, "big", ld.load, LoadOptions{})
			if err != nil || tier != TierL2 || v.String() != big {
				t.Fatalf("next GetOrLoad(big) = %d bytes, %v, %v; want the 100 bytes from L2", v.Len(), tier, err)
			}
		}
		if n := ld.calls.Load(); n != 1 {
			t.Errorf("loader calls = %d, want 1", n)
		}

		// Overwriting a small cached value with a big one leaves no stale
		// copy in L1.
		_ = tr.Set(ctx, "k", Entry{Value: StringValue("small"), TTL: time.Minute}, ModeAll)
		if !inL1(tr, "k") {
			t.Fatal("a small value was not kept in L1")
		}
		if err := tr.Set(ctx, "k", Entry{Value: StringValue(big), TTL: time.Minute}, ModeAll); err != nil {
			t.Fatal(err)
		}
		if v, tier, err := tr.Get(ctx, "k", ModeAll); v.String() != big || tier != TierL2 || err != nil {
			t.Errorf("Get after a big overwrite = %d bytes, %v, %v; want the big value from L2", v.Len(), tier, err)
		}
		// In ModeL1 there is nowhere to keep it: it is returned, not cached.
		v, tier, _ = tr.GetOrLoad(ctx, "m", ld.load, LoadOptions{Mode: ModeL1})
		if v.String() != big || tier != TierOrigin || inL1(tr, "m") || b.direct.Exists(ctx, p+"m").Val() != 0 {
			t.Errorf("ModeL1 GetOrLoad of a big value = %d bytes from %v; in L1 %v", v.Len(), tier, inL1(tr, "m"))
		}
	})
}

// TestTieredBreakerCooldown: after L2Failures failures L2 is not called for
// L2Cooldown; then one call probes it: a success brings L2 back, a failure
// skips it for another cool-down. The L2 is an in-process Shared of the
// test's own and time passes in a synctest bubble, so the cool-down is
// exact and costs no real time.
func TestTieredBreakerCooldown(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		logs := &logCounter{}
		l2 := &fakeShared{}
		tr := NewTiered(NewMemoryStore(MemoryOptions{}), l2, TieredOptions{L2Failures: 2, L2Cooldown: 5 * time.Second,
			NoJitter: true, Logger: slog.New(logs), NoRecovery: true}) // counts every L2 call: no replays
		defer tr.Close()
		ld := &counter{entry: Entry{Value: StringValue("v"), TTL: time.Minute}}
		read := func(key string) {
			t.Helper()
			if v, tier, err := tr.GetOrLoad(ctx, key, ld.load, LoadOptions{}); v.String() != "v" || tier != TierOrigin || err != nil {
				t.Fatalf("GetOrLoad(%q) = %q, %v, %v; want v from the origin", key, v, tier, err)
			}
		}
		want := func(step string, calls int, errs, skipped uint64) {
			t.Helper()
			if got, s := l2.callCount(), tr.Stats(); got != calls || s.L2Errors != errs || s.L2Skipped != skipped {
				t.Fatalf("%s: L2 calls %d, L2Errors %d, L2Skipped %d; want %d, %d, %d", step, got, s.L2Errors, s.L2Skipped, calls, errs, skipped)
			}
		}

		l2.setFail(errors.New("boom"))
		read("k0") // the L2 read and the L2 write fail: 2 failures
		want("two failures", 2, 2, 0)
		if logs.count(slog.LevelWarn) != 1 || logs.count(slog.LevelError) != 1 {
			t.Errorf("logged %v; want a warning, then an error when L2 starts being skipped", logs.n)
		}
		read("k1")
		want("open", 2, 2, 2)
		if err := tr.Set(ctx, "s", Entry{Value: StringValue("s"), TTL: time.Minute}, ModeAll); !errors.Is(err, ErrUnavailable) || !inL1(tr, "s") {
			t.Errorf("Set while L2 is skipped = %v, in L1 %v; want ErrUnavailable and the entry in L1", err, inL1(tr, "s"))
		}
		want("Set while open", 2, 2, 3)
		time.Sleep(5*time.Second - time.Nanosecond)
		read("k2")
		want("1ns before the cool-down ends", 2, 2, 5)

		time.Sleep(time.Nanosecond)
		read("k3") // the read probes and fails: skipped for another 5 s
		want("failed probe", 3, 3, 6)
		time.Sleep(5*time.Second - time.Nanosecond)
		read("k4")
		want("after a failed probe", 3, 3, 8)

		time.Sleep(time.Nanosecond)
		l2.setFail(nil)
		read("k5") // the read probes (a miss) and closes it; the write goes through
		want("successful probe", 5, 3, 8)
		if logs.count(slog.LevelInfo) != 1 {
			t.Errorf("logged %v; want an Info when L2 is back", logs.n)
		}
		if _, tier, err := tr.Get(ctx, "k5", ModeL1); tier != TierL1 || err != nil {
			t.Errorf("Get(k5) = %v, %v", tier, err)
		}
		tr.l1.Delete("k5")
		if v, tier, err := tr.Get(ctx, "k5", ModeAll); v.String() != "v" || tier != TierL2 || err != nil {
			t.Errorf("Get(k5) from L2 = %q, %v, %v; want v from L2", v, tier, err)
		}
		if s := tr.Stats(); s.L2Hits != 1 || s.L2Misses != 1 {
			t.Errorf("Stats = %+v; want L2Hits 1 and L2Misses 1", s)
		}
	})
}
