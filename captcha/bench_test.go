package captcha_test

import (
	"context"
	"os"
	"strconv"
	"testing"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/alovago/alova/captcha"
	"github.com/alovago/alova/internal/testredis"
)

// benchStores gives each benchmark a store, and a round-trip counter for the
// Redis ones (nil for memory).
func benchStores(b *testing.B) []struct {
	name string
	open func(b *testing.B) (captcha.Store, *counter)
} {
	redisStore := func(b *testing.B, c *redis.Client) (captcha.Store, *counter) {
		var cnt counter
		c.AddHook(&cnt)
		return captcha.NewRedisStore(c, generous(testredis.Prefix(b, c))), &cnt
	}
	return []struct {
		name string
		open func(b *testing.B) (captcha.Store, *counter)
	}{
		{"memory", func(b *testing.B) (captcha.Store, *counter) { return captcha.NewMemoryStore(), nil }},
		{"miniredis", func(b *testing.B) (captcha.Store, *counter) {
			mr := miniredis.RunT(b)
			return redisStore(b, fastClient(b, mr.Addr()))
		}},
		{"redis", func(b *testing.B) (captcha.Store, *counter) {
			if os.Getenv("REDIS_URL") == "" {
				b.Skip("REDIS_URL is not set: skipping the real-Redis benchmark")
			}
			testredis.Real(b)
			return redisStore(b, realClient(b))
		}},
	}
}

// reportRoundTrips reports the round trips per op counted since the last
// reset.
func reportRoundTrips(b *testing.B, cnt *counter) {
	b.Helper()
	if cnt != nil {
		n, _ := cnt.take()
		b.ReportMetric(float64(n)/float64(b.N), "roundtrips/op")
	}
}

// BenchmarkSend: successful sends, each for a new key (reserve + commit).
func BenchmarkSend(b *testing.B) {
	deliver := func(context.Context, string, string) error { return nil }
	for _, s := range benchStores(b) {
		b.Run(s.name, func(b *testing.B) {
			store, cnt := s.open(b)
			p := captcha.NewProvider(store, captcha.Options{})
			ctx := context.Background()
			if _, err := p.Send(ctx, "warm", deliver); err != nil {
				b.Fatal(err)
			}
			if cnt != nil {
				cnt.take()
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				if _, err := p.Send(ctx, strconv.Itoa(i), deliver); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			reportRoundTrips(b, cnt)
		})
	}
}

// BenchmarkVerify: wrong codes against one live challenge (MaxAttempts
// high so it never burns): the full path, digest, compare and attempt count.
func BenchmarkVerify(b *testing.B) {
	deliver := func(context.Context, string, string) error { return nil }
	for _, s := range benchStores(b) {
		b.Run(s.name, func(b *testing.B) {
			store, cnt := s.open(b)
			p := captcha.NewProvider(store, captcha.Options{MaxAttempts: 1 << 30,
				Generator: func() string { return "right" }})
			ctx := context.Background()
			res, err := p.Send(ctx, "k", deliver)
			if err != nil {
				b.Fatal(err)
			}
			if err := p.Verify(ctx, "k", res.Challenge, "warm"); err == nil {
				b.Fatal("wrong code verified")
			}
			if cnt != nil {
				cnt.take()
			}
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				if err := p.Verify(ctx, "k", res.Challenge, "wrong"); err == nil {
					b.Fatal("wrong code verified")
				}
			}
			b.StopTimer()
			reportRoundTrips(b, cnt)
		})
	}
}
