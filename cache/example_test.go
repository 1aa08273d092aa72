package cache_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
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

	newTiers := func() *cache.Tiered {
		return cache.NewTiered(
			cache.NewMemoryStore(cache.MemoryOptions{MaxEntries: 10_000}),
			cache.NewRedisStore(rdb, cache.RedisOptions{KeyPrefix: "app:cache:"}),
			cache.TieredOptions{})
	}
	tiers := newTiers()
	defer tiers.Close()

	ctx := context.Background()
	load := func(ctx context.Context) (cache.Entry, error) {
		fmt.Println("  origin called")
		return cache.Entry{Value: cache.StringValue(`{"id":1}`), TTL: 5 * time.Minute, Tags: []string{"products"}}, nil
	}
	for range 2 {
		v, tier, err := tiers.GetOrLoad(ctx, "GET /products/1", load, cache.LoadOptions{})
		fmt.Println(v, tier, err)
	}

	other := newTiers()
	defer other.Close()
	v, tier, err := other.GetOrLoad(ctx, "GET /products/1", load, cache.LoadOptions{})
	fmt.Println(v, tier, err)
	// Output:
	//   origin called
	// {"id":1} MISS <nil>
	// {"id":1} L1 <nil>
	// {"id":1} L2 <nil>
}

// mapTier is an L1 of one's own: a map with an expiry per entry and a clock
// the example sets. Anything with the methods of [cache.Local] plugs into
// NewTiered.
type mapTier struct {
	mu      sync.Mutex
	now     func() time.Time
	entries map[string]mapEntry
}

type mapEntry struct {
	item cache.Item
	exp  time.Time
}

func (m *mapTier) Get(key string) (cache.Item, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	e, ok := m.entries[key]
	if !ok || !m.now().Before(e.exp) {
		delete(m.entries, key)
		return cache.Item{}, false
	}
	return e.item, true
}

func (m *mapTier) Set(key string, it cache.Item, ttl time.Duration) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.entries == nil {
		m.entries = map[string]mapEntry{}
	}
	m.entries[key] = mapEntry{item: it, exp: m.now().Add(ttl)}
}

func (m *mapTier) Delete(keys ...string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, k := range keys {
		delete(m.entries, k)
	}
}

func (m *mapTier) DeleteTags(tags ...string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for k, e := range m.entries {
		if slices.ContainsFunc(e.item.Tags, func(t string) bool { return slices.Contains(tags, t) }) {
			delete(m.entries, k)
		}
	}
}

func (m *mapTier) Tags(prefix string) []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []string
	for _, e := range m.entries {
		for _, t := range e.item.Tags {
			if strings.HasPrefix(t, prefix) && !slices.Contains(out, t) {
				out = append(out, t)
			}
		}
	}
	return out
}

func (m *mapTier) Purge() {
	m.mu.Lock()
	defer m.mu.Unlock()
	clear(m.entries)
}

