package bench

import (
	"context"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/go-chi/chi/v5"
	chimw "github.com/go-chi/chi/v5/middleware"
	"github.com/redis/go-redis/v9"
	"go.opentelemetry.io/otel/exporters/stdout/stdouttrace"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/alovago/alova/alovaotel"
	"github.com/alovago/alova/cache"
	"github.com/alovago/alova/client"
	"github.com/alovago/alova/middleware"
)

// otelRoute is the example server's cached product route (chi, RequestID,
// middleware.Client, a retried GET through L1 + L2), with the alovaotel hooks
// wired when otl is not nil. Every request after the first is an L1 hit.
func otelRoute(b *testing.B, base string, otl *alovaotel.Instrumentation) http.Handler {
	b.Helper()
	mr := miniredis.RunT(b)
	rdb := redis.NewClient(&redis.Options{Addr: mr.Addr(), ContextTimeoutEnabled: true})
	b.Cleanup(func() { _ = rdb.Close() })
	to := cache.TieredOptions{}
	co := client.Options{BaseURL: base}
	if otl != nil {
		to.OnL2Call = otl.CacheL2("products")
		co.StartSend = otl.StartSend
	}
	tiers := cache.NewTiered(cache.NewMemoryStore(cache.MemoryOptions{MaxEntries: capacity}),
		cache.NewRedisStore(rdb, cache.RedisOptions{KeyPrefix: "otel:"}), to)
	b.Cleanup(func() { _ = tiers.Close() })
	if otl != nil {
		if _, err := otl.ObserveCache("products", tiers); err != nil {
			b.Fatal(err)
		}
	}
	co.Cache = tiers
	api := client.New(co)
	retry := client.RetryOptions{Attempts: 4, Delay: 100 * time.Millisecond}
	r := chi.NewRouter()
	r.Use(chimw.RequestID, middleware.Client(api))
	r.Get("/api/products/{id}", func(w http.ResponseWriter, r *http.Request) {
		c := client.FromContext(r.Context())
		resp, err := client.Retry(c.Get("/products/"+chi.URLParam(r, "id")), retry).Send(r.Context())
		if err != nil {
			http.Error(w, "downstream", http.StatusBadGateway)
			return
		}
		w.Header().Set("X-Cache", resp.Source().String())
		_, _ = resp.WriteTo(w)
	})
	return r
}

// otelVariants are the instrumentation settings compared.
func otelVariants(b *testing.B) []struct {
	name string
	otl  *alovaotel.Instrumentation
} {
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewManualReader()))
	b.Cleanup(func() { _ = mp.Shutdown(context.Background()) })
	// Spans exported (as JSON, to nowhere) by the batch processor, every
	// one (the most a send can cost), or 1 in 100 as a busy service samples.
	exp, err := stdouttrace.New(stdouttrace.WithWriter(io.Discard))
	if err != nil {
		b.Fatal(err)
	}
	tracer := func(s sdktrace.Sampler) trace.TracerProvider {
		tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithSampler(s))
		b.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
		return tp
	}
	mk := func(o alovaotel.Options) *alovaotel.Instrumentation {
		o.MeterProvider = mp
		otl, err := alovaotel.New(o)
		if err != nil {
			b.Fatal(err)
		}
		return otl
	}
	return []struct {
		name string
		otl  *alovaotel.Instrumentation
	}{
		{"off", nil},
		{"metrics", mk(alovaotel.Options{NoTraces: true})},
		{"metrics+traces-1pct", mk(alovaotel.Options{TracerProvider: tracer(sdktrace.ParentBased(sdktrace.TraceIDRatioBased(0.01)))})},
		{"metrics+traces-all", mk(alovaotel.Options{TracerProvider: tracer(sdktrace.AlwaysSample())})},
	}
}

// BenchmarkOtelCachedRoute serves the cached product route with
// instrumentation off, with metrics only, with metrics and 1% of the sends
// traced, and with every send traced: the bound is "on" within 10%
// of "off".
func BenchmarkOtelCachedRoute(b *testing.B) {
	srv := productServer(b)
	for _, v := range otelVariants(b) {
		b.Run(v.name, func(b *testing.B) {
			h := otelRoute(b, srv.URL, v.otl)
			req := productRequest()
			req.URL.Path = "/api/products/42"
			w := &discard{h: http.Header{}}
			h.ServeHTTP(w, req) // the miss that fills the tiers
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				h.ServeHTTP(w, req)
			}
		})
	}
}

// BenchmarkOtelCachedRoutePaired serves the route off and on in alternating
// blocks of 256 requests and reports each one's ns/op and their ratio
// (on/off), so that a machine whose load drifts during the run (other
// processes on shared cores) slows both alike. ns/op is the pair's.
func BenchmarkOtelCachedRoutePaired(b *testing.B) {
	srv := productServer(b)
	vs := otelVariants(b)
	off := otelRoute(b, srv.URL, nil)
	for _, v := range vs[1:] {
		b.Run(v.name, func(b *testing.B) {
			on := otelRoute(b, srv.URL, v.otl)
			req := productRequest()
			req.URL.Path = "/api/products/42"
			w := &discard{h: http.Header{}}
			off.ServeHTTP(w, req)
			on.ServeHTTP(w, req)
			const block = 256
			var tOff, tOn time.Duration
			var n int
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				start := time.Now()
				for range block {
					off.ServeHTTP(w, req)
				}
				mid := time.Now()
				for range block {
					on.ServeHTTP(w, req)
				}
				tOff += mid.Sub(start)
				tOn += time.Since(mid)
				n += block
			}
			b.ReportMetric(float64(tOff.Nanoseconds())/float64(n), "off-ns/op")
			b.ReportMetric(float64(tOn.Nanoseconds())/float64(n), "on-ns/op")
			b.ReportMetric(float64(tOn)/float64(tOff), "on/off")
		})
	}
}
