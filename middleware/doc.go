// Package middleware holds alova's net/http middleware for chi (or any router
// that takes a func(http.Handler) http.Handler): a request-scoped client in
// each request's context, and a rate limit on incoming requests.
//
//	r := chi.NewRouter()
//	r.Use(chimw.RequestID, chimw.ClientIPFromRemoteAddr)
//	r.Use(middleware.Client(api))                                // client.FromContext in handlers
//	r.Use(middleware.RateLimit(lim, middleware.RateLimitOptions{})) // per client IP
//
// # The request-scoped client
//
// [Client] binds a process-wide *client.Client to each request. Handlers get
// it back with client.FromContext(r.Context()); it never returns nil. The
// scoped client's downstream calls are cancelled when the caller hangs up,
// and carry the request's X-Request-Id (or the id chi's RequestID generated)
// and traceparent headers. Binding costs two small
// allocations per request and registers nothing, so a handler that never uses
// the client pays almost nothing and no request can leak memory.
//
// # Rate limiting
//
// [RateLimit] counts requests in a [ratelimit.Limiter], in memory or on Redis,
// keyed by client IP ([KeyByIP]) or by any function of the request. It
// answers 429 with Retry-After and X-RateLimit-Limit, X-RateLimit-Remaining
// and X-RateLimit-Reset. When the store fails it answers 503 unless told to
// fail open, and it logs the failure either way.
//
// The client IP is the one chi's ClientIPFrom* middlewares put in the
// context, else the TCP peer; never a raw X-Forwarded-For or X-Real-IP
// header, which anyone can forge (chi deprecated RealIP for that reason).
//
// # Errors
//
// Every error answer is JSON with a stable code, shared with package handlers:
//
//	{"error":{"code":"rate_limited","message":"too many requests; retry later","retry_after":42}}
//
// ("retry_after" only on answers that carry a Retry-After header). [WriteError]
// and [WriteJSON] write them; the text of an internal error is logged, never
// sent.
package middleware
