package main

import (
	"context"
	"errors"
	"net/http"
	"os"

	"github.com/go-chi/chi/v5"
	chimw "github.com/go-chi/chi/v5/middleware"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/otlptranslator"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	"go.opentelemetry.io/otel/exporters/stdout/stdouttrace"
	"go.opentelemetry.io/otel/propagation"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.40.0"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/alovago/alova/alovaotel"
)

// telemetry is the server's OpenTelemetry: a meter provider read by the
// Prometheus exporter into a registry of its own (served at /metrics), and,
// with -trace-stdout, a tracer provider printing spans to stderr.
type telemetry struct {
	otl     *alovaotel.Instrumentation
	metrics http.Handler
	mp      *sdkmetric.MeterProvider
	tp      *sdktrace.TracerProvider // nil without -trace-stdout
	tracer  trace.Tracer
}

// newTelemetry builds the providers and the alovaotel hooks. Prometheus
// names are the classic ones (alova_cache_hits_total), asked for explicitly:
// the exporter's default depends on a global of the Prometheus library.
func newTelemetry(traceStdout bool) (*telemetry, error) {
	reg := prometheus.NewRegistry()
	exp, err := otelprom.New(otelprom.WithRegisterer(reg),
		otelprom.WithTranslationStrategy(otlptranslator.UnderscoreEscapingWithSuffixes))
	if err != nil {
		return nil, err
	}
	t := &telemetry{
		mp:      sdkmetric.NewMeterProvider(sdkmetric.WithReader(exp)),
		metrics: promhttp.HandlerFor(reg, promhttp.HandlerOpts{}),
	}
	var tp trace.TracerProvider = noop.NewTracerProvider()
	if traceStdout {
		out, err := stdouttrace.New(stdouttrace.WithWriter(os.Stderr))
		if err != nil {
			return nil, err
		}
		// The SDK's default sampler, ParentBased(AlwaysSample): every
		// request is traced unless the caller's Traceparent says it is not.
		// The send spans follow the decision made for the server span.
		t.tp = sdktrace.NewTracerProvider(sdktrace.WithBatcher(out))
		tp = t.tp
	}
	t.tracer = tp.Tracer("alova-example-server")
	if t.otl, err = alovaotel.New(alovaotel.Options{MeterProvider: t.mp, TracerProvider: tp, NoTraces: !traceStdout}); err != nil {
		return nil, err
	}
	return t, nil
}

// traced returns the middleware that starts the server span of each request,
// continuing the caller's trace (its Traceparent header): the spans of the
// downstream sends are its children, started by alovaotel only when it is
// sampled. Without -trace-stdout it is a no-op.
func (t *telemetry) traced(next http.Handler) http.Handler {
	if t == nil || t.tp == nil {
		return next
	}
	prop := propagation.TraceContext{}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := prop.Extract(r.Context(), propagation.HeaderCarrier(r.Header))
		ctx, span := t.tracer.Start(ctx, r.Method, trace.WithSpanKind(trace.SpanKindServer),
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

// Close flushes and stops the providers.
func (t *telemetry) Close(ctx context.Context) error {
	if t == nil {
		return nil
	}
	errs := []error{t.mp.Shutdown(ctx)}
	if t.tp != nil {
		errs = append(errs, t.tp.Shutdown(ctx))
	}
	return errors.Join(errs...)
}
