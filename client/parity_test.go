package client_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/alovago/alova/cache"
	"github.com/alovago/alova/client"
	"github.com/alovago/alova/internal/testredis"
)

// setTo is a SetCache update that stores r whatever is cached.
func setTo(r *client.Response) func(*client.Response) *client.Response {
	return func(*client.Response) *client.Response { return r }
}

// recLocal is an L1 that records the TTL of every Set.
type recLocal struct {
	*cache.MemoryStore
	mu   sync.Mutex
	ttls map[string]time.Duration
}

func newRecLocal() *recLocal {
	return &recLocal{MemoryStore: cache.NewMemoryStore(cache.MemoryOptions{}), ttls: map[string]time.Duration{}}
}

func (r *recLocal) Set(key string, it cache.Item, ttl time.Duration) {
	r.mu.Lock()
	r.ttls[key] = ttl
	r.mu.Unlock()
	r.MemoryStore.Set(key, it, ttl)
}

func (r *recLocal) ttl(key string) time.Duration {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.ttls[key]
}

// An L1 and an L2 on b under prefix, without jitter or invalidation.
func recTiers(t *testing.T, b backend, prefix string) (*cache.Tiered, *recLocal) {
	t.Helper()
	l1 := newRecLocal()
	tr := cache.NewTiered(l1, cache.NewRedisStore(b.rdb, cache.RedisOptions{KeyPrefix: prefix}),
		cache.TieredOptions{NoJitter: true, NoInvalidation: true})
	t.Cleanup(func() { _ = tr.Close() })
	return tr, l1
}

// The default policy is chosen by HTTP method (alova's cacheFor: {GET: …,
// POST: …}), and CacheFunc's expiry function receives the method as sent.
func TestDefaultCacheByVerb(t *testing.T) {
	eachRedis(t, func(t *testing.T, b backend) {
		d := newCounting(t)
		var seen sync.Map
		api := client.New(client.Options{BaseURL: d.URL, Cache: tiers(t, b, testredis.Prefix(t, b.rdb), false),
			DefaultCache: map[string]client.Policy{
				"get": client.CacheFor(time.Minute), // any case
				http.MethodPost: client.CacheFunc(func(m *client.Method, _ *client.Response) time.Duration {
					seen.Store(m.Verb()+" "+m.URL(), true)
					d, _ := m.MetaValue("ttl").(time.Duration)
					return d
				}),
			}})
		send(t, api.Get("/g"), "v1", cache.TierOrigin)
		send(t, api.Get("/g"), "v1", cache.TierL1)
		send(t, api.Post("/p", "x").Meta("ttl", time.Minute), "v1", cache.TierOrigin)
		send(t, api.Post("/p", "x").Meta("ttl", time.Minute), "v1", cache.TierL1)
		send(t, api.Post("/q", "x"), "v1", cache.TierOrigin) // expiry 0: not cached
		send(t, api.Post("/q", "x"), "v2", cache.TierOrigin)
		send(t, api.Delete("/g"), "v1", cache.TierOrigin) // not in the map
		send(t, api.Delete("/g"), "v2", cache.TierOrigin)
		if _, ok := seen.Load("POST " + d.URL + "/p"); !ok {
			t.Error("the expiry function did not receive the method")
		}
		none := client.New(client.Options{BaseURL: d.URL, Cache: tiers(t, b, testredis.Prefix(t, b.rdb), false),
			DefaultCache: map[string]client.Policy{}})
		send(t, none.Get("/n"), "v1", cache.TierOrigin)
		send(t, none.Get("/n"), "v2", cache.TierOrigin)
	})
}

