package client_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/alovago/alova/cache"
	"github.com/alovago/alova/client"
	"github.com/alovago/alova/internal/testredis"
)

// backend is one Redis the cache tests run on.
type backend struct {
	rdb redis.UniversalClient
	mr  *miniredis.Miniredis // nil on real Redis
}

// eachRedis runs body on miniredis and on the real Redis of REDIS_URL (that
// subtest skips when REDIS_URL is unset).
func eachRedis(t *testing.T, body func(t *testing.T, b backend)) {
	t.Helper()
	t.Run("miniredis", func(t *testing.T) {
		mr, rdb := testredis.Mini(t)
		body(t, backend{rdb: rdb, mr: mr})
	})
	t.Run("redis", func(t *testing.T) {
		rdb := testredis.Real(t)
		body(t, backend{rdb: rdb})
	})
}

// tiers returns L1+L2 tiers on b under prefix, without jitter, closed when
// the test ends. Without a peer, invalidation is off, so L1 is never purged
// behind the test's back.
func tiers(t *testing.T, b backend, prefix string, invalidation bool) *cache.Tiered {
	t.Helper()
	tr := cache.NewTiered(cache.NewMemoryStore(cache.MemoryOptions{MaxEntries: 1000}), cache.NewRedisStore(b.rdb, cache.RedisOptions{KeyPrefix: prefix}), cache.TieredOptions{
		NoJitter: true, NoInvalidation: !invalidation,
	})
	t.Cleanup(func() { _ = tr.Close() })
	return tr
}

// peers returns two tiers on one Redis and prefix that invalidate each
// other's L1, once both subscribers are surely listening (each has applied a
// message from the other, so the purge that follows subscribing is past).
func peers(t *testing.T, b backend) (*cache.Tiered, *cache.Tiered) {
	t.Helper()
	prefix := testredis.Prefix(t, b.rdb)
	a, c := tiers(t, b, prefix, true), tiers(t, b, prefix, true)
	ctx := testCtx(t)
	for _, p := range [][2]*cache.Tiered{{a, c}, {c, a}} {
		from, to := p[0], p[1]
		eventually(t, "the invalidation subscriber", func() bool {
			_ = from.Delete(ctx, "probe")
			time.Sleep(time.Millisecond)
			return to.Stats().Invalidations > 0
		})
	}
	return a, c
}

// settle waits until to has applied every invalidation from sent so far:
// messages arrive in the order Redis got them, so once a barrier published
// after them is applied, they are too.
func settle(t *testing.T, from, to *cache.Tiered) {
	t.Helper()
	ctx := testCtx(t)
	if err := to.Set(ctx, "barrier", cache.Entry{Value: cache.StringValue("b"), TTL: time.Hour}, cache.ModeL1); err != nil {
		t.Fatal(err)
	}
	if err := from.Delete(ctx, "barrier"); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the barrier invalidation", func() bool {
		_, _, err := to.Get(ctx, "barrier", cache.ModeL1)
		return errors.Is(err, cache.ErrMiss)
	})
}

// counting is a downstream answering "v<n>" where n counts the calls with
// that HTTP method and path, with the status a test asks for.
type counting struct {
	*downstream
	mu     sync.Mutex
	n      map[string]int
	status atomic.Int64
}

func newCounting(t *testing.T) *counting {
	t.Helper()
	c := &counting{n: map[string]int{}}
	c.downstream = newDownstream(t, func(w http.ResponseWriter, r *http.Request) {
		c.mu.Lock()
		c.n[r.Method+" "+r.URL.Path]++
		n := c.n[r.Method+" "+r.URL.Path]
		c.mu.Unlock()
		w.Header().Set("X-N", strconv.Itoa(n))
		w.Header().Set("Set-Cookie", "session=secret")
		if ma := r.URL.Query().Get("max-age"); ma != "" {
			w.Header().Set("Cache-Control", "max-age="+ma)
		}
		if s := c.status.Load(); s != 0 {
			w.WriteHeader(int(s))
		}
		fmt.Fprintf(w, "v%d", n)
	})
	return c
}

// calls returns the number of calls to path with verb, e.g. calls("GET /x").
func (c *counting) calls(verbPath string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n[verbPath]
}

