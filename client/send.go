package client

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync/atomic"

	"github.com/alovago/alova/cache"
	"github.com/alovago/alova/internal/reqid"
)

var _ Sender = (*Method)(nil)

// Send sends the method and returns the answer, or an error: a [*HTTPError]
// for a non-2xx answer, the transport's error, the context's error, or one
// from the hooks. In order:
//
//  1. Send takes a snapshot of the method (see [Method]); the rest works on
//     it, so a setter called meanwhile changes only later sends.
//  2. [Options.BeforeRequest] may change the snapshot; an error refuses.
//  3. A cacheable method (see [Policy]) reads through the cache's one read
//     path, [cache.Tiered.GetOrLoad]: L1, then L2 unless the policy is
//     L1-only, then downstream. [Method.Force] skips the reads. A hit
//     returns the cached answer, with [Response.Source] naming the tier.
//  4. The downstream call is shared with identical sends in flight (see
//     [Method.Share]). Each caller waits for its own context only: one that
//     gives up gets ctx.Err() at once, and the downstream call is cancelled
//     only when every caller has given up.
//  5. A 2xx answer goes through [Options.OnSuccess], drops the cache entries
//     of the methods that name this one as a hitSource, and is cached
//     according to the policy. Source is cache.TierOrigin.
//  6. On any error [Options.OnError] may turn it into an answer (never
//     cached); [Options.OnComplete] runs last.
//
// The returned Response is read-only (see [Response]), and may be shared
// with the other sends answered by the same cache entry. Send is safe for
// concurrent use.
func (m *Method) Send(ctx context.Context) (*Response, error) {
	f := m.snapshot()
	s := f.c.s
	if s.chain == nil {
		var r request
		r.derive(&f)
		resp, _, err := r.send(ctx)
		return resp, err
	}
	c := &call{m: Method{f: f}}
	s.chain(ctx, c)
	if c.err != nil {
		return nil, c.err
	}
	return c.resp, nil
}

// request is one send's snapshot: the method's fields as the send took them
// (after BeforeRequest), and what the send derives from them. It is never
// changed once derived: everything that outlives the send (a loader, a
// background refresh, a shared downstream call) holds a request, and only a
// request.
type request struct {
	fields
	*extra        // f.rare(): never nil
	url    string // full URL with sorted params
	key    string // cache key and request-sharing key
	pol    Policy // the method's, or the client's default for its verb
	shares bool
	// fwd holds the forwarded headers of the incoming request, copied by
	// detach for a request that may outlive its send; nil before.
	fwd http.Header
}

// derive fills r from f: the URL, the cache key, the policy.
func (r *request) derive(f *fields) {
	r.fields, r.extra = *f, f.rare()
	c, s := f.c, f.c.s
	var buf [256]byte
	verb := f.verb
	if r.transform != nil {
		verb += transformedVerb
	}
	r.key = f.key
	// A plain request (no key of its own, no header set, no body, no value
	// in a forwarded header that joins the key) takes its key from the
	// client's table; any other is hashed for itself.
	own := r.key == "" && (len(r.header) > 0 || len(r.body) > 0 || anyValue(c.fwd, s.keyed))
	var plainKey string
	r.url, plainKey = s.keys.lookup(verb, f.appendURL(buf[:0]), s.keyed, r.key == "" && !own)
	switch {
	case own:
		r.key = hashKey(verb, r.url, r.header, r.body, s.keyed, c.fwd)
	case r.key == "":
		r.key = plainKey
	}
	r.pol = f.policy
	if r.pol.kind == policyUnset {
		r.pol = NoCache
		if p, ok := s.defaults[f.verb]; ok {
			r.pol = p
		}
	}
	switch {
	case r.reader != nil:
		r.shares = false
	case f.share != 0:
		r.shares = f.share > 0
	default:
		r.shares = !s.noShare && f.verb != http.MethodPost && f.verb != http.MethodPatch
	}
}

// detach returns a copy of r on the heap that owns everything it reads: the
// forwarded headers of the incoming request are copied into it, the request
// id a middleware generated included. Everything that may outlive the send
// gets a detached request.
func (r *request) detach() *request {
	d := new(request)
	*d = *r
	c := r.c
	if c.fwd == nil && c.ctx == nil {
		return d
	}
	d.fwd = make(http.Header, len(c.s.forward))
	for _, name := range c.s.forward {
		vs := c.fwd[name]
		if name == "X-Request-Id" {
			// A client's id is forwarded only when it is an id (see
			// reqid.Valid), and so is one a middleware generated.
			if len(vs) != 1 || !reqid.Valid(vs[0]) {
				vs = nil
				if c.idFrom != nil {
					if id := c.idFrom(c.ctx); reqid.Valid(id) {
						vs = []string{id}
					}
				}
			}
		}
		if len(vs) > 0 {
			d.fwd[name] = vs
		}
	}
	return d
}

