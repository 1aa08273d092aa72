package middleware

import (
	"net/http"

	chimw "github.com/go-chi/chi/v5/middleware"

	"github.com/alovago/alova/client"
)

// Client returns a middleware that binds c to every request: the handlers
// behind it get a request-scoped client with [client.FromContext]:
//
//	r.Use(chimw.RequestID, middleware.Client(api))
//	…
//	c := client.FromContext(r.Context())
//
// The scoped client shares c's connections, cache tiers and hooks, and
// carries the request's context and headers (see [client.Bind]):
// the downstream calls it makes are cancelled when the caller hangs up, and
// each forwards the request's X-Request-Id (or the id chi's RequestID
// generated for it) and traceparent headers, or whatever c's
// Options.ForwardHeaders names.
//
// A handler that never asks for the client pays for two allocations (see
// [client.Bind]): the scoped client, which is also the new context, and
// the request copy that r.WithContext makes; the copy is what any middleware
// that hands a value to the handlers through the context pays. The id chi's
// RequestID generated is looked up in the context only by a send that
// forwards it. Nothing is registered anywhere, so nothing outlives the
// request.
//
// Client panics if c is nil. The middleware is safe for concurrent use.
func Client(c *client.Client) func(http.Handler) http.Handler {
	if c == nil {
		panic("middleware: Client with a nil *client.Client")
	}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			next.ServeHTTP(w, client.Bind(r, c, chimw.GetReqID))
		})
	}
}
