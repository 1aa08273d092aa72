package client_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/alovago/alova/cache"
	"github.com/alovago/alova/client"
)

// benchAnswer is a typical small JSON answer with a few headers.
func benchServer(b *testing.B) *httptest.Server {
	b.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("X-Version", "7")
		_, _ = w.Write([]byte(`{"id":42,"name":"pen","price":1.5,"tags":["office","blue"]}`))
	}))
	b.Cleanup(srv.Close)
	return srv
}

// warmL1 returns a client whose L1 holds GET /products/42.
func warmL1(b *testing.B) *client.Client {
	b.Helper()
	srv := benchServer(b)
	tr := cache.NewTiered(cache.NewMemoryStore(cache.MemoryOptions{MaxEntries: 1000}), nil, cache.TieredOptions{})
	c := client.New(client.Options{BaseURL: srv.URL, Cache: tr})
	if r, err := c.Get("/products/42").Param("lang", "en").Send(context.Background()); err != nil || r.Source() != cache.TierOrigin {
		b.Fatalf("warm-up: %v %v", r, err)
	}
	return c
}

// BenchmarkTieredGetL1 is the cache alone, the baseline for the L1 hit
// benchmarks below.
func BenchmarkTieredGetL1(b *testing.B) {
	c := warmL1(b)
	key := c.Get("/products/42").Param("lang", "en").Key()
	tr := cache.NewTiered(cache.NewMemoryStore(cache.MemoryOptions{MaxEntries: 1000}), nil, cache.TieredOptions{})
	ctx := context.Background()
	_ = tr.Set(ctx, key, cache.Entry{Value: cache.ValueOf(make([]byte, 120)), TTL: 1 << 40}, cache.ModeAll)
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := tr.Get(ctx, key, cache.ModeAll); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSendL1Hit sends a method built once (its URL and key are derived
// on the first send only).
func BenchmarkSendL1Hit(b *testing.B) {
	c := warmL1(b)
	m := c.Get("/products/42").Param("lang", "en")
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		r, err := m.Send(ctx)
		if err != nil || r.Source() != cache.TierL1 {
			b.Fatal(r, err)
		}
	}
}

// BenchmarkSendL1HitBuild builds the method on every send, as a handler does:
// URL join, param encoding and key hashing included.
func BenchmarkSendL1HitBuild(b *testing.B) {
	c := warmL1(b)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		r, err := c.Get("/products/42").Param("lang", "en").Send(ctx)
		if err != nil || r.Source() != cache.TierL1 {
			b.Fatal(r, err)
		}
	}
}

// BenchmarkSendL1HitScoped is BenchmarkSendL1HitBuild through a
// request-scoped client, sent with the request's context.
func BenchmarkSendL1HitScoped(b *testing.B) {
	api := warmL1(b)
	r := client.Bind(httptest.NewRequest(http.MethodGet, "/", nil), api, nil)
	ctx := r.Context()
	c := client.FromContext(ctx)
	b.ReportAllocs()
	for b.Loop() {
		resp, err := c.Get("/products/42").Param("lang", "en").Send(ctx)
		if err != nil || resp.Source() != cache.TierL1 {
			b.Fatal(resp, err)
		}
	}
}

// BenchmarkSendMiss goes downstream to a loopback httptest server every time.
func BenchmarkSendMiss(b *testing.B) {
	for _, bc := range []struct {
		name  string
		share bool
	}{{"unshared", false}, {"shared", true}} {
		b.Run(bc.name, func(b *testing.B) {
			srv := benchServer(b)
			c := client.New(client.Options{BaseURL: srv.URL, DefaultCache: map[string]client.Policy{}})
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				r, err := c.Get("/products/42").Share(bc.share).Send(ctx)
				if err != nil || r.StatusCode() != 200 {
					b.Fatal(r, err)
				}
			}
		})
	}
}

// BenchmarkSendMissCached is a miss that is then written to L1.
func BenchmarkSendMissCached(b *testing.B) {
	srv := benchServer(b)
	c := client.New(client.Options{BaseURL: srv.URL, Cache: cache.NewTiered(cache.NewMemoryStore(cache.MemoryOptions{MaxEntries: 1000}), nil, cache.TieredOptions{})})
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		r, err := c.Get("/products/42").Force(true).Send(ctx)
		if err != nil || r.Source() != cache.TierOrigin {
			b.Fatal(r, err)
		}
	}
}

// BenchmarkBind measures a middleware's cost per request: Bind puts the
// scoped client into the request in 2 allocations.
func BenchmarkBind(b *testing.B) {
	api := client.New(client.Options{})
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	b.Run("scope", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_ = client.Bind(r, api, nil)
		}
	})
}

func BenchmarkFromContext(b *testing.B) {
	ctx := client.Bind(httptest.NewRequest(http.MethodGet, "/", nil), client.New(client.Options{}), nil).Context()
	b.ReportAllocs()
	for b.Loop() {
		_ = client.FromContext(ctx)
	}
}
