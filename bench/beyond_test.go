package bench

import (
	"context"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/viccon/sturdyc"

	"github.com/alovago/alova/cache"
)

// Refresh-ahead and cross-instance cases (issue 13), alova-go beside
// sturdyc. alova (the JS library) has neither: its own figure for the
// closest case is quoted in BEYOND.md, not measured here.

// expiryTTL is the TTL of the hot key in BenchmarkExpiry: the run spans
// several expiries. expiryOrigin is the origin's latency there.
const (
	expiryTTL    = 100 * time.Millisecond
	expiryOrigin = 50 * time.Millisecond
	slowRead     = 10 * time.Millisecond
)

// expiryImpl builds a read-through cache of the hot key over an origin of
// expiryOrigin whose entries live expiryTTL.
type expiryImpl struct {
	name  string
	setup func(b *testing.B, o *origin) getter
}

var expiryImpls = []expiryImpl{
	{"alova-hits-only", func(b *testing.B, o *origin) getter {
		// The baseline: a TTL far longer than the run, every read an L1 hit.
		t := cache.NewTiered(cache.NewMemoryStore(cache.MemoryOptions{MaxEntries: capacity}), nil, cache.TieredOptions{})
		b.Cleanup(func() { _ = t.Close() })
		return tieredLoad(b, t, o)
	}},
	{"alova-refresh-ahead", func(b *testing.B, o *origin) getter {
		// A reload starts on a read 30 ms after the load (70 ms before the
		// end): longer ahead than the origin takes.
		return expiryTiered(b, o, cache.LoadOptions{RefreshBefore: 70 * time.Millisecond})
	}},
	{"alova-plain", func(b *testing.B, o *origin) getter {
		return expiryTiered(b, o, cache.LoadOptions{})
	}},
	{"sturdyc-early-refresh", func(b *testing.B, o *origin) getter {
		// A reload is scheduled on a read 30–40 ms after the last one (as
		// alova's above) and becomes synchronous past the TTL.
		c := sturdyc.New[[]byte](capacity, 16, expiryTTL, 10, sturdyc.WithNoContinuousEvictions(),
			sturdyc.WithEarlyRefreshes(30*time.Millisecond, 40*time.Millisecond, expiryTTL, 10*time.Millisecond))
		return func(ctx context.Context, key string) ([]byte, error) { return c.GetOrFetch(ctx, key, o.fetch) }
	}},
	{"sturdyc-plain", func(b *testing.B, o *origin) getter {
		c := sturdyc.New[[]byte](capacity, 16, expiryTTL, 10, sturdyc.WithNoContinuousEvictions())
		return func(ctx context.Context, key string) ([]byte, error) { return c.GetOrFetch(ctx, key, o.fetch) }
	}},
}

func expiryTiered(b *testing.B, o *origin, opts cache.LoadOptions) getter {
	t := cache.NewTiered(cache.NewMemoryStore(cache.MemoryOptions{MaxEntries: capacity}), nil, cache.TieredOptions{NoJitter: true})
	b.Cleanup(func() { _ = t.Close() })
	load := func(ctx context.Context) (cache.Entry, error) {
		v, err := o.fetch(ctx)
		return cache.Entry{Value: cache.ValueOf(v), TTL: expiryTTL}, err
	}
	return func(ctx context.Context, key string) ([]byte, error) {
		v, _, err := t.GetOrLoad(ctx, key, load, opts)
		return view(v), err
	}
}

// expiryEvery is the interval between two reads in BenchmarkExpiry.
const expiryEvery = 100 * time.Microsecond

// BenchmarkExpiry reads one hot key while its 100 ms TTL ends again and
// again, behind a 50 ms origin. Reads arrive at a fixed rate (at most one
// every 100 µs, each on a goroutine of its own: an open loop, which leaves
// the CPU idle enough that scheduling does not drown the measure), so
// ns/op is the interval the ticker reached and says nothing else; p99-ns and p999-ns are the read
// latencies, slow-reads the reads that took over 10 ms (they waited for
// the origin), origin-calls the loads.
func BenchmarkExpiry(b *testing.B) {
	for _, impl := range expiryImpls {
		b.Run(impl.name, func(b *testing.B) {
			o := &origin{latency: expiryOrigin}
			get := impl.setup(b, o)
			ctx := context.Background()
			if _, err := get(ctx, hotKey); err != nil {
				b.Fatal(err)
			}
			o.calls.Store(0)
			lat := make([]time.Duration, b.N)
			var wg sync.WaitGroup
			tick := time.NewTicker(expiryEvery)
			defer tick.Stop()
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				<-tick.C
				wg.Go(func() {
					start := time.Now()
					v, err := get(ctx, hotKey)
					lat[i] = time.Since(start)
					if err != nil || len(v) != valueSize {
						b.Error("bad read", err)
					}
				})
			}
			wg.Wait()
			b.StopTimer()
			slices.Sort(lat)
			slow := len(lat) - sortedIndex(lat, slowRead)
			b.ReportMetric(float64(lat[(len(lat)-1)*99/100].Nanoseconds()), "p99-ns")
			b.ReportMetric(float64(lat[(len(lat)-1)*999/1000].Nanoseconds()), "p999-ns")
			b.ReportMetric(float64(slow), "slow-reads")
			b.ReportMetric(float64(o.calls.Load()), "origin-calls")
		})
	}
}