// A Local tier of one's own, here a map with a settable clock, in place of
// the MemoryStore: Tiered reads through it, fills it, expires and
// invalidates through it, and keeps negative entries in it.
func Example_customLocal() {
	clock := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	l1 := &mapTier{now: func() time.Time { return clock }}
	tiers := cache.NewTiered(l1, nil, cache.TieredOptions{NoJitter: true})
	defer tiers.Close()

	ctx := context.Background()
	load := func(context.Context) (cache.Entry, error) {
		fmt.Println("  origin called")
		return cache.Entry{Value: cache.StringValue("p1"), TTL: time.Minute, Tags: []string{"products"}}, nil
	}
	get := func() {
		v, tier, err := tiers.GetOrLoad(ctx, "/products/1", load, cache.LoadOptions{})
		fmt.Println(v, tier, err)
	}
	get()
	get()
	clock = clock.Add(time.Minute) // the entry expires in the map tier
	get()

	tags, _ := tiers.KnownTags(ctx, "")
	fmt.Println("tags:", tags)
	_ = tiers.DeleteTags(ctx, "products")
	_, tier, err := tiers.Get(ctx, "/products/1", cache.ModeAll)
	fmt.Println(tier, err)

	notFound := errors.New("404")
	missing := func(context.Context) (cache.Entry, error) {
		fmt.Println("  origin called")
		return cache.Entry{}, cache.Negative(notFound, 10*time.Second)
	}
	for range 2 {
		_, tier, err := tiers.GetOrLoad(ctx, "/products/2", missing, cache.LoadOptions{})
		fmt.Println(tier, err)
	}
	// Output:
	//   origin called
	// p1 MISS <nil>
	// p1 L1 <nil>
	//   origin called
	// p1 MISS <nil>
	// tags: [products]
	// NONE cache: miss
	//   origin called
	// MISS 404
	// L1 404
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
	tiers := cache.NewTiered(cache.NewMemoryStore(cache.MemoryOptions{}),
		cache.NewRedisStore(rdb, cache.RedisOptions{KeyPrefix: "app:"}), cache.TieredOptions{})
	defer tiers.Close()

	ctx := context.Background()
	_ = tiers.Set(ctx, "/products/1", cache.Entry{Value: cache.StringValue("p1"), TTL: time.Minute, Tags: []string{"products"}}, cache.ModeAll)
	_ = tiers.Set(ctx, "/users/1", cache.Entry{Value: cache.StringValue("u1"), TTL: time.Minute, Tags: []string{"users"}}, cache.ModeAll)
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

// A MemoryStore on its own: bounded by count and bytes, a TTL per entry.
// Values are immutable: ValueOf copies in, Bytes copies out.
func ExampleMemoryStore() {
	l1 := cache.NewMemoryStore(cache.MemoryOptions{MaxEntries: 2, MaxBytes: 1 << 20})
	buf := []byte("hello")
	l1.Set("greeting", cache.Item{Value: cache.ValueOf(buf)}, time.Minute)
	buf[0] = 'J' // does not change the cached value

	it, ok := l1.Get("greeting")
	it.Value.Bytes()[0] = 'Y' // a copy: does not change it either
	fmt.Println(it.Value, ok)

	_, ok = l1.Get("absent")
	fmt.Println(ok)
	// Output:
	// hello true
	// false
}

// Negative caching: a loader that wraps its error with Negative has it
// cached (in L1) for a while; callers get the error itself.
func ExampleNegative() {
	tiers := cache.NewTiered(cache.NewMemoryStore(cache.MemoryOptions{}), nil, cache.TieredOptions{})
	ctx := context.Background()
	errNotFound := errors.New("not found")
	load := func(context.Context) (cache.Entry, error) {
		fmt.Println("  origin called")
		return cache.Entry{}, cache.Negative(errNotFound, 30*time.Second)
	}
	for range 2 {
		_, tier, err := tiers.GetOrLoad(ctx, "GET /users/404", load, cache.LoadOptions{})
		fmt.Println(tier, err, errors.Is(err, errNotFound))
	}
	fmt.Println("negative hits:", tiers.Stats().NegativeHits)
	// Output:
	//   origin called
	// MISS not found true
	// L1 not found true
	// negative hits: 1
}

// Stats are cheap atomic counters, readable at any time.
func ExampleTiered_Stats() {
	tiers := cache.NewTiered(cache.NewMemoryStore(cache.MemoryOptions{}), nil, cache.TieredOptions{})
	ctx := context.Background()
	load := func(context.Context) (cache.Entry, error) {
		return cache.Entry{Value: cache.StringValue("v"), TTL: time.Minute}, nil
	}
	for range 3 {
		_, _, _ = tiers.GetOrLoad(ctx, "k", load, cache.LoadOptions{})
	}
	s := tiers.Stats()
	fmt.Printf("L1 hits %d, misses %d, loads %d\n", s.L1Hits, s.L1Misses, s.Loads)
	// Output:
	// L1 hits 2, misses 1, loads 1
}
