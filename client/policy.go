package client

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/alovago/alova/cache"
)

// Policy says whether and for how long a method's successful answers are
// cached, and in which tiers (alova's cacheFor). Build one with [CacheFor],
// [CacheUntil] or [CacheFunc], or use [NoCache] or [CacheControlled];
// [Policy.L1] keeps it in the in-process tier, [Policy.L1For] caps the
// in-process copy, [Policy.Version] tags the entries and [Policy.Errors]
// caches chosen error answers. The zero Policy means "not set": the method
// falls back to [Options.DefaultCache] for its verb. A Policy is a small
// value, safe to share.
//
// Only 2xx answers with a body are cached (alova never caches an empty
// answer), unless [Policy.Errors] says so for an error status; never those
// of a method with an io.Reader body; and not those marked Cache-Control:
// private or no-store, or Vary: * (see [Policy.IgnoreCacheControl]).
type Policy struct {
	kind  policyKind
	mode  cache.Mode
	anyCC bool          // cache whatever the answer's Cache-Control says
	d     time.Duration // CacheFor
	l1d   time.Duration // Policy.L1For
	x     *policyMore   // the rarer settings; nil: none
}

// policyMore holds the settings most policies leave unset, out of line so
// that a Policy (inside every Method) stays small. A policyMore is never
// changed once a Policy points at it: the setters copy it.
type policyMore struct {
	t        time.Time                                     // CacheUntil
	errTTL   time.Duration                                 // Policy.Errors
	statuses []int                                         // Policy.Errors
	version  string                                        // Policy.Version
	entryKey any                                           // entryMemo{version}, made once by Version
	control  func(context.Context, *Method) *Response      // CacheControlled
	ttlFn    func(m *Method, resp *Response) time.Duration // CacheFunc

	// refresh.go: refresh-ahead, stale serving, distributed single-flight.
	refreshBefore, staleFor, lockWait time.Duration
}

// noMore is the policyMore of a Policy without one.
var noMore policyMore

// more returns p's rarer settings, for reading.
func (p Policy) more() *policyMore {
	if p.x == nil {
		return &noMore
	}
	return p.x
}

// with returns a copy of p whose rarer settings are p's changed by set.
func (p Policy) with(set func(*policyMore)) Policy {
	x := *p.more()
	set(&x)
	p.x = &x
	return p
}

type policyKind uint8

const (
	policyUnset policyKind = iota
	policyOff
	policyFor
	policyUntil
	policyFunc
	policyControlled
)

// NoCache caches nothing (alova's cacheFor: null). Request sharing is a
// separate setting: see [Method.Share].
var NoCache = Policy{kind: policyOff}

// CacheFor caches answers for d through every tier of the client's cache (L1
// and L2). A d <= 0 caches nothing, as in alova.
func CacheFor(d time.Duration) Policy { return Policy{kind: policyFor, d: d} }

// CacheUntil caches answers until t (alova's cacheFor: Date). An answer that
// arrives after t is not cached.
func CacheUntil(t time.Time) Policy { return Policy{kind: policyUntil, x: &policyMore{t: t}} }

// CacheFunc caches each answer for fn(m, resp) (alova's expire function,
// which receives the method): fn may read the method (its verb, URL, name,
// meta) and the answer's headers (Cache-Control, Expires) or body; a result
// <= 0 leaves that answer uncached. m is the method as sent, after
// [Options.BeforeRequest]. fn is called once per network answer, after
// [Options.OnSuccess] and the method's transform, and by [Client.SetCache];
// it must be safe for concurrent use. A nil fn caches nothing.
func CacheFunc(fn func(m *Method, resp *Response) time.Duration) Policy {
	return Policy{kind: policyFunc, x: &policyMore{ttlFn: fn}}
}

// L1 returns a copy of p that uses the in-process tier only (alova's "memory"
// mode; L2 is neither read nor written), e.g. CacheFor(time.Minute).L1().
func (p Policy) L1() Policy {
	p.mode = cache.ModeL1
	return p
}

// enabled reports whether p may cache anything.
func (p Policy) enabled() bool {
	switch p.kind {
	case policyFor:
		return p.d > 0
	case policyUntil:
		return true
	case policyFunc:
		return p.more().ttlFn != nil
	}
	return false
}

// ttl is how long resp, an answer of m, is cached under p; <= 0 means not
// at all.
func (p Policy) ttl(m *Method, resp *Response) time.Duration {
	switch p.kind {
	case policyFor:
		return p.d
	case policyUntil:
		return time.Until(p.more().t)
	case policyFunc:
		if fn := p.more().ttlFn; fn != nil {
			return fn(m, resp)
		}
	}
	return 0
}

// Errors returns a copy of p that also caches the downstream answers with
// one of the statuses (e.g. 404) for ttl (negative caching): a send within
// ttl gets the same [*HTTPError] without a downstream call, and the cache's
// Stats count it in NegativeHits. Error answers are kept in the in-process
// tier only, each process its own, so keep ttl short. A ttl <= 0 or no
// status caches none.
func (p Policy) Errors(ttl time.Duration, statuses ...int) Policy {
	return p.with(func(x *policyMore) { x.errTTL, x.statuses = ttl, slices.Clone(statuses) })
}

// errorTTL is how long err, a failed send, is cached under p; 0 means not.
func (p Policy) errorTTL(err error) time.Duration {
	var he *HTTPError
	x := p.more()
	if x.errTTL <= 0 || !errors.As(err, &he) || !slices.Contains(x.statuses, he.StatusCode) {
		return 0
	}
	return x.errTTL
}
