package middleware_test

import (
	"net/http"
	"net/http/httptest"
	"slices"
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

// BenchmarkClientOverhead reports what middleware.Client adds to bare chi
// as the metric "overhead-ns/op": both routers serve alternating blocks of
// requests, and the metric is the median over blocks of the difference, so
// a load that drifts during the run (a shared CI machine) cancels out.
// ns/op is suppressed; B/op and allocs/op count one iteration: a block of 256
// requests through each router (BenchmarkClient has them per request). Each
// iteration serves 512 requests: use -benchtime=2000x.
func BenchmarkClientOverhead(b *testing.B) {
	api := client.New(client.Options{BaseURL: "http://products.internal"})
	bare, with := benchRouter(), benchRouter(middleware.Client(api))
	req := httptest.NewRequest(http.MethodGet, "/products/42", nil)
	req.Header.Set("Accept", "application/json")
	w := &discard{h: http.Header{}}
	const block = 256
	var diffs []float64
	b.ReportAllocs()
	for b.Loop() {
		t0 := time.Now()
		for range block {
			bare.ServeHTTP(w, req)
		}
		t1 := time.Now()
		for range block {
			with.ServeHTTP(w, req)
		}
		t2 := time.Now()
		diffs = append(diffs, float64(t2.Sub(t1)-t1.Sub(t0))/block)
	}
	slices.Sort(diffs)
	b.ReportMetric(diffs[len(diffs)/2], "overhead-ns/op")
	b.ReportMetric(0, "ns/op")
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