// L1For caps the in-process copy of one method's entries, on a load and on
// an L2 hit, while L2 keeps the whole policy time.
func TestPolicyL1For(t *testing.T) {
	eachRedis(t, func(t *testing.T, b backend) {
		d := newCounting(t)
		prefix := testredis.Prefix(t, b.rdb)
		pol := client.CacheFor(time.Hour).L1For(time.Second)
		tr1, l1a := recTiers(t, b, prefix)
		api := client.New(client.Options{BaseURL: d.URL, Cache: tr1})
		m := api.Get("/x").Cache(pol)
		send(t, m, "v1", cache.TierOrigin)
		if got := l1a.ttl(m.Key()); got <= 0 || got > time.Second {
			t.Errorf("L1 TTL after a load = %v, want (0, 1s]", got)
		}
		if got := b.rdb.PTTL(testCtx(t), prefix+m.Key()).Val(); got < 59*time.Minute {
			t.Errorf("L2 PTTL = %v, want about an hour", got)
		}
		tr2, l1b := recTiers(t, b, prefix)
		other := client.New(client.Options{BaseURL: d.URL, Cache: tr2})
		send(t, other.Get("/x").Cache(pol), "v1", cache.TierL2)
		if got := l1b.ttl(m.Key()); got <= 0 || got > time.Second {
			t.Errorf("L1 TTL after an L2 hit = %v, want (0, 1s]", got)
		}
	})
}

// A version tag makes entries written under another tag (or none) misses,
// which the next load overwrites in every tier.
func TestPolicyVersion(t *testing.T) {
	eachRedis(t, func(t *testing.T, b backend) {
		d := newCounting(t)
		prefix := testredis.Prefix(t, b.rdb)
		old := client.New(client.Options{BaseURL: d.URL, Cache: tiers(t, b, prefix, false)})
		send(t, old.Get("/x"), "v1", cache.TierOrigin)

		v2 := client.New(client.Options{BaseURL: d.URL, Cache: tiers(t, b, prefix, false),
			DefaultCache: map[string]client.Policy{http.MethodGet: client.CacheFor(time.Minute).Version("2")}})
		send(t, v2.Get("/x"), "v2", cache.TierOrigin) // the untagged entry in L2 is a miss
		send(t, v2.Get("/x"), "v2", cache.TierL1)
		got, err := v2.QueryCache(testCtx(t), v2.Get("/x"), cache.ModeL2)
		if err != nil || got.String() != "v2" {
			t.Fatalf("L2 after the v2 load = %v, %v; want v2 (overwritten)", got, err)
		}
		// A process without the tag (an old deploy) misses the tagged entry.
		fresh := client.New(client.Options{BaseURL: d.URL, Cache: tiers(t, b, prefix, false)})
		if _, err := fresh.QueryCache(testCtx(t), fresh.Get("/x"), cache.ModeAll); !errors.Is(err, cache.ErrMiss) {
			t.Errorf("QueryCache of an entry of another version: err = %v, want cache.ErrMiss", err)
		}
		send(t, fresh.Get("/x"), "v3", cache.TierOrigin)
		if n := d.calls("GET /x"); n != 3 {
			t.Errorf("downstream calls = %d, want 3", n)
		}
	})
}

// Options.NoShare turns request sharing off for the methods that do not
// choose.
func TestOptionsNoShare(t *testing.T) {
	release := make(chan struct{})
	var once sync.Once
	t.Cleanup(func() { once.Do(func() { close(release) }) })
	d := newDownstream(t, func(w http.ResponseWriter, r *http.Request) {
		<-release
		_, _ = w.Write([]byte("x"))
	})
	api := client.New(client.Options{BaseURL: d.URL, NoShare: true})
	var wg sync.WaitGroup
	for _, share := range []bool{false, false, true, true} {
		wg.Go(func() {
			m := api.Get("/a")
			if share {
				m = api.Get("/b").Share(true)
			}
			if _, err := m.Send(testCtx(t)); err != nil {
				t.Error(err)
			}
		})
	}
	eventually(t, "three downstream calls in flight", func() bool { return d.calls.Load() == 3 })
	time.Sleep(20 * time.Millisecond) // a fourth call, if shared wrongly, would show now
	once.Do(func() { close(release) })
	wg.Wait()
	if n := d.calls.Load(); n != 3 {
		t.Errorf("downstream calls = %d, want 3 (two unshared, two shared as one)", n)
	}
}

