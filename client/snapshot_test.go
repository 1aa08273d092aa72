package client_test

import (
	"context"
	"encoding/json"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alovago/alova/cache"
	"github.com/alovago/alova/client"
	"github.com/alovago/alova/lock"
)

// newL1Client returns a client with an L1 in front of d, with opts' hooks.
func newL1Client(t *testing.T, d *downstream, opts client.Options) *client.Client {
	t.Helper()
	tiers := cache.NewTiered(cache.NewMemoryStore(cache.MemoryOptions{MaxEntries: 100}), nil, cache.TieredOptions{})
	t.Cleanup(func() { _ = tiers.Close() })
	opts.BaseURL, opts.Cache = d.URL, tiers
	return client.New(opts)
}

// An L1 hit costs the method it sends, built per send, and nothing more:
// the send's snapshot stays on its stack. With a hook, the send's copy of
// the method, which the hooks see, costs one allocation more.
func TestCachedSendAllocations(t *testing.T) {
	d := newDownstream(t, nil)
	ctx := context.Background()
	plain := newL1Client(t, d, client.Options{})
	hooked := newL1Client(t, d, client.Options{OnComplete: func(context.Context, *client.Method, *client.Response, error) {}})
	scoped := client.FromContext(client.Bind(httptest.NewRequest(http.MethodGet, "/", nil), plain, nil).Context())
	prebuilt := hooked.Get("/products/42").Param("lang", "en")
	tests := []struct {
		name string
		want float64
		send func() (*client.Response, error)
	}{
		{"built per send", 1, func() (*client.Response, error) {
			return plain.Get("/products/42").Param("lang", "en").Send(ctx)
		}},
		{"built per send, scoped client", 1, func() (*client.Response, error) {
			return scoped.Get("/products/42").Param("lang", "en").Send(ctx)
		}},
		{"built once, with a hook", 1, func() (*client.Response, error) { return prebuilt.Send(ctx) }},
		{"built per send, with a hook", 2, func() (*client.Response, error) {
			return hooked.Get("/products/42").Param("lang", "en").Send(ctx)
		}},
	}
	for _, tc := range tests {
		if _, err := tc.send(); err != nil { // warm the L1
			t.Fatalf("%s: %v", tc.name, err)
		}
		var src cache.Tier
		got := testing.AllocsPerRun(200, func() {
			resp, err := tc.send()
			if err != nil {
				t.Fatalf("%s: %v", tc.name, err)
			}
			src = resp.Source()
		})
		if src != cache.TierL1 {
			t.Errorf("%s: answered from %v, want L1", tc.name, src)
		}
		if got != tc.want {
			t.Errorf("%s: %v allocations per send, want %v", tc.name, got, tc.want)
		}
	}
}

// Every send takes a new snapshot: a setter reaches the next send, its
// hooks and its cache key.
func TestSettersReachTheSendsCopy(t *testing.T) {
	t.Parallel()
	d := newDownstream(t, nil)
	type seen struct {
		url, meta string
		src       cache.Tier
	}
	var mu sync.Mutex
	var last seen
	c := newL1Client(t, d, client.Options{OnComplete: func(_ context.Context, m *client.Method, r *client.Response, err error) {
		mu.Lock()
		defer mu.Unlock()
		last = seen{url: m.URL(), src: cache.TierNone}
		last.meta, _ = m.MetaValue("k").(string)
		if err == nil {
			last.src = r.Source()
		}
	}})
	ctx := testCtx(t)
	m := c.Get("/products/42").Param("lang", "en")
	check := func(step string, want seen) {
		t.Helper()
		if _, err := m.Send(ctx); err != nil {
			t.Fatalf("%s: %v", step, err)
		}
		mu.Lock()
		defer mu.Unlock()
		if last != want {
			t.Errorf("%s: the hook saw %+v, want %+v", step, last, want)
		}
	}
	en, fr := d.URL+"/products/42?lang=en", d.URL+"/products/42?lang=fr"
	check("first send", seen{url: en, src: cache.TierOrigin})
	check("second send", seen{url: en, src: cache.TierL1})
	m.Param("lang", "fr")
	check("after Param", seen{url: fr, src: cache.TierOrigin})
	m.Meta("k", "v")
	check("after Meta", seen{url: fr, meta: "v", src: cache.TierL1})
	m.Force(true)
	check("after Force", seen{url: fr, meta: "v", src: cache.TierOrigin})
	m.Force(false).Cache(client.NoCache)
	check("after Cache(NoCache)", seen{url: fr, meta: "v", src: cache.TierOrigin})
	m.Cache(client.CacheFor(60e9)).Header("X-Tenant", "7")
	check("after Header (a key of its own)", seen{url: fr, meta: "v", src: cache.TierOrigin})
	check("again", seen{url: fr, meta: "v", src: cache.TierL1})
	if n := d.calls.Load(); n != 5 {
		t.Errorf("downstream got %d calls, want 5", n)
	}
}

