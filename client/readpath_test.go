package client_test

import (
	"errors"
	"go/build"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/alovago/alova/cache"
	"github.com/alovago/alova/client"
	"github.com/alovago/alova/internal/testredis"
)

// Every cacheable send goes through the tiers' one read path, so the tiers'
// own counters see the client's misses and loads.
func TestReadPathStats(t *testing.T) {
	eachRedis(t, func(t *testing.T, b backend) {
		d := newCounting(t)
		tr := tiers(t, b, testredis.Prefix(t, b.rdb), false)
		api := client.New(client.Options{BaseURL: d.URL, Cache: tr})
		send(t, api.Get("/s"), "v1", cache.TierOrigin)
		send(t, api.Get("/s"), "v1", cache.TierL1)
		send(t, api.Get("/t"), "v1", cache.TierOrigin)
		st := tr.Stats()
		if st.Loads != 2 || st.L1Hits != 1 || st.L1Misses != 2 || st.L2Misses != 2 {
			t.Errorf("Stats = %+v, want Loads 2, L1Hits 1, L1Misses 2, L2Misses 2", st)
		}
	})
}

// A policy may cache chosen error answers for a while (negative caching):
// three sends answered 404 make one downstream call, and the tiers count the
// two negative hits.
func TestNegativeCachingThroughClient(t *testing.T) {
	eachRedis(t, func(t *testing.T, b backend) {
		d := newCounting(t)
		d.status.Store(http.StatusNotFound)
		tr := tiers(t, b, testredis.Prefix(t, b.rdb), false)
		api := client.New(client.Options{BaseURL: d.URL, Cache: tr,
			DefaultCache: map[string]client.Policy{http.MethodGet: client.CacheFor(time.Minute).Errors(30*time.Second, http.StatusNotFound)}})
		var first *client.HTTPError
		for i := range 3 {
			_, err := api.Get("/missing").Send(testCtx(t))
			var he *client.HTTPError
			if !errors.As(err, &he) || he.StatusCode != http.StatusNotFound {
				t.Fatalf("send %d: err = %v, want a 404 HTTPError", i, err)
			}
			if first == nil {
				first = he
			} else if he == first {
				t.Fatalf("send %d got the same *HTTPError as the first send: callers must get their own", i)
			}
			he.Body = append(he.Body[:0], "changed by a caller"...)
		}
		if got := d.calls("GET /missing"); got != 1 {
			t.Errorf("downstream calls = %d, want 1 (the 404 is cached)", got)
		}
		if st := tr.Stats(); st.NegativeHits != 2 || st.Loads != 1 {
			t.Errorf("Stats = %+v, want NegativeHits 2, Loads 1", st)
		}
		_, err := api.Get("/missing").Send(testCtx(t))
		var he *client.HTTPError
		if !errors.As(err, &he) || string(he.Body) != "v1" {
			t.Errorf("cached 404 body = %q, want %q: a caller changed what others get", he.Body, "v1")
		}
		// Other statuses are not cached.
		d.status.Store(http.StatusBadGateway)
		for range 2 {
			_, _ = api.Get("/bad").Send(testCtx(t))
		}
		if got := d.calls("GET /bad"); got != 2 {
			t.Errorf("502 calls = %d, want 2 (only 404 is cached)", got)
		}
	})
}

// Concurrent misses through the client make one downstream call, as the
// tiers' stampede protection promises, and the tiers count the waiters.
func TestReadPathStampede(t *testing.T) {
	release := make(chan struct{})
	var once sync.Once
	t.Cleanup(func() { once.Do(func() { close(release) }) })
	var mu sync.Mutex
	calls := 0
	d := newDownstream(t, func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		calls++
		mu.Unlock()
		<-release
		_, _ = w.Write([]byte("hot"))
	})
	tr := cache.NewTiered(cache.NewMemoryStore(cache.MemoryOptions{}), nil, cache.TieredOptions{})
	api := client.New(client.Options{BaseURL: d.URL, Cache: tr})
	const n = 1000
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for range n {
		wg.Go(func() {
			resp, err := api.Get("/hot").Send(testCtx(t))
			if err == nil && resp.String() != "hot" {
				err = errors.New("body " + resp.String())
			}
			errs <- err
		})
	}
	// Callers that arrive after the load ends are L1 hits: either way, one
	// downstream call.
	eventually(t, "the downstream call", func() bool { mu.Lock(); defer mu.Unlock(); return calls == 1 })
	once.Do(func() { close(release) })
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if st := tr.Stats(); calls != 1 || st.Loads != 1 {
		t.Errorf("downstream calls = %d, Stats = %+v; want 1 call and 1 load", calls, st)
	}
}