// HitSourceScope: a source invalidates the dependents of every client's
// cache (global), of its own client's cache (self), or none (off).
func TestHitSourceScope(t *testing.T) {
	eachRedis(t, func(t *testing.T, b backend) {
		for _, tc := range []struct {
			name             string
			scope            string
			wantOwn, wantOth bool // dropped?
		}{
			{"global", "global", true, true},
			{"self", "self", true, false},
			{"off", "off", false, false},
		} {
			t.Run(tc.name, func(t *testing.T) {
				d := newCounting(t)
				src := client.New(client.Options{BaseURL: d.URL, HitSourceScope: tc.scope,
					Cache: tiers(t, b, testredis.Prefix(t, b.rdb), false)})
				oth := client.New(client.Options{BaseURL: d.URL, Cache: tiers(t, b, testredis.Prefix(t, b.rdb), false)})
				send(t, src.Get("/own").HitSource(client.ByName("save")), "v1", cache.TierOrigin)
				send(t, oth.Get("/oth").HitSource(client.ByName("save")), "v1", cache.TierOrigin)
				if _, err := src.Post("/save", nil).Name("save").Send(testCtx(t)); err != nil {
					t.Fatal(err)
				}
				for _, c := range []struct {
					c    *client.Client
					path string
					drop bool
				}{{src, "/own", tc.wantOwn}, {oth, "/oth", tc.wantOth}} {
					_, err := c.c.QueryCache(testCtx(t), c.c.Get(c.path), cache.ModeAll)
					if dropped := errors.Is(err, cache.ErrMiss); dropped != c.drop {
						t.Errorf("%s dropped = %v, want %v (err %v)", c.path, dropped, c.drop, err)
					}
				}
			})
		}
	})
}

// InvalidateAll drops every client's entries: L2 entries, and L1 on every
// instance sharing the L2, L1-only entries included.
func TestInvalidateAll(t *testing.T) {
	eachRedis(t, func(t *testing.T, b backend) {
		runtime.GC() // forget the caches of finished tests, whose Redis is gone
		d := newCounting(t)
		a, c := peers(t, b)
		ca := client.New(client.Options{BaseURL: d.URL, Cache: a})
		cc := client.New(client.Options{BaseURL: d.URL, Cache: c})
		other := client.New(client.Options{BaseURL: d.URL, Cache: tiers(t, b, testredis.Prefix(t, b.rdb), false)})
		send(t, ca.Get("/x"), "v1", cache.TierOrigin)
		send(t, cc.Get("/x"), "v1", cache.TierL2) // now in c's L1 too
		send(t, cc.Get("/l1").Cache(client.CacheFor(time.Minute).L1()), "v1", cache.TierOrigin)
		send(t, other.Get("/y"), "v1", cache.TierOrigin)
		if err := client.InvalidateAll(testCtx(t)); err != nil {
			t.Fatal(err)
		}
		settle(t, a, c)
		send(t, cc.Get("/x"), "v2", cache.TierOrigin)
		send(t, cc.Get("/l1").Cache(client.CacheFor(time.Minute).L1()), "v2", cache.TierOrigin)
		send(t, other.Get("/y"), "v2", cache.TierOrigin)
	})
}

