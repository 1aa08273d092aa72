package bench

import (
	"context"
	"net/http"
	"net/http/httptest"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"
	chimw "github.com/go-chi/chi/v5/middleware"

	"github.com/alovago/alova/client"
	"github.com/alovago/alova/middleware"
)

// discard is a ResponseWriter that keeps nothing, so that the benchmarks
// measure the router and the middleware, not a recorder.
type discard struct{ h http.Header }

func (d *discard) Header() http.Header         { return d.h }
func (d *discard) Write(p []byte) (int, error) { return len(p), nil }
func (d *discard) WriteHeader(int)             {}

// router serves GET /products/{id} behind mws with a handler that reads the
// URL parameter and answers 204.
func router(mws ...func(http.Handler) http.Handler) http.Handler {
	r := chi.NewRouter()
	r.Use(mws...)
	r.Get("/products/{id}", func(w http.ResponseWriter, r *http.Request) {
		_ = chi.URLParam(r, "id")
		w.WriteHeader(http.StatusNoContent)
	})
	return r
}

// routerImpls are the routers compared: bare chi, chi with alova's
// middleware.Client, chi with the least a context-binding middleware can do;
// and the first two with chi's RequestID in front.
func routerImpls() []struct {
	name string
	h    http.Handler
} {
	api := client.New(client.Options{BaseURL: "http://products.internal"})
	return []struct {
		name string
		h    http.Handler
	}{
		{"chi", router()},
		{"chi+alova", router(middleware.Client(api))},
		// The floor of any middleware that hands a value to the handlers
		// through the request's context: context.WithValue and r.WithContext.
		{"chi+ctxvalue", router(withValue)},
		{"chi+RequestID", router(chimw.RequestID)},
		{"chi+RequestID+alova", router(chimw.RequestID, middleware.Client(api))},
	}
}

type ctxKey struct{}

// withValue puts one value in the request's context, as cheaply as a
// middleware can: one context.WithValue, one r.WithContext.
func withValue(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), ctxKey{}, r)))
	})
}

// productRequest is an incoming request as a server sees it, without an
// X-Request-Id (so that RequestID generates one).
func productRequest() *http.Request {
	req := httptest.NewRequest(http.MethodGet, "/products/42", nil)
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "bench")
	return req
}

// BenchmarkMiddleware serves one request through each router: the difference
// between "X+alova" and "X" is what middleware.Client costs per request.
func BenchmarkMiddleware(b *testing.B) {
	for _, impl := range routerImpls() {
		b.Run(impl.name, func(b *testing.B) {
			req := productRequest()
			w := &discard{h: http.Header{}}
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				impl.h.ServeHTTP(w, req)
			}
		})
	}
}

// BenchmarkMiddlewareParallel is BenchmarkMiddleware from GOMAXPROCS
// goroutines.
func BenchmarkMiddlewareParallel(b *testing.B) {
	for _, impl := range routerImpls() {
		b.Run(impl.name, func(b *testing.B) {
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				req := productRequest()
				w := &discard{h: http.Header{}}
				for pb.Next() {
					impl.h.ServeHTTP(w, req)
				}
			})
		})
	}
}

// routerPair is two routers of routerImpls to compare: on is usually off
// plus one middleware.
type routerPair struct {
	name    string
	off, on http.Handler
}

// routerPairs are the pairs the paired benchmarks compare. The difference in
// "chi->chi+alova" is what middleware.Client costs; "chi->chi+ctxvalue" is
// the floor of any middleware that hands a value to the handlers through the
// request's context; "chi+ctxvalue->chi+alova" is what alova's middleware
// costs beyond that floor. "chi->chi" pairs bare chi with itself: its
// difference is the measurement's own bias.
func routerPairs() []routerPair {
	impls := map[string]http.Handler{}
	for _, impl := range routerImpls() {
		impls[impl.name] = impl.h
	}
	var pairs []routerPair
	for _, p := range [][2]string{
		{"chi", "chi"},
		{"chi", "chi+alova"},
		{"chi", "chi+ctxvalue"},
		{"chi+ctxvalue", "chi+alova"},
		{"chi+RequestID", "chi+RequestID+alova"},
	} {
		pairs = append(pairs, routerPair{p[0] + "->" + p[1], impls[p[0]], impls[p[1]]})
	}
	return pairs
}

// pairBlock is how many requests each router serves in a row in the paired
// benchmarks: long enough that the clock's cost vanishes, short enough that
// both routers of a pair meet the same load.
const pairBlock = 256

// servePair serves the pair's routers in 8 blocks, in the order off, on, on,
// off, on, off, off, on, and returns each router's total time. Each
// position in the iteration goes to both routers alike: with a fixed order
// the blocks in some positions were measured slower than the others with
// one router in every block (by 33 to 112 ns per request in the first
// position; by 75 ns in the median of 5 runs in parallel with the order
// off, on, on, off).
func servePair(serve func(http.Handler) time.Duration, p routerPair) (off, on time.Duration) {
	for _, first := range []bool{true, false} {
		a, z := p.off, p.on
		if !first {
			a, z = z, a
		}
		ta := serve(a)
		tz := serve(z)
		tz += serve(z)
		ta += serve(a)
		if first {
			off, on = off+ta, on+tz
		} else {
			off, on = off+tz, on+ta
		}
	}
	return off, on
}

