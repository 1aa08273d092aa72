package alovaotel

import (
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"
)

// ScopeName is the instrumentation scope of every meter and tracer of this
// package.
const ScopeName = "github.com/alovago/alova/alovaotel"

// Options configures [New]. The zero value uses the global providers.
type Options struct {
	// MeterProvider makes the meter of every metric. Default
	// otel.GetMeterProvider() at the time New is called (a no-op until
	// the program sets one).
	MeterProvider metric.MeterProvider
	// TracerProvider makes the tracer of the send spans. Default
	// otel.GetTracerProvider() at the time New is called.
	TracerProvider trace.TracerProvider
	// NoTraces turns the send spans off: [Instrumentation.StartSend] then
	// only counts retries, and a send costs it one context lookup. Default
	// false: a send gets a span when its context holds a sampled or
	// recording span (or no span, with RootSpans), and any other send
	// costs one more context lookup.
	NoTraces bool
	// RootSpans starts a span, a root one, for a send whose context holds
	// no span at all (a background job's, or a service that does not trace
	// its incoming requests), and lets the tracer provider's sampler decide
	// whether to keep it. It costs the tracer's Start on every such send,
	// kept or not (about 4 allocations with the SDK), so prefer starting a
	// span for the job itself. Default false: such sends get no span.
	RootSpans bool
}

// Instrumentation holds the instruments and the tracer, and hands out the
// hooks of the core packages (see the package documentation). Create one per
// process and share it: it is safe for concurrent use.
type Instrumentation struct {
	meter     metric.Meter
	tracer    trace.Tracer
	noTraces  bool
	rootSpans bool

	cache   cacheInstruments
	client  clientInstruments
	limit   metric.Int64Counter
	captcha captchaInstruments
	lock    lockInstruments
}

// New creates the instruments on opts' providers. It fails only when the
// meter provider refuses an instrument.
func New(opts Options) (*Instrumentation, error) {
	mp, tp := opts.MeterProvider, opts.TracerProvider
	if mp == nil {
		mp = otel.GetMeterProvider()
	}
	if tp == nil {
		tp = otel.GetTracerProvider()
	}
	in := &Instrumentation{meter: mp.Meter(ScopeName), tracer: tp.Tracer(ScopeName), noTraces: opts.NoTraces, rootSpans: opts.RootSpans}
	for _, f := range []func() error{in.initCache, in.initClient, in.initLimit, in.initCaptcha, in.initLock} {
		if err := f(); err != nil {
			return nil, err
		}
	}
	return in, nil
}