// send sends m and checks the body and source.
func send(t *testing.T, m *client.Method, wantBody string, wantSource cache.Tier) *client.Response {
	t.Helper()
	resp, err := m.Send(testCtx(t))
	if err != nil {
		t.Fatalf("Send(%s %s): %v", m.Verb(), m.URL(), err)
	}
	if resp.String() != wantBody || resp.Source() != wantSource {
		t.Fatalf("Send(%s %s) = %q from %v, want %q from %v", m.Verb(), m.URL(), resp.Bytes(), resp.Source(), wantBody, wantSource)
	}
	return resp
}

func TestCacheDefaultPolicy(t *testing.T) {
	eachRedis(t, func(t *testing.T, b backend) {
		d := newCounting(t)
		prefix := testredis.Prefix(t, b.rdb)
		api := client.New(client.Options{BaseURL: d.URL, Cache: tiers(t, b, prefix, false)})
		send(t, api.Get("/p"), "v1", cache.TierOrigin)
		send(t, api.Get("/p"), "v1", cache.TierL1)
		// A second process on the same Redis finds it in L2, then in its L1.
		other := client.New(client.Options{BaseURL: d.URL, Cache: tiers(t, b, prefix, false)})
		send(t, other.Get("/p"), "v1", cache.TierL2)
		send(t, other.Get("/p"), "v1", cache.TierL1)
		// Other methods are not cached by default.
		send(t, api.Post("/p", nil), "v1", cache.TierOrigin)
		send(t, api.Post("/p", nil), "v2", cache.TierOrigin)
		send(t, api.Head("/h"), "", cache.TierOrigin)
		send(t, api.Head("/h"), "", cache.TierOrigin)
		if got := d.calls("HEAD /h"); got != 2 {
			t.Errorf("HEAD calls = %d, want 2 (not cached)", got)
		}
		// The TTL in Redis is the default 5 minutes.
		key := prefix + api.Get("/p").Key()
		if ttl := b.rdb.PTTL(testCtx(t), key).Val(); ttl <= 4*time.Minute || ttl > 5*time.Minute {
			t.Errorf("L2 TTL = %v, want about 5m", ttl)
		}
	})
}

