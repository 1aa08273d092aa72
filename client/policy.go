package client

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/alovago/alova/cache"
)

// Policy says whether and for how long a method's successful answers are
// cached, and in which tiers (alova's cacheFor). Build one with [CacheFor],
// [CacheUntil], [CacheFunc] or [CacheFromHeaders], or use [NoCache] or
// [CacheControlled]; [Policy.L1] keeps it in the in-process tier,
// [Policy.L1For] caps the in-process copy, [Policy.Version] tags the
// entries and [Policy.Errors] caches chosen error answers. The zero Policy means "not set": the method
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
	t        time.Time                                         // CacheUntil
	errTTL   time.Duration                                     // Policy.Errors
	statuses []int                                             // Policy.Errors
	version  string                                            // Policy.Version
	entryKey any                                               // entryMemo{version}, made once by Version
	control  func(context.Context, *Method) (*Response, error) // CacheControlled
	ttlFn    func(m *Method, resp *Response) time.Duration     // CacheFunc

	// RefreshAhead and Lock: refresh-ahead, stale serving, distributed
	// single-flight.
	refreshBefore, staleFor, lockWait time.Duration
	// Timeouts: soft and hard timeouts of reloads.
	softTimeout, hardTimeout time.Duration
	// StaleIfError and NoRevalidate (revalidate.go).
	staleIfError time.Duration
	noRevalidate bool
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
	policyHeaders
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

// CacheFromHeaders caches each answer for as long as the downstream says it
// is fresh, at most max (RFC 9111, as a shared cache reads it):
// Cache-Control s-maxage, else max-age, else Expires minus Date, each less
// the answer's age (its Age header, or the time since its Date when that is
// longer). An answer with no freshness information, or with
// Cache-Control no-cache, no-store or private, is not cached: the
// downstream asks that each use be checked with it. A max <= 0 caches
// nothing.
func CacheFromHeaders(max time.Duration) Policy { return Policy{kind: policyHeaders, d: max} }

// freshFor returns how long an answer with header h, received at now, stays
// fresh for a shared cache; <= 0 means not at all.
func freshFor(h http.Header, now time.Time) time.Duration {
	var lifetime time.Duration
	known, maxAge, sMaxAge := false, time.Duration(-1), time.Duration(-1)
	for _, v := range h.Values("Cache-Control") {
		for _, part := range strings.Split(v, ",") {
			name, arg, _ := strings.Cut(strings.TrimSpace(part), "=")
			switch strings.ToLower(name) {
			case "no-cache", "no-store", "private":
				return 0
			case "max-age":
				if d, ok := seconds(arg); ok && maxAge < 0 {
					maxAge = d
				}
			case "s-maxage":
				if d, ok := seconds(arg); ok && sMaxAge < 0 {
					sMaxAge = d
				}
			}
		}
	}
	date, dateErr := http.ParseTime(h.Get("Date"))
	if dateErr != nil {
		date = now
	}
	switch {
	case sMaxAge >= 0:
		lifetime, known = sMaxAge, true
	case maxAge >= 0:
		lifetime, known = maxAge, true
	case h.Get("Expires") != "":
		// An Expires that does not parse (such as "0") means already
		// expired.
		if exp, err := http.ParseTime(h.Get("Expires")); err == nil {
			lifetime = exp.Sub(date)
		}
		known = true
	}
	if !known {
		return 0
	}
	age := max(now.Sub(date), 0)
	if a, ok := seconds(h.Get("Age")); ok {
		age = max(age, a)
	}
	return lifetime - age
}

// seconds parses a delta-seconds value (RFC 9111 section 1.2.2): digits
// only, capped rather than overflowing.
func seconds(v string) (time.Duration, bool) {
	v = strings.Trim(v, `"`)
	if v == "" {
		return 0, false
	}
	n := int64(0)
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		if n < 1<<31 {
			n = n*10 + int64(c-'0')
		}
	}
	return time.Duration(min(n, 1<<31)) * time.Second, true
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
	case policyHeaders:
		return p.d > 0
	}
	return false
}

