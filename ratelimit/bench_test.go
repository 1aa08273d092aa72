package ratelimit_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/alovago/alova/internal/testredis"
	"github.com/alovago/alova/ratelimit"
)

// benchAllow measures Allow over 1,000 keys, one window each.
func benchAllow(b *testing.B, store ratelimit.Store) {
	b.Helper()
	l := ratelimit.New(store, ratelimit.Options{Points: 1 << 30, Duration: time.Minute})
	keys := make([]string, 1000)
	for i := range keys {
		keys[i] = "user:" + strconv.Itoa(i)
	}
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	i := 0
	for b.Loop() {
		if _, err := l.Allow(ctx, keys[i%len(keys)]); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

func BenchmarkAllowMemory(b *testing.B) {
	benchAllow(b, ratelimit.NewMemoryStore())
}

func BenchmarkAllowMemoryParallel(b *testing.B) {
	l := ratelimit.New(ratelimit.NewMemoryStore(), ratelimit.Options{Points: 1 << 30, Duration: time.Minute})
	ctx := context.Background()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := l.Allow(ctx, "hot"); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

func BenchmarkAllowMiniredis(b *testing.B) {
	_, rdb := testredis.Mini(b)
	benchAllow(b, ratelimit.NewRedisStore(rdb, ratelimit.RedisOptions{KeyPrefix: "bench:"}))
}

func BenchmarkAllowRedis(b *testing.B) {
	rdb := testredis.Real(b)
	benchAllow(b, ratelimit.NewRedisStore(rdb, ratelimit.RedisOptions{KeyPrefix: testredis.Prefix(b, rdb)}))
}
