package cache

import (
	"context"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/alovago/alova/internal/testredis"
	"github.com/redis/go-redis/v9"
)

var benchValue = ValueOf(make([]byte, 256))

// benchRedis returns the Redis backends benchmarks run on: miniredis always,
// the real server when REDIS_URL is set.
func benchRedis(b *testing.B) map[string]func(*testing.B) redis.UniversalClient {
	m := map[string]func(*testing.B) redis.UniversalClient{
		"miniredis": func(b *testing.B) redis.UniversalClient { _, rdb := testredis.Mini(b); return rdb },
	}
	if url := os.Getenv("REDIS_URL"); url != "" {
		m["real"] = func(b *testing.B) redis.UniversalClient { return testredis.Real(b) }
		// The same server with a client that enforces context deadlines
		// itself: the store then calls it without a watchdog goroutine.
		m["real+ctxdeadline"] = func(b *testing.B) redis.UniversalClient {
			testredis.Real(b)
			opt, err := redis.ParseURL(url)
			if err != nil {
				b.Fatal(err)
			}
			opt.ContextTimeoutEnabled = true
			rdb := redis.NewClient(opt)
			b.Cleanup(func() { _ = rdb.Close() })
			return rdb
		}
	}
	return m
}

func trivialLoad(context.Context) (Entry, error) {
	return Entry{Value: benchValue, TTL: time.Minute}, nil
}

func BenchmarkMemoryGet(b *testing.B) {
	m := NewMemoryStore(MemoryOptions{MaxEntries: 1000})
	m.Set("k", Item{Value: benchValue}, time.Hour)
	b.ReportAllocs()
	for b.Loop() {
		if _, ok := m.Get("k"); !ok {
			b.Fatal("miss")
		}
	}
}

// BenchmarkMemorySetEvict writes past MaxBytes: every Set evicts.
func BenchmarkMemorySetEvict(b *testing.B) {
	m := NewMemoryStore(MemoryOptions{MaxBytes: 64 * int64(benchValue.Len())})
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		i++
		m.Set(strconv.Itoa(i), Item{Value: benchValue}, time.Hour)
	}
}

func BenchmarkTieredL1Hit(b *testing.B) {
	ctx := context.Background()
	tr := NewTiered(NewMemoryStore(MemoryOptions{MaxEntries: 1000}), nil, TieredOptions{})
	_, _, _ = tr.GetOrLoad(ctx, "GET /products/1", trivialLoad, LoadOptions{})
	b.ReportAllocs()
	for b.Loop() {
		if _, tier, err := tr.GetOrLoad(ctx, "GET /products/1", trivialLoad, LoadOptions{}); tier != TierL1 || err != nil {
			b.Fatal(tier, err)
		}
	}
}

func BenchmarkTieredL1HitParallel(b *testing.B) {
	ctx := context.Background()
	tr := NewTiered(NewMemoryStore(MemoryOptions{MaxEntries: 1000}), nil, TieredOptions{})
	keys := make([]string, 64)
	for i := range keys {
		keys[i] = "GET /products/" + strconv.Itoa(i)
		_, _, _ = tr.GetOrLoad(ctx, keys[i], trivialLoad, LoadOptions{})
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			if _, tier, err := tr.GetOrLoad(ctx, keys[i%len(keys)], trivialLoad, LoadOptions{}); tier != TierL1 || err != nil {
				b.Fatal(tier, err)
			}
			i++
		}
	})
}

// BenchmarkTieredL2Hit reads through a Tiered without L1, so every read is
// one L2 round trip.
func BenchmarkTieredL2Hit(b *testing.B) {
	for name, open := range benchRedis(b) {
		b.Run(name, func(b *testing.B) {
			ctx := context.Background()
			rdb := open(b)
			tr := NewTiered(nil, newRedis(rdb, RedisOptions{KeyPrefix: testredis.Prefix(b, rdb), Timeout: time.Second}), TieredOptions{})
			defer tr.Close()
			_, _, _ = tr.GetOrLoad(ctx, "k", trivialLoad, LoadOptions{})
			b.ReportAllocs()
			for b.Loop() {
				if _, tier, err := tr.GetOrLoad(ctx, "k", trivialLoad, LoadOptions{}); tier != TierL2 || err != nil {
					b.Fatal(tier, err)
				}
			}
		})
	}
}

