package alovaotel_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/alovago/alova/alovaotel"
	"github.com/alovago/alova/cache"
	"github.com/alovago/alova/client"
)

// dropNamed samples every root span but those named name: the sampler of a
// service whose middleware decides per incoming request.
type dropNamed string

func (d dropNamed) ShouldSample(p sdktrace.SamplingParameters) sdktrace.SamplingResult {
	res := sdktrace.SamplingResult{Decision: sdktrace.RecordAndSample, Tracestate: trace.SpanContextFromContext(p.ParentContext).TraceState()}
	if p.Name == string(d) {
		res.Decision = sdktrace.Drop
	}
	return res
}

func (d dropNamed) Description() string { return "dropNamed(" + string(d) + ")" }

// flakyAPI is a downstream that fails its first call with 503 and answers
// every later one, and a client of it on an L1 cache with hook as StartSend.
func flakyAPI(t *testing.T, hook func(context.Context, *client.Method) (context.Context, func(*client.Response, error))) *client.Client {
	t.Helper()
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) == 1 {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte(`{"id":"42"}`))
	}))
	t.Cleanup(srv.Close)
	tiers := cache.NewTiered(cache.NewMemoryStore(cache.MemoryOptions{}), nil, cache.TieredOptions{})
	t.Cleanup(func() { _ = tiers.Close() })
	return client.New(client.Options{BaseURL: srv.URL, Cache: tiers, StartSend: hook})
}

// TestSendSpanSampling: a send gets a span when the incoming request is
// sampled (a local span or a remote parent) and none when it is not; with
// no span in the context, only RootSpans starts one. Each case makes a
// retried send (503, then a MISS) and a cache hit, with the real SDK and
// one provider for the incoming span and the sends, as a service has.
func TestSendSpanSampling(t *testing.T) {
	t.Parallel()
	remote := func(flags trace.TraceFlags) trace.SpanContext {
		return trace.NewSpanContext(trace.SpanContextConfig{
			TraceID:    trace.TraceID{1, 2, 3},
			SpanID:     trace.SpanID{4, 5, 6},
			TraceFlags: flags,
			Remote:     true,
		})
	}
	for _, tc := range []struct {
		name      string
		rootSpans bool
		// ctx returns the incoming request's context and the span ID the
		// send spans must hang under (zero: root spans).
		ctx   func(trace.Tracer) (context.Context, trace.SpanID)
		spans bool
	}{
		{"sampled incoming span", false, func(tr trace.Tracer) (context.Context, trace.SpanID) {
			ctx, s := tr.Start(context.Background(), "GET /api/products/{id}", trace.WithSpanKind(trace.SpanKindServer))
			return ctx, s.SpanContext().SpanID()
		}, true},
		{"unsampled incoming span", false, func(tr trace.Tracer) (context.Context, trace.SpanID) {
			ctx, _ := tr.Start(context.Background(), "unsampled", trace.WithSpanKind(trace.SpanKindServer))
			return ctx, trace.SpanID{}
		}, false},
		{"unsampled incoming span, RootSpans", true, func(tr trace.Tracer) (context.Context, trace.SpanID) {
			ctx, _ := tr.Start(context.Background(), "unsampled", trace.WithSpanKind(trace.SpanKindServer))
			return ctx, trace.SpanID{}
		}, false},
		{"sampled remote parent", false, func(trace.Tracer) (context.Context, trace.SpanID) {
			sc := remote(trace.FlagsSampled)
			return trace.ContextWithRemoteSpanContext(context.Background(), sc), sc.SpanID()
		}, true},
		{"unsampled remote parent", false, func(trace.Tracer) (context.Context, trace.SpanID) {
			return trace.ContextWithRemoteSpanContext(context.Background(), remote(0)), trace.SpanID{}
		}, false},
		{"no span", false, func(trace.Tracer) (context.Context, trace.SpanID) {
			return context.Background(), trace.SpanID{}
		}, false},
		{"no span, RootSpans", true, func(trace.Tracer) (context.Context, trace.SpanID) {
			return context.Background(), trace.SpanID{}
		}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			rec := tracetest.NewSpanRecorder()
			tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec),
				sdktrace.WithSampler(sdktrace.ParentBased(dropNamed("unsampled"))))
			otl, err := alovaotel.New(alovaotel.Options{
				MeterProvider:  sdkmetric.NewMeterProvider(),
				TracerProvider: tp,
				RootSpans:      tc.rootSpans,
			})
			if err != nil {
				t.Fatal(err)
			}
			api := flakyAPI(t, otl.StartSend)
			ctx, parent := tc.ctx(tp.Tracer("server"))
			retry := client.RetryOptions{Delay: time.Millisecond}
			for i := range 2 {
				if _, err := client.Retry(api.Get("/products/42"), retry).Send(ctx); err != nil {
					t.Fatalf("send %d: %v", i, err)
				}
			}

			spans := rec.Ended()
			if !tc.spans {
				if len(spans) != 0 {
					t.Fatalf("%d spans ended, want none (first: %q)", len(spans), spans[0].Name())
				}
				return
			}
			if len(spans) != 3 {
				t.Fatalf("%d spans ended, want 3 (a failed try, its retry, a hit)", len(spans))
			}
			want := []struct {
				tier, errType string
				resend        int64
			}{{"", "503", 0}, {"MISS", "", 1}, {"L1", "", 0}}
			for i, s := range spans {
				attrs := map[attribute.Key]attribute.Value{}
				for _, a := range s.Attributes() {
					attrs[a.Key] = a.Value
				}
				if s.Parent().SpanID() != parent || s.SpanKind() != trace.SpanKindClient {
					t.Errorf("span %d: parent %v kind %v, want a client span under %v", i, s.Parent().SpanID(), s.SpanKind(), parent)
				}
				if parent.IsValid() && s.SpanContext().TraceID() != spans[0].SpanContext().TraceID() {
					t.Errorf("span %d: trace %v, want the incoming request's %v", i, s.SpanContext().TraceID(), spans[0].SpanContext().TraceID())
				}
				got := struct {
					tier, errType string
					resend        int64
				}{attrs[alovaotel.SendTierKey].AsString(), attrs["error.type"].AsString(), attrs["http.request.resend_count"].AsInt64()}
				if got != want[i] {
					t.Errorf("span %d: tier, error.type, resend_count = %q, %q, %d, want %q, %q, %d",
						i, got.tier, got.errType, got.resend, want[i].tier, want[i].errType, want[i].resend)
				}
			}
		})
	}
}

