package integration

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/alovago/alova/cache"
	"github.com/alovago/alova/captcha"
	"github.com/alovago/alova/internal/testredis"
	"github.com/alovago/alova/lock"
	"github.com/alovago/alova/ratelimit"
)

// startCluster starts three redis-server masters on loopback ports, joins
// them into a Redis Cluster with redis-cli, waits until every node reports
// cluster_state:ok, and returns the seed addresses and a client on it.
// storeTimeout bounds the stores' Redis calls in these tests: the
// production 200 ms is for an unloaded server, and a Cluster of processes
// on a 2-core machine running other tests under -race answered slower.
const storeTimeout = 2 * time.Second

func startCluster(t *testing.T) ([]string, *redis.ClusterClient) {
	t.Helper()
	var addrs []string
	for range 3 {
		s := testredis.Server(t, "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
			"--cluster-node-timeout", "5000")
		addrs = append(addrs, s.Addr())
	}
	args := append(append([]string{"--cluster", "create"}, addrs...), "--cluster-replicas", "0", "--cluster-yes")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if out, err := exec.CommandContext(ctx, "redis-cli", args...).CombinedOutput(); err != nil {
		t.Fatalf("redis-cli %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	for _, addr := range addrs {
		node := redis.NewClient(&redis.Options{Addr: addr})
		eventually(t, 15*time.Second, addr+" reports cluster_state:ok", func() bool {
			info, err := node.ClusterInfo(ctx).Result()
			return err == nil && strings.Contains(info, "cluster_state:ok")
		})
		_ = node.Close()
	}
	cc := redis.NewClusterClient(&redis.ClusterOptions{Addrs: addrs})
	t.Cleanup(func() { _ = cc.Close() })
	// Every node must know the slot map before the tests write across slots.
	eventually(t, 10*time.Second, "the cluster client sees three masters", func() bool {
		n := 0
		var mu sync.Mutex
		err := cc.ForEachMaster(ctx, func(ctx context.Context, c *redis.Client) error {
			mu.Lock()
			n++
			mu.Unlock()
			return c.Ping(ctx).Err()
		})
		return err == nil && n == 3
	})
	return addrs, cc
}

// feedLive waits until to's invalidation feed delivers what from announces,
// and returns how many invalidations to has received by then. It announces
// a probe (the deletion of a key nobody uses) once a second until one
// arrives.
func feedLive(t *testing.T, from, to *cache.Tiered) uint64 {
	t.Helper()
	ctx := context.Background()
	deadline := time.Now().Add(10 * time.Second)
	for {
		before := to.Stats().Invalidations
		if err := from.Delete(ctx, "feed-probe"); err != nil {
			t.Fatalf("probe of the invalidation feed: %v", err)
		}
		for wait := time.Now().Add(time.Second); time.Now().Before(wait); time.Sleep(10 * time.Millisecond) {
			if n := to.Stats().Invalidations; n > before {
				return n
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("no invalidation reached the other instance within 10 s")
		}
	}
}

// TestRedisCluster runs the library's Redis parts and the example server on a
// three-master Redis Cluster.
func TestRedisCluster(t *testing.T) {
	t.Parallel()
	testredis.NeedServer(t)
	addrs, cc := startCluster(t)
	ctx := context.Background()
	prefix := fmt.Sprintf("itest:%d:", time.Now().UnixNano())

	t.Run("cache", func(t *testing.T) {
		a := cache.NewTiered(cache.NewMemoryStore(cache.MemoryOptions{MaxEntries: 1000}), cache.NewRedisStore(cc, cache.RedisOptions{KeyPrefix: prefix + "cache:", Timeout: storeTimeout}), cache.TieredOptions{})
		defer a.Close()
		b := cache.NewTiered(cache.NewMemoryStore(cache.MemoryOptions{MaxEntries: 1000}), cache.NewRedisStore(cc, cache.RedisOptions{KeyPrefix: prefix + "cache:", Timeout: storeTimeout}), cache.TieredOptions{})
		defer b.Close()
		// A's writes announce themselves; each announcement drops the key
		// from B's L1. B must hear them all before it reads, or one that
		// came late would drop a copy B had just made (harmless, but not
		// what the checks below expect).
		heard := feedLive(t, a, b)
		// Enough keys to land on every master.
		const n = 30
		key := func(i int) string { return fmt.Sprintf("k%d", i) }
		for i := range n {
			e := cache.Entry{Value: cache.StringValue(key(i)), TTL: time.Minute, Tags: []string{"all", fmt.Sprintf("t%d", i%3)}}
			if err := a.Set(ctx, key(i), e, cache.ModeAll); err != nil {
				t.Fatalf("Set(%q): %v", key(i), err)
			}
		}
		eventually(t, 5*time.Second, "B to hear A's announcements of its writes", func() bool {
			return b.Stats().Invalidations >= heard+n
		})
		for i := range n {
			v, tier, err := b.Get(ctx, key(i), cache.ModeAll)
			if err != nil || tier != cache.TierL2 || v.String() != key(i) {
				t.Fatalf("B.Get(%q) = %q, %v, %v; want %q from L2", key(i), v, tier, err, key(i))
			}
		}
		tags, err := a.KnownTags(ctx, "t")
		if err != nil || len(tags) != 3 {
			t.Fatalf("KnownTags(t) = %q, %v; want t0 t1 t2", tags, err)
		}
		if err := a.DeleteTags(ctx, "t1"); err != nil {
			t.Fatalf("DeleteTags(t1): %v", err)
		}
		// B held every key in L1 after its reads; the invalidation must drop
		// those tagged t1 there too.
		eventually(t, 5*time.Second, "B's L1 drops the keys tagged t1", func() bool {
			for i := 1; i < n; i += 3 {
				if _, _, err := b.Get(ctx, key(i), cache.ModeAll); !errors.Is(err, cache.ErrMiss) {
					return false
				}
			}
			return true
		})
		if _, tier, err := b.Get(ctx, key(0), cache.ModeAll); err != nil || tier != cache.TierL1 {
			t.Errorf("B.Get(k0) (tag t0, kept) = %v, %v; want an L1 hit", tier, err)
		}
		var loads atomic.Int32
		var wg sync.WaitGroup
		for range 50 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, _, _ = a.GetOrLoad(ctx, "stampede", func(context.Context) (cache.Entry, error) {
					loads.Add(1)
					time.Sleep(20 * time.Millisecond)
					return cache.Entry{Value: cache.StringValue("v"), TTL: time.Minute}, nil
				}, cache.LoadOptions{})
			}()
		}
		wg.Wait()
		if loads.Load() != 1 {
			t.Errorf("50 concurrent misses made %d loads, want 1", loads.Load())
		}
	})

	t.Run("cache lease", func(t *testing.T) {
		var trs []*cache.Tiered
		for range 3 {
			tr := cache.NewTiered(cache.NewMemoryStore(cache.MemoryOptions{MaxEntries: 100}), cache.NewRedisStore(cc, cache.RedisOptions{KeyPrefix: prefix + "lease:", Timeout: storeTimeout}), cache.TieredOptions{})
			defer tr.Close()
			trs = append(trs, tr)
		}
		// Keys on different slots, one with a hash tag.
		for _, key := range []string{"product:1", "product:2", "{user:7}:cart"} {
			var loads atomic.Int32
			var wg sync.WaitGroup
			for _, tr := range trs {
				for range 30 {
					wg.Go(func() {
						_, _, err := tr.GetOrLoad(ctx, key, func(context.Context) (cache.Entry, error) {
							loads.Add(1)
							time.Sleep(30 * time.Millisecond)
							return cache.Entry{Value: cache.StringValue("v"), TTL: time.Minute}, nil
						}, cache.LoadOptions{LockWait: 2 * time.Second})
						if err != nil {
							t.Error(err)
						}
					})
				}
			}
			wg.Wait()
			if loads.Load() != 1 {
				t.Errorf("%s: 90 misses on 3 instances made %d loads, want 1", key, loads.Load())
			}
		}
	})

	t.Run("cache lease round trips", func(t *testing.T) {
		// A cold miss under the lease: the GET that misses, then one script
		// that reads again and takes the lease (its two keys share a slot),
		// the write and the release: four round trips. A prefix that opens
		// a "{" it does not close keeps them apart: GET, lease, GET, write,
		// release.
		counted := redis.NewClusterClient(&redis.ClusterOptions{Addrs: addrs})
		defer counted.Close()
		rt := &testredis.RoundTrips{}
		counted.AddHook(rt)
		load := func(context.Context) (cache.Entry, error) {
			return cache.Entry{Value: cache.StringValue("v"), TTL: time.Minute}, nil
		}
		opts := cache.LoadOptions{LockWait: 2 * time.Second}
		for _, tc := range []struct {
			prefix string
			want   int64
		}{{prefix + "rt:", 4}, {prefix + "rt{x:", 5}} {
			tr := cache.NewTiered(cache.NewMemoryStore(cache.MemoryOptions{MaxEntries: 100}),
				cache.NewRedisStore(counted, cache.RedisOptions{KeyPrefix: tc.prefix, Timeout: storeTimeout}), cache.TieredOptions{NoInvalidation: true})
			defer tr.Close()
			// Cold misses on enough keys to bring the scripts to every master.
			for i := range 30 {
				if _, _, err := tr.GetOrLoad(ctx, fmt.Sprintf("warm:%d", i), load, opts); err != nil {
					t.Fatal(err)
				}
			}
			for _, key := range []string{"product:1", "product:2", "{user:7}:cart", "a{b"} {
				start := rt.N()
				if _, tier, err := tr.GetOrLoad(ctx, key, load, opts); err != nil || tier != cache.TierOrigin {
					t.Fatalf("%s%s: GetOrLoad = %v, %v; want a load", tc.prefix, key, tier, err)
				}
				if n := rt.N() - start; n != tc.want {
					t.Errorf("%s%s: a cold miss under the lease = %d round trips, want %d", tc.prefix, key, n, tc.want)
				}
			}
			if s := tr.Stats(); s.L2Errors != 0 || s.L2Misses != 34 || s.Loads != 34 {
				t.Errorf("%s: L2 errors %d, L2 misses %d, loads %d; want 0, 34, 34", tc.prefix, s.L2Errors, s.L2Misses, s.Loads)
			}
		}
	})

	t.Run("captcha", func(t *testing.T) {
		p1 := captcha.NewProvider(captcha.NewRedisStore(cc, captcha.RedisOptions{KeyPrefix: prefix + "captcha:", Timeout: storeTimeout}), captcha.Options{})
		p2 := captcha.NewProvider(captcha.NewRedisStore(cc, captcha.RedisOptions{KeyPrefix: prefix + "captcha:", Timeout: storeTimeout}), captcha.Options{})
		var delivered atomic.Int32
		var code, challenge atomic.Value
		deliver := func(_ context.Context, c, _ string) error {
			delivered.Add(1)
			code.Store(c)
			time.Sleep(5 * time.Millisecond)
			return nil
		}
		// Keys that hash to different slots, each raced by two providers.
		for _, key := range []string{"a@example.com", "b@example.com", "+15550100"} {
			delivered.Store(0)
			var wg sync.WaitGroup
			for i := range 20 {
				p := p1
				if i%2 == 1 {
					p = p2
				}
				wg.Add(1)
				go func() {
					defer wg.Done()
					if res, err := p.Send(ctx, key, deliver); err == nil {
						challenge.Store(res.Challenge)
					}
				}()
			}
			wg.Wait()
			if delivered.Load() != 1 {
				t.Fatalf("%s: 20 racing sends delivered %d codes, want 1", key, delivered.Load())
			}
			if err := p2.Verify(ctx, key, challenge.Load().(string), "not-the-code"); !errors.Is(err, captcha.ErrInvalidCode) {
				t.Errorf("%s: wrong code: %v, want ErrInvalidCode", key, err)
			}
			if err := p2.Verify(ctx, key, challenge.Load().(string), code.Load().(string)); err != nil {
				t.Errorf("%s: right code: %v, want nil", key, err)
			}
			if err := p1.Verify(ctx, key, challenge.Load().(string), code.Load().(string)); err != nil {
				t.Errorf("%s: the one retry of a verified code: %v, want nil", key, err)
			}
			if err := p2.Verify(ctx, key, challenge.Load().(string), code.Load().(string)); !errors.Is(err, captcha.ErrInvalidCode) {
				t.Errorf("%s: code used after its retry: %v, want ErrInvalidCode", key, err)
			}
		}
	})

	t.Run("ratelimit", func(t *testing.T) {
		lim := ratelimit.New(ratelimit.NewRedisStore(cc, ratelimit.RedisOptions{KeyPrefix: prefix + "rl:", Timeout: storeTimeout}), ratelimit.Options{Points: 5, Duration: time.Minute})
		for _, key := range []string{"ip:1", "ip:2", "ip:3", "ip:4"} {
			var allowed atomic.Int32
			var wg sync.WaitGroup
			for range 40 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					res, err := lim.Allow(ctx, key)
					if err != nil {
						t.Errorf("Allow(%q): %v", key, err)
					}
					if res.Allowed {
						allowed.Add(1)
					}
				}()
			}
			wg.Wait()
			if allowed.Load() != 5 {
				t.Errorf("%s: 40 concurrent calls with 5 points allowed %d, want 5", key, allowed.Load())
			}
		}
	})

	t.Run("lock", func(t *testing.T) {
		l := lock.NewRedisStore(cc, lock.RedisOptions{KeyPrefix: prefix + "lock:", Timeout: storeTimeout})
		var inside, overlaps, count atomic.Int32
		var wg sync.WaitGroup
		for range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range 5 {
					// Two names on different slots, asked in opposite orders.
					names := []string{"orders", "stock"}
					if count.Load()%2 == 1 {
						names = []string{"stock", "orders"}
					}
					lease, err := lock.Acquire(ctx, l, names, lock.Options{Timeout: 20 * time.Second, Interval: 5 * time.Millisecond})
					if err != nil {
						t.Errorf("Acquire: %v", err)
						return
					}
					if inside.Add(1) > 1 {
						overlaps.Add(1)
					}
					time.Sleep(time.Millisecond)
					count.Add(1)
					inside.Add(-1)
					if err := lease.Release(ctx); err != nil {
						t.Errorf("Release: %v", err)
					}
				}
			}()
		}
		wg.Wait()
		if overlaps.Load() != 0 || count.Load() != 40 {
			t.Errorf("locked sections: %d overlaps, %d done; want 0 and 40", overlaps.Load(), count.Load())
		}
	})

	t.Run("server", func(t *testing.T) {
		url := "redis-cluster://" + strings.Join(addrs, ",")
		a, b := startServer(t, url), startServer(t, url)
		if r := do(t, "GET", a.URL+"/healthz", nil); r.Status != 200 {
			t.Fatalf("GET /healthz on the cluster = %d %s, want 200", r.Status, r.Body)
		}
		for range 5 { // several products, on several slots
			id := uniqueID()
			if got := xcache(t, a, id); got != "MISS" {
				t.Fatalf("A: X-Cache %q, want MISS", got)
			}
			if got := xcache(t, b, id); got != "L2" {
				t.Fatalf("B: X-Cache %q, want L2", got)
			}
		}
	})
}