// Sends of one method at once, with hooks, each take a snapshot; every one
// gets the answer (run with -race).
func TestConcurrentSendsOfOneMethod(t *testing.T) {
	t.Parallel()
	d := newDownstream(t, nil)
	c := newL1Client(t, d, client.Options{OnComplete: func(context.Context, *client.Method, *client.Response, error) {}})
	ctx := testCtx(t)
	for range 20 {
		m := c.Get("/products/42").Param("lang", "en").Param("a", "1").Param("b", "2")
		var wg sync.WaitGroup
		errs := make(chan error, 8)
		for range 8 {
			wg.Go(func() {
				if _, err := m.Send(ctx); err != nil {
					errs <- err
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		if got, want := m.URL(), d.URL+"/products/42?a=1&b=2&lang=en"; got != want {
			t.Fatalf("URL() = %s, want %s", got, want)
		}
	}
}

// A background refresh reads the method of the send that started it, in
// its hooks, while the caller keeps changing the method it holds: the
// refresh works on the send's snapshot, so nothing races (run with -race;
// the shared methodMore of an earlier design died here with "concurrent map
// read and map write").
func TestRefreshWhileTheCallerChangesTheMethod(t *testing.T) {
	d := newDownstream(t, nil)
	var metaSeen atomic.Int64
	c := newL1Client(t, d, client.Options{
		OnSuccess: func(_ context.Context, m *client.Method, r *client.Response) (*client.Response, error) {
			if m.MetaValue("k") != nil {
				metaSeen.Add(1)
			}
			_ = m.Headers()
			_ = m.URL()
			return r, nil
		},
	})
	// Every hit is due for a refresh: each send starts one in the background.
	pol := client.CacheFor(time.Minute).RefreshAhead(time.Hour, 0)
	m := c.Get("/products/1").Cache(pol).Meta("k", 0)
	ctx := testCtx(t)
	done := make(chan struct{})
	go func() { // the caller's other goroutine, changing the method meanwhile
		defer close(done)
		for i := range 3000 {
			m.Meta("k", i).Header("X-Trace", strconv.Itoa(i))
		}
	}()
	for range 300 {
		if _, err := m.Send(ctx); err != nil {
			t.Fatal(err)
		}
	}
	<-done
	eventually(t, "a background refresh", func() bool { return d.calls.Load() > 1 })
	if metaSeen.Load() == 0 {
		t.Error("OnSuccess never saw the method's meta")
	}
}

// One user's answer never reaches another through a refresh. A method sent
// with alice's token, sent again inside the refresh window (which starts a
// background reload), then switched to bob's token: the reload sends
// alice's request, whose key it fills. alice then reads her own profile
// from a method of her own.
func TestRefreshKeepsTheUserOfItsSend(t *testing.T) {
	d := newDownstream(t, func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "profile of "+r.Header.Get("Authorization"))
	})
	c := newL1Client(t, d, client.Options{})
	pol := client.CacheFor(time.Minute).RefreshAhead(time.Hour, 0)
	ctx := testCtx(t)
	for round := range 20 {
		path := "/me/" + strconv.Itoa(round)
		m := c.Get(path).Cache(pol).Header("Authorization", "alice")
		if _, err := m.Send(ctx); err != nil { // a miss: cached under alice's key
			t.Fatal(err)
		}
		before := d.calls.Load()
		if _, err := m.Send(ctx); err != nil { // a hit due for a refresh
			t.Fatal(err)
		}
		m.Header("Authorization", "bob")
		eventually(t, "the background refresh", func() bool { return d.calls.Load() > before })
		resp, err := c.Get(path).Cache(pol).Header("Authorization", "alice").Send(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if got := resp.String(); got != "profile of alice" {
			t.Fatalf("round %d: alice's read answered %q from %v", round, got, resp.Source())
		}
	}
}

// The same method built once and used from many goroutines, with setters
// between sends, hooks that read every part of the method, refresh-ahead
// reloads that outlive their sends, batch loads, and Retry and Atomize
// wrappers: nothing races (run with -race), and every answer belongs to
// the request that asked for it. Each user also sends a method of their
// own, which must always get their own answer, whatever the shared
// methods did to the cache.
func TestManyGoroutinesMisuseOneMethod(t *testing.T) {
	d := newDownstream(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/batch" {
			out := map[string]string{}
			for _, id := range strings.Split(r.URL.Query().Get("ids"), ",") {
				out[id] = "item " + id + " for " + r.Header.Get("Authorization")
			}
			_ = json.NewEncoder(w).Encode(out)
			return
		}
		_, _ = io.WriteString(w, r.Header.Get("Authorization")+" "+r.URL.RequestURI())
	})
	var mismatches atomic.Int64
	var report sync.Once
	check := func(m *client.Method, resp *client.Response, what string) {
		// What the send asked for, as its snapshot says, must be what came
		// back: the echo holds the token and the URI the downstream saw.
		want := m.Headers().Get("Authorization") + " "
		if resp != nil && resp.Source() != cache.TierNone && !strings.HasPrefix(resp.String(), want) &&
			!strings.HasPrefix(resp.String(), "{") {
			mismatches.Add(1)
			report.Do(func() { t.Errorf("%s: a send as %q got %q", what, want, resp.String()) })
		}
		_ = m.URL()
		_ = m.Key()
		_ = m.Verb()
		_ = m.MetaValue("user")
	}
	c := newL1Client(t, d, client.Options{
		BeforeRequest: func(_ context.Context, m *client.Method) error {
			_ = m.Headers()
			_ = m.MetaValue("user")
			return nil
		},
		OnSuccess: func(_ context.Context, m *client.Method, r *client.Response) (*client.Response, error) {
			check(m, r, "OnSuccess")
			return r, nil
		},
		OnComplete: func(_ context.Context, m *client.Method, r *client.Response, err error) {
			if err == nil {
				check(m, r, "OnComplete")
			}
		},
	})
	users := []string{"alice", "bob", "carol", "dave"}
	pol := client.CacheFor(time.Minute).RefreshAhead(time.Hour, 0)
	shared := []*client.Method{
		c.Get("/feed").Cache(pol),
		c.Get("/feed").Cache(pol).Param("page", "1"),
		c.Get("/profile").Cache(client.CacheFor(time.Minute)),
	}
	locks := lock.NewMemoryStore()
	ctx := testCtx(t)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(g), 1))
			for i := range 150 {
				u := users[rng.IntN(len(users))]
				m := shared[rng.IntN(len(shared))]
				switch rng.IntN(6) {
				case 0:
					m.Header("Authorization", u).Meta("user", u)
				case 1:
					m.Param("page", strconv.Itoa(rng.IntN(3)))
				case 2:
					if _, err := client.Retry(client.Atomize(m, locks, lock.Options{}), client.RetryOptions{Attempts: 2, Delay: time.Millisecond}).Send(ctx); err != nil {
						t.Error(err)
					}
				case 3:
					ids := []string{strconv.Itoa(rng.IntN(5)), strconv.Itoa(rng.IntN(5))}
					got, err := c.SendBatch(ctx, ids, client.Batch{
						Key: func(id string) string { return u + ":item:" + id },
						Request: func(c *client.Client, ids []string) *client.Method {
							return c.Get("/batch").Param("ids", strings.Join(ids, ",")).Header("Authorization", u)
						},
						Split: func(r *client.Response) (map[string][]byte, error) {
							var parts map[string]string
							if err := json.Unmarshal([]byte(r.String()), &parts); err != nil {
								return nil, err
							}
							out := map[string][]byte{}
							for id, v := range parts {
								out[id] = []byte(v)
							}
							return out, nil
						},
						Policy: pol,
					})
					if err != nil {
						t.Error(err)
					}
					for id, r := range got {
						if want := "item " + id + " for " + u; r.String() != want {
							mismatches.Add(1)
							t.Errorf("batch as %s: id %s = %q, want %q", u, id, r.String(), want)
						}
					}
				default:
					if _, err := m.Send(ctx); err != nil {
						t.Error(err)
					}
				}
				// A method of this user's own always gets this user's answer.
				path := "/feed"
				if i%2 == 0 {
					path = "/profile"
				}
				resp, err := c.Get(path).Cache(pol).Header("Authorization", u).Send(ctx)
				if err != nil {
					t.Error(err)
					continue
				}
				if want := u + " " + path; resp.String() != want {
					mismatches.Add(1)
					t.Errorf("%s's own send of %s = %q from %v, want %q", u, path, resp.String(), resp.Source(), want)
				}
			}
		})
	}
	wg.Wait()
	if n := mismatches.Load(); n > 0 {
		t.Fatalf("%d answers went to a request that did not ask for them", n)
	}
}

