package bench

import (
	"context"
	"testing"
	"time"
	"unsafe"

	rediscache "github.com/go-redis/cache/v9"
	lru "github.com/hashicorp/golang-lru/v2"
	"github.com/maypok86/otter/v2"
	"github.com/viccon/sturdyc"

	"github.com/alovago/alova/cache"
)

// getter reads key from a cache that holds it and returns the value.
type getter func(ctx context.Context, key string) ([]byte, error)

// l1Impl builds one library's in-process cache holding val under each of
// keys and returns its read path.
type l1Impl struct {
	name  string
	setup func(b *testing.B, keys []string, val []byte) getter
}

func originLoad(context.Context) (cache.Entry, error) {
	return cache.Entry{Value: cache.ValueOf(value), TTL: time.Hour}, nil
}

func sturdyFetch(context.Context) ([]byte, error) { return value, nil }

// l1Impls are the in-process caches compared. Each is sized to hold every
// key, and each uses its read-through call where it has one.
var l1Impls = []l1Impl{
	{"alova", func(b *testing.B, keys []string, val []byte) getter {
		t := cache.NewTiered(cache.NewMemoryStore(cache.MemoryOptions{MaxEntries: capacity}), nil, cache.TieredOptions{})
		b.Cleanup(func() { _ = t.Close() })
		for _, k := range keys {
			if err := t.Set(context.Background(), k, cache.Entry{Value: cache.ValueOf(val), TTL: time.Hour}, cache.ModeAll); err != nil {
				b.Fatal(err)
			}
		}
		return func(ctx context.Context, key string) ([]byte, error) {
			v, _, err := t.GetOrLoad(ctx, key, originLoad, cache.LoadOptions{})
			return view(v), err
		}
	}},
	// The bare L1 tier, without the Tiered read path around it.
	{"alova-l1", func(b *testing.B, keys []string, val []byte) getter {
		l := cache.NewMemoryStore(cache.MemoryOptions{MaxEntries: capacity})
		for _, k := range keys {
			l.Set(k, cache.Item{Value: cache.ValueOf(val)}, time.Hour)
		}
		return func(ctx context.Context, key string) ([]byte, error) {
			it, ok := l.Get(key)
			if !ok {
				return nil, cache.ErrMiss
			}
			return view(it.Value), nil
		}
	}},
	// otter v2 raw: bounded by entry count, no expiry, no tags.
	{"otter", otterL1(otter.Options[string, []byte]{})},
	// otter with an expiry per entry, as alova's L1 keeps one: each read
	// then reads the clock (time.Since), as alova's does.
	{"otter-ttl", otterL1(otter.Options[string, []byte]{
		ExpiryCalculator: otter.ExpiryWriting[string, []byte](time.Hour),
	})},
	// otter-ttl whose maintenance runs on the calling goroutine, as the
	// hit-ratio simulator (hitratio/) runs it: every hit reaches the policy,
	// as in alova's store. With the default executor (a goroutine per
	// drain), a saturated benchmark drops nearly all of otter's hits: in a
	// profile of otter-ttl on Zipf parallel, draining takes no sample.
	{"otter-ttl-sync", otterL1(otter.Options[string, []byte]{
		ExpiryCalculator: otter.ExpiryWriting[string, []byte](time.Hour),
		Executor:         func(fn func()) { fn() },
	})},
	{"go-redis-cache", func(b *testing.B, keys []string, val []byte) getter {
		c := rediscache.New(&rediscache.Options{LocalCache: rediscache.NewTinyLFU(capacity, time.Hour)})
		for _, k := range keys {
			if err := c.Set(&rediscache.Item{Key: k, Value: val, TTL: time.Hour}); err != nil {
				b.Fatal(err)
			}
		}
		return func(ctx context.Context, key string) ([]byte, error) {
			var v []byte
			err := c.Get(ctx, key, &v)
			return v, err
		}
	}},
	{"sturdyc", func(b *testing.B, keys []string, val []byte) getter {
		c := sturdyc.New[[]byte](capacity, 16, time.Hour, 10)
		for _, k := range keys {
			c.Set(k, val)
		}
		return func(ctx context.Context, key string) ([]byte, error) {
			return c.GetOrFetch(ctx, key, sturdyFetch)
		}
	}},
	// Not a cache: the floor of any cache that hands out a copy of the
	// value (alova, go-redis-cache) — one allocation and a copy.
	{"copy-only", func(b *testing.B, keys []string, val []byte) getter {
		return func(context.Context, string) ([]byte, error) {
			return append([]byte(nil), val...), nil
		}
	}},
	{"golang-lru", func(b *testing.B, keys []string, val []byte) getter {
		c, err := lru.New[string, []byte](capacity)
		if err != nil {
			b.Fatal(err)
		}
		for _, k := range keys {
			c.Add(k, val)
		}
		return func(_ context.Context, key string) ([]byte, error) {
			v, ok := c.Get(key)
			if !ok {
				return nil, cache.ErrMiss
			}
			return v, nil
		}
	}},
}

