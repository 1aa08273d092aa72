package alovaotel_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/alovago/alova/alovaotel"
	"github.com/alovago/alova/cache"
	"github.com/alovago/alova/captcha"
	"github.com/alovago/alova/client"
	"github.com/alovago/alova/lock"
	"github.com/alovago/alova/ratelimit"
)

// setup returns an Instrumentation on a manual reader and a span recorder.
func setup(t *testing.T) (*alovaotel.Instrumentation, func() map[string]float64, *tracetest.SpanRecorder) {
	t.Helper()
	reader := sdkmetric.NewManualReader()
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	otl, err := alovaotel.New(alovaotel.Options{
		MeterProvider:  sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader)),
		TracerProvider: tp,
	})
	if err != nil {
		t.Fatal(err)
	}
	collect := func() map[string]float64 {
		t.Helper()
		var rm metricdata.ResourceMetrics
		if err := reader.Collect(context.Background(), &rm); err != nil {
			t.Fatal(err)
		}
		return flatten(rm)
	}
	return otl, collect, rec
}

// flatten turns rm into "name{k=v,…}" → value (sums and gauges) or count
// (histograms, as "name_count{…}").
func flatten(rm metricdata.ResourceMetrics) map[string]float64 {
	out := map[string]float64{}
	key := func(name string, s attribute.Set) string {
		var kv []string
		for _, a := range s.ToSlice() {
			kv = append(kv, string(a.Key)+"="+a.Value.Emit())
		}
		sort.Strings(kv)
		return name + "{" + strings.Join(kv, ",") + "}"
	}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			switch d := m.Data.(type) {
			case metricdata.Sum[int64]:
				for _, p := range d.DataPoints {
					out[key(m.Name, p.Attributes)] = float64(p.Value)
				}
			case metricdata.Gauge[int64]:
				for _, p := range d.DataPoints {
					out[key(m.Name, p.Attributes)] = float64(p.Value)
				}
			case metricdata.Histogram[float64]:
				for _, p := range d.DataPoints {
					out[key(m.Name+"_count", p.Attributes)] = float64(p.Count)
				}
			}
		}
	}
	return out
}

func expect(t *testing.T, got map[string]float64, want map[string]float64) {
	t.Helper()
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v, want %v", k, got[k], v)
		}
	}
	if t.Failed() {
		var all []string
		for k, v := range got {
			all = append(all, fmt.Sprint(k, " ", v))
		}
		sort.Strings(all)
		t.Logf("collected:\n%s", strings.Join(all, "\n"))
	}
}

