package cache_test

import (
	"context"
	"fmt"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/alovago/alova/cache"
	"github.com/redis/go-redis/v9"
)

// The seed's chart: a miss loads from the origin and fills both tiers; the
// next read is an L1 hit; another process (a fresh L1) gets it from L2.
func Example() {
	mr := miniredis.NewMiniRedis()
	if err := mr.Start(); err != nil {
		panic(err)
	}
	defer mr.Close()
	rdb := redis.NewClient(&redis.Options{Addr: mr.Addr()})
	defer rdb.Close()

	tiers := cache.NewTiered(cache.NewLRU(10_000), cache.NewRedis(rdb, "app:cache:"), cache.TieredOptions{})
	defer tiers.Close()

	ctx := context.Background()
	load := func(ctx context.Context) (cache.Entry, error) {
		fmt.Println("  origin called")
		return cache.Entry{Value: []byte(`{"id":1}`), TTL: 5 * time.Minute, Tags: []string{"products"}}, nil
	}
	for range 2 {
		v, tier, err := tiers.GetOrLoad(ctx, "GET /products/1", load, cache.LoadOptions{})
		fmt.Println(string(v), tier, err)
	}

	other := cache.NewTiered(cache.NewLRU(10_000), cache.NewRedis(rdb, "app:cache:"), cache.TieredOptions{})
	defer other.Close()
	v, tier, err := other.GetOrLoad(ctx, "GET /products/1", load, cache.LoadOptions{})
	fmt.Println(string(v), tier, err)
	// Output:
	//   origin called
	// {"id":1} MISS <nil>
	// {"id":1} L1 <nil>
	// {"id":1} L2 <nil>
}

// Tags group entries for invalidation: deleting a tag deletes every entry
// carrying it, in Redis and in the L1 of every process.
func ExampleTiered_DeleteTags() {
	mr := miniredis.NewMiniRedis()
	if err := mr.Start(); err != nil {
		panic(err)
	}
	defer mr.Close()
	rdb := redis.NewClient(&redis.Options{Addr: mr.Addr()})
	defer rdb.Close()
	tiers := cache.NewTiered(cache.NewLRU(100), cache.NewRedis(rdb, "app:"), cache.TieredOptions{})
	defer tiers.Close()

	ctx := context.Background()
	_ = tiers.Set(ctx, "/products/1", cache.Entry{Value: []byte("p1"), TTL: time.Minute, Tags: []string{"products"}}, cache.ModeAll)
	_ = tiers.Set(ctx, "/users/1", cache.Entry{Value: []byte("u1"), TTL: time.Minute, Tags: []string{"users"}}, cache.ModeAll)
	tags, _ := tiers.KnownTags(ctx, "")
	fmt.Println("tags:", tags)

	_ = tiers.DeleteTags(ctx, "products")
	for _, key := range []string{"/products/1", "/users/1"} {
		_, tier, err := tiers.Get(ctx, key, cache.ModeAll)
		fmt.Println(key, tier, err)
	}
	// Output:
	// tags: [products users]
	// /products/1 NONE cache: miss
	// /users/1 L1 <nil>
}

// An LRU on its own: bounded by count, a TTL per entry, copies in and out.
func ExampleLRU() {
	ctx := context.Background()
	l1 := cache.NewLRU(2)
	buf := []byte("hello")
	_ = l1.Set(ctx, "greeting", buf, time.Minute)
	buf[0] = 'J' // does not change the cached value

	v, ttl, err := l1.Get(ctx, "greeting")
	fmt.Println(string(v), ttl > 59*time.Second, err)

	_, _, err = l1.Get(ctx, "absent")
	fmt.Println(err)
	// Output:
	// hello true <nil>
	// cache: miss
}

// Stats are cheap atomic counters, readable at any time.
func ExampleTiered_Stats() {
	tiers := cache.NewTiered(cache.NewLRU(100), nil, cache.TieredOptions{})
	ctx := context.Background()
	load := func(context.Context) (cache.Entry, error) {
		return cache.Entry{Value: []byte("v"), TTL: time.Minute}, nil
	}
	for range 3 {
		_, _, _ = tiers.GetOrLoad(ctx, "k", load, cache.LoadOptions{})
	}
	s := tiers.Stats()
	fmt.Printf("L1 hits %d, misses %d, loads %d\n", s.L1Hits, s.L1Misses, s.Loads)
	// Output:
	// L1 hits 2, misses 1, loads 1
}