// TestUnsampledSendDoesNotAllocate: inside an unsampled request the hook
// allocates nothing, and a cached send with it allocates one more time than
// one without it: the send's own copy of the method, which every hook
// chain hands its hooks.
func TestUnsampledSendDoesNotAllocate(t *testing.T) {
	tp := sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.NeverSample())))
	otl, err := alovaotel.New(alovaotel.Options{MeterProvider: sdkmetric.NewMeterProvider(), TracerProvider: tp})
	if err != nil {
		t.Fatal(err)
	}
	ctx, span := tp.Tracer("server").Start(context.Background(), "GET /api/products/{id}")
	defer span.End()
	if span.SpanContext().IsSampled() || span.IsRecording() {
		t.Fatal("the incoming span is sampled; the test needs an unsampled one")
	}

	m := flakyAPI(t, nil).Get("/products/42")
	if n := testing.AllocsPerRun(100, func() { _, _ = otl.StartSend(ctx, m) }); n != 0 {
		t.Errorf("StartSend in an unsampled request allocates %v times, want 0", n)
	}

	if raceEnabled {
		t.Skip("-race: sync.Pool drops items at random, so whole sends allocate unevenly")
	}
	sends := func(hook func(context.Context, *client.Method) (context.Context, func(*client.Response, error))) float64 {
		api := flakyAPI(t, hook)
		send := func() {
			if _, err := client.Retry(api.Get("/products/42"), client.RetryOptions{Delay: time.Millisecond}).Send(ctx); err != nil {
				t.Fatal(err)
			}
		}
		send() // the failed try, its retry and the fill
		return testing.AllocsPerRun(100, send)
	}
	if with, without := sends(otl.StartSend), sends(nil); with != without+1 {
		t.Errorf("a cached send in an unsampled request allocates %v times with StartSend, %v without; want one more with it", with, without)
	}
}

// BenchmarkKeptSendSpan: StartSend and its end for a send whose span is
// kept (the incoming request is sampled), exporting nothing.
func BenchmarkKeptSendSpan(b *testing.B) {
	tp := sdktrace.NewTracerProvider()
	otl, err := alovaotel.New(alovaotel.Options{MeterProvider: sdkmetric.NewMeterProvider(), TracerProvider: tp})
	if err != nil {
		b.Fatal(err)
	}
	ctx, span := tp.Tracer("server").Start(context.Background(), "GET /api/products/{id}")
	defer span.End()
	m := client.New(client.Options{BaseURL: "http://api.example"}).Get("/products/42")
	resp := client.NewResponse(http.StatusOK, nil, nil)
	b.ReportAllocs()
	for b.Loop() {
		_, end := otl.StartSend(ctx, m)
		end(resp, nil)
	}
}
