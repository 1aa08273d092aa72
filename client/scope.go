package client

import (
	"context"
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
// and the request copy) where a scoped client stored with context.WithValue
// makes 3 (BenchmarkBind in bench_test.go measures both).
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

// WithRequest returns a client bound to the incoming request r. It shares c's
// transport, cache tiers, hooks and in-flight map, and adds two things:
//
//   - r's context: when the caller hangs up (or the request's deadline
//     passes), the downstream calls made through the scoped client are
//     cancelled, even when Send was given another context. A call shared with
//     other requests goes on for them (see [Method.Share]).
//   - r's headers named in [Options.ForwardHeaders] (X-Request-Id, traceparent
//     by default) are copied onto each downstream request, unless the method
//     sets them. They are not part of the cache key: each request has its own
//     id, and a key that included it would never hit.
//
// WithRequest costs one small allocation and registers nothing anywhere: the
// scoped client is garbage once the request is done, so deriving one per
// request cannot grow memory (alova's users ran out of memory creating an
// instance per request: its issues #647 and #826). Use [Bind] to put it into
// the request's context in the same allocation. A scoped client of a scoped
// client is scoped to the new request only.
func (c *Client) WithRequest(r *http.Request) *Client {
	return &c.scoped(r, nil).Client
}

func (c *Client) scoped(r *http.Request, requestID func(context.Context) string) *scope {
	s := &scope{Client: Client{s: c.s, ctx: r.Context(), fwd: r.Header, idFrom: requestID}}
	s.holder = s
	return s
}

// Bind returns a shallow copy of r whose context carries c scoped to r (see
// [Client.WithRequest]), for a middleware such as [middleware.Client]:
//
//	next.ServeHTTP(w, client.Bind(r, api, chimw.GetReqID))
//
// A handler then gets the scoped client with client.FromContext(r.Context()).
//
// requestID finds the id a middleware generated for the request in its
// context, such as chi's RequestID keeps there (chimw.GetReqID); it may be
// nil. Bind does not call it: a send through the scoped client does, with
// r's context, when it forwards X-Request-Id and the incoming request has no
// X-Request-Id header, and forwards what it returns unless that is empty. A
// request whose handlers send nothing never looks the id up (a walk up the
// context's chain of parents). requestID must be safe for concurrent use.
//
// Bind costs two allocations: the scoped client, which is also the new
// context, and the request copy that r.WithContext makes (none for
// requestID when it is a plain function rather than a closure).
//
// [middleware.Client]: https://pkg.go.dev/github.com/alovago/alova/middleware#Client
func Bind(r *http.Request, c *Client, requestID func(context.Context) string) *http.Request {
	return r.WithContext(c.scoped(r, requestID))
}

// NewContext returns a context derived from ctx that carries c, for
// [FromContext]. It returns ctx itself when ctx already carries c.
func NewContext(ctx context.Context, c *Client) context.Context {
	if cur, ok := ctx.Value(ctxKey{}).(*Client); ok && cur == c {
		return ctx
	}
	return context.WithValue(ctx, ctxKey{}, c)
}

// FromContext returns the client stored in ctx by [NewContext] or [Bind]. It
// never returns nil: without one it returns a process-wide default client
// (New(Options{}): no base URL, no cache). It does not allocate.
func FromContext(ctx context.Context) *Client {
	if c, ok := ctx.Value(ctxKey{}).(*Client); ok && c != nil {
		return c
	}
	return defaultClient
}

var defaultClient = New(Options{})

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

// forwardTo copies onto h the forwarded headers of the incoming request
// that h does not set: the method's own value wins. The request id a
// middleware generated stands in for a missing X-Request-Id.
func (c *Client) forwardTo(h http.Header, names []string) {
	if c.fwd == nil {
		return
	}
	for _, name := range names {
		if len(h[name]) > 0 {
			continue
		}
		if vs := c.fwd[name]; len(vs) > 0 {
			h[name] = vs
		} else if name == "X-Request-Id" {
			if id := c.generatedID(); id != "" {
				h[name] = []string{id}
			}
		}
	}
}

// generatedID returns the request id a middleware generated for the
// incoming request, as the function given to [Bind] finds it in the
// request's context; "" when there is none.
func (c *Client) generatedID() string {
	if c.idFrom != nil {
		return c.idFrom(c.ctx)
	}
	return ""
}