func TestCachePolicies(t *testing.T) {
	eachRedis(t, func(t *testing.T, b backend) {
		type want struct {
			second cache.Tier    // source of the second send
			l2TTL  time.Duration // 0: not in L2
		}
		tests := []struct {
			name   string
			opts   client.Options
			method func(c *client.Client) *client.Method
			want   want
		}{
			{"CacheFor", client.Options{}, func(c *client.Client) *client.Method { return c.Get("/a").Cache(client.CacheFor(time.Hour)) },
				want{cache.TierL1, time.Hour}},
			{"CacheFor on POST", client.Options{}, func(c *client.Client) *client.Method {
				return c.Post("/a", map[string]int{"q": 1}).Cache(client.CacheFor(time.Minute))
			}, want{cache.TierL1, time.Minute}},
			{"CacheFor zero", client.Options{}, func(c *client.Client) *client.Method { return c.Get("/a").Cache(client.CacheFor(0)) },
				want{cache.TierOrigin, 0}},
			{"CacheL1", client.Options{}, func(c *client.Client) *client.Method { return c.Get("/a").Cache(client.CacheFor(time.Hour).L1()) },
				want{cache.TierL1, 0}},
			{"CacheUntil", client.Options{}, func(c *client.Client) *client.Method {
				return c.Get("/a").Cache(client.CacheUntil(time.Now().Add(2 * time.Hour)))
			}, want{cache.TierL1, 2 * time.Hour}},
			{"CacheUntil L1", client.Options{}, func(c *client.Client) *client.Method {
				return c.Get("/a").Cache(client.CacheUntil(time.Now().Add(2 * time.Hour)).L1())
			}, want{cache.TierL1, 0}},
			{"CacheUntil past", client.Options{}, func(c *client.Client) *client.Method {
				return c.Get("/a").Cache(client.CacheUntil(time.Now().Add(-time.Second)))
			}, want{cache.TierOrigin, 0}},
			{"CacheFunc", client.Options{}, func(c *client.Client) *client.Method {
				return c.Get("/a").Param("max-age", "90").Cache(client.CacheFunc(func(_ *client.Method, r *client.Response) time.Duration {
					var s int
					_, _ = fmt.Sscanf(r.Header("Cache-Control"), "max-age=%d", &s)
					return time.Duration(s) * time.Second
				}))
			}, want{cache.TierL1, 90 * time.Second}},
			{"CacheFunc zero", client.Options{}, func(c *client.Client) *client.Method {
				return c.Get("/a").Cache(client.CacheFunc(func(*client.Method, *client.Response) time.Duration { return 0 }))
			}, want{cache.TierOrigin, 0}},
			{"NoCache", client.Options{}, func(c *client.Client) *client.Method { return c.Get("/a").Cache(client.NoCache) },
				want{cache.TierOrigin, 0}},
			{"DefaultCache NoCache", client.Options{DefaultCache: map[string]client.Policy{}}, func(c *client.Client) *client.Method { return c.Get("/a") },
				want{cache.TierOrigin, 0}},
			{"DefaultCache L1", client.Options{DefaultCache: map[string]client.Policy{http.MethodGet: client.CacheFor(time.Minute).L1()}}, func(c *client.Client) *client.Method { return c.Get("/a") },
				want{cache.TierL1, 0}},
			{"DefaultCache does not apply to POST", client.Options{DefaultCache: map[string]client.Policy{http.MethodGet: client.CacheFor(time.Minute)}}, func(c *client.Client) *client.Method {
				return c.Post("/a", nil)
			}, want{cache.TierOrigin, 0}},
			{"reader body never cached", client.Options{}, func(c *client.Client) *client.Method {
				return c.Request(http.MethodGet, "/a").Body(strings.NewReader("")).Cache(client.CacheFor(time.Hour))
			}, want{cache.TierOrigin, 0}},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				d := newCounting(t)
				prefix := testredis.Prefix(t, b.rdb)
				tc.opts.BaseURL = d.URL
				tc.opts.Cache = tiers(t, b, prefix, false)
				api := client.New(tc.opts)
				send(t, tc.method(api), "v1", cache.TierOrigin)
				second := "v1"
				if tc.want.second == cache.TierOrigin {
					second = "v2"
				}
				send(t, tc.method(api), second, tc.want.second)
				key := prefix + tc.method(api).Key()
				inL2 := b.rdb.Exists(testCtx(t), key).Val() == 1
				ttl := b.rdb.PTTL(testCtx(t), key).Val()
				switch {
				case tc.want.l2TTL == 0 && inL2:
					t.Errorf("L2 has the entry (TTL %v), want none", ttl)
				case tc.want.l2TTL > 0 && (!inL2 || ttl <= tc.want.l2TTL-5*time.Second || ttl > tc.want.l2TTL):
					t.Errorf("L2 TTL = %v (present: %v), want about %v", ttl, inL2, tc.want.l2TTL)
				}
			})
		}
	})
}

func TestCacheOnly2xx(t *testing.T) {
	t.Parallel()
	d := newCounting(t)
	tr := cache.NewTiered(cache.NewMemoryStore(cache.MemoryOptions{MaxEntries: 100}), nil, cache.TieredOptions{})
	api := client.New(client.Options{BaseURL: d.URL, Cache: tr})
	d.status.Store(404)
	for i := range 2 {
		if _, err := api.Get("/x").Send(testCtx(t)); err == nil {
			t.Fatalf("send %d: want an HTTPError", i)
		}
	}
	if got := d.calls("GET /x"); got != 2 {
		t.Errorf("calls = %d, want 2: a 404 must not be cached", got)
	}
	// An empty answer is not cached either (alova never caches a falsy one).
	d.status.Store(204)
	send(t, api.Get("/x"), "", cache.TierOrigin)
	send(t, api.Get("/x"), "", cache.TierOrigin)
	if got := d.calls("GET /x"); got != 4 {
		t.Errorf("calls = %d, want 4: an empty 204 must not be cached", got)
	}
}

func TestCacheExpiry(t *testing.T) {
	eachRedis(t, func(t *testing.T, b backend) {
		d := newCounting(t)
		api := client.New(client.Options{BaseURL: d.URL, Cache: tiers(t, b, testredis.Prefix(t, b.rdb), false)})
		m := func() *client.Method { return api.Get("/e").Cache(client.CacheFor(50 * time.Millisecond)) }
		send(t, m(), "v1", cache.TierOrigin)
		send(t, m(), "v1", cache.TierL1)
		if b.mr != nil {
			b.mr.FastForward(time.Second)
		}
		eventually(t, "the entry to expire", func() bool {
			resp, err := m().Send(testCtx(t))
			return err == nil && resp.Source() == cache.TierOrigin
		})
	})
}