// TestCacheAndSpans: reads through a client on L1 + L2 (miniredis), with a
// retried first call; the counters, the L2 histogram and the spans match.
func TestCacheAndSpans(t *testing.T) {
	otl, collect, rec := setup(t)
	mr := miniredis.RunT(t)
	rdb := redis.NewClient(&redis.Options{Addr: mr.Addr()})
	defer rdb.Close()
	tiers := cache.NewTiered(cache.NewMemoryStore(cache.MemoryOptions{}),
		cache.NewRedisStore(rdb, cache.RedisOptions{KeyPrefix: "t:"}),
		cache.TieredOptions{OnL2Call: otl.CacheL2("api")})
	defer tiers.Close()
	if _, err := otl.ObserveCache("api", tiers); err != nil {
		t.Fatal(err)
	}
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) == 1 {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte(`{"id":"42"}`))
	}))
	defer srv.Close()
	api := client.New(client.Options{BaseURL: srv.URL, Cache: tiers, StartSend: otl.StartSend})

	ctx, parent := sdktrace.NewTracerProvider().Tracer("test").Start(context.Background(), "incoming")
	defer parent.End()
	for range 10 {
		if _, err := client.Retry(api.Get("/products/42?token=secret"), client.RetryOptions{Delay: time.Millisecond}).Send(ctx); err != nil {
			t.Fatal(err)
		}
	}
	expect(t, collect(), map[string]float64{
		"alova.cache.hits{alova.cache.name=api,alova.cache.tier=l1}":                                      9,
		"alova.cache.misses{alova.cache.name=api,alova.cache.tier=l1}":                                    2, // the failed try and the retry
		"alova.cache.misses{alova.cache.name=api,alova.cache.tier=l2}":                                    2,
		"alova.cache.loads{alova.cache.name=api}":                                                         2,
		"alova.cache.load_errors{alova.cache.name=api}":                                                   1,
		"alova.cache.l2.cooling_down{alova.cache.name=api}":                                               0,
		"alova.cache.l2.duration_count{alova.cache.name=api,alova.cache.op=get,alova.cache.outcome=miss}": 2,
		"alova.cache.l2.duration_count{alova.cache.name=api,alova.cache.op=set,alova.cache.outcome=ok}":   1,
		"alova.client.retries{http.request.method=GET}":                                                   1,
		"alova.client.retry.delay_count{http.request.method=GET}":                                         1,
	})

	spans := rec.Ended()
	if len(spans) != 11 {
		t.Fatalf("%d spans, want 11 (a failed try, its retry, 9 hits)", len(spans))
	}
	for i, s := range spans {
		attrs := map[attribute.Key]attribute.Value{}
		for _, a := range s.Attributes() {
			attrs[a.Key] = a.Value
		}
		if s.Parent().SpanID() != parent.SpanContext().SpanID() || s.SpanKind() != trace.SpanKindClient {
			t.Errorf("span %d: parent %v kind %v, want a client span under the incoming one", i, s.Parent().SpanID(), s.SpanKind())
		}
		if u := attrs["url.full"].AsString(); strings.Contains(u, "secret") {
			t.Errorf("span %d: url.full = %q carries the query", i, u)
		}
		tier, resend := attrs[alovaotel.SendTierKey].AsString(), attrs["http.request.resend_count"].AsInt64()
		switch i {
		case 0:
			if attrs["error.type"].AsString() != "503" || tier != "" {
				t.Errorf("span 0: error.type %q tier %q, want 503 and none", attrs["error.type"].AsString(), tier)
			}
		case 1:
			if tier != "MISS" || resend != 1 {
				t.Errorf("span 1: tier %q resend_count %d, want MISS, 1", tier, resend)
			}
		default:
			if tier != "L1" || resend != 0 {
				t.Errorf("span %d: tier %q resend_count %d, want L1, 0", i, tier, resend)
			}
		}
	}
}

// TestBreakerGauge: L2 down past L2Failures shows as cooling_down 1 and
// counts its errors.
func TestBreakerGauge(t *testing.T) {
	otl, collect, _ := setup(t)
	mr := miniredis.RunT(t)
	rdb := redis.NewClient(&redis.Options{Addr: mr.Addr(), MaxRetries: -1})
	defer rdb.Close()
	tiers := cache.NewTiered(nil, cache.NewRedisStore(rdb, cache.RedisOptions{}),
		cache.TieredOptions{L2Failures: 1, L2Cooldown: time.Hour, NoInvalidation: true, OnL2Call: otl.CacheL2("c")})
	defer tiers.Close()
	if _, err := otl.ObserveCache("c", tiers); err != nil {
		t.Fatal(err)
	}
	mr.SetError("down")
	_, _, _ = tiers.Get(context.Background(), "k", cache.ModeAll)
	_, _, _ = tiers.Get(context.Background(), "k", cache.ModeAll)
	expect(t, collect(), map[string]float64{
		"alova.cache.l2.cooling_down{alova.cache.name=c}":                                                1,
		"alova.cache.l2.errors{alova.cache.name=c}":                                                      1,
		"alova.cache.l2.skipped{alova.cache.name=c}":                                                     1,
		"alova.cache.l2.duration_count{alova.cache.name=c,alova.cache.op=get,alova.cache.outcome=error}": 1,
	})
}

