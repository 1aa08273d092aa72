package bench

import (
	"context"
	"io"
	"net/http"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/go-chi/chi/v5"
	chimw "github.com/go-chi/chi/v5/middleware"
	"github.com/redis/go-redis/v9"
	"go.opentelemetry.io/otel/exporters/stdout/stdouttrace"
	"go.opentelemetry.io/otel/propagation"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.40.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/alovago/alova/alovaotel"
	"github.com/alovago/alova/cache"
	"github.com/alovago/alova/client"
	"github.com/alovago/alova/middleware"
)

// otelRoute is the example server's cached product route (chi, RequestID,
// middleware.Client, a retried GET through L1 + L2), with the alovaotel hooks
// wired when otl is not nil. Every request after the first is an L1 hit.
//
// With server not nil, every request first gets a server span from it, as a
// service's own tracing middleware (otelhttp's, or the example server's
// -trace-stdout one) starts: the send spans of alovaotel are its children.
func otelRoute(b *testing.B, base string, otl *alovaotel.Instrumentation, server trace.TracerProvider) http.Handler {
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
	if server != nil {
		r.Use(serverSpans(server.Tracer("bench")))
	}
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

// serverSpans is the example server's tracing middleware (its "traced"):
// a server span per request, continuing the caller's Traceparent, named by
// the route and carrying its status.
func serverSpans(tracer trace.Tracer) func(http.Handler) http.Handler {
	prop := propagation.TraceContext{}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			ctx := prop.Extract(r.Context(), propagation.HeaderCarrier(r.Header))
			ctx, span := tracer.Start(ctx, r.Method, trace.WithSpanKind(trace.SpanKindServer),
				trace.WithAttributes(semconv.HTTPRequestMethodKey.String(r.Method), semconv.URLPath(r.URL.Path)))
			defer span.End()
			ww := chimw.NewWrapResponseWriter(w, r.ProtoMajor)
			next.ServeHTTP(ww, r.WithContext(ctx))
			if rc := chi.RouteContext(ctx); rc != nil && rc.RoutePattern() != "" {
				span.SetName(r.Method + " " + rc.RoutePattern())
				span.SetAttributes(semconv.HTTPRoute(rc.RoutePattern()))
			}
			span.SetAttributes(semconv.HTTPResponseStatusCode(ww.Status()))
		})
	}
}

// otelVariant is one instrumentation setting: otl is alovaotel's hooks (nil:
// off), server the provider of the incoming requests' spans (nil: none).
// "off" for a variant is the same route with otl nil and the same server.
type otelVariant struct {
	name   string
	otl    *alovaotel.Instrumentation
	server trace.TracerProvider
}

// otelVariants are the instrumentation settings compared. The first five
// have no incoming-request span: with traces on, a send then gets no span
// ("nospan", the default), or, with RootSpans, a root span sampled on its
// own, 1% or all of them. The "incoming-" ones trace the incoming requests
// in both arms (sampled at 1%, or all of them, by a ParentBased sampler), as
// a service with tracing middleware does, and add alovaotel's send spans,
// children of the sampled requests' spans, in the "on" arm.
func otelVariants(b *testing.B) []otelVariant {
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
	tp1 := tracer(sdktrace.ParentBased(sdktrace.TraceIDRatioBased(0.01)))
	tpAll := tracer(sdktrace.ParentBased(sdktrace.AlwaysSample()))
	return []otelVariant{
		{"off", nil, nil},
		{"metrics", mk(alovaotel.Options{NoTraces: true}), nil},
		{"metrics+traces-nospan", mk(alovaotel.Options{TracerProvider: tp1}), nil},
		{"metrics+traces-1pct", mk(alovaotel.Options{TracerProvider: tracer(sdktrace.ParentBased(sdktrace.TraceIDRatioBased(0.01))), RootSpans: true}), nil},
		{"metrics+traces-all", mk(alovaotel.Options{TracerProvider: tracer(sdktrace.AlwaysSample()), RootSpans: true}), nil},
		{"incoming-1pct-off", nil, tp1},
		{"incoming-1pct-metrics+traces", mk(alovaotel.Options{TracerProvider: tp1}), tp1},
		{"incoming-all-off", nil, tpAll},
		{"incoming-all-metrics+traces", mk(alovaotel.Options{TracerProvider: tpAll}), tpAll},
	}
}

