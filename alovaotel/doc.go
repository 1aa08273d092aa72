// Package alovaotel reports what alova-go's caches, client, rate limiters,
// captcha providers and locks do as OpenTelemetry metrics and traces. It is
// opt-in: the core packages never import OpenTelemetry; each exposes a hook
// (nil by default, costing one nil check) that this package fills in, as
// go-redis's extra/redisotel does for go-redis.
//
// # Wiring
//
// Create one [Instrumentation] at start-up and hand its hooks to the
// objects you build:
//
//	otl, err := alovaotel.New(alovaotel.Options{}) // the global providers
//	tiers := cache.NewTiered(l1, l2, cache.TieredOptions{OnL2Call: otl.CacheL2("api")})
//	_, err = otl.ObserveCache("api", tiers)
//	api := client.New(client.Options{Cache: tiers, StartSend: otl.StartSend})
//	codes := captcha.NewProvider(store, captcha.Options{OnSend: otl.CaptchaSend, OnVerify: otl.CaptchaVerify})
//	perIP := ratelimit.New(counts, ratelimit.Options{OnConsume: otl.RateLimit("per_ip")})
//	lease, err := lock.Acquire(ctx, locks, names, lock.Options{OnAcquire: otl.LockAcquire})
//
// Export with any OpenTelemetry exporter: the example server serves
// Prometheus text at /metrics through go.opentelemetry.io/otel/exporters/prometheus.
//
// # Metrics
//
// The cache counters are read from [cache.Tiered.Stats] when the metrics
// are collected, so the read path pays nothing for them. Each carries the
// attribute alova.cache.name given to [Instrumentation.ObserveCache].
//
//	alova.cache.hits, alova.cache.misses   by alova.cache.tier ("l1", "l2")
//	alova.cache.negative_hits              reads answered by a cached error
//	alova.cache.stale_hits                 reads answered past the TTL
//	alova.cache.loads, alova.cache.load_errors
//	alova.cache.coalesced                  callers that joined another's load
//	alova.cache.l2.errors, alova.cache.l2.skipped
//	alova.cache.l2.cooling_down            gauge: 1 while L2 is skipped
//	alova.cache.lock.waits, alova.cache.lock.takeovers
//	alova.cache.refreshes, alova.cache.invalidations
//	alova.cache.revalidations              reloads that asked the origin conditionally
//	alova.cache.not_modified               of which it answered 304
//	alova.cache.bytes_saved (By)           body bytes the 304s did not send
//	alova.cache.stale_if_error             reads answered with the kept value
//	                                       because its reloads failed
//	alova.cache.l2.duration (s)            histogram by alova.cache.op and
//	                                       alova.cache.outcome (hit, miss, ok, error)
//	alova.client.retries                   sends made after a failed attempt
//	alova.client.retry.delay (s)           histogram of the waits before them
//	alova.ratelimit.decisions              by alova.ratelimit.name and
//	                                       alova.ratelimit.result (allowed, refused, error)
//	alova.captcha.sends, alova.captcha.verifies
//	                                       by alova.captcha.result: ok or the reason
//	alova.lock.wait.duration (s)           histogram by alova.lock.result
//	                                       (acquired, timeout, canceled, error)
//
// # Traces
//
// [Instrumentation.StartSend] starts a client span per [client.Method]
// send, cache hits included, as a child of the span in the send's context
// (the incoming request's server span, when a middleware started one). Its
// name is the HTTP verb; it carries http.request.method, url.full (without
// the query and credentials), alova.cache.tier (L1, L2 or MISS for an
// answer from downstream), http.response.status_code, error.type, and, for
// a send that [client.Retry] makes after a failed attempt,
// http.request.resend_count and alova.retry.delay_ms: each attempt is a
// span of its own, as OpenTelemetry's HTTP conventions ask. The
// Traceparent header forwarded downstream stays the incoming one.
//
// # Sampling
//
// Whether a request is traced is decided once, when its server span is
// started (by otelhttp, or any tracing middleware, with a sampler such as
// the SDK's default ParentBased one), and the send spans follow that
// decision:
//
//   - the span in the send's context is sampled or recording (a local
//     server span, or a remote parent extracted from a Traceparent header
//     with its sampled flag set): a send span is started as its child, and
//     the tracer provider's sampler has the last word (a ParentBased one
//     keeps the children of a sampled parent);
//   - that span is neither (an unsampled request): no send span. The send
//     costs a context lookup and no allocation, where asking the SDK would
//     cost its Start (IDs, the sampler, a context) only to drop the span.
//     A sampler that keeps children of unsampled parents (ParentBased with
//     WithLocalParentNotSampled or WithRemoteParentNotSampled set to sample,
//     or one that is not ParentBased) is not asked for these sends;
//   - the context holds no span (a background job, or a service that does
//     not trace its incoming requests): no send span, unless
//     [Options].RootSpans, which starts a root span per send for the
//     sampler to keep or drop, at the cost of the SDK's Start on every send.
//     A job that starts a span of its own gets its sends traced under it
//     without RootSpans.
//
// On a cached route (answered from L1) whose incoming requests are
// traced at 1%, the send spans add about 2%, as metrics alone add about 1%;
// a send span kept for every request adds about a third, most of it
// building and exporting the span. The module's bench/OTEL.md has the
// figures.
package alovaotel