// TestLimiterCaptchaLock: allows and refusals, captcha results by reason,
// lock waits by result.
func TestLimiterCaptchaLock(t *testing.T) {
	otl, collect, _ := setup(t)
	ctx := context.Background()

	l := ratelimit.New(ratelimit.NewMemoryStore(), ratelimit.Options{Points: 2, OnConsume: otl.RateLimit("ip")})
	for range 3 {
		_, _ = l.Allow(ctx, "1.2.3.4")
	}

	p := captcha.NewProvider(captcha.NewMemoryStore(), captcha.Options{OnSend: otl.CaptchaSend, OnVerify: otl.CaptchaVerify})
	var code string
	r, err := p.Send(ctx, "a@b.c", func(_ context.Context, c, _ string) error { code = c; return nil })
	if err != nil {
		t.Fatal(err)
	}
	_, _ = p.Send(ctx, "a@b.c", func(context.Context, string, string) error { return nil })
	_, _ = p.Send(ctx, "x@b.c", func(context.Context, string, string) error { return errors.New("sms down") })
	_, _ = p.Send(ctx, "", func(context.Context, string, string) error { return nil })
	_ = p.Verify(ctx, "a@b.c", r.Challenge, "000000x")
	_ = p.Verify(ctx, "a@b.c", r.Challenge, code)

	locks := lock.NewMemoryStore()
	lo := lock.Options{Timeout: 20 * time.Millisecond, Interval: 5 * time.Millisecond, NoRenew: true, OnAcquire: otl.LockAcquire}
	lease, err := lock.Acquire(ctx, locks, []string{"n"}, lo)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = lock.Acquire(ctx, locks, []string{"n"}, lo)
	_ = lease.Release(ctx)

	expect(t, collect(), map[string]float64{
		"alova.ratelimit.decisions{alova.ratelimit.name=ip,alova.ratelimit.result=allowed}": 2,
		"alova.ratelimit.decisions{alova.ratelimit.name=ip,alova.ratelimit.result=refused}": 1,
		"alova.captcha.sends{alova.captcha.result=ok}":                                      1,
		"alova.captcha.sends{alova.captcha.result=resend_too_soon}":                         1,
		"alova.captcha.sends{alova.captcha.result=delivery}":                                1,
		"alova.captcha.sends{alova.captcha.result=invalid_key}":                             1,
		"alova.captcha.verifies{alova.captcha.result=invalid_code}":                         1,
		"alova.captcha.verifies{alova.captcha.result=ok}":                                   1,
		"alova.lock.wait.duration_count{alova.lock.result=acquired}":                        1,
		"alova.lock.wait.duration_count{alova.lock.result=timeout}":                         1,
	})
}

// TestCacheL2DoesNotAllocate: the L2 hook records with prebuilt attributes.
func TestCacheL2DoesNotAllocate(t *testing.T) {
	otl, _, _ := setup(t)
	hook := otl.CacheL2("c")
	ctx := context.Background()
	call := cache.L2Call{Op: "get", Duration: time.Millisecond, Err: cache.ErrMiss}
	hook(ctx, call)
	if n := testing.AllocsPerRun(100, func() { hook(ctx, call) }); n != 0 {
		t.Errorf("CacheL2 hook allocates %v times per call, want 0", n)
	}
}

// TestRevalidationMetrics: a forced send of an answer with an ETag that
// the downstream answers 304 counts a revalidation, a 304 and the body's
// bytes; a read of an expired answer while the downstream fails counts a
// stale-if-error answer.
func TestRevalidationMetrics(t *testing.T) {
	otl, collect, _ := setup(t)
	tiers := cache.NewTiered(cache.NewMemoryStore(cache.MemoryOptions{}), nil, cache.TieredOptions{NoJitter: true})
	defer tiers.Close()
	if _, err := otl.ObserveCache("api", tiers); err != nil {
		t.Fatal(err)
	}
	var failing atomic.Bool
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if failing.Load() {
			w.WriteHeader(http.StatusBadGateway)
			return
		}
		w.Header().Set("ETag", `"1"`)
		if r.Header.Get("If-None-Match") == `"1"` {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		_, _ = w.Write([]byte(`{"id":"42"}`))
	}))
	defer srv.Close()
	api := client.New(client.Options{BaseURL: srv.URL, Cache: tiers})
	pol := client.CacheFor(50 * time.Millisecond).StaleIfError(time.Minute)
	ctx := context.Background()
	for _, force := range []bool{false, true} {
		if _, err := api.Get("/p").Cache(pol).Force(force).Send(ctx); err != nil {
			t.Fatal(err)
		}
	}
	failing.Store(true)
	time.Sleep(60 * time.Millisecond)
	if resp, err := api.Get("/p").Cache(pol).Send(ctx); err != nil || resp.String() != `{"id":"42"}` {
		t.Fatalf("send while failing = %v, %v; want the kept answer", resp, err)
	}
	expect(t, collect(), map[string]float64{
		"alova.cache.revalidations{alova.cache.name=api}":  1,
		"alova.cache.not_modified{alova.cache.name=api}":   1,
		"alova.cache.bytes_saved{alova.cache.name=api}":    11,
		"alova.cache.stale_if_error{alova.cache.name=api}": 1,
	})
}