// method returns a new Method with r's fields, for a hook or a policy
// function that takes one: what it changes reaches nothing in flight.
func (r *request) method() *Method { return &Method{f: r.fields} }

// send sends r: through the cache's read path when r is cacheable, and
// otherwise downstream, shared or not. tier names where a cached answer or
// cached error came from (cache.TierNone when nothing was read from the
// cache). r is not kept: what may outlive the send works on r.detach().
func (r *request) send(ctx context.Context) (_ *Response, tier cache.Tier, _ error) {
	if r.bodyErr != nil {
		return nil, cache.TierNone, r.bodyErr
	}
	c, s := r.c, r.c.s
	if s.unbound {
		return nil, cache.TierNone, errUnbound
	}
	if fn := r.pol.more().control; fn != nil {
		resp, err := fn(ctx, r.method())
		if err != nil {
			return nil, cache.TierNone, err
		}
		if resp != nil {
			return resp, cache.TierNone, nil
		}
	}
	cached := s.tiers != nil && r.reader == nil && r.pol.enabled()
	var opts cache.LoadOptions
	if cached {
		opts = r.loadOptions()
		if resp, hit, err := r.readL1(opts); hit {
			return resp, cache.TierL1, err
		}
	}
	ctx, stop := c.bind(ctx)
	if stop != nil {
		defer stop()
	}
	d := r.detach()
	if cached {
		return d.loadCached(ctx, opts)
	}
	if !d.shares || d.force {
		resp, err := d.fetch(ctx)
		return resp, cache.TierNone, err
	}
	resp, err, _ := s.flight.Do(ctx, d.key, d.fetch)
	// The shared answer is in the hands of several callers at once: a
	// Response is read-only, an error is copied.
	if err != nil {
		return nil, cache.TierNone, ownError(err)
	}
	return resp, cache.TierNone, nil
}

// loadOptions returns the cache options of a send of r.
func (r *request) loadOptions() cache.LoadOptions {
	x := r.pol.more()
	return cache.LoadOptions{Mode: r.pol.mode, Force: r.force, NoShare: !r.shares, L1TTL: r.pol.l1d,
		RefreshBefore: x.refreshBefore, StaleFor: x.staleFor, LockWait: x.lockWait,
		SoftTimeout: x.softTimeout, HardTimeout: x.hardTimeout,
		StaleIfError: x.staleIfError, StaleOnError: staleable}
}

// readL1 answers r from its L1 entry. hit is false when L1 has no entry,
// or one of another Policy.Version or written by something else, which the
// read path past L1 sorts out.
func (r *request) readL1(opts cache.LoadOptions) (_ *Response, hit bool, _ error) {
	v, hit, err := r.c.s.tiers.GetL1(r.key, opts)
	switch {
	case !hit:
		return nil, false, nil
	case err != nil:
		return nil, true, ownError(err)
	}
	resp, err := decodeL1(v, r.pol)
	if err != nil {
		return nil, false, nil
	}
	return resp, true, nil
}

// loadCached is the read path past L1: L2, then downstream. r is detached.
func (r *request) loadCached(ctx context.Context, opts cache.LoadOptions) (*Response, cache.Tier, error) {
	s, pol := r.c.s, r.pol
	// own is the answer when this caller's loader ran: it keeps what the
	// cache drops (Set-Cookie) and needs no decoding. Atomic: a background
	// refresh (Policy.RefreshAhead) may run the loader after Send returned.
	var own atomic.Pointer[Response]
	// warn is the Warning of a kept answer (revalidate.go).
	var warn atomic.Pointer[[]string]
	if opts.SoftTimeout > 0 || opts.StaleIfError > 0 {
		opts.OnStale = func(err error) { w := staleWarning(err); warn.Store(&w) }
	}
	load := func(ctx context.Context) (cache.Entry, error) {
		prev := r.previous(ctx) // revalidate.go
		resp, how, err := r.fetchIf(ctx, prev)
		if err != nil {
			if ttl := pol.errorTTL(err); ttl > 0 {
				return cache.Entry{}, cache.Negative(err, ttl)
			}
			return cache.Entry{}, err
		}
		own.Store(resp)
		e := cache.Entry{Value: cache.StringValue(encodeEntry(resp, pol.more().version)),
			Revalidated: how != plainFetch, NotModified: how == notModified}
		if how == notModified {
			e.Saved = int64(len(resp.body))
		}
		if ttl := pol.ttl(r, resp); ttl > 0 && resp.body != "" && storable(resp, pol) {
			e.TTL, e.Tags = ttl, r.tags()
		}
		return e, nil
	}
	for {
		v, tier, err := s.tiers.GetOrLoad(ctx, r.key, load, opts)
		if err != nil {
			if tier != cache.TierL1 {
				tier = cache.TierNone
			}
			return nil, tier, ownError(err)
		}
		if o := own.Load(); o != nil && tier == cache.TierOrigin {
			return o, cache.TierNone, nil
		}
		var resp *Response
		if tier == cache.TierL1 {
			resp, err = decodeL1(v, pol)
		} else if resp, err = decodeEntry(v.String(), pol.more().version); err == nil {
			resp.source = tier
		}
		if err == nil {
			if tier == cache.TierOrigin {
				tier = cache.TierNone
			} else if w := warn.Load(); w != nil {
				resp = resp.warned(*w)
			}
			return resp, tier, nil
		}
		if errors.Is(err, errStale) && !opts.Force {
			// Written under another Policy.Version: load over it.
			opts.Force = true
			continue
		}
		cerr := fmt.Errorf("client: %s %s: cache entry %s: %w", r.verb, redact(r.url), r.key, err)
		if opts.Force {
			return nil, cache.TierNone, cerr
		}
		// Only an entry written by something else can fail to decode:
		// report it, and load again over it.
		s.cacheErr(ctx, cerr)
		opts.Force = true
	}
}

