package cache_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/alovago/alova/cache"
	"github.com/redis/go-redis/v9"
)

// Stale-while-revalidate: past its TTL, the entry is answered at once
// while one reload runs in the background; the next read gets the new
// value. RefreshBefore would start that reload before the TTL ends.
func Example_staleWhileRevalidate() {
	tiers := cache.NewTiered(cache.NewMemoryStore(cache.MemoryOptions{MaxEntries: 100}), nil, cache.TieredOptions{NoJitter: true})
	defer tiers.Close()
	var version atomic.Int64
	load := func(ctx context.Context) (cache.Entry, error) {
		v := version.Add(1)
		return cache.Entry{Value: cache.StringValue(fmt.Sprintf("price v%d", v)), TTL: 20 * time.Millisecond}, nil
	}
	opts := cache.LoadOptions{StaleFor: time.Minute}
	ctx := context.Background()
	v, tier, _ := tiers.GetOrLoad(ctx, "price:42", load, opts)
	fmt.Println(v, tier)
	time.Sleep(30 * time.Millisecond) // past the TTL
	v, tier, _ = tiers.GetOrLoad(ctx, "price:42", load, opts)
	fmt.Println(v, tier, "(stale, reload started)")
	for v, _, _ := tiers.Get(ctx, "price:42", cache.ModeAll); v.String() != "price v2"; v, _, _ = tiers.Get(ctx, "price:42", cache.ModeAll) {
		time.Sleep(time.Millisecond) // the reload has not written yet
	}
	v, tier, _ = tiers.GetOrLoad(ctx, "price:42", load, opts)
	fmt.Println(v, tier)
	// Output:
	// price v1 MISS
	// price v1 L1 (stale, reload started)
	// price v2 L1
}

// Distributed single-flight: two instances (two Tiereds on one Redis)
// miss the same key at once and make one origin call between them.
func Example_lockWait() {
	mr := miniredis.NewMiniRedis()
	if err := mr.Start(); err != nil {
		panic(err)
	}
	defer mr.Close()
	rdb := redis.NewClient(&redis.Options{Addr: mr.Addr()})
	defer rdb.Close()
	var calls atomic.Int64
	load := func(ctx context.Context) (cache.Entry, error) {
		calls.Add(1)
		time.Sleep(50 * time.Millisecond)
		return cache.Entry{Value: cache.StringValue(`{"id":7}`), TTL: time.Minute}, nil
	}
	var wg sync.WaitGroup
	for range 2 {
		tiers := cache.NewTiered(cache.NewMemoryStore(cache.MemoryOptions{MaxEntries: 100}),
			cache.NewRedisStore(rdb, cache.RedisOptions{KeyPrefix: "app:cache:"}), cache.TieredOptions{})
		defer tiers.Close()
		for range 100 {
			wg.Go(func() {
				_, _, _ = tiers.GetOrLoad(context.Background(), "product:7", load, cache.LoadOptions{LockWait: 2 * time.Second})
			})
		}
	}
	wg.Wait()
	fmt.Println("origin calls for 200 misses on 2 instances:", calls.Load())
	// Output: origin calls for 200 misses on 2 instances: 1
}

// Batch loads: the keys already cached are not fetched again; the others
// come from one origin call and are cached one by one.
func ExampleTiered_GetOrLoadBatch() {
	tiers := cache.NewTiered(cache.NewMemoryStore(cache.MemoryOptions{MaxEntries: 100}), nil, cache.TieredOptions{})
	defer tiers.Close()
	ctx := context.Background()
	load := func(ctx context.Context, keys []string) (map[string]cache.Entry, error) {
		fmt.Println("  origin called for", strings.Join(keys, ","))
		out := make(map[string]cache.Entry, len(keys))
		for _, k := range keys {
			out[k] = cache.Entry{Value: cache.StringValue("value of " + k), TTL: time.Minute}
		}
		return out, nil
	}
	_, _ = tiers.GetOrLoadBatch(ctx, []string{"a", "b"}, load, cache.LoadOptions{})
	got, _ := tiers.GetOrLoadBatch(ctx, []string{"a", "b", "c", "d"}, load, cache.LoadOptions{})
	for _, k := range []string{"a", "b", "c", "d"} {
		fmt.Println(k, got[k].Tier, got[k].Value)
	}
	// Output:
	//   origin called for a,b
	//   origin called for c,d
	// a L1 value of a
	// b L1 value of b
	// c MISS value of c
	// d MISS value of d
}

// Typed loads: values of a Go type, JSON in the cache; each caller gets a
// value of its own to change.
func ExampleGetOrLoadJSON() {
	type product struct {
		ID   int      `json:"id"`
		Tags []string `json:"tags"`
	}
	tiers := cache.NewTiered(cache.NewMemoryStore(cache.MemoryOptions{MaxEntries: 100}), nil, cache.TieredOptions{})
	defer tiers.Close()
	load := func(ctx context.Context) (cache.TypedEntry[product], error) {
		return cache.TypedEntry[product]{Value: product{ID: 1, Tags: []string{"new"}}, TTL: time.Minute}, nil
	}
	ctx := context.Background()
	p, tier, _ := cache.GetOrLoadJSON(ctx, tiers, "product:1", load, cache.LoadOptions{})
	p.Tags[0] = "changed by this caller"
	q, tier2, _ := cache.GetOrLoadJSON(ctx, tiers, "product:1", load, cache.LoadOptions{})
	fmt.Println(tier, p.Tags[0])
	fmt.Println(tier2, q.Tags[0])
	// Output:
	// MISS changed by this caller
	// L1 new
}
