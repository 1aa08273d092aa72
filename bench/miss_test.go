package bench

import (
	"context"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	rediscache "github.com/go-redis/cache/v9"
	lru "github.com/hashicorp/golang-lru/v2"
	"github.com/viccon/sturdyc"

	"github.com/alovago/alova/cache"
)

// origin counts its calls and answers value after its latency.
type origin struct {
	calls   atomic.Int64
	latency time.Duration
}

func (o *origin) fetch(context.Context) ([]byte, error) {
	o.calls.Add(1)
	if o.latency > 0 {
		time.Sleep(o.latency)
	}
	return value, nil
}

func (o *origin) load(ctx context.Context) (cache.Entry, error) {
	v, err := o.fetch(ctx)
	return cache.Entry{Value: cache.ValueOf(v), TTL: time.Minute}, err
}

// loadImpl builds one library's read-through cache and returns a get that
// loads a missing key from o.
type loadImpl struct {
	name  string
	redis bool // needs REDIS_URL
	setup func(b *testing.B, o *origin) getter
}

var loadImpls = []loadImpl{
	{"alova", false, func(b *testing.B, o *origin) getter {
		return tieredLoad(b, cache.NewTiered(cache.NewMemoryStore(cache.MemoryOptions{MaxEntries: capacity}), nil, cache.TieredOptions{}), o)
	}},
	{"sturdyc", false, func(b *testing.B, o *origin) getter {
		c := sturdyc.New[[]byte](capacity, 16, time.Minute, 10)
		return func(ctx context.Context, key string) ([]byte, error) {
			return c.GetOrFetch(ctx, key, o.fetch)
		}
	}},
	{"go-redis-cache", false, func(b *testing.B, o *origin) getter {
		return redisCacheOnce(rediscache.New(&rediscache.Options{LocalCache: rediscache.NewTinyLFU(capacity, time.Minute)}), o)
	}},
	// golang-lru has no read-through call: Get, and on a miss load and Add,
	// with nothing to stop concurrent misses from all loading.
	{"golang-lru", false, func(b *testing.B, o *origin) getter {
		c, err := lru.New[string, []byte](capacity)
		if err != nil {
			b.Fatal(err)
		}
		return func(ctx context.Context, key string) ([]byte, error) {
			if v, ok := c.Get(key); ok {
				return v, nil
			}
			v, err := o.fetch(ctx)
			if err == nil {
				c.Add(key, v)
			}
			return v, err
		}
	}},
}

// loadImplsRedis read through an L1 and Redis: a miss reads Redis, loads,
// writes Redis and L1.
var loadImplsRedis = []loadImpl{
	{"alova", true, func(b *testing.B, o *origin) getter {
		def, _ := redisClients(b)
		return tieredLoad(b, cache.NewTiered(cache.NewMemoryStore(cache.MemoryOptions{MaxEntries: capacity}), cache.NewRedisStore(def, cache.RedisOptions{KeyPrefix: redisPrefix(b, def)}), cache.TieredOptions{}), o)
	}},
	{"alova-ctxtimeout", true, func(b *testing.B, o *origin) getter {
		def, ctxTimeout := redisClients(b)
		return tieredLoad(b, cache.NewTiered(cache.NewMemoryStore(cache.MemoryOptions{MaxEntries: capacity}), cache.NewRedisStore(ctxTimeout, cache.RedisOptions{KeyPrefix: redisPrefix(b, def)}), cache.TieredOptions{}), o)
	}},
	{"go-redis-cache", true, func(b *testing.B, o *origin) getter {
		def, _ := redisClients(b)
		p := redisPrefix(b, def)
		get := redisCacheOnce(rediscache.New(&rediscache.Options{Redis: def, LocalCache: rediscache.NewTinyLFU(capacity, time.Minute)}), o)
		return func(ctx context.Context, key string) ([]byte, error) { return get(ctx, p+key) }
	}},
}

