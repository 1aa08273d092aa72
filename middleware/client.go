package middleware

import (
	"net/http"
	"net/textproto"

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
// carries the request's context and headers (see [client.Client.WithRequest]):
// the downstream calls it makes are cancelled when the caller hangs up, and
// each forwards the request's X-Request-Id and traceparent headers (or
// whatever c's Options.ForwardHeaders names). See [Bind] for how the request
// id that chi's middleware.RequestID generates reaches the forwarded headers.
//
// A handler that never asks for the client pays for what Bind allocates up
// front: two allocations when the request already carries its X-Request-Id
// header or no request id is in use (the scoped client, which is also the new
// context, and the request copy that r.WithContext makes), three to five more
// when chi generated the id. Nothing is registered anywhere, so nothing
// outlives the request.
//
// Client panics if c is nil. The middleware is safe for concurrent use.
func Client(c *client.Client) func(http.Handler) http.Handler {
	if c == nil {
		panic("middleware: Client with a nil *client.Client")
	}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			next.ServeHTTP(w, Bind(r, c))
		})
	}
}

// defaultRequestIDHeader is chi's default RequestIDHeader, in canonical form.
const defaultRequestIDHeader = "X-Request-Id"

// Bind returns a shallow copy of r whose context carries c scoped to r, for
// [client.FromContext]: what [Client] does for each request, for code that
// binds a client itself (handlers falling back to a configured client).
//
// It is [client.Bind] plus one fix: chi's middleware.RequestID puts the id it
// generates for a request that came without one in the request's context only
// (read with chimw.GetReqID), not in its headers, where the scoped client
// looks for the headers to forward. When the context holds such an id and
// the header named by chimw.RequestIDHeader is absent, Bind gives the copy a
// new header map, the request's headers plus that header set to the id, so the
// handler and every downstream call see the same id. The incoming request's
// headers are never changed. That path costs, on top of client.Bind's two
// allocations, the new map (two allocations for up to 8 headers, four above)
// and the header's value (one); a request that arrives with its own id
// header, or a router without RequestID, costs only client.Bind's two.
//
// Bind panics if c is nil.
func Bind(r *http.Request, c *client.Client) *http.Request {
	if c == nil {
		panic("middleware: Bind with a nil *client.Client")
	}
	name := chimw.RequestIDHeader
	if name != defaultRequestIDHeader { // chi's default is canonical already
		name = textproto.CanonicalMIMEHeaderKey(name)
	}
	if len(r.Header[name]) == 0 {
		if id := chimw.GetReqID(r.Context()); id != "" {
			h := make(http.Header, len(r.Header)+1)
			for k, v := range r.Header {
				h[k] = v
			}
			h[name] = []string{id}
			r2 := *r
			r2.Header = h
			return client.Bind(&r2, c)
		}
	}
	return client.Bind(r, c)
}
