package client

import "context"

// Transform sets fn to transform every network answer of the method once,
// after [Options.OnSuccess] (alova's transform): trim it, reshape it, or
// merge in the answers of other calls made from fn. What fn returns is what
// is cached, shared with the callers of the same request, and returned; the
// cache and the other callers never see the raw answer. fn gets the context
// of the call (for a shared call, one that carries the values of the caller
// who started it and ends when every caller has left), so its own sends
// are bounded with it. An error from fn fails the send and caches nothing;
// a nil answer keeps the answer unchanged. Cache hits do not run it.
//
// A method with a transform has a cache key of its own: its entries never
// mix with those of the same request sent without one. Two different
// transforms of one request need different keys: set [Method.CacheKey].
// nil removes the transform.
func (m *Method) Transform(fn func(ctx context.Context, resp *Response) (*Response, error)) *Method {
	m.ext().transform = fn
	m.reset()
	return m
}

// transformedVerb marks the key of a method with a transform: verbs never
// hold a NUL byte, so no plain request hashes the same.
const transformedVerb = "\x00transformed"

// transformed runs the method's transform, if any, on resp.
func (p *Method) transformed(ctx context.Context, resp *Response) (*Response, error) {
	fn := p.rare().transform
	if fn == nil {
		return resp, nil
	}
	r, err := fn(ctx, resp)
	if err != nil {
		return nil, err
	}
	if r != nil {
		resp = r
	}
	return resp, nil
}