func TestCacheForceRefreshesBothTiers(t *testing.T) {
	eachRedis(t, func(t *testing.T, b backend) {
		d := newCounting(t)
		prefix := testredis.Prefix(t, b.rdb)
		api := client.New(client.Options{BaseURL: d.URL, Cache: tiers(t, b, prefix, false)})
		send(t, api.Get("/f"), "v1", cache.TierOrigin)
		send(t, api.Get("/f"), "v1", cache.TierL1)
		send(t, api.Get("/f").Force(true), "v2", cache.TierOrigin)
		send(t, api.Get("/f"), "v2", cache.TierL1) // L1 refreshed
		other := client.New(client.Options{BaseURL: d.URL, Cache: tiers(t, b, prefix, false)})
		send(t, other.Get("/f"), "v2", cache.TierL2) // L2 refreshed (alova #624)
	})
}

func TestCacheKey(t *testing.T) {
	t.Parallel()
	c := client.New(client.Options{BaseURL: "http://api"})
	base := c.Get("/p").Param("a", "1").Param("b", "2").Header("Accept", "x").Header("X-Z", "z").Key()
	if len(base) != 32 {
		t.Errorf("key %q has %d characters, want 32", base, len(base))
	}
	same := []*client.Method{
		c.Get("/p").Param("b", "2").Param("a", "1").Header("X-Z", "z").Header("Accept", "x"),
		client.New(client.Options{BaseURL: "http://api/"}).Get("p?a=1&b=2").Header("accept", "x").Header("x-z", "z"),
		c.Get("/p").Param("a", "1").Param("b", "2").Header("Accept", "x").Header("X-Z", "z").Meta("m", 1).Name("n").Timeout(time.Second),
	}
	for i, m := range same {
		if m.Key() != base {
			t.Errorf("same[%d].Key() = %q, want %q", i, m.Key(), base)
		}
	}
	different := map[string]*client.Method{
		"verb":         c.Head("/p").Param("a", "1").Param("b", "2").Header("Accept", "x").Header("X-Z", "z"),
		"path":         c.Get("/q").Param("a", "1").Param("b", "2").Header("Accept", "x").Header("X-Z", "z"),
		"param":        c.Get("/p").Param("a", "1").Param("b", "3").Header("Accept", "x").Header("X-Z", "z"),
		"header value": c.Get("/p").Param("a", "1").Param("b", "2").Header("Accept", "y").Header("X-Z", "z"),
		"header gone":  c.Get("/p").Param("a", "1").Param("b", "2").Header("Accept", "x"),
		"body":         c.Get("/p").Param("a", "1").Param("b", "2").Header("Accept", "x").Header("X-Z", "z").Body("b"),
		"base":         client.New(client.Options{BaseURL: "http://other"}).Get("/p").Param("a", "1").Param("b", "2").Header("Accept", "x").Header("X-Z", "z"),
	}
	for name, m := range different {
		if m.Key() == base {
			t.Errorf("a method differing by %s has the same key", name)
		}
	}
	if got := c.Get("/p").CacheKey("products:all").Key(); got != "products:all" {
		t.Errorf("CacheKey override: Key() = %q", got)
	}
	if got := c.Get("/p").CacheKey("x").CacheKey("").Key(); got != c.Get("/p").Key() {
		t.Errorf("CacheKey(\"\") does not restore the derived key")
	}
	// Part boundaries cannot be shifted to collide.
	if c.Get("/p").Header("A", "bc").Key() == c.Get("/p").Header("Ab", "c").Key() {
		t.Error("header name/value boundary collision")
	}
}

func TestCacheKeyOverrideSharesEntry(t *testing.T) {
	t.Parallel()
	d := newCounting(t)
	api := client.New(client.Options{BaseURL: d.URL, Cache: cache.NewTiered(cache.NewMemoryStore(cache.MemoryOptions{MaxEntries: 100}), nil, cache.TieredOptions{})})
	send(t, api.Get("/a").CacheKey("catalog"), "v1", cache.TierOrigin)
	send(t, api.Get("/b").CacheKey("catalog"), "v1", cache.TierL1)
	send(t, api.Get("/b"), "v1", cache.TierOrigin) // its own key: /b's first call
	if err := api.Invalidate(testCtx(t), api.Get("/whatever").CacheKey("catalog")); err != nil {
		t.Fatal(err)
	}
	send(t, api.Get("/a").CacheKey("catalog"), "v2", cache.TierOrigin)
}

