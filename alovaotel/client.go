package alovaotel

import (
	"context"
	"errors"
	"strconv"
	"strings"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	semconv "go.opentelemetry.io/otel/semconv/v1.40.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/alovago/alova/client"
	"github.com/alovago/alova/internal/retryctx"
)

// Attribute keys of the send spans, beyond OpenTelemetry's HTTP ones.
const (
	// SendTierKey names the tier that answered a send: L1, L2, or MISS
	// for an answer from downstream.
	SendTierKey = attribute.Key("alova.cache.tier")
	// RetryDelayKey is the wait, in milliseconds, before a send that
	// [client.Retry] made after a failed attempt.
	RetryDelayKey = attribute.Key("alova.retry.delay_ms")
)

type clientInstruments struct {
	retries    metric.Int64Counter
	retryDelay metric.Float64Histogram
}

func (in *Instrumentation) initClient() error {
	var err1, err2 error
	in.client.retries, err1 = in.meter.Int64Counter("alova.client.retries",
		metric.WithDescription("Sends made by client.Retry after a failed attempt, by HTTP method."))
	in.client.retryDelay, err2 = in.meter.Float64Histogram("alova.client.retry.delay", metric.WithUnit("s"),
		metric.WithDescription("The waits client.Retry made before its retries."),
		metric.WithExplicitBucketBoundaries(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60))
	return errors.Join(err1, err2)
}

// StartSend is the [client.Options].StartSend hook: it counts retries
// (alova.client.retries, alova.client.retry.delay) and, unless
// [Options].NoTraces, starts a client span for the send, a child of the
// span in ctx.
//
// The span is started only where it can be kept: when the span in ctx
// records or is sampled (a local span, or a remote parent from an incoming
// Traceparent header), or, with [Options].RootSpans, when ctx holds no span
// at all. Any other send (inside an unsampled request, or, without
// RootSpans, outside any span) costs a context lookup and no allocation:
// the sampler is not asked again for each send. See the package
// documentation for the span's attributes and how the sampling is decided.
func (in *Instrumentation) StartSend(ctx context.Context, m *client.Method) (context.Context, func(*client.Response, error)) {
	ev, retried := retryctx.From(ctx)
	if retried {
		method := metric.WithAttributes(semconv.HTTPRequestMethodKey.String(m.Verb()))
		in.client.retries.Add(ctx, 1, method)
		in.client.retryDelay.Record(ctx, ev.Delay.Seconds(), method)
	}
	if in.noTraces || !in.traced(ctx) {
		return ctx, nil
	}
	sctx, span := in.tracer.Start(ctx, m.Verb(), clientSpan...)
	if !span.IsRecording() {
		// Sampled out (a root span, with RootSpans, or a sampler that does
		// not follow its parent's decision): the send goes on with its own
		// context (its children, if any, hang under the same parent) and
		// costs no more.
		return ctx, nil
	}
	// The attributes are set once, when the send ends: each SetAttributes
	// call costs the SDK an allocation or two.
	url := safeURL(m.URL())
	return sctx, func(resp *client.Response, err error) {
		attrs := make([]attribute.KeyValue, 0, 8)
		attrs = append(attrs, semconv.HTTPRequestMethodKey.String(m.Verb()), semconv.URLFull(url))
		if retried {
			attrs = append(attrs, semconv.HTTPRequestResendCount(ev.N), RetryDelayKey.Int64(ev.Delay.Milliseconds()))
		}
		if resp != nil {
			attrs = append(attrs, SendTierKey.String(resp.Source().String()), semconv.HTTPResponseStatusCode(resp.StatusCode()))
		}
		var kind string
		if err != nil {
			kind = errorType(err)
			var he *client.HTTPError
			if errors.As(err, &he) {
				attrs = append(attrs, semconv.HTTPResponseStatusCode(he.StatusCode))
			}
			attrs = append(attrs, semconv.ErrorTypeKey.String(kind))
		}
		span.SetAttributes(attrs...)
		if err != nil {
			// The description is the error's kind: the message may hold the
			// URL's query.
			span.SetStatus(codes.Error, kind)
		}
		span.End()
	}
}

// clientSpan is the start option of every send span, built once: building
// it per send allocates.
var clientSpan = []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindClient)}

// traced reports whether a send in ctx gets a span: the span in ctx
// records or is sampled, or there is none and RootSpans is set. It does
// not allocate.
func (in *Instrumentation) traced(ctx context.Context) bool {
	parent := trace.SpanFromContext(ctx)
	sc := parent.SpanContext()
	if !sc.IsValid() {
		return in.rootSpans
	}
	return sc.IsSampled() || parent.IsRecording()
}

// errorType names the kind of a send's error, with no URL in it.
func errorType(err error) string {
	var he *client.HTTPError
	switch {
	case errors.As(err, &he):
		return strconv.Itoa(he.StatusCode)
	case errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	case errors.Is(err, context.Canceled):
		return "canceled"
	case errors.Is(err, client.ErrRefused):
		return "refused"
	case errors.Is(err, client.ErrBodyTooLarge):
		return "body_too_large"
	default:
		return "_OTHER"
	}
}

// safeURL drops the query, fragment and credentials of u: they may carry
// secrets.
func safeURL(u string) string {
	if i := strings.IndexAny(u, "?#"); i >= 0 {
		u = u[:i]
	}
	if at := strings.IndexByte(u, '@'); at >= 0 {
		if s := strings.Index(u, "://"); s >= 0 && s < at && !strings.Contains(u[s+3:at], "/") {
			u = u[:s+3] + "REDACTED:REDACTED@" + u[at+1:]
		}
	}
	return u
}