// entryMemo is the cache.Value.Memo key of the client's decoding of an
// entry under a Policy.Version tag.
type entryMemo struct{ version string }

// plainEntry is the memo key of untagged entries.
var plainEntry any = entryMemo{}

// decodeL1 returns the Response of an L1 entry, decoded on the entry's first
// hit and shared by every later one: a Response is read-only.
func decodeL1(v cache.Value, pol Policy) (*Response, error) {
	key := pol.more().entryKey
	if key == nil {
		key = plainEntry
	}
	r, err := v.Memo(key, func(s string) (any, error) {
		resp, err := decodeEntry(s, pol.more().version)
		if err != nil {
			return nil, err
		}
		resp.source = cache.TierL1
		return resp, nil
	})
	if err != nil {
		return nil, err
	}
	return r.(*Response), nil
}

// fetch makes the downstream call of r (detached), runs OnSuccess and the
// transform, and fires hitSource invalidation.
func (r *request) fetch(ctx context.Context) (*Response, error) {
	resp, _, err := r.fetchIf(ctx, nil)
	return resp, err
}

// fetchIf is fetch, asking the downstream whether prev (when not nil) is
// still current: a 304 answers prev renewed (revalidate.go), as is.
func (r *request) fetchIf(ctx context.Context, prev *Response) (*Response, revalidation, error) {
	s := r.c.s
	timeout := r.timeout
	if timeout <= 0 {
		timeout = s.timeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	var body io.Reader
	if r.reader != nil {
		body = r.reader
	} else if r.body != nil {
		body = bytes.NewReader(r.body)
	}
	req, err := http.NewRequestWithContext(ctx, r.verb, r.url, body)
	if err != nil {
		return nil, plainFetch, fmt.Errorf("client: %s %s: %w", r.verb, redact(r.url), err)
	}
	if len(r.header) > 0 {
		req.Header = r.header.Clone()
	}
	for name, vs := range r.fwd {
		if len(req.Header[name]) == 0 { // the method's own value wins
			req.Header[name] = vs
		}
	}
	how := plainFetch
	if prev != nil && conditional(req.Header, prev) { // revalidate.go
		how = revalidated
	}
	hr, err := s.hc.Do(req)
	if err != nil {
		return nil, plainFetch, err // a *url.Error: it names the method and the URL, redacted
	}
	defer hr.Body.Close()
	if how == revalidated && hr.StatusCode == http.StatusNotModified {
		return renewed(prev, hr.Header), notModified, nil
	}
	data, err := io.ReadAll(io.LimitReader(hr.Body, s.maxBody+1))
	if err != nil {
		return nil, plainFetch, fmt.Errorf("client: %s %s: read body: %w", r.verb, redact(r.url), err)
	}
	if int64(len(data)) > s.maxBody {
		return nil, plainFetch, fmt.Errorf("client: %s %s: %w (limit %d bytes)", r.verb, redact(r.url), ErrBodyTooLarge, s.maxBody)
	}
	if hr.StatusCode < 200 || hr.StatusCode > 299 {
		return nil, plainFetch, &HTTPError{Method: r.verb, URL: r.url, StatusCode: hr.StatusCode, Header: hr.Header, Body: data}
	}
	resp := &Response{status: hr.StatusCode, header: hr.Header, body: string(data), source: cache.TierOrigin}
	if s.onSuccess != nil {
		got, err := s.onSuccess(ctx, r.method(), resp)
		if err != nil {
			return nil, plainFetch, err
		}
		if got != nil {
			resp = got
		}
	}
	if fn := r.transform; fn != nil {
		got, err := fn(ctx, resp)
		if err != nil {
			return nil, plainFetch, err
		}
		if got != nil {
			resp = got
		}
	}
	resp = resp.from(cache.TierOrigin)
	if r.isSource() {
		r.hitSources(ctx)
	}
	return resp, how, nil
}

// transformedVerb marks the key of a method with a transform: verbs never
// hold a NUL byte, so no plain request hashes the same.
const transformedVerb = "\x00transformed"