func TestCacheKeyExcludesForwardedHeaders(t *testing.T) {
	eachRedis(t, func(t *testing.T, b backend) {
		d := newDownstream(t, nil)
		api := client.New(client.Options{BaseURL: d.URL, Cache: tiers(t, b, testredis.Prefix(t, b.rdb), false)})
		var sources []cache.Tier
		for _, id := range []string{"req-1", "req-2", "req-3"} {
			r := incoming(t, testCtx(t))
			r.Header.Set("X-Request-Id", id)
			r = client.Bind(r, api, nil)
			resp, err := client.FromContext(r.Context()).Get("/shared").Send(r.Context())
			if err != nil {
				t.Fatal(err)
			}
			sources = append(sources, resp.Source())
			if e := decodeEcho(t, resp.Bytes()); e.Header["X-Request-Id"][0] != "req-1" {
				t.Errorf("%s got an answer for %q", id, e.Header["X-Request-Id"])
			}
		}
		if want := []cache.Tier{cache.TierOrigin, cache.TierL1, cache.TierL1}; fmt.Sprint(sources) != fmt.Sprint(want) {
			t.Errorf("sources = %v, want %v: forwarded headers must not split the cache", sources, want)
		}
		if got := d.calls.Load(); got != 1 {
			t.Errorf("downstream calls = %d, want 1", got)
		}
	})
}

func TestCacheKeyIncludesBeforeRequestHeaders(t *testing.T) {
	t.Parallel()
	d := newDownstream(t, nil)
	tr := cache.NewTiered(cache.NewMemoryStore(cache.MemoryOptions{MaxEntries: 100}), nil, cache.TieredOptions{})
	api := client.New(client.Options{BaseURL: d.URL, Cache: tr,
		BeforeRequest: func(ctx context.Context, m *client.Method) error {
			if u, ok := ctx.Value(tokenKey{}).(string); ok {
				m.Header("Authorization", "Bearer "+u)
			}
			return nil
		}})
	user := func(u string) context.Context { return context.WithValue(testCtx(t), tokenKey{}, u) }
	for _, step := range []struct {
		user string
		want cache.Tier
	}{{"alice", cache.TierOrigin}, {"bob", cache.TierOrigin}, {"alice", cache.TierL1}, {"bob", cache.TierL1}} {
		resp, err := api.Get("/me").Send(user(step.user))
		if err != nil {
			t.Fatal(err)
		}
		e := decodeEcho(t, resp.Bytes())
		if resp.Source() != step.want || e.Header["Authorization"][0] != "Bearer "+step.user {
			t.Errorf("%s: got %v answer for %q, want %v for %s", step.user, resp.Source(), e.Header["Authorization"], step.want, step.user)
		}
	}
}

func TestCacheCopiesAreTheCallers(t *testing.T) {
	t.Parallel()
	d := newCounting(t)
	tr := cache.NewTiered(cache.NewMemoryStore(cache.MemoryOptions{MaxEntries: 100}), nil, cache.TieredOptions{})
	api := client.New(client.Options{BaseURL: d.URL, Cache: tr})
	miss := send(t, api.Get("/c"), "v1", cache.TierOrigin)
	if miss.Header("Set-Cookie") == "" {
		t.Error("the network answer lost its Set-Cookie")
	}
	miss.Bytes()[0], miss.Headers()["X-N"][0] = 'X', "changed"
	hit := send(t, api.Get("/c"), "v1", cache.TierL1)
	if hit.Header("X-N") != "1" {
		t.Errorf("X-N = %q after the first caller changed its copy", hit.Header("X-N"))
	}
	if hit.Header("Set-Cookie") != "" {
		t.Error("a cached answer replayed Set-Cookie")
	}
	hit.Bytes()[0] = 'z'
	hit.Headers().Set("X-N", "again")
	if again := send(t, api.Get("/c"), "v1", cache.TierL1); again.Header("X-N") != "1" {
		t.Errorf("X-N = %q after a hit's caller changed its copy", again.Header("X-N"))
	}
}

