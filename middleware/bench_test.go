package middleware_test

import (
	"context"
	"net"
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
// as the metric "overhead-ns/op" (see pairedDelta): a load that drifts
// during the run (a shared CI machine) cancels out. ns/op is suppressed;
// B/op and allocs/op count one iteration: four blocks of 256 requests
// through each router (BenchmarkClient has them per request). Each iteration
// serves 2048 requests: use -benchtime=1000x.
func BenchmarkClientOverhead(b *testing.B) {
	api := client.New(client.Options{BaseURL: "http://products.internal"})
	req := httptest.NewRequest(http.MethodGet, "/products/42", nil)
	req.Header.Set("Accept", "application/json")
	b.ReportMetric(pairedDelta(b, benchRouter(), benchRouter(middleware.Client(api)), req), "overhead-ns/op")
	b.ReportMetric(0, "ns/op")
}

// pairedDelta serves req through a and z in alternating blocks of 256
// requests, in the order a, z, z, a, z, a, a, z, and returns the median over
// iterations of the per-request difference z - a. Each position in the
// iteration goes to both routers alike: with the fixed order a, z the first
// block was measured slower by 33 to 112 ns per request with a and z the
// same router.
func pairedDelta(b *testing.B, a, z http.Handler, req *http.Request) float64 {
	b.Helper()
	w := &discard{h: http.Header{}}
	const block = 256
	serve := func(h http.Handler) time.Duration {
		start := time.Now()
		for range block {
			h.ServeHTTP(w, req)
		}
		return time.Since(start)
	}
	var diffs []float64
	b.ReportAllocs()
	for b.Loop() {
		ta := serve(a)
		tz := serve(z)
		tz += serve(z)
		ta += serve(a)
		tz += serve(z)
		ta += serve(a)
		ta += serve(a)
		tz += serve(z)
		diffs = append(diffs, float64(tz-ta)/(4*block))
	}
	slices.Sort(diffs)
	return diffs[len(diffs)/2]
}

// serverRequest is an incoming request whose context is shaped like the one
// net/http's server gives a handler: two cancellable contexts over the
// connection's local address and the server, so that a lookup of a key that
// is not there walks five parents once chi has added its own.
func serverRequest() *http.Request {
	ctx := context.WithValue(context.Background(), http.ServerContextKey, &http.Server{})
	ctx = context.WithValue(ctx, http.LocalAddrContextKey, &net.TCPAddr{})
	ctx, cancelConn := context.WithCancel(ctx)
	ctx, cancelReq := context.WithCancel(ctx)
	_, _ = cancelConn, cancelReq // the benchmark's requests never end
	req := httptest.NewRequestWithContext(ctx, http.MethodGet, "/products/42", nil)
	req.Header.Set("Accept", "application/json")
	return req
}

// eagerClient is middleware.Client as it was before Bind took a function:
// it looked chi's generated request id up on every request, whether or not
// the handler sent anything.
func eagerClient(c *client.Client) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_ = chimw.GetReqID(r.Context()) // the look-up it made per request
			next.ServeHTTP(w, client.Bind(r, c, chimw.GetReqID))
		})
	}
}

// BenchmarkClientLazyID reports what looking chi's request id up only when a
// send forwards it saves per request, as the metric "saved-ns/op": the eager
// middleware (eagerClient) and middleware.Client serve a request with a
// server-shaped context (see pairedDelta). Without RequestID in front the
// eager lookup walks the whole chain and finds nothing; with it, it finds
// the id one parent up. "same" pits the eager middleware against itself: its
// figure is the benchmark's own bias. ns/op is suppressed; B/op and allocs/op
// count one iteration: four blocks of 256 requests through each router.
func BenchmarkClientLazyID(b *testing.B) {
	api := client.New(client.Options{BaseURL: "http://products.internal"})
	for _, tc := range []struct {
		name string
		mws  []func(http.Handler) http.Handler
		lazy func(*client.Client) func(http.Handler) http.Handler
	}{
		{"no RequestID", nil, middleware.Client},
		{"no RequestID/same", nil, eagerClient},
		{"RequestID", []func(http.Handler) http.Handler{chimw.RequestID}, middleware.Client},
	} {
		b.Run(tc.name, func(b *testing.B) {
			eager := benchRouter(append(slices.Clone(tc.mws), eagerClient(api))...)
			lazy := benchRouter(append(slices.Clone(tc.mws), tc.lazy(api))...)
			b.ReportMetric(-pairedDelta(b, eager, lazy, serverRequest()), "saved-ns/op")
			b.ReportMetric(0, "ns/op")
		})
	}
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