// BenchmarkRedisGet is the bare L2 store, for comparison with the Tiered
// overhead (flight, breaker).
func BenchmarkRedisGet(b *testing.B) {
	for name, open := range benchRedis(b) {
		b.Run(name, func(b *testing.B) {
			ctx := context.Background()
			rdb := open(b)
			r := newRedis(rdb, RedisOptions{KeyPrefix: testredis.Prefix(b, rdb), Timeout: time.Second})
			if err := r.Set(ctx, "k", benchValue, time.Minute, nil, nil); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				if _, _, err := r.Get(ctx, "k"); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkTieredMiss: every read misses (a new key each time) and calls a
// trivial loader, whose answer is written to the tiers.
func BenchmarkTieredMiss(b *testing.B) {
	run := func(b *testing.B, tr *Tiered) {
		ctx := context.Background()
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			i++
			if _, tier, err := tr.GetOrLoad(ctx, strconv.Itoa(i), trivialLoad, LoadOptions{}); tier != TierOrigin || err != nil {
				b.Fatal(tier, err)
			}
		}
	}
	b.Run("L1", func(b *testing.B) {
		run(b, NewTiered(NewMemoryStore(MemoryOptions{MaxEntries: 1000}), nil, TieredOptions{}))
	})
	for name, open := range benchRedis(b) {
		b.Run("L1+L2/"+name, func(b *testing.B) {
			rdb := open(b)
			tr := NewTiered(NewMemoryStore(MemoryOptions{MaxEntries: 1000}),
				newRedis(rdb, RedisOptions{KeyPrefix: testredis.Prefix(b, rdb), Timeout: time.Second}), TieredOptions{NoInvalidation: true})
			defer tr.Close()
			run(b, tr)
		})
	}
}

// BenchmarkTieredMissLease is BenchmarkTieredMiss under the cross-instance
// lease (LockWait), on a client of its own whose round trips it reports
// (roundtrips/op): the read, the lease, the write and the release. The
// L2hit case reads an entry another instance wrote, with the same options
// (L1 off): the read of a key that is there.
func BenchmarkTieredMissLease(b *testing.B) {
	clients := map[string]func(b *testing.B) *redis.Options{
		"miniredis": func(b *testing.B) *redis.Options { mr, _ := testredis.Mini(b); return &redis.Options{Addr: mr.Addr()} },
	}
	if url := os.Getenv("REDIS_URL"); url != "" {
		clients["real"] = func(b *testing.B) *redis.Options {
			testredis.Real(b)
			opt, err := redis.ParseURL(url)
			if err != nil {
				b.Fatal(err)
			}
			opt.ContextTimeoutEnabled = true
			return opt
		}
	}
	opts := LoadOptions{LockWait: 2 * time.Second}
	counted := func(b *testing.B, open func(b *testing.B) *redis.Options) (*redis.Client, *testredis.RoundTrips, string) {
		rdb := redis.NewClient(open(b))
		b.Cleanup(func() { _ = rdb.Close() })
		rt := &testredis.RoundTrips{}
		rdb.AddHook(rt)
		return rdb, rt, testredis.Prefix(b, rdb)
	}
	for name, open := range clients {
		b.Run("miss/"+name, func(b *testing.B) {
			rdb, rt, prefix := counted(b, open)
			tr := NewTiered(NewMemoryStore(MemoryOptions{MaxEntries: 1000}),
				newRedis(rdb, RedisOptions{KeyPrefix: prefix, Timeout: time.Second}), TieredOptions{NoInvalidation: true})
			defer tr.Close()
			ctx := context.Background()
			_, _, _ = tr.GetOrLoad(ctx, "warm", trivialLoad, opts) // loads the scripts
			b.ReportAllocs()
			start, i := rt.N(), 0
			for b.Loop() {
				i++
				if _, tier, err := tr.GetOrLoad(ctx, "m"+strconv.Itoa(i), trivialLoad, opts); tier != TierOrigin || err != nil {
					b.Fatal(tier, err)
				}
			}
			b.ReportMetric(float64(rt.N()-start)/float64(i), "roundtrips/op")
		})
		b.Run("L2hit/"+name, func(b *testing.B) {
			rdb, rt, prefix := counted(b, open)
			tr := NewTiered(nil, newRedis(rdb, RedisOptions{KeyPrefix: prefix, Timeout: time.Second}), TieredOptions{NoInvalidation: true})
			defer tr.Close()
			ctx := context.Background()
			_, _, _ = tr.GetOrLoad(ctx, "hit", trivialLoad, opts)
			b.ReportAllocs()
			start, i := rt.N(), 0
			for b.Loop() {
				i++
				if _, tier, err := tr.GetOrLoad(ctx, "hit", trivialLoad, opts); tier != TierL2 || err != nil {
					b.Fatal(tier, err)
				}
			}
			b.ReportMetric(float64(rt.N()-start)/float64(i), "roundtrips/op")
		})
	}
}
