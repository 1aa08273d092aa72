package client

import "context"

// CacheControlled replaces the method's cache read with fn (alova's
// controlled cache, a function-form cacheFor): on every send, after
// [Options.BeforeRequest], fn(ctx, m) returns the answer to use, or nil to
// send the method downstream. The caller gets what fn returns (made with
// [NewResponse], so its Source is cache.TierNone); [Options.OnSuccess] and
// hitSource do not run for it. A downstream answer is not cached: fn keeps
// its own store, and the cache tiers are neither read nor written. Request
// sharing applies to the downstream call as usual. fn must be safe for
// concurrent use; a nil fn always goes downstream.
func CacheControlled(fn func(ctx context.Context, m *Method) *Response) Policy {
	return Policy{kind: policyControlled, x: &policyMore{control: fn}}
}

// controlled returns the controlled cache's answer for m, or nil when p is
// not a controlled cache or its function has no answer.
func (p Policy) controlled(ctx context.Context, m *Method) *Response {
	fn := p.more().control
	if fn == nil {
		return nil
	}
	return fn(ctx, m)
}