// A server hook keeps a copy of the method it wraps: every attempt of a
// Retry sends the request as it was when wrapped, whatever the caller
// changes meanwhile.
func TestServerHooksKeepACopy(t *testing.T) {
	t.Parallel()
	var calls atomic.Int64
	d := newDownstream(t, func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) == 1 {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		_, _ = io.WriteString(w, r.Header.Get("Authorization"))
	})
	c := client.New(client.Options{BaseURL: d.URL})
	m := c.Get("/me").Header("Authorization", "alice").Cache(client.NoCache)
	s := client.Retry(m, client.RetryOptions{Delay: time.Millisecond, OnRetry: func(client.RetryEvent) {
		m.Header("Authorization", "bob") // between the attempts
	}})
	resp, err := s.Send(testCtx(t))
	if err != nil || resp.String() != "alice" {
		t.Fatalf("Retry's second attempt = %v, %v; want alice's request", resp, err)
	}
}

// CacheFromHeaders caches what the downstream says is fresh, and nothing
// it says nothing about.
func TestCacheFromHeaders(t *testing.T) {
	t.Parallel()
	d := newDownstream(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/fresh":
			w.Header().Set("Cache-Control", "max-age=60")
		case "/stale":
			w.Header().Set("Cache-Control", "max-age=0")
		}
		_, _ = io.WriteString(w, "body")
	})
	c := newL1Client(t, d, client.Options{DefaultCache: map[string]client.Policy{http.MethodGet: client.CacheFromHeaders(time.Hour)}})
	ctx := testCtx(t)
	for _, tc := range []struct {
		path string
		want cache.Tier // of the second send
	}{{"/fresh", cache.TierL1}, {"/stale", cache.TierOrigin}, {"/silent", cache.TierOrigin}} {
		var src cache.Tier
		for range 2 {
			resp, err := c.Get(tc.path).Send(ctx)
			if err != nil {
				t.Fatal(err)
			}
			src = resp.Source()
		}
		if src != tc.want {
			t.Errorf("second send of %s answered from %v, want %v", tc.path, src, tc.want)
		}
	}
}
