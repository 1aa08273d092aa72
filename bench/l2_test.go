package bench

import (
	"context"
	"strings"
	"testing"
	"time"

	rediscache "github.com/go-redis/cache/v9"
	"github.com/redis/go-redis/v9"

	"github.com/alovago/alova/cache"
)

// l2Impls are the Redis read paths compared. Each setup gets keys already
// stored as plain strings under prefix p (the layout of every library here:
// a []byte value is SET as it is, under prefix+key), writes hotKey again
// through the library's own API, and returns a read that goes to Redis every
// time.
var l2Impls = []struct {
	name  string
	setup func(b *testing.B, def, ctxTimeout *redis.Client, p string) getter
}{
	// cache.Tiered with no L1, on go-redis's default client: every read is
	// one Redis round trip, made through Tiered's L2 watchdog goroutine.
	{"alova", func(b *testing.B, def, _ *redis.Client, p string) getter {
		return tieredL2(b, def, p)
	}},
	// The same on a client with ContextTimeoutEnabled: no watchdog goroutine.
	{"alova-ctxtimeout", func(b *testing.B, _, ctxTimeout *redis.Client, p string) getter {
		return tieredL2(b, ctxTimeout, p)
	}},
	// The bare L2 tier: cache.RedisStore.Get (one plain GET: the value carries its expiry).
	{"alova-redis-store", func(b *testing.B, def, _ *redis.Client, p string) getter {
		r := cache.NewRedisStore(def, cache.RedisOptions{KeyPrefix: p})
		if err := r.Set(context.Background(), hotKey, cache.ValueOf(value), time.Hour, nil, nil); err != nil {
			b.Fatal(err)
		}
		return func(ctx context.Context, key string) ([]byte, error) {
			v, _, err := r.Get(ctx, key)
			return view(v), err
		}
	}},
	{"go-redis-GET", func(b *testing.B, def, _ *redis.Client, p string) getter {
		return func(ctx context.Context, key string) ([]byte, error) {
			return def.Get(ctx, p+key).Bytes()
		}
	}},
	// A GET bounded as alova bounds its reads (200 ms), the way go-redis
	// offers it: a context deadline on a client with ContextTimeoutEnabled.
	// It is the like-for-like peer of alova-ctxtimeout; go-redis-GET above
	// has no bound at all (on a frozen Redis it waits for ReadTimeout, 3 s,
	// and retries).
	{"go-redis-GET-timeout", func(b *testing.B, _, ctxTimeout *redis.Client, p string) getter {
		return func(ctx context.Context, key string) ([]byte, error) {
			ctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
			defer cancel()
			return ctxTimeout.Get(ctx, p+key).Bytes()
		}
	}},
	// go-redis/cache with no local cache: a GET and a copy of the value.
	{"go-redis-cache", func(b *testing.B, def, _ *redis.Client, p string) getter {
		c := rediscache.New(&rediscache.Options{Redis: def})
		if err := c.Set(&rediscache.Item{Key: p + hotKey, Value: value, TTL: time.Hour}); err != nil {
			b.Fatal(err)
		}
		return func(ctx context.Context, key string) ([]byte, error) {
			var v []byte
			err := c.Get(ctx, p+key, &v)
			return v, err
		}
	}},
}