// warm checks that get finds every key, so that the loops measure hits only
// (go-redis/cache's TinyLFU may refuse to admit a key).
func warm(b *testing.B, get getter, keys []string) {
	b.Helper()
	for _, k := range keys {
		v, err := get(context.Background(), k)
		if err != nil {
			b.Fatalf("warm-up Get(%q): %v", k, err)
		}
		check(b, v)
	}
}

// BenchmarkL1HitSameKey reads one key held in process memory.
func BenchmarkL1HitSameKey(b *testing.B) {
	for _, impl := range l1Impls {
		b.Run(impl.name, func(b *testing.B) {
			get := impl.setup(b, []string{hotKey}, value)
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

// smallValue is the value of BenchmarkL1HitSmallValue.
var smallValue = value[:64]

// BenchmarkL1HitSmallValue is BenchmarkL1HitSameKey with a 64-byte value,
// where the copy the caches hand out costs little next to the lookup.
func BenchmarkL1HitSmallValue(b *testing.B) {
	for _, impl := range l1Impls {
		b.Run(impl.name, func(b *testing.B) {
			get := impl.setup(b, []string{hotKey}, smallValue)
			ctx := context.Background()
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				v, err := get(ctx, hotKey)
				if err != nil {
					b.Fatal(err)
				}
				if len(v) != len(smallValue) {
					b.Fatalf("got %d bytes, want %d", len(v), len(smallValue))
				}
			}
		})
	}
}

// BenchmarkL1HitZipf reads 10,000 keys in a Zipf mix (s = 1.1).
func BenchmarkL1HitZipf(b *testing.B) {
	for _, impl := range l1Impls {
		b.Run(impl.name, func(b *testing.B) {
			get := impl.setup(b, allKeys, value)
			warm(b, get, allKeys)
			ctx := context.Background()
			b.ReportAllocs()
			b.ResetTimer()
			i := 0
			for b.Loop() {
				v, err := get(ctx, zipfKeys[i&zipfMask])
				if err != nil {
					b.Fatal(err)
				}
				check(b, v)
				i++
			}
		})
	}
}

// BenchmarkL1HitSameKeyParallel is BenchmarkL1HitSameKey from GOMAXPROCS
// goroutines: every one contends for the same key.
func BenchmarkL1HitSameKeyParallel(b *testing.B) {
	for _, impl := range l1Impls {
		b.Run(impl.name, func(b *testing.B) {
			get := impl.setup(b, []string{hotKey}, value)
			warm(b, get, []string{hotKey})
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				ctx := context.Background()
				for pb.Next() {
					v, err := get(ctx, hotKey)
					if err != nil {
						b.Fatal(err)
					}
					check(b, v)
				}
			})
		})
	}
}

// BenchmarkL1HitZipfParallel is BenchmarkL1HitZipf from GOMAXPROCS
// goroutines, each walking the sequence from its own starting point.
func BenchmarkL1HitZipfParallel(b *testing.B) {
	for _, impl := range l1Impls {
		b.Run(impl.name, func(b *testing.B) {
			get := impl.setup(b, allKeys, value)
			warm(b, get, allKeys)
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				ctx := context.Background()
				i := nextZipfStart()
				for pb.Next() {
					v, err := get(ctx, zipfKeys[i&zipfMask])
					if err != nil {
						b.Fatal(err)
					}
					check(b, v)
					i++
				}
			})
		})
	}
}

// view returns the bytes of v without copying them, for the benchmarks'
// read-only checks: a cache.Value is immutable and hands out no mutable
// slice, and a copy here would charge alova for one its callers never make.
func view(v cache.Value) []byte {
	s := v.String()
	return unsafe.Slice(unsafe.StringData(s), len(s))
}

// otterL1 is the setup of an otter v2 cache with opts, sized to capacity.
func otterL1(opts otter.Options[string, []byte]) func(b *testing.B, keys []string, val []byte) getter {
	return func(b *testing.B, keys []string, val []byte) getter {
		o := opts
		o.MaximumSize = capacity
		c := otter.Must(&o)
		for _, k := range keys {
			c.Set(k, val)
		}
		return func(_ context.Context, key string) ([]byte, error) {
			v, ok := c.GetIfPresent(key)
			if !ok {
				return nil, cache.ErrMiss
			}
			return v, nil
		}
	}
}