// SetCache's update receives the current answer and may cancel; SetCache
// and QueryCache can be limited to one tier.
func TestSetCacheUpdateAndTier(t *testing.T) {
	eachRedis(t, func(t *testing.T, b backend) {
		d := newCounting(t)
		ctx := testCtx(t)
		api := client.New(client.Options{BaseURL: d.URL, Cache: tiers(t, b, testredis.Prefix(t, b.rdb), false)})
		m := api.Get("/u")
		var gotNil bool
		err := api.SetCache(ctx, m, cache.ModeAll, func(cur *client.Response) *client.Response {
			gotNil = cur == nil
			return nil // cancel
		})
		if err != nil || !gotNil {
			t.Fatalf("SetCache on a miss: err %v, update saw nil: %v", err, gotNil)
		}
		if _, err := api.QueryCache(ctx, m, cache.ModeAll); !errors.Is(err, cache.ErrMiss) {
			t.Fatalf("a cancelled SetCache wrote something: %v", err)
		}
		send(t, m, "v1", cache.TierOrigin)
		err = api.SetCache(ctx, m, cache.ModeAll, func(cur *client.Response) *client.Response {
			return cur.WithBody(append(cur.Bytes(), '+'))
		})
		if err != nil {
			t.Fatal(err)
		}
		send(t, m, "v1+", cache.TierL1)

		query := func(mode cache.Mode, want string) {
			t.Helper()
			r, err := api.QueryCache(ctx, m, mode)
			switch {
			case want == "" && !errors.Is(err, cache.ErrMiss):
				t.Errorf("QueryCache(mode %d) = %v, %v; want a miss", mode, r, err)
			case want != "" && (err != nil || r.String() != want):
				t.Errorf("QueryCache(mode %d) = %v, %v; want %q", mode, r, err, want)
			}
		}
		if err := api.SetCache(ctx, m, cache.ModeL1, setTo(client.NewResponse(200, nil, []byte("l1")))); err != nil {
			t.Fatal(err)
		}
		query(cache.ModeL1, "l1")
		query(cache.ModeL2, "v1+")
		if err := api.SetCache(ctx, m, cache.ModeL2, setTo(client.NewResponse(200, nil, []byte("l2")))); err != nil {
			t.Fatal(err)
		}
		query(cache.ModeL1, "")
		query(cache.ModeL2, "l2")
		send(t, m, "l2", cache.TierL2)
	})
}

// A controlled cache answers from the user's function, or goes downstream
// without caching.
func TestCacheControlled(t *testing.T) {
	d := newCounting(t)
	mine := client.NewResponse(200, nil, []byte("mine"))
	pol := client.CacheControlled(func(ctx context.Context, m *client.Method) (*client.Response, error) {
		switch {
		case strings.HasSuffix(m.URL(), "/hit"):
			return mine, nil
		case strings.HasSuffix(m.URL(), "/broken"):
			return nil, errControlled
		}
		return nil, nil
	})
	api := client.New(client.Options{BaseURL: d.URL,
		Cache: cache.NewTiered(cache.NewMemoryStore(cache.MemoryOptions{}), nil, cache.TieredOptions{})})
	r := send(t, api.Get("/hit").Cache(pol), "mine", cache.TierNone)
	r.Bytes()[0] = 'X'
	send(t, api.Get("/hit").Cache(pol), "mine", cache.TierNone)
	send(t, api.Get("/miss").Cache(pol), "v1", cache.TierOrigin)
	send(t, api.Get("/miss").Cache(pol), "v2", cache.TierOrigin)
	if n := d.calls("GET /hit"); n != 0 {
		t.Errorf("downstream calls for /hit = %d, want 0", n)
	}
	ctx := context.Background()
	// alova: a controlled function that throws fails the request.
	if _, err := api.Get("/broken").Cache(pol).Send(ctx); !errors.Is(err, errControlled) {
		t.Errorf("Send of a method whose controlled function fails = %v, want its error", err)
	}
	if n := d.calls("GET /broken"); n != 0 {
		t.Errorf("downstream calls for /broken = %d, want 0", n)
	}
	// alova: queryCache on a controlled method answers what the function
	// answers.
	if got, err := api.QueryCache(ctx, api.Get("/hit").Cache(pol), cache.ModeAll); err != nil || got.String() != "mine" {
		t.Errorf("QueryCache of a controlled method = %v, %v; want the function's answer", got, err)
	}
	if _, err := api.QueryCache(ctx, api.Get("/miss").Cache(pol), cache.ModeAll); !errors.Is(err, cache.ErrMiss) {
		t.Errorf("QueryCache of a controlled method without an answer = %v, want cache.ErrMiss", err)
	}
	// alova: invalidateCache leaves controlled methods alone. An entry
	// written under the same key by an uncontrolled send survives it.
	send(t, api.Get("/hit"), "v1", cache.TierOrigin)
	if err := api.Invalidate(ctx, api.Get("/hit").Cache(pol)); err != nil {
		t.Fatal(err)
	}
	send(t, api.Get("/hit"), "v1", cache.TierL1)
}