// setRaw stores value under p+k for every key, in one pipeline.
func setRaw(b *testing.B, rdb *redis.Client, p string, keys []string) {
	b.Helper()
	_, err := rdb.Pipelined(context.Background(), func(pipe redis.Pipeliner) error {
		for _, k := range keys {
			pipe.Set(context.Background(), p+k, value, time.Hour)
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
}

// seedKeys writes value under every key for impl: raw for the peers, through
// cache.Redis (which frames each value with its expiry) for alova's rows.
func seedKeys(b *testing.B, impl string, rdb *redis.Client, p string, keys []string) {
	b.Helper()
	if !strings.HasPrefix(impl, "alova") {
		setRaw(b, rdb, p, keys)
		return
	}
	r := cache.NewRedisStore(rdb, cache.RedisOptions{KeyPrefix: p})
	for _, k := range keys {
		if err := r.Set(context.Background(), k, cache.ValueOf(value), time.Hour, nil, nil); err != nil {
			b.Fatal(err)
		}
	}
}

// tieredL2 returns the read path of a cache.Tiered with no L1 on rdb.
func tieredL2(b *testing.B, rdb *redis.Client, p string) getter {
	b.Helper()
	t := cache.NewTiered(nil, cache.NewRedisStore(rdb, cache.RedisOptions{KeyPrefix: p}), cache.TieredOptions{})
	b.Cleanup(func() { _ = t.Close() })
	if err := t.Set(context.Background(), hotKey, cache.Entry{Value: cache.ValueOf(value), TTL: time.Hour}, cache.ModeAll); err != nil {
		b.Fatal(err)
	}
	return func(ctx context.Context, key string) ([]byte, error) {
		cv, tier, err := t.GetOrLoad(ctx, key, originLoad, cache.LoadOptions{})
		v := view(cv)
		if err == nil && tier != cache.TierL2 {
			b.Fatalf("GetOrLoad(%q) answered from %v, want L2", key, tier)
		}
		return v, err
	}
}

// BenchmarkL2Hit reads one key from a real Redis (REDIS_URL) on loopback.
func BenchmarkL2Hit(b *testing.B) {
	for _, impl := range l2Impls {
		b.Run(impl.name, func(b *testing.B) {
			def, ctxTimeout := redisClients(b)
			p := redisPrefix(b, def)
			setRaw(b, def, p, []string{hotKey})
			get := impl.setup(b, def, ctxTimeout, p)
			warm(b, get, []string{hotKey})
			ctx := context.Background()
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				v, err := get(ctx, hotKey)
				if err != nil {
					b.Fatal(err)
				}
				check(b, v)
			}
		})
	}
}

// l2Parallelism is the number of goroutines per CPU of the parallel Redis
// cases, so that requests overlap on the connection pool as under a
// server's load.
const l2Parallelism = 16

// BenchmarkL2HitParallel reads 10,000 keys from Redis from 32 goroutines
// (16 per CPU), each walking the keys from its own starting point, so that
// two goroutines rarely read the same key at the same moment.
func BenchmarkL2HitParallel(b *testing.B) {
	for _, impl := range l2Impls {
		b.Run(impl.name, func(b *testing.B) {
			def, ctxTimeout := redisClients(b)
			p := redisPrefix(b, def)
			seedKeys(b, impl.name, def, p, allKeys)
			get := impl.setup(b, def, ctxTimeout, p)
			warm(b, get, []string{hotKey, allKeys[0], allKeys[numKeys-1]})
			b.ReportAllocs()
			b.SetParallelism(l2Parallelism)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				ctx := context.Background()
				i := nextZipfStart()
				for pb.Next() {
					v, err := get(ctx, allKeys[i%numKeys])
					if err != nil {
						b.Error(err)
						return
					}
					check(b, v)
					i++
				}
			})
		})
	}
}

// BenchmarkL2HitSameKeyParallel is BenchmarkL2HitParallel on one key: here
// cache.Tiered shares one Redis lookup among the concurrent readers of a key,
// which the others do not do.
func BenchmarkL2HitSameKeyParallel(b *testing.B) {
	for _, impl := range l2Impls {
		b.Run(impl.name, func(b *testing.B) {
			def, ctxTimeout := redisClients(b)
			p := redisPrefix(b, def)
			setRaw(b, def, p, []string{hotKey})
			get := impl.setup(b, def, ctxTimeout, p)
			b.ReportAllocs()
			b.SetParallelism(l2Parallelism)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				ctx := context.Background()
				for pb.Next() {
					v, err := get(ctx, hotKey)
					if err != nil {
						b.Error(err)
						return
					}
					check(b, v)
				}
			})
		})
	}
}
