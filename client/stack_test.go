package client_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/alovago/alova/cache"
	"github.com/alovago/alova/client"
)

// newL1Client returns a client with an L1 in front of d, with opts' hooks.
func newL1Client(t *testing.T, d *downstream, opts client.Options) *client.Client {
	t.Helper()
	tiers := cache.NewTiered(cache.NewMemoryStore(cache.MemoryOptions{MaxEntries: 100}), nil, cache.TieredOptions{})
	t.Cleanup(func() { _ = tiers.Close() })
	opts.BaseURL, opts.Cache = d.URL, tiers
	return client.New(opts)
}

// An L1 hit of a method built and sent in one expression, as a handler
// does, allocates nothing: the method stays on the caller's stack. A method
// sent with hooks is copied to the heap once, so a method built once costs
// nothing per send either, and one built per send costs that one copy.
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
		{"built per send", 0, func() (*client.Response, error) {
			return plain.Get("/products/42").Param("lang", "en").Send(ctx)
		}},
		{"built per send, scoped client", 0, func() (*client.Response, error) {
			return scoped.Get("/products/42").Param("lang", "en").Send(ctx)
		}},
		{"built once, with a hook", 0, func() (*client.Response, error) { return prebuilt.Send(ctx) }},
		{"built per send, with a hook", 1, func() (*client.Response, error) {
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

// A method sent with hooks is handed to them as a copy made once; every
// setter drops it, so the next send's hooks and the send itself see the
// change.
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

// Sends of one method at once, with hooks, share or race to make its copy;
// every one gets the answer (run with -race).
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