var errControlled = errors.New("controlled store down")

// A transform runs once per downstream answer; its result is what is cached
// and shared, under a key of its own.
func TestTransform(t *testing.T) {
	eachRedis(t, func(t *testing.T, b backend) {
		d := newCounting(t)
		api := client.New(client.Options{BaseURL: d.URL, Cache: tiers(t, b, testredis.Prefix(t, b.rdb), false)})
		var runs sync.Map
		upper := func(ctx context.Context, resp *client.Response) (*client.Response, error) {
			n, _ := runs.LoadOrStore("n", new(int))
			*n.(*int)++
			extra, err := api.Get("/extra").Cache(client.NoCache).Send(ctx)
			if err != nil {
				return nil, err
			}
			return resp.WithBody(bytes.ToUpper(append(append(resp.Bytes(), '+'), extra.Bytes()...))), nil
		}
		send(t, api.Get("/t").Transform(upper), "V1+V1", cache.TierOrigin)
		send(t, api.Get("/t").Transform(upper), "V1+V1", cache.TierL1)
		if r, err := api.QueryCache(testCtx(t), api.Get("/t").Transform(upper), cache.ModeL2); err != nil || r.String() != "V1+V1" {
			t.Errorf("L2 holds %v, %v; want the transformed answer", r, err)
		}
		send(t, api.Get("/t"), "v2", cache.TierOrigin) // the plain request has its own entry
		if n, _ := runs.Load("n"); *n.(*int) != 1 {
			t.Errorf("transform runs = %d, want 1", *n.(*int))
		}
		boom := errors.New("boom")
		_, err := api.Get("/f").Transform(func(context.Context, *client.Response) (*client.Response, error) { return nil, boom }).Send(testCtx(t))
		if !errors.Is(err, boom) {
			t.Fatalf("err = %v, want the transform's", err)
		}
		send(t, api.Get("/f").Transform(func(_ context.Context, r *client.Response) (*client.Response, error) { return nil, nil }), "v2", cache.TierOrigin)
	})
}

// BeforeRequest may change the URL and the base URL; the cache key follows
// the URL the send went to.
func TestBeforeRequestChangesURL(t *testing.T) {
	eachRedis(t, func(t *testing.T, b backend) {
		d1, d2 := newCounting(t), newCounting(t)
		api := client.New(client.Options{BaseURL: d1.URL, Cache: tiers(t, b, testredis.Prefix(t, b.rdb), false),
			BeforeRequest: func(ctx context.Context, m *client.Method) error {
				if m.MetaValue("v2") != nil {
					path := strings.TrimPrefix(m.URL(), d1.URL)
					m.SetBaseURL(d2.URL + "/").SetURL("/v2" + path)
				}
				return nil
			}})
		send(t, api.Get("/x").Meta("v2", true), "v1", cache.TierOrigin)
		if d2.calls("GET /v2/x") != 1 || d1.calls("GET /x") != 0 {
			t.Fatalf("calls: d2 /v2/x %d, d1 /x %d; want the send rerouted", d2.calls("GET /v2/x"), d1.calls("GET /x"))
		}
		send(t, api.Get("/x").Meta("v2", true), "v1", cache.TierL1)
		send(t, api.Get("/x"), "v1", cache.TierOrigin) // another URL, another entry
		r, err := api.QueryCache(testCtx(t), api.Get("/x").Meta("v2", true), cache.ModeL2)
		if err != nil || r.Header("X-N") != "1" {
			t.Errorf("QueryCache of the rerouted method = %v, %v", r, err)
		}
		if err := api.Invalidate(testCtx(t), client.ByURLPrefix(d2.URL+"/v2/")); err != nil {
			t.Fatal(err)
		}
		send(t, api.Get("/x").Meta("v2", true), "v2", cache.TierOrigin)
		if got := api.Get("/p").SetBaseURL("http://other/").SetURL("q").URL(); got != "http://other/q" {
			t.Errorf("URL = %q, want http://other/q", got)
		}
	})
}