// Share(false) on a cacheable method makes each miss its own downstream call.
func TestReadPathNoShare(t *testing.T) {
	release := make(chan struct{})
	var once sync.Once
	t.Cleanup(func() { once.Do(func() { close(release) }) })
	d := newDownstream(t, func(w http.ResponseWriter, r *http.Request) {
		<-release
		_, _ = w.Write([]byte("x"))
	})
	tr := cache.NewTiered(cache.NewMemoryStore(cache.MemoryOptions{}), nil, cache.TieredOptions{})
	api := client.New(client.Options{BaseURL: d.URL, Cache: tr})
	var wg sync.WaitGroup
	for range 3 {
		wg.Go(func() {
			if _, err := api.Get("/own").Share(false).Send(testCtx(t)); err != nil {
				t.Error(err)
			}
		})
	}
	eventually(t, "three downstream calls in flight", func() bool { return d.calls.Load() == 3 })
	once.Do(func() { close(release) })
	wg.Wait()
}

// Invalidating a method clears it from the cache of the client that built
// it (alova's invalidateCache([method])), whichever client is asked.
func TestInvalidateOtherClientsMethod(t *testing.T) {
	d := newCounting(t)
	c1 := client.New(client.Options{BaseURL: d.URL,
		Cache: cache.NewTiered(cache.NewMemoryStore(cache.MemoryOptions{}), nil, cache.TieredOptions{})})
	c2 := client.New(client.Options{BaseURL: d.URL,
		Cache: cache.NewTiered(cache.NewMemoryStore(cache.MemoryOptions{}), nil, cache.TieredOptions{})})
	send(t, c2.Get("/x"), "v1", cache.TierOrigin)
	send(t, c2.Get("/x"), "v1", cache.TierL1)
	if err := c1.Invalidate(testCtx(t), c2.Get("/x")); err != nil {
		t.Fatal(err)
	}
	send(t, c2.Get("/x"), "v2", cache.TierOrigin)
}

// A base URL that already has a query string gets the params after '&', as
// alova joins them.
func TestBaseURLWithQuery(t *testing.T) {
	c := client.New(client.Options{BaseURL: "http://x/api?ctrl=1"})
	for _, tc := range []struct{ got, want string }{
		{c.Get("").Param("aa", "2").URL(), "http://x/api?ctrl=1&aa=2"},
		{c.Get("/p?b=1").Param("aa", "2").URL(), "http://x/api?ctrl=1/p?b=1&aa=2"},
		{client.New(client.Options{BaseURL: "http://x/api"}).Get("/p").Param("aa", "2").URL(), "http://x/api/p?aa=2"},
	} {
		if tc.got != tc.want {
			t.Errorf("URL = %q, want %q", tc.got, tc.want)
		}
	}
}

// Credentials in a downstream URL never reach an error message.
func TestHTTPErrorRedactsPassword(t *testing.T) {
	d := newCounting(t)
	d.status.Store(http.StatusInternalServerError)
	u := strings.Replace(d.URL, "http://", "http://user:s3cret@", 1)
	api := client.New(client.Options{BaseURL: u})
	_, err := api.Get("/x").Send(testCtx(t))
	var he *client.HTTPError
	if !errors.As(err, &he) {
		t.Fatalf("err = %v, want an HTTPError", err)
	}
	if msg := err.Error(); strings.Contains(msg, "s3cret") || !strings.Contains(msg, "user:xxxxx@") {
		t.Errorf("Error() = %q, want the password redacted", msg)
	}
}

// The client knows nothing of chi: forwarding chi's generated request id is
// the middleware's job.
func TestClientDoesNotImportChi(t *testing.T) {
	for _, pkg := range []string{"github.com/alovago/alova/client", "github.com/alovago/alova/cache"} {
		p, err := build.Import(pkg, ".", 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range p.Imports {
			if strings.Contains(imp, "go-chi") {
				t.Errorf("%s imports %s", pkg, imp)
			}
		}
	}
}
