package client_test

import (
	"context"
	"fmt"
	"os"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alovago/alova/cache"
	"github.com/alovago/alova/client"
	"github.com/alovago/alova/internal/testredis"
	"github.com/redis/go-redis/v9"
)

// countedClient returns a client on b's Redis whose round trips the hook
// counts, with generous timeouts.
func countedClient(t *testing.T, b backend) (*redis.Client, *testredis.RoundTrips) {
	t.Helper()
	var addr string
	var db int
	if b.mr != nil {
		addr = b.mr.Addr()
	} else {
		opt, err := redis.ParseURL(testredis.URL(t))
		if err != nil {
			t.Fatal(err)
		}
		addr, db = opt.Addr, opt.DB
	}
	rdb := redis.NewClient(&redis.Options{Addr: addr, DB: db, MaxRetries: -1, PoolSize: 32,
		ReadTimeout: 30 * time.Second, WriteTimeout: 30 * time.Second})
	t.Cleanup(func() { _ = rdb.Close() })
	h := &testredis.RoundTrips{}
	rdb.AddHook(h)
	return rdb, h
}

// TestHitSourceRoundTrips: a named source's answer drops the dependents of
// the patterns matching its name in two round trips to Redis once the
// patterns are known; a new pattern costs one more, once.
func TestHitSourceRoundTrips(t *testing.T) {
	eachRedis(t, func(t *testing.T, b backend) {
		d := newCounting(t)
		rdb, rt := countedClient(t, b)
		tr := cache.NewTiered(cache.NewMemoryStore(cache.MemoryOptions{MaxEntries: 1000}),
			cache.NewRedisStore(rdb, cache.RedisOptions{KeyPrefix: testredis.Prefix(t, b.rdb), Timeout: 10 * time.Second}),
			cache.TieredOptions{NoJitter: true, NoInvalidation: true})
		t.Cleanup(func() { _ = tr.Close() })
		c := client.New(client.Options{BaseURL: d.URL, Cache: tr, HitSourceScope: "self"})
		ctx := testCtx(t)
		dep := func(path, pattern string) *client.Method {
			return c.Get(path).HitSource(client.ByNameMatch(regexp.MustCompile(pattern)))
		}
		source := func() int64 {
			t.Helper()
			before := rt.N()
			if _, err := c.Delete("/orders/3").Name("order.cancel").Send(ctx); err != nil {
				t.Fatal(err)
			}
			return rt.N() - before
		}
		cached := func(m *client.Method) bool {
			_, err := c.QueryCache(ctx, m, cache.ModeAll)
			return err == nil
		}
		for i, tc := range []struct {
			name     string
			patterns []string // dependents cached before the source answers
			trips    int64
		}{
			{"first answer lists the patterns", []string{`^order\.`, `^user\.`}, 3},
			{"known patterns", []string{`^order\.`, `^user\.`}, 2},
			{"known patterns again", []string{`^order\.`}, 2},
			{"a new pattern", []string{`^order\.`, `cancel$`}, 3},
			{"steady", []string{`^order\.`, `cancel$`, `^user\.`}, 2},
		} {
			var deps []*client.Method
			for j, pat := range tc.patterns {
				m := dep(fmt.Sprintf("/orders/list/%d/%d", i, j), pat)
				if _, err := m.Send(ctx); err != nil {
					t.Fatal(err)
				}
				deps = append(deps, m)
			}
			if n := source(); n > tc.trips {
				t.Errorf("%s: the source's send took %d round trips, want at most %d", tc.name, n, tc.trips)
			}
			for j, m := range deps {
				if want := !regexp.MustCompile(tc.patterns[j]).MatchString("order.cancel"); cached(m) != want {
					t.Errorf("%s: dependent on %q cached = %v, want %v", tc.name, tc.patterns[j], !want, want)
				}
			}
		}
	})
}

// hostOverloaded reports the 1-minute load average and whether it exceeds
// the number of cores: then Redis itself waits for a core, and SLOWLOG's
// wall-clock times say more about the host than about the command. Where
// /proc/loadavg is absent it reports false: the times are judged.
func hostOverloaded() (float64, bool) {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return 0, false
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return 0, false
	}
	load, err := strconv.ParseFloat(f[0], 64)
	return load, err == nil && load > float64(runtime.NumCPU())
}