func tieredLoad(b *testing.B, t *cache.Tiered, o *origin) getter {
	b.Cleanup(func() { _ = t.Close() })
	return func(ctx context.Context, key string) ([]byte, error) {
		cv, _, err := t.GetOrLoad(ctx, key, o.load, cache.LoadOptions{})
		v := view(cv)
		return v, err
	}
}

func redisCacheOnce(c *rediscache.Cache, o *origin) getter {
	return func(ctx context.Context, key string) ([]byte, error) {
		var v []byte
		err := c.Once(&rediscache.Item{
			Ctx: ctx, Key: key, Value: &v, TTL: time.Minute,
			Do: func(it *rediscache.Item) (any, error) { return o.fetch(it.Ctx) },
		})
		return v, err
	}
}

var runSeq atomic.Uint64

// keyBatch fills keys with names never used before in this process.
func keyBatch(keys []string) {
	base := "GET /miss/" + strconv.FormatUint(runSeq.Add(1), 10) + "/"
	for i := range keys {
		keys[i] = base + strconv.Itoa(i)
	}
}

// runMiss reads a new key at each iteration, so each is a miss and a load.
// Keys are made in batches outside the timer.
func runMiss(b *testing.B, impls []loadImpl) {
	for _, impl := range impls {
		b.Run(impl.name, func(b *testing.B) {
			o := &origin{}
			get := impl.setup(b, o)
			ctx := context.Background()
			keys := make([]string, 4096)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if i%len(keys) == 0 {
					b.StopTimer()
					keyBatch(keys)
					b.StartTimer()
				}
				v, err := get(ctx, keys[i%len(keys)])
				if err != nil {
					b.Fatal(err)
				}
				check(b, v)
			}
			b.StopTimer()
			if n := o.calls.Load(); n != int64(b.N) {
				b.Fatalf("origin called %d times for %d misses", n, b.N)
			}
		})
	}
}

// BenchmarkMissLoad reads a new key each time from an in-process cache:
// lookup, load (an origin that answers at once), store.
func BenchmarkMissLoad(b *testing.B) { runMiss(b, loadImpls) }

// BenchmarkMissLoadRedis is BenchmarkMissLoad with Redis as L2: lookups in
// L1 and Redis, the load, writes to Redis and L1.
func BenchmarkMissLoadRedis(b *testing.B) { runMiss(b, loadImplsRedis) }

// stampedeSize is the number of goroutines that miss one key together.
const stampedeSize = 1000

// runStampede releases stampedeSize goroutines at once on a key none of the
// caches has, behind an origin that takes originLatency. ns/op is the wall
// time from their release until all have their value; origin-calls/op is
// how many of them the origin saw (1 with stampede protection).
func runStampede(b *testing.B, impls []loadImpl) {
	for _, impl := range impls {
		b.Run(impl.name, func(b *testing.B) {
			o := &origin{latency: originLatency}
			get := impl.setup(b, o)
			ctx := context.Background()
			keys := make([]string, 1)
			var maxCalls int64
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				keyBatch(keys)
				before := o.calls.Load()
				start := make(chan struct{})
				var ready, done sync.WaitGroup
				ready.Add(stampedeSize)
				done.Add(stampedeSize)
				for range stampedeSize {
					go func() {
						defer done.Done()
						ready.Done()
						<-start
						v, err := get(ctx, keys[0])
						if err != nil {
							b.Error(err)
							return
						}
						check(b, v)
					}()
				}
				ready.Wait()
				b.StartTimer()
				close(start)
				done.Wait()
				maxCalls = max(maxCalls, o.calls.Load()-before)
			}
			b.StopTimer()
			b.ReportMetric(float64(o.calls.Load())/float64(b.N), "origin-calls/op")
			b.ReportMetric(float64(maxCalls), "max-origin-calls")
		})
	}
}

// BenchmarkStampede: 1,000 goroutines miss one key of an in-process cache
// together; the origin takes 1 ms.
func BenchmarkStampede(b *testing.B) { runStampede(b, loadImpls) }

// BenchmarkStampedeRedis is BenchmarkStampede with Redis as L2.
func BenchmarkStampedeRedis(b *testing.B) { runStampede(b, loadImplsRedis) }