// BenchmarkOtelCachedRoute serves the cached product route with
// instrumentation off, with metrics only, with metrics and 1% of the sends
// traced, and with every send traced, then the same with the incoming
// requests traced (their "-off" is the baseline of their "-metrics+traces"):
// the bound is "on" within 10% of "off".
func BenchmarkOtelCachedRoute(b *testing.B) {
	srv := productServer(b)
	for _, v := range otelVariants(b) {
		b.Run(v.name, func(b *testing.B) {
			h := otelRoute(b, srv.URL, v.otl, v.server)
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
// blocks of 32 requests (off first in one pair, on first in the next) and
// reports each one's ns/op and their ratio (on/off), so that a machine
// whose load drifts during the run (other processes on shared cores) slows
// both alike. ns/op is the pair's. The "off" route of a variant differs
// from its "on" one only in alovaotel: both trace the incoming requests in
// the "incoming-" variants.
//
// Besides on/off (total wall time on over total off), it reports
// on/off-med, the median of the pairs' ratios, which a pair that another
// process preempted does not sway (blocks are short, under a millisecond,
// so that most pairs run between preemptions; the median leaves out rare
// costs, such as the 1 request in 100 that a 1% sampler keeps), and
// cpu-on/off, the ratio of the
// process's CPU time (getrusage: every thread, the GC's and the span
// exporter's included) spent in the on blocks over the off ones, which
// time spent waiting for the CPU does not count. Work done in the
// background (a batch export, a GC cycle) is charged to the block it ran
// in, whichever arm caused it.
func BenchmarkOtelCachedRoutePaired(b *testing.B) {
	srv := productServer(b)
	for _, v := range otelVariants(b) {
		if v.otl == nil {
			continue
		}
		b.Run(v.name, func(b *testing.B) {
			off := otelRoute(b, srv.URL, nil, v.server)
			on := otelRoute(b, srv.URL, v.otl, v.server)
			req := productRequest()
			req.URL.Path = "/api/products/42"
			w := &discard{h: http.Header{}}
			off.ServeHTTP(w, req)
			on.ServeHTTP(w, req)
			const block = 32
			run := func(h http.Handler) (wall, cpu time.Duration) {
				c0, t0 := cpuTime(b), time.Now()
				for range block {
					h.ServeHTTP(w, req)
				}
				return time.Since(t0), cpuTime(b) - c0
			}
			var tOff, tOn, cOff, cOn time.Duration
			var ratios []float64
			var n int
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				var wOff, wOn, cpuOff, cpuOn time.Duration
				if len(ratios)%2 == 0 {
					wOff, cpuOff = run(off)
					wOn, cpuOn = run(on)
				} else {
					wOn, cpuOn = run(on)
					wOff, cpuOff = run(off)
				}
				tOff, tOn, cOff, cOn = tOff+wOff, tOn+wOn, cOff+cpuOff, cOn+cpuOn
				ratios = append(ratios, float64(wOn)/float64(wOff))
				n += block
			}
			b.ReportMetric(float64(tOff.Nanoseconds())/float64(n), "off-ns/op")
			b.ReportMetric(float64(tOn.Nanoseconds())/float64(n), "on-ns/op")
			b.ReportMetric(float64(tOn)/float64(tOff), "on/off")
			slices.Sort(ratios)
			b.ReportMetric(ratios[len(ratios)/2], "on/off-med")
			if cOff > 0 {
				b.ReportMetric(float64(cOn)/float64(cOff), "cpu-on/off")
			}
		})
	}
}

// cpuTime is the CPU time the process has used, user and system, on every
// thread.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