// trivial reports whether a SLOWLOG entry's command does O(1) work on small
// values: one that only a stalled Redis takes long over.
func trivial(args []any) bool {
	name, _ := args[0].(string)
	switch strings.ToLower(name) {
	case "exists", "zcard", "zscore", "hget", "hkeys", "get", "pttl", "pexpire":
		return true
	case "del", "zrem", "zadd", "set":
		// One key or member; not a tag set (which may be large).
		key, _ := args[1].(string)
		return len(args) <= 4 && !strings.Contains(key, "}:t:")
	}
	return false
}

// TestTagIndexAtScale: with many tagged entries in Redis (100k, 10k under
// -race), no command the library sends while invalidating takes more than
// 10 ms: Redis's SLOWLOG stays empty.
func TestTagIndexAtScale(t *testing.T) {
	n := 100_000
	if raceEnabled {
		n = 10_000
	}
	if testing.Short() {
		t.Skip("-short: skipping the tag index at scale")
	}
	direct := testredis.Real(t)
	rdb, _ := countedClient(t, backend{rdb: direct})
	prefix := testredis.Prefix(t, direct)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	d := newCounting(t)
	tr := cache.NewTiered(nil, cache.NewRedisStore(rdb, cache.RedisOptions{KeyPrefix: prefix, Timeout: 30 * time.Second}),
		cache.TieredOptions{NoJitter: true})
	t.Cleanup(func() { _ = tr.Close() })
	c := client.New(client.Options{BaseURL: d.URL, Cache: tr, HitSourceScope: "self"})

	// Each entry: a URL tag, a name tag and a hitSource name tag shared by
	// all, and a hitSource pattern tag for one in four.
	pattern := regexp.MustCompile(`^product\.`)
	method := func(i int) *client.Method {
		m := c.Get("/products/" + strconv.Itoa(i)).Name("product").HitSource(client.ByName("stock"))
		if i%4 == 0 {
			m.HitSource(client.ByNameMatch(pattern))
		}
		return m
	}
	start := time.Now()
	var wg sync.WaitGroup
	var failed atomic.Int64
	const workers = 16
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < n; i += workers {
				err := c.SetCache(ctx, method(i), cache.ModeL2, func(*client.Response) *client.Response {
					return client.NewResponse(200, nil, []byte("p"+strconv.Itoa(i)))
				})
				if err != nil && failed.Add(1) == 1 {
					t.Errorf("SetCache(%d): %v", i, err)
				}
			}
		}()
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	t.Logf("%d entries written in %v", n, time.Since(start).Round(time.Millisecond))

	// SLOWLOG keeps the commands over 1 ms, so that the test can say how
	// long the slowest took; it fails on those over 10 ms.
	cfg := direct.ConfigGet(ctx, "slowlog-*").Val()
	t.Cleanup(func() {
		for k, v := range cfg {
			direct.ConfigSet(context.Background(), k, v)
		}
	})
	for k, v := range map[string]string{"slowlog-log-slower-than": "1000", "slowlog-max-len": "100000"} {
		if err := direct.ConfigSet(ctx, k, v).Err(); err != nil {
			t.Fatal(err)
		}
	}
	direct.SlowLogReset(ctx)
	// slow fails with the library's commands (they name the prefix) that
	// SLOWLOG holds with a time over 10 ms, and empties it. SLOWLOG times
	// are wall-clock: on a host that stalls Redis (a busy machine, CPU
	// throttling) a command of O(1) work, which takes microseconds, shows
	// over 1 ms, and a bounded script over 10 ms. When the step shows such
	// a stall, it cannot be judged, and the test says so instead of failing.
	slow := func(step string, took time.Duration) {
		t.Helper()
		logs, err := direct.Do(ctx, "SLOWLOG", "GET", "-1").Slice()
		if err != nil {
			t.Fatal(err)
		}
		var over1, maxUS, stall int64
		var offending []string
		for _, l := range logs {
			e, _ := l.([]any)
			if len(e) < 4 {
				continue
			}
			us, _ := e[2].(int64)
			args, _ := e[3].([]any)
			line := fmt.Sprint(args)
			if len(args) == 0 || !strings.Contains(line, prefix) {
				continue
			}
			over1++
			maxUS = max(maxUS, us)
			if trivial(args) {
				stall = max(stall, us)
			}
			if us > 10_000 {
				offending = append(offending, fmt.Sprintf("%d µs: %.200s", us, line))
			}
		}
		t.Logf("%s: %v; %d commands over 1 ms, the slowest %d µs", step, took.Round(time.Millisecond), over1, maxUS)
		load, busy := hostOverloaded()
		switch {
		case len(offending) == 0:
		case stall > 0:
			t.Logf("%s: the host stalled Redis (a command of O(1) work took %d µs); not judged: %q", step, stall, offending)
		case busy:
			t.Logf("%s: the host is overloaded (load average %.1f on %d cores), so Redis waits for a core; not judged: %q",
				step, load, runtime.NumCPU(), offending)
		default:
			t.Errorf("%s: commands over 10 ms:\n%s", step, strings.Join(offending, "\n"))
		}
		direct.SlowLogReset(ctx)
	}
	cached := func(i int) bool {
		_, err := c.QueryCache(ctx, method(i), cache.ModeL2)
		return err == nil
	}
	step := func(name string, f func() error) {
		t.Helper()
		start := time.Now()
		if err := f(); err != nil {
			t.Errorf("%s: %v", name, err)
		}
		slow(name, time.Since(start))
	}

	step("ByURLPrefix", func() error { return c.Invalidate(ctx, client.ByURLPrefix("/products/1")) })
	if cached(1) || cached(10) || cached(1999) || !cached(2) || !cached(20) {
		t.Errorf("after ByURLPrefix(/products/1): cached 1, 10, 1999, 2, 20 = %v %v %v %v %v; want false false false true true",
			cached(1), cached(10), cached(1999), cached(2), cached(20))
	}
	step("ByURLMatch", func() error { return c.Invalidate(ctx, client.ByURLMatch(regexp.MustCompile(`/products/\d*7$`))) })
	if cached(27) || cached(n-3) || !cached(28) {
		t.Errorf("after ByURLMatch(7$): cached 27, %d, 28 = %v %v %v; want false false true", n-3, cached(27), cached(n-3), cached(28))
	}
	step("named source", func() error {
		_, err := c.Post("/products/restock", nil).Name("product.restock").Send(ctx)
		return err
	})
	if cached(4) || cached(8) || !cached(5) {
		t.Errorf("after the named source: cached 4, 8, 5 = %v %v %v; want false false true", cached(4), cached(8), cached(5))
	}
	var known []string
	step("KnownTags", func() (err error) {
		known, err = tr.KnownTags(ctx, "")
		return err
	})
	if len(known) < n/2 {
		t.Errorf("KnownTags = %d tags, want over %d", len(known), n/2)
	}
	step("ByName", func() error { return c.Invalidate(ctx, client.ByName("product")) })
	if cached(5) {
		t.Errorf("after ByName(product): entry 5 still cached")
	}
	for i := range 100 {
		_ = c.SetCache(ctx, method(i), cache.ModeL2, func(*client.Response) *client.Response {
			return client.NewResponse(200, nil, []byte("again"))
		})
	}
	step("InvalidateAll", func() error {
		if err := client.InvalidateAll(ctx); err != nil {
			t.Logf("InvalidateAll: %v (caches of other tests may be gone)", err)
		}
		return nil
	})
	if cached(5) || cached(99) {
		t.Errorf("after InvalidateAll: entries still cached")
	}
	if left := len(direct.Keys(ctx, prefix+"*").Val()); left > 3*16 {
		keys := direct.Keys(ctx, prefix+"*").Val()
		slices.Sort(keys)
		t.Errorf("%d keys left after InvalidateAll, e.g. %q", left, keys[:min(5, len(keys))])
	}
}
