package lock_test

import (
	"context"
	"testing"

	"github.com/alovago/alova/internal/testredis"
	"github.com/alovago/alova/lock"
)

// benchAcquireRelease measures one uncontended Acquire and Release.
func benchAcquireRelease(b *testing.B, l lock.Store, opts lock.Options) {
	b.Helper()
	ctx := context.Background()
	names := []string{"orders"}
	b.ReportAllocs()
	for b.Loop() {
		lease, err := lock.Acquire(ctx, l, names, opts)
		if err != nil {
			b.Fatal(err)
		}
		if err := lease.Release(ctx); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkAcquireRelease(b *testing.B) {
	backends := []struct {
		name   string
		locker func(b *testing.B) lock.Store
	}{
		{"memory", func(*testing.B) lock.Store { return lock.NewMemoryStore() }},
		{"miniredis", func(b *testing.B) lock.Store {
			_, rdb := testredis.Mini(b)
			return lock.NewRedisStore(rdb, lock.RedisOptions{})
		}},
		{"redis", func(b *testing.B) lock.Store {
			rdb := testredis.Real(b)
			return lock.NewRedisStore(rdb, lock.RedisOptions{KeyPrefix: testredis.Prefix(b, rdb)})
		}},
	}
	for _, be := range backends {
		b.Run(be.name+"/renew", func(b *testing.B) { benchAcquireRelease(b, be.locker(b), lock.Options{}) })
		b.Run(be.name+"/norenew", func(b *testing.B) { benchAcquireRelease(b, be.locker(b), lock.Options{NoRenew: true}) })
	}
}
