// Package client is alova's request side for Go servers: an HTTP client for
// calling other services, with multi-level caching, request sharing,
// automatic invalidation and hooks, built to be created once per process and
// used from every request handler.
//
// # A client, a method, a send
//
// Create one [Client] per process (or per downstream service) and share it:
//
//	api := client.New(client.Options{
//		BaseURL: "http://products.internal",
//		Timeout: 2 * time.Second,
//		Cache:   tiers, // a *cache.Tiered: L1 in process, L2 in Redis
//	})
//
// Build a [Method] from it, adjust it, send it, decode the answer:
//
//	resp, err := api.Get("/products/" + id).Param("lang", "en").Send(ctx)
//	if err != nil { … }
//	var p Product
//	err = resp.Decode(&p) // resp.Source() says L1, L2 or MISS
//
// A non-2xx answer is a [*HTTPError] (status, headers, body), found with
// errors.As through any wrapping.
//
// # Caching
//
// Every cacheable send reads through the cache's one read path,
// [cache.Tiered.GetOrLoad], so the tiers' sharing, forcing, negative caching
// and statistics apply to the client as to any other user. GET answers are
// cached for 5 minutes through every tier the cache has; [Options.DefaultCache]
// sets the default per HTTP method. A method sets its own [Policy] with
// [Method.Cache]: [CacheFor], [CacheUntil], [CacheFunc] (whose expiry
// function receives the method), [CacheControlled] (your function answers
// instead of the cache) or [NoCache], with [Policy.L1] for in-process only
// (alova's "memory" mode), [Policy.L1For] to keep the in-process copy
// shorter, [Policy.Version] to retire the entries of an older deploy, and
// [Policy.Errors] to cache chosen error answers briefly. [Method.Transform]
// reshapes (or merges) a network answer once, before it is cached and
// shared. Only 2xx
// answers with a body are cached; Set-Cookie never is. A cached answer is
// stored as an immutable value, so no caller can change what others get.
// [Method.Force] skips the cache reads and refreshes every tier. The cache key hashes the HTTP method, the
// full URL with sorted params, the headers set on the method (BeforeRequest
// included) and the body; [Method.CacheKey] overrides it.
//
// [Client.Invalidate] drops entries by method, [ByName], [ByURLPrefix] or
// [ByURLMatch], and [InvalidateAll] every client's entries;
// [Client.SetCache] (with an update function) and [Client.QueryCache] write
// and read them, in one tier if asked. [Options.CacheLogger] logs the hits.
// Coming from alova? docs/coming-from-alova.md in the repository maps each
// of its server-side APIs to its form here. [Method.HitSource] declares what a cached answer depends on: a
// successful network answer from a source drops it (alova's hitSource). The
// bookkeeping lives in cache tags, in Redis when there is an L2, so it holds
// across processes and restarts.
//
// # Request sharing
//
// Identical sends in flight at the same time make one downstream call
// ([Method.Share]; on by default except for POST and PATCH, never for a
// streamed body). Each caller waits on its own context and gets its own copy:
// a caller that gives up leaves at once, and the call is cancelled only when
// every caller has left.
//
// # Request-scoped clients
//
// A middleware binds the client to each incoming request, in one call that
// costs the scoped client plus the request copy r.WithContext makes:
//
//	func Client(api *client.Client) func(http.Handler) http.Handler {
//		return func(next http.Handler) http.Handler {
//			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
//				next.ServeHTTP(w, client.Bind(r, api, nil))
//			})
//		}
//	}
//
// and handlers get it back with [FromContext]:
//
//	c := client.FromContext(r.Context())
//
// (middleware.Client is this middleware, and passes Bind chi's GetReqID, so
// the id chi's RequestID generated is forwarded.) The scoped client forwards
// the request's X-Request-Id and traceparent headers (outside the cache key)
// and is cancelled when the caller hangs up. It is one small allocation that
// registers nothing, so a client per request never grows memory. A handler
// mounted without the middleware gets a client from FromContext that fails
// every send with an error naming middleware.Client.
//
// # A send is a snapshot
//
// A [Method] is a builder, safe for concurrent use. [Method.Send] starts by
// copying it; everything the send does, and everything that outlives it (a
// background refresh, a shared downstream call, a retry, the hooks), works
// on that copy. A setter called after Send, or on another goroutine while a
// send runs, changes only the sends that start after it.
//
// # Hooks
//
// [Options.BeforeRequest] may change or refuse a send; [Options.OnSuccess],
// [Options.OnError] and [Options.OnComplete] see its outcome (alova's
// beforeRequest and responded). They form one chain, built once by [New];
// a client without hooks sends straight to the cache. A [*Method] is a
// [Sender]; server hooks such as retry, rate limiting and locking take a
// Sender and return one, so they compose in any order.
package client