func TestCacheOnErrorFallbackNotCached(t *testing.T) {
	t.Parallel()
	d := newCounting(t)
	d.status.Store(500)
	tr := cache.NewTiered(cache.NewMemoryStore(cache.MemoryOptions{MaxEntries: 100}), nil, cache.TieredOptions{})
	api := client.New(client.Options{BaseURL: d.URL, Cache: tr,
		OnError: func(ctx context.Context, m *client.Method, err error) (*client.Response, error) {
			return client.NewResponse(200, nil, []byte("fallback")), nil
		}})
	send(t, api.Get("/x"), "fallback", cache.TierNone)
	send(t, api.Get("/x"), "fallback", cache.TierNone)
	if got := d.calls("GET /x"); got != 2 {
		t.Errorf("calls = %d, want 2: a fallback must not be cached", got)
	}
}

func TestCacheOnSuccessResultIsCached(t *testing.T) {
	t.Parallel()
	d := newCounting(t)
	tr := cache.NewTiered(cache.NewMemoryStore(cache.MemoryOptions{MaxEntries: 100}), nil, cache.TieredOptions{})
	var ran atomic.Int64
	api := client.New(client.Options{BaseURL: d.URL, Cache: tr,
		OnSuccess: func(ctx context.Context, m *client.Method, r *client.Response) (*client.Response, error) {
			ran.Add(1)
			return client.NewResponse(r.StatusCode(), nil, append([]byte("t:"), r.Bytes()...)), nil
		}})
	send(t, api.Get("/x"), "t:v1", cache.TierOrigin)
	send(t, api.Get("/x"), "t:v1", cache.TierL1)
	if ran.Load() != 1 {
		t.Errorf("OnSuccess ran %d times, want once (not on hits)", ran.Load())
	}
}

func TestCacheBrokenTiers(t *testing.T) {
	t.Parallel()
	mr, rdb := testredis.Mini(t)
	d := newCounting(t)
	tr := cache.NewTiered(nil, cache.NewRedisStore(rdb, cache.RedisOptions{KeyPrefix: "p:", Timeout: 2 * time.Second}), cache.TieredOptions{
		Logger: slog.New(slog.DiscardHandler)})
	// Closed with the test: once its Redis is gone, the hitSource
	// invalidations of other tests (every client's cache by default) queue
	// on it, and its replay goroutine runs until Close.
	t.Cleanup(func() { _ = tr.Close() })
	var cacheErrs atomic.Int64
	api := client.New(client.Options{BaseURL: d.URL, Cache: tr,
		OnCacheError: func(ctx context.Context, err error) { cacheErrs.Add(1) }})

	// A corrupt entry is a miss, reported, and overwritten.
	if err := tr.Set(testCtx(t), api.Get("/x").Key(), cache.Entry{Value: cache.StringValue("garbage"), TTL: time.Hour}, cache.ModeAll); err != nil {
		t.Fatal(err)
	}
	send(t, api.Get("/x"), "v1", cache.TierOrigin)
	if cacheErrs.Load() != 1 {
		t.Errorf("OnCacheError calls = %d, want 1 for the corrupt entry", cacheErrs.Load())
	}
	send(t, api.Get("/x"), "v1", cache.TierL2)

	// Redis gone: sends are still answered, by the origin.
	mr.Close()
	send(t, api.Get("/x"), "v2", cache.TierOrigin)
	// The tiers count (and log) their own failures, as for any other user
	// of the read path.
	if st := tr.Stats(); st.L2Errors == 0 {
		t.Errorf("Stats after a send with Redis down = %+v, want L2Errors > 0", st)
	}
}

