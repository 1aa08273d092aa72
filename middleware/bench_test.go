package middleware_test

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"
	chimw "github.com/go-chi/chi/v5/middleware"

	"github.com/alovago/alova/client"
	"github.com/alovago/alova/middleware"
	"github.com/alovago/alova/ratelimit"
)

// discard is a ResponseWriter that keeps nothing, so the benchmarks measure
// the router and the middleware rather than a recorder.
type discard struct{ h http.Header }

func (d *discard) Header() http.Header         { return d.h }
func (d *discard) Write(p []byte) (int, error) { return len(p), nil }
func (d *discard) WriteHeader(int)             {}

// benchRouter serves GET /products/{id} with a handler that never asks for
// the client, behind mws.
func benchRouter(mws ...func(http.Handler) http.Handler) http.Handler {
	r := chi.NewRouter()
	r.Use(mws...)
	r.Get("/products/{id}", func(w http.ResponseWriter, r *http.Request) {
		_ = chi.URLParam(r, "id")
		w.WriteHeader(http.StatusNoContent)
	})
	return r
}

func runRouter(b *testing.B, h http.Handler, reqID bool) {
	b.Helper()
	req := httptest.NewRequest(http.MethodGet, "/products/42", nil)
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "bench")
	if reqID {
		req.Header.Set("X-Request-Id", "incoming-id")
	}
	w := &discard{h: http.Header{}}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		h.ServeHTTP(w, req)
	}
}

// BenchmarkClient compares bare chi with chi plus middleware.Client, with a
// handler that never uses the client: the difference is the middleware's cost.
func BenchmarkClient(b *testing.B) {
	api := client.New(client.Options{BaseURL: "http://products.internal"})
	b.Run("chi", func(b *testing.B) { runRouter(b, benchRouter(), false) })
	b.Run("chi+Client", func(b *testing.B) { runRouter(b, benchRouter(middleware.Client(api)), false) })
	// With chi's RequestID in both routers: a request carrying its own
	// X-Request-Id, then one whose id chi generates (the header is added).
	b.Run("chi+RequestID/incoming-id", func(b *testing.B) { runRouter(b, benchRouter(chimw.RequestID), true) })
	b.Run("chi+RequestID+Client/incoming-id", func(b *testing.B) {
		runRouter(b, benchRouter(chimw.RequestID, middleware.Client(api)), true)
	})
	b.Run("chi+RequestID/generated-id", func(b *testing.B) { runRouter(b, benchRouter(chimw.RequestID), false) })
	b.Run("chi+RequestID+Client/generated-id", func(b *testing.B) {
		runRouter(b, benchRouter(chimw.RequestID, middleware.Client(api)), false)
	})
}

// BenchmarkRateLimit measures the rate-limit middleware on a memory store,
// one key per request's IP (every request allowed).
func BenchmarkRateLimit(b *testing.B) {
	lim := ratelimit.New(ratelimit.NewMemoryStore(), ratelimit.Options{Points: 1 << 30, Duration: time.Hour})
	b.Run("chi", func(b *testing.B) { runRouter(b, benchRouter(), false) })
	b.Run("chi+RateLimit/memory", func(b *testing.B) {
		runRouter(b, benchRouter(middleware.RateLimit(lim, middleware.RateLimitOptions{})), false)
	})
}