// BenchmarkMiddlewarePaired serves each pair's two routers in alternating
// blocks of pairBlock requests (see servePair), and reports:
//
//   - off-ns/op, on-ns/op: each router's mean time per request;
//   - delta-ns/op: the median over iterations of the per-request difference
//     (on - off) within one iteration, so a load that drifts during the run
//     (other processes on shared cores) cancels out, and a burst spoils one
//     iteration instead of the mean;
//   - delta-allocs/op, delta-B/op: what the on router allocates per request
//     beyond the off one.
//
// The GC work that the on router's extra bytes cause is shared by both
// routers' blocks, so delta-ns/op leaves out part of it; with the
// benchmark's nearly empty heap that work is most of a middleware's cost.
// GOGC=off measures the middleware's own work alone, with a far smaller
// spread between runs. ns/op, B/op and allocs/op are per iteration:
// 8*pairBlock requests.
func BenchmarkMiddlewarePaired(b *testing.B) {
	for _, p := range routerPairs() {
		b.Run(p.name, func(b *testing.B) {
			req := productRequest()
			w := &discard{h: http.Header{}}
			serve := func(h http.Handler) time.Duration {
				start := time.Now()
				for range pairBlock {
					h.ServeHTTP(w, req)
				}
				return time.Since(start)
			}
			var tOff, tOn time.Duration
			var deltas []float64
			b.ReportAllocs()
			for b.Loop() {
				off, on := servePair(serve, p)
				tOff += off
				tOn += on
				deltas = append(deltas, float64(on-off)/(4*pairBlock))
			}
			reportPair(b, p, req, tOff, tOn, deltas)
		})
	}
}

// BenchmarkMiddlewarePairedParallel is BenchmarkMiddlewarePaired with
// GOMAXPROCS goroutines serving each block together (pairBlock requests
// each): a block's time is the wall time until the last goroutine is done,
// divided by all the requests served, as b.RunParallel's ns/op is. Both
// routers of a pair meet the same contention (the allocator, the GC, the
// other processes on the machine).
func BenchmarkMiddlewarePairedParallel(b *testing.B) {
	procs := runtime.GOMAXPROCS(0)
	for _, p := range routerPairs() {
		b.Run(p.name, func(b *testing.B) {
			reqs := make([]*http.Request, procs)
			ws := make([]*discard, procs)
			for i := range procs {
				reqs[i] = productRequest()
				ws[i] = &discard{h: http.Header{}}
			}
			serve := func(h http.Handler) time.Duration {
				var wg sync.WaitGroup
				start := time.Now()
				for i := range procs {
					wg.Go(func() {
						for range pairBlock {
							h.ServeHTTP(ws[i], reqs[i])
						}
					})
				}
				wg.Wait()
				return time.Since(start)
			}
			var tOff, tOn time.Duration
			var deltas []float64
			n := float64(4 * pairBlock * procs)
			b.ReportAllocs()
			for b.Loop() {
				off, on := servePair(serve, p)
				tOff += off
				tOn += on
				deltas = append(deltas, float64(on-off)/n)
			}
			reportPair(b, p, reqs[0], tOff/time.Duration(procs), tOn/time.Duration(procs), deltas)
		})
	}
}

// reportPair reports the paired benchmarks' metrics. tOff and tOn are the
// routers' total times over b.N iterations of 4*pairBlock requests each.
func reportPair(b *testing.B, p routerPair, req *http.Request, tOff, tOn time.Duration, deltas []float64) {
	b.Helper()
	n := float64(b.N) * 4 * pairBlock
	slices.Sort(deltas)
	b.ReportMetric(float64(tOff)/n, "off-ns/op")
	b.ReportMetric(float64(tOn)/n, "on-ns/op")
	b.ReportMetric(deltas[len(deltas)/2], "delta-ns/op")
	b.StopTimer()
	w := &discard{h: http.Header{}}
	allocs := func(h http.Handler) (float64, float64) {
		var before, after runtime.MemStats
		const runs = 1000
		runtime.ReadMemStats(&before)
		for range runs {
			h.ServeHTTP(w, req)
		}
		runtime.ReadMemStats(&after)
		return float64(after.Mallocs-before.Mallocs) / runs, float64(after.TotalAlloc-before.TotalAlloc) / runs
	}
	offAllocs, offBytes := allocs(p.off)
	onAllocs, onBytes := allocs(p.on)
	b.ReportMetric(onAllocs-offAllocs, "delta-allocs/op")
	b.ReportMetric(onBytes-offBytes, "delta-B/op")
}