// ttl is how long resp, an answer of r, is cached under p; <= 0 means not
// at all.
func (p Policy) ttl(r *request, resp *Response) time.Duration {
	switch p.kind {
	case policyFor:
		return p.d
	case policyUntil:
		return time.Until(p.more().t)
	case policyFunc:
		if fn := p.more().ttlFn; fn != nil {
			return fn(r.method(), resp)
		}
	case policyHeaders:
		return min(freshFor(resp.header, time.Now()), p.d)
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

// L1For returns a copy of p whose in-process copy (L1) lives at most d,
// while the shared copy (L2) keeps the policy's full time (alova sets one
// expiry per tier with its l1/l2 caches): e.g. CacheFor(time.Hour).L1For(
// time.Minute) serves an answer for an hour from Redis, but each process
// re-reads it from Redis at least every minute, so a lost invalidation
// message cannot keep a process stale for long. The cap also applies to the
// copy an L2 hit puts in L1, and adds to [cache.TieredOptions].L1MaxTTL
// (the shorter wins). A d <= 0 removes the cap.
func (p Policy) L1For(d time.Duration) Policy {
	p.l1d = max(d, 0)
	return p
}

// Version returns a copy of p whose entries carry the version tag v
// (alova's cacheFor tag). An entry written under another tag (or under
// none, by an older deploy) reads as a miss: the answer is loaded again and
// overwrites it, in every tier. Change the tag when a deploy changes the
// shape of what the method caches (a new field, a new transform), so that
// no process decodes an answer of the old shape. During a rolling deploy
// the old and the new processes overwrite each other's entries (each
// mismatch costs a downstream call) until the old ones are gone. The tag
// is stored inside the cached entry; "" means no tag.
func (p Policy) Version(v string) Policy {
	return p.with(func(x *policyMore) {
		x.version, x.entryKey = v, nil
		if v != "" {
			x.entryKey = entryMemo{v}
		}
	})
}

// RefreshAhead returns a copy of p whose hot entries are reloaded in the
// background before they expire, so that no send waits for the downstream
// when a hot answer's time is up (see [cache.LoadOptions].RefreshBefore):
// a send that hits an entry with less than before left answers from the
// cache at once and starts one reload (one per key per process, and one
// across instances with [Policy.Lock]). With stale > 0, an entry is also
// kept stale for that long past its time and answered at once while one
// reload runs (stale-while-revalidate); sends of the method must then all
// use the same stale. Zero durations turn each part off.
//
// The reload runs the method again after the send that started it has
// returned, on a goroutine of the cache (stopped by [cache.Tiered.Close]),
// with a context that keeps the send's values but not its cancellation;
// its hooks (OnSuccess) run as for any downstream call, and the forwarded
// headers are those of the request that started it.
func (p Policy) RefreshAhead(before, stale time.Duration) Policy {
	return p.with(func(x *policyMore) { x.refreshBefore, x.staleFor = max(before, 0), max(stale, 0) })
}

// Lock returns a copy of p under which the instances sharing an L2 make one
// downstream call between them when they miss the same answer at once
// (a distributed single-flight, see [cache.LoadOptions].LockWait): one
// instance takes a short lease in Redis and calls the downstream, the others
// wait for its answer in L2, for at most wait; past it (the holder died or is
// slow) each calls the downstream itself. It costs one Redis round trip per
// cold miss. A wait <= 0 turns it off. It has no effect with [Policy.L1].
func (p Policy) Lock(wait time.Duration) Policy {
	return p.with(func(x *policyMore) { x.lockWait = max(wait, 0) })
}

// Timeouts returns a copy of p whose sends wait a bounded time for the
// downstream when the cached answer has expired (see
// [cache.LoadOptions].SoftTimeout and HardTimeout): each answer is kept an
// hour past its time as the last good answer, and a send that finds it
// expired calls the downstream, waits at most soft for it, then answers the
// last good answer (its Source names the tier that kept it, and the cache's
// Stats count it in SoftTimeouts and StaleHits) while the call goes on in
// the background and refreshes the cache when it lands. A send with no
// last good answer waits at most hard (0: as long as its context and the
// client's Timeout allow), then fails with an error wrapping
// context.DeadlineExceeded, the call again going on in the background.
// The downstream call runs with a context that keeps the send's values but
// not its cancellation, as with [Policy.RefreshAhead]. Sends of the method
// must all use the same soft. Zero or negative durations turn each part
// off. [Client.SendBatch] ignores it (as it ignores RefreshAhead): do not
// cache the same keys through both, or a batch may answer a kept answer
// as if it were current.
func (p Policy) Timeouts(soft, hard time.Duration) Policy {
	return p.with(func(x *policyMore) { x.softTimeout, x.hardTimeout = max(soft, 0), max(hard, 0) })
}

// CacheControlled replaces the method's cache with fn (alova's controlled
// cache, a function-form cacheFor): on every send, after
// [Options.BeforeRequest], fn(ctx, m) returns the answer to use, or nil to
// send the method downstream; an error fails the send (alova's controlled
// function that throws). The caller gets what fn returns (made with
// [NewResponse], so its Source is cache.TierNone); [Options.OnSuccess] and
// hitSource do not run for it. A downstream answer is not cached: fn keeps
// its own store, and the cache tiers are neither read nor written, nor
// dropped by [Client.Invalidate]; [Client.QueryCache] answers what fn
// answers. Request sharing applies to the downstream call as usual. fn
// must be safe for concurrent use; a nil fn always goes downstream.
func CacheControlled(fn func(ctx context.Context, m *Method) (*Response, error)) Policy {
	return Policy{kind: policyControlled, x: &policyMore{control: fn}}
}

// IgnoreCacheControl returns a copy of p that caches answers whatever their
// Cache-Control header says. By default an answer marked Cache-Control:
// no-store or private is not cached: the downstream says it belongs to one
// caller. Opt out only when the cache key already tells callers apart (a
// forwarded Authorization header is in the key) or the downstream marks
// answers private by mistake.
func (p Policy) IgnoreCacheControl() Policy {
	p.anyCC = true
	return p
}

// storable reports whether resp, an answer to the request of this method,
// may be cached for other callers: not when its Cache-Control says no-store
// or private (unless the policy ignores it), and not when it varies on a
// request header that differs on every request and stays out of the key (the
// tracing headers) or on everything (Vary: *). A Vary on a header the key
// holds (the method's headers, forwarded headers such as Authorization) or
// on one this client never sends is harmless.
func storable(resp *Response, pol Policy) bool {
	if !pol.anyCC {
		for _, v := range resp.header.Values("Cache-Control") {
			if hasToken(v, "no-store") || hasToken(v, "private") {
				return false
			}
		}
	}
	for _, v := range resp.header.Values("Vary") {
		for _, name := range strings.Split(v, ",") {
			name = strings.TrimSpace(name)
			if name == "*" || traceHeaders[http.CanonicalHeaderKey(name)] {
				return false
			}
		}
	}
	return true
}

// hasToken reports whether the comma-separated header value v holds token
// (case-insensitive), alone or with an argument (private="Set-Cookie").
func hasToken(v, token string) bool {
	for _, part := range strings.Split(v, ",") {
		part = strings.TrimSpace(part)
		if i := strings.IndexByte(part, '='); i >= 0 {
			part = part[:i]
		}
		if strings.EqualFold(part, token) {
			return true
		}
	}
	return false
}
