package bench

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

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