func TestSetCacheQueryCache(t *testing.T) {
	eachRedis(t, func(t *testing.T, b backend) {
		d := newCounting(t)
		ctx := testCtx(t)
		api := client.New(client.Options{BaseURL: d.URL, Cache: tiers(t, b, testredis.Prefix(t, b.rdb), false)})
		if _, err := api.QueryCache(ctx, api.Get("/q"), cache.ModeAll); !errors.Is(err, cache.ErrMiss) {
			t.Fatalf("QueryCache before any send: err = %v, want cache.ErrMiss", err)
		}
		put := client.NewResponse(200, map[string][]string{"X-Set": {"by hand"}}, []byte("manual"))
		if err := api.SetCache(ctx, api.Get("/q"), cache.ModeAll, setTo(put)); err != nil {
			t.Fatal(err)
		}
		put.Bytes()[0] = 'X' // the cache kept its own copy
		got, err := api.QueryCache(ctx, api.Get("/q"), cache.ModeAll)
		if err != nil || got.String() != "manual" || got.Header("X-Set") != "by hand" || got.Source() != cache.TierL1 {
			t.Fatalf("QueryCache = %+v, %v", got, err)
		}
		send(t, api.Get("/q"), "manual", cache.TierL1)
		if d.calls("GET /q") != 0 {
			t.Error("a send went downstream despite SetCache")
		}
		if err := api.SetCache(ctx, api.Get("/q").Cache(client.NoCache), cache.ModeAll, setTo(put)); !errors.Is(err, client.ErrNotCacheable) {
			t.Errorf("SetCache(NoCache method) err = %v, want ErrNotCacheable", err)
		}
		bare := client.New(client.Options{BaseURL: d.URL})
		if err := bare.SetCache(ctx, bare.Get("/q"), cache.ModeAll, setTo(put)); !errors.Is(err, client.ErrNotCacheable) {
			t.Errorf("SetCache without cache err = %v, want ErrNotCacheable", err)
		}
		if _, err := bare.QueryCache(ctx, bare.Get("/q"), cache.ModeAll); !errors.Is(err, cache.ErrMiss) {
			t.Errorf("QueryCache without cache err = %v, want cache.ErrMiss", err)
		}
	})
}

func TestInvalidate(t *testing.T) {
	eachRedis(t, func(t *testing.T, b backend) {
		tests := []struct {
			name    string
			targets func(c *client.Client) []client.Target
			dropped []string // paths whose entries must go; the others stay
		}{
			{"by method", func(c *client.Client) []client.Target { return []client.Target{c.Get("/products/1")} },
				[]string{"/products/1"}},
			{"by name", func(c *client.Client) []client.Target { return []client.Target{client.ByName("list")} },
				[]string{"/products"}},
			{"by URL prefix", func(c *client.Client) []client.Target { return []client.Target{client.ByURLPrefix("/products")} },
				[]string{"/products", "/products/1", "/products/2"}},
			{"by URL match", func(c *client.Client) []client.Target {
				return []client.Target{client.ByURLMatch(regexp.MustCompile(`/products/\d+$`))}
			}, []string{"/products/1", "/products/2"}},
			{"several", func(c *client.Client) []client.Target {
				return []client.Target{client.ByName("list"), c.Get("/users")}
			}, []string{"/products", "/users"}},
			{"everything", func(c *client.Client) []client.Target { return nil },
				[]string{"/products", "/products/1", "/products/2", "/users"}},
		}
		paths := []string{"/products", "/products/1", "/products/2", "/users"}
		method := func(c *client.Client, p string) *client.Method {
			m := c.Get(p)
			if p == "/products" {
				m.Name("list")
			}
			return m
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				d := newCounting(t)
				a, other := peers(t, b)
				api := client.New(client.Options{BaseURL: d.URL, Cache: a})
				peer := client.New(client.Options{BaseURL: d.URL, Cache: other})
				for _, p := range paths {
					send(t, method(api, p), "v1", cache.TierOrigin)
				}
				// The writes told the peer to drop its L1 copies: let that
				// land before it makes some.
				settle(t, a, other)
				for _, p := range paths {
					send(t, method(peer, p), "v1", cache.TierL2)
					send(t, method(peer, p), "v1", cache.TierL1)
				}
				if err := api.Invalidate(testCtx(t), tc.targets(api)...); err != nil {
					t.Fatalf("Invalidate: %v", err)
				}
				dropped := map[string]bool{}
				for _, p := range tc.dropped {
					dropped[p] = true
				}
				for _, p := range paths {
					if !dropped[p] {
						send(t, method(api, p), "v1", cache.TierL1)
						send(t, method(peer, p), "v1", cache.TierL1)
						continue
					}
					// The peer's L1 copy is dropped through pub/sub, within moments.
					eventually(t, "the peer's L1 copy of "+p+" to go", func() bool {
						_, err := peer.QueryCache(testCtx(t), method(peer, p), cache.ModeAll)
						return errors.Is(err, cache.ErrMiss)
					})
					send(t, method(api, p), "v2", cache.TierOrigin)
				}
			})
		}
	})
}

func TestInvalidateWithoutCache(t *testing.T) {
	t.Parallel()
	api := client.New(client.Options{})
	if err := api.Invalidate(testCtx(t), api.Get("/x"), client.ByName("n")); err != nil {
		t.Errorf("Invalidate without cache = %v, want nil", err)
	}
}
