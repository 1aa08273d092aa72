package client

import (
	"context"
	"errors"
	"net/http"
	"time"
)

// ctxKey is the context key under which a *Client is stored.
type ctxKey struct{}

// holderKey is answered only by a scope, with itself: a context that answers
// it is the scope or derives from it, so it is cancelled with the request.
type holderKey struct{}

// scope is the one allocation behind a request-scoped client: the Client
// itself, and a context.Context that is the request's context plus the client
// as a value. Handing the scope to r.WithContext puts the client in the
// request's context at no extra cost: [Bind] makes 2 allocations (the scope
// and the request copy) where a client stored with context.WithValue
// makes 3.
type scope struct {
	Client
}

var _ context.Context = (*scope)(nil)

// Deadline returns the request context's deadline.
func (s *scope) Deadline() (time.Time, bool) { return s.ctx.Deadline() }

// Done returns the request context's Done channel.
func (s *scope) Done() <-chan struct{} { return s.ctx.Done() }

// Err returns the request context's error.
func (s *scope) Err() error { return s.ctx.Err() }

// Value answers the client's key with the scoped client and defers every
// other key to the request context.
func (s *scope) Value(key any) any {
	switch key.(type) {
	case ctxKey:
		return &s.Client
	case holderKey:
		return s
	}
	return s.ctx.Value(key)
}

// String describes the context, like the context package's own.
func (s *scope) String() string { return "client.scope" }

// Bind returns a shallow copy of r whose context carries c bound to r, for
// a middleware such as [middleware.Client]:
//
//	next.ServeHTTP(w, client.Bind(r, api, chimw.GetReqID))
//
// A handler then gets the bound client with client.FromContext(r.Context()).
// It shares c's transport, cache tiers, hooks and in-flight map, and adds
// two things:
//
//   - r's context: when the caller hangs up (or the request's deadline
//     passes), the downstream calls made through the bound client are
//     cancelled, even when Send was given another context. A call shared with
//     other requests goes on for them (see [Method.Share]).
//   - r's headers named in [Options.ForwardHeaders] (X-Request-Id and
//     Traceparent by default) are copied onto each downstream request,
//     unless the method sets them.
//
// requestID finds the id a middleware generated for the request in its
// context, such as chi's RequestID keeps there (chimw.GetReqID); it may be
// nil. Bind does not call it: a send through the bound client does, with
// r's context, when it forwards X-Request-Id and the incoming request has no
// X-Request-Id header, and forwards what it returns unless that is empty.
// requestID must be safe for concurrent use.
//
// Bind costs two allocations: the bound client, which is also the new
// context, and the request copy that r.WithContext makes. It registers
// nothing anywhere: the bound client is garbage once the request is done, so
// binding one per request cannot grow memory. Binding the client of a
// context to another request binds it to the new request only.
//
// [middleware.Client]: https://pkg.go.dev/github.com/alovago/alova/middleware#Client
func Bind(r *http.Request, c *Client, requestID func(context.Context) string) *http.Request {
	s := &scope{Client: Client{s: c.s, ctx: r.Context(), fwd: r.Header, idFrom: requestID}}
	s.holder = s
	return r.WithContext(s)
}

// FromContext returns the client that [Bind] stored in ctx (through
// [middleware.Client]). Without one it returns a client that fails every
// send, cache operation and invalidation with an error saying so: a handler
// mounted without the middleware fails loudly on its first call instead of
// sending with no base URL and no cache. It never returns nil and does not
// allocate.
//
// [middleware.Client]: https://pkg.go.dev/github.com/alovago/alova/middleware#Client
func FromContext(ctx context.Context) *Client {
	if c, ok := ctx.Value(ctxKey{}).(*Client); ok && c != nil {
		return c
	}
	return unboundClient
}

// errUnbound is the error of every use of unboundClient.
var errUnbound = errors.New("client: no client in the request's context: mount middleware.Client(api) on the router (or call client.Bind) before this handler")

// unboundClient is what FromContext returns when ctx has no client.
var unboundClient = func() *Client {
	c := New(Options{})
	c.s.unbound = true
	return c
}()

// bind returns a context for a send made with ctx through c: cancelled when
// ctx ends and, for a request-scoped client, when the request's context ends.
// It allocates only when ctx is unrelated to the request's context (the usual
// call passes r.Context(), which needs nothing). stop must be called when the
// send is over; it may be nil.
func (c *Client) bind(ctx context.Context) (_ context.Context, stop func()) {
	rc := c.ctx
	if rc == nil {
		return ctx, nil
	}
	rd := rc.Done()
	if rd == nil || ctx.Done() == rd {
		return ctx, nil // the request never ends, or ctx ends with it
	}
	if h, _ := ctx.Value(holderKey{}).(*scope); h != nil && h == c.holder {
		return ctx, nil // ctx derives from the scope, so from the request
	}
	mctx, cancel := context.WithCancelCause(ctx)
	if rc.Err() != nil {
		cancel(context.Cause(rc))
		return mctx, func() {}
	}
	after := context.AfterFunc(rc, func() { cancel(context.Cause(rc)) })
	return mctx, func() {
		after()
		cancel(nil)
	}
}
