package client

import (
	"errors"
	"slices"
	"time"

	"github.com/alovago/alova/cache"
)

// Policy says whether and for how long a method's successful answers are
// cached, and in which tiers (alova's cacheFor). Build one with [CacheFor],
// [CacheUntil] or [CacheFunc], or use [NoCache]; [Policy.L1] keeps it in
// the in-process tier and [Policy.Errors] caches chosen error answers. The
// zero Policy means
// "not set": the method falls back to [Options.DefaultCache] for GET and to no
// caching for other HTTP methods. A Policy is a small value, safe to share.
//
// Only 2xx answers with a body are cached (alova never caches an empty
// answer), unless [Policy.Errors] says so for an error status, and never
// those of a method with an io.Reader body.
type Policy struct {
	kind     policyKind
	mode     cache.Mode
	d        time.Duration
	t        time.Time
	fn       func(*Response) time.Duration
	errTTL   time.Duration
	statuses []int

	// refresh.go: refresh-ahead, stale serving, distributed single-flight.
	refreshBefore, staleFor, lockWait time.Duration
}

type policyKind uint8

const (
	policyUnset policyKind = iota
	policyOff
	policyFor
	policyUntil
	policyFunc
)

// NoCache caches nothing (alova's cacheFor: null). Request sharing is a
// separate setting: see [Method.Share].
var NoCache = Policy{kind: policyOff}

// CacheFor caches answers for d through every tier of the client's cache (L1
// and L2). A d <= 0 caches nothing, as in alova.
func CacheFor(d time.Duration) Policy { return Policy{kind: policyFor, d: d} }

// CacheUntil caches answers until t (alova's cacheFor: Date). An answer that
// arrives after t is not cached.
func CacheUntil(t time.Time) Policy { return Policy{kind: policyUntil, t: t} }

// CacheFunc caches each answer for fn(resp), which may read the answer's
// headers (Cache-Control, Expires) or body; a result <= 0 leaves that answer
// uncached. fn is called once per network answer, after [Options.OnSuccess],
// and must be safe for concurrent use. A nil fn caches nothing.
func CacheFunc(fn func(resp *Response) time.Duration) Policy {
	return Policy{kind: policyFunc, fn: fn}
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
		return p.fn != nil
	}
	return false
}

// ttl is how long resp is cached under p; <= 0 means not at all.
func (p Policy) ttl(resp *Response) time.Duration {
	switch p.kind {
	case policyFor:
		return p.d
	case policyUntil:
		return time.Until(p.t)
	case policyFunc:
		if p.fn != nil {
			return p.fn(resp)
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
	p.errTTL, p.statuses = ttl, slices.Clone(statuses)
	return p
}

// errorTTL is how long err, a failed send, is cached under p; 0 means not.
func (p Policy) errorTTL(err error) time.Duration {
	var he *HTTPError
	if p.errTTL <= 0 || !errors.As(err, &he) || !slices.Contains(p.statuses, he.StatusCode) {
		return 0
	}
	return p.errTTL
}