// sortedIndex returns the index of the first element >= d in sorted l.
func sortedIndex(l []time.Duration, d time.Duration) int {
	i, _ := slices.BinarySearch(l, d)
	return i
}

// Cross-instance cold misses: instances processes sharing one Redis, each
// with perInstance goroutines missing one new key at once, behind a 20 ms
// origin.
const (
	instances   = 3
	perInstance = 300
	crossOrigin = 20 * time.Millisecond
)

// crossImpl builds one instance's getter; every instance of a run shares
// the Redis prefix.
type crossImpl struct {
	name  string
	setup func(b *testing.B, rdb *redis.Client, prefix string, o *origin) getter
}

var crossImpls = []crossImpl{
	{"alova-lock", func(b *testing.B, rdb *redis.Client, p string, o *origin) getter {
		return crossTiered(b, rdb, p, o, cache.LoadOptions{LockWait: 2 * time.Second})
	}},
	{"alova-no-lock", func(b *testing.B, rdb *redis.Client, p string, o *origin) getter {
		return crossTiered(b, rdb, p, o, cache.LoadOptions{})
	}},
	{"sturdyc-distributed", func(b *testing.B, rdb *redis.Client, p string, o *origin) getter {
		c := sturdyc.New[[]byte](capacity, 16, time.Minute, 10, sturdyc.WithNoContinuousEvictions(),
			sturdyc.WithDistributedStorage(&sturdyRedis{rdb: rdb, prefix: p}))
		return func(ctx context.Context, key string) ([]byte, error) { return c.GetOrFetch(ctx, key, o.fetch) }
	}},
}

func crossTiered(b *testing.B, rdb *redis.Client, p string, o *origin, opts cache.LoadOptions) getter {
	t := cache.NewTiered(cache.NewMemoryStore(cache.MemoryOptions{MaxEntries: capacity}),
		cache.NewRedisStore(rdb, cache.RedisOptions{KeyPrefix: p, Timeout: time.Second}), cache.TieredOptions{})
	b.Cleanup(func() { _ = t.Close() })
	return func(ctx context.Context, key string) ([]byte, error) {
		v, _, err := t.GetOrLoad(ctx, key, o.load, opts)
		return view(v), err
	}
}

// sturdyRedis is sturdyc's DistributedStorage on go-redis: plain GET and
// SET (a minute), MGET and a pipeline for batches.
type sturdyRedis struct {
	rdb    *redis.Client
	prefix string
}

func (s *sturdyRedis) Get(ctx context.Context, key string) ([]byte, bool) {
	b, err := s.rdb.Get(ctx, s.prefix+key).Bytes()
	return b, err == nil
}

func (s *sturdyRedis) Set(ctx context.Context, key string, v []byte) {
	s.rdb.Set(ctx, s.prefix+key, v, time.Minute)
}

func (s *sturdyRedis) GetBatch(ctx context.Context, keys []string) map[string][]byte {
	out := make(map[string][]byte, len(keys))
	for _, k := range keys {
		if v, ok := s.Get(ctx, k); ok {
			out[k] = v
		}
	}
	return out
}

func (s *sturdyRedis) SetBatch(ctx context.Context, records map[string][]byte) {
	for k, v := range records {
		s.Set(ctx, k, v)
	}
}

// BenchmarkCrossInstanceMiss: 3 instances on one Redis, 300 goroutines
// each, miss one new key together. origin-calls/op is how many loads the
// origin saw per key (1 = one call across instances); ns/op is the time
// until all 900 have their value.
func BenchmarkCrossInstanceMiss(b *testing.B) {
	def, _ := redisClients(b)
	for _, impl := range crossImpls {
		b.Run(impl.name, func(b *testing.B) {
			o := &origin{latency: crossOrigin}
			p := redisPrefix(b, def)
			var gets []getter
			for range instances {
				gets = append(gets, impl.setup(b, def, p, o))
			}
			ctx := context.Background()
			keys := make([]string, 1)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				keyBatch(keys)
				start := make(chan struct{})
				var ready, done sync.WaitGroup
				var failed atomic.Int64
				for _, get := range gets {
					for range perInstance {
						ready.Add(1)
						done.Go(func() {
							ready.Done()
							<-start
							if v, err := get(ctx, keys[0]); err != nil || len(v) != valueSize {
								failed.Add(1)
							}
						})
					}
				}
				ready.Wait()
				b.StartTimer()
				close(start)
				done.Wait()
				if failed.Load() > 0 {
					b.Fatalf("%d reads failed", failed.Load())
				}
			}
			b.StopTimer()
			b.ReportMetric(float64(o.calls.Load())/float64(b.N), "origin-calls/op")
		})
	}
}