// The cache logger records hits with their tier and a key that reveals
// nothing; it is off by default.
func TestCacheLogger(t *testing.T) {
	eachRedis(t, func(t *testing.T, b backend) {
		d := newCounting(t)
		d.status.Store(0)
		var buf syncBuffer
		prefix := testredis.Prefix(t, b.rdb)
		log := slog.New(slog.NewJSONHandler(&buf, nil))
		api := client.New(client.Options{BaseURL: d.URL, Cache: tiers(t, b, prefix, false), CacheLogger: log})
		m := api.Get("/x").Name("products")
		send(t, m, "v1", cache.TierOrigin)
		send(t, m, "v1", cache.TierL1)
		other := client.New(client.Options{BaseURL: d.URL, Cache: tiers(t, b, prefix, false), CacheLogger: log})
		send(t, other.Get("/x"), "v1", cache.TierL2)
		send(t, api.Get("/s").CacheKey("user:42:token:s3cret"), "v1", cache.TierOrigin)
		send(t, api.Get("/s").CacheKey("user:42:token:s3cret"), "v1", cache.TierL1)
		// alova's cacheLogger gets the entry's tag (its Version).
		tagged := api.Get("/t").Cache(client.CacheFor(time.Minute).Version("v7"))
		send(t, tagged, "v1", cache.TierOrigin)
		send(t, tagged, "v1", cache.TierL1)

		var recs []map[string]any
		for line := range strings.Lines(buf.String()) {
			var r map[string]any
			if err := json.Unmarshal([]byte(line), &r); err != nil {
				t.Fatal(err)
			}
			recs = append(recs, r)
		}
		if len(recs) != 4 {
			t.Fatalf("logged %d records, want 4 (the hits):\n%s", len(recs), buf.String())
		}
		want := []map[string]any{
			{"tier": "L1", "method": "GET", "key": m.Key(), "name": "products"},
			{"tier": "L2", "method": "GET", "key": m.Key()},
			2: {},
			{"tier": "L1", "key": tagged.Key(), "version": "v7"},
		}
		for i, w := range want {
			for k, v := range w {
				if recs[i][k] != v {
					t.Errorf("record %d: %s = %v, want %v", i, k, recs[i][k], v)
				}
			}
		}
		if k, _ := recs[2]["key"].(string); !strings.HasPrefix(k, "sha256:") || strings.Contains(buf.String(), "s3cret") {
			t.Errorf("a custom key was logged as %q; want its hash only", k)
		}
		if strings.Contains(buf.String(), d.URL) {
			t.Error("a URL was logged")
		}
	})
}

// alova runs a method's transform on the value its error hook answers: an
// error hook answering [1,2,3] with a doubling transform gives [2,4,6]. A
// transform that fails fails the send.
func TestTransformRunsOnErrorHookAnswer(t *testing.T) {
	d := newCounting(t)
	d.status.Store(500)
	api := client.New(client.Options{BaseURL: d.URL,
		OnError: func(ctx context.Context, m *client.Method, err error) (*client.Response, error) {
			return client.NewResponse(200, nil, []byte("[1,2,3]")), nil
		},
	})
	double := func(_ context.Context, r *client.Response) (*client.Response, error) {
		var xs []int
		if err := json.Unmarshal([]byte(r.String()), &xs); err != nil {
			return nil, err
		}
		for i := range xs {
			xs[i] *= 2
		}
		b, _ := json.Marshal(xs)
		return r.WithBody(b), nil
	}
	resp, err := api.Get("/list").Transform(double).Send(context.Background())
	if err != nil || resp.String() != "[2,4,6]" {
		t.Fatalf("Send = %v, %v; want [2,4,6]: the transform of the error hook's answer", resp, err)
	}
	broken := errors.New("transform failed")
	_, err = api.Get("/list").Transform(func(context.Context, *client.Response) (*client.Response, error) { return nil, broken }).Send(context.Background())
	if !errors.Is(err, broken) {
		t.Fatalf("Send with a failing transform of the error hook's answer = %v, want its error", err)
	}
}

// syncBuffer is a bytes.Buffer safe for concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
