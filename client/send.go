package client

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync/atomic"
	"unsafe"

	"github.com/alovago/alova/cache"
)

// Errors returned by the client, wrapped with the method and URL where there
// is one; test with [errors.Is].
var (
	// ErrBodyTooLarge fails a send whose answer has a body larger than
	// [Options.MaxResponseBytes].
	ErrBodyTooLarge = errors.New("client: response body too large")
	// ErrRefused wraps the error of an [Options.BeforeRequest] hook that
	// refused a send: errors.Is(err, ErrRefused) and errors.Is(err, hookErr)
	// both hold.
	ErrRefused = errors.New("client: refused by BeforeRequest")
	// ErrNoCache is returned by [Client.SetCache] on a client without a cache.
	ErrNoCache = errors.New("client: no cache configured")
	// ErrNotCacheable is returned by [Client.SetCache] for a method whose
	// answers are not cached: its policy caches nothing (or gives the answer
	// no time to live), or it has an io.Reader body.
	ErrNotCacheable = errors.New("client: method is not cacheable")
	// ErrEncodeBody fails a send whose [Method.Body] value could not be
	// encoded as JSON; it wraps the encoder's error. Sending again cannot
	// help, so [Retryable] reports false for it.
	ErrEncodeBody = errors.New("client: cannot encode body as JSON")
)

var _ Sender = (*Method)(nil)

// Send sends the method and returns the answer, or an error: a [*HTTPError]
// for a non-2xx answer, the transport's error, the context's error, or one
// from the hooks. In order:
//
//  1. [Options.BeforeRequest] runs on a copy of the method; an error refuses.
//  2. A cacheable method (see [Policy]) reads through the cache's one read
//     path, [cache.Tiered.GetOrLoad]: L1, then L2 unless the policy is
//     L1-only, then downstream. [Method.Force] skips the reads. A hit
//     returns the cached answer, with [Response.Source] naming the tier.
//  3. The downstream call is shared with identical sends in flight (see
//     [Method.Share]). Each caller waits for its own context only: one that
//     gives up gets ctx.Err() at once, and the downstream call is cancelled
//     only when every caller has given up.
//  4. A 2xx answer goes through [Options.OnSuccess], drops the cache entries
//     of the methods that name this one as a hitSource, and is cached
//     according to the policy. Source is cache.TierOrigin.
//  5. On any error [Options.OnError] may turn it into an answer (never
//     cached); [Options.OnComplete] runs last.
//
// The returned Response is read-only (see [Response]), and may be shared
// with the other sends answered by the same cache entry. Send is safe for
// concurrent use.
//
// Send never keeps m: a method built and sent in one expression stays on
// the caller's stack, and its L1 hit allocates nothing. What may keep a
// method, the hooks and a downstream call (which may outlive Send, as a
// background refresh), gets a copy of m, made once and again after a
// setter, unless m is already held elsewhere (a server hook such as
// [Retry] sends the method it wraps itself).
func (m *Method) Send(ctx context.Context) (*Response, error) {
	if resp, ok, err := m.sendPlain(ctx); ok {
		return resp, err
	}
	return m.onHeap().sendAll(ctx)
}

// sendPlain sends a cacheable method when nothing but the cache takes part:
// no hook that runs on every send, no body error nor stream, a cache policy
// that is not controlled. ok is false for any other send, which it leaves
// untouched.
//
// An L1 hit runs on m itself and hands it to nothing, so that a method
// built and sent in a handler, c.Get(url).Param(k, v).Send(ctx), stays on
// the handler's stack: such a hit allocates nothing. Past L1 the send runs
// on a copy (onHeap), which the cache's loader may keep.
func (m *Method) sendPlain(ctx context.Context) (_ *Response, ok bool, _ error) {
	s := m.c.s
	if s.tiers == nil || s.startSend != nil || s.before != nil || s.onError != nil || s.onComplete != nil {
		return nil, false, nil
	}
	if x := m.more; x != nil && (x.bodyErr != nil || x.reader != nil) {
		return nil, false, nil
	}
	pol := m.effectivePolicy()
	if !pol.enabled() || pol.more().control != nil {
		return nil, false, nil
	}
	opts := m.loadOptions(pol)
	if resp, answered, err := m.readL1(ctx, m.cacheKey(), pol, opts); answered {
		return resp, true, err
	}
	h := m.onHeap()
	ctx, stop := h.c.bind(ctx)
	if stop != nil {
		defer stop()
	}
	resp, err := h.loadCached(ctx, h.info(), pol, opts)
	return resp, true, err
}

// onHeap returns a copy of m on the heap, for a send that hands the method
// to hooks or to the cache's loader, either of which may keep it: m itself
// may live on its caller's stack (see sendPlain). The copy shares m's derived
// URL and key, and is made once until a setter changes m, so that a method
// built once and sent many times is copied once.
func (m *Method) onHeap() *Method {
	return filled(&m.heapState, &m.heap, m.copyOut)
}

// sendHeld sends s for a server hook or a batch that holds it as a Sender:
// a *Method in s is on the heap already, so its sends need no copy (see
// onHeap) and run on it.
func sendHeld(ctx context.Context, s Sender) (*Response, error) {
	m, ok := s.(*Method)
	if !ok {
		return s.Send(ctx)
	}
	if resp, ok, err := m.sendPlain(ctx); ok {
		return resp, err
	}
	return m.sendAll(ctx)
}

// sendAll is Send's full path, with every hook: see Send.
func (m *Method) sendAll(ctx context.Context) (*Response, error) {
	c := m.c
	ctx, stop := c.bind(ctx)
	if stop != nil {
		defer stop()
	}
	s := c.s
	var end func(*Response, error)
	if s.startSend != nil {
		ctx, end = s.startSend(ctx, m)
	}
	var resp *Response
	p, err := m.prepare(ctx)
	if err == nil {
		resp, err = p.send(ctx)
	} else {
		p = m
	}
	if err != nil && s.onError != nil {
		if r, herr := s.onError(ctx, p, err); r != nil {
			resp, err = r, nil
		} else if herr != nil {
			err = herr
		}
	}
	if s.onComplete != nil {
		s.onComplete(ctx, p, resp, err)
	}
	if end != nil {
		end(resp, err)
	}
	if err != nil {
		return nil, err
	}
	return resp, nil
}

// send goes through the cache's read path when the method is cacheable, and
// otherwise downstream, shared or not.
func (p *Method) send(ctx context.Context) (*Response, error) {
	if err := p.rare().bodyErr; err != nil {
		return nil, err
	}
	s := p.c.s
	pol := p.effectivePolicy()
	if r := pol.controlled(ctx, p); r != nil {
		return r, nil
	}
	if s.tiers != nil && p.rare().reader == nil && pol.enabled() {
		return p.sendCached(ctx, pol)
	}
	in := p.info()
	if !p.shares() || p.force {
		return p.fetch(ctx, in)
	}
	resp, err, _ := s.flight.Do(ctx, in.key, func(ctx context.Context) (*Response, error) {
		return p.fetch(ctx, in)
	})
	// The shared answer is in the hands of several callers at once: a
	// Response is read-only, an error is copied.
	if err != nil {
		return nil, ownError(err)
	}
	return resp, nil
}

// sendCached reads m's answer through the tiers, loading it from downstream
// on a miss. An L1 hit answers first, without building the loader: it
// costs no allocation once the entry has been decoded (see decodeL1), and
// for a method with its own key, not even the building of its URL.
func (p *Method) sendCached(ctx context.Context, pol Policy) (*Response, error) {
	opts := p.loadOptions(pol)
	if resp, answered, err := p.readL1(ctx, p.cacheKey(), pol, opts); answered {
		return resp, err
	}
	return p.loadCached(ctx, p.info(), pol, opts)
}

// readL1 answers a send of p from its L1 entry under key. answered is false
// when L1 has no entry, or one of another Policy.Version or written by
// something else, which the read path past L1 sorts out.
func (p *Method) readL1(ctx context.Context, key string, pol Policy, opts cache.LoadOptions) (_ *Response, answered bool, _ error) {
	v, hit, err := p.c.s.tiers.GetL1(key, opts)
	switch {
	case !hit:
		return nil, false, nil
	case err != nil:
		p.logHit(ctx, key, cache.TierL1, true)
		return nil, true, ownError(err)
	}
	resp, err := decodeL1(v, pol)
	if err != nil {
		return nil, false, nil
	}
	p.logHit(ctx, key, cache.TierL1, false)
	return resp, true, nil
}

// loadOptions returns the cache options of a send of m under pol.
func (m *Method) loadOptions(pol Policy) cache.LoadOptions {
	opts := cache.LoadOptions{Mode: pol.mode, Force: m.force, NoShare: !m.shares(), L1TTL: pol.l1d}
	pol.beyond(&opts)
	return opts
}

// loadCached is sendCached past L1: L2, then downstream.
func (p *Method) loadCached(ctx context.Context, in methodInfo, pol Policy, opts cache.LoadOptions) (*Response, error) {
	s := p.c.s
	// own is the answer when this caller's loader ran: it keeps what the
	// cache drops (Set-Cookie) and needs no decoding. Atomic: a background
	// refresh (Policy.RefreshAhead) may run the loader after Send returned.
	var own atomic.Pointer[Response]
	load := func(ctx context.Context) (cache.Entry, error) {
		resp, err := p.fetch(ctx, in)
		if err != nil {
			if ttl := pol.errorTTL(err); ttl > 0 {
				return cache.Entry{}, cache.Negative(err, ttl)
			}
			return cache.Entry{}, err
		}
		own.Store(resp)
		e := cache.Entry{Value: cache.StringValue(encodeEntry(resp, pol.more().version))}
		if ttl := pol.ttl(p, resp); ttl > 0 && resp.body != "" && storable(resp, pol) {
			e.TTL, e.Tags = ttl, p.tags(in)
		}
		return e, nil
	}
	for {
		v, tier, err := s.tiers.GetOrLoad(ctx, in.key, load, opts)
		if err != nil {
			if tier == cache.TierL1 {
				p.logHit(ctx, in.key, tier, true)
			}
			return nil, ownError(err)
		}
		if o := own.Load(); o != nil && tier == cache.TierOrigin {
			return o, nil
		}
		var resp *Response
		if tier == cache.TierL1 {
			resp, err = decodeL1(v, pol)
		} else if resp, err = decodeEntry(v.String(), pol.more().version); err == nil {
			resp.source = tier
		}
		if err == nil {
			if tier != cache.TierOrigin {
				p.logHit(ctx, in.key, tier, false)
			}
			return resp, nil
		}
		if errors.Is(err, errStale) && !opts.Force {
			// Written under another Policy.Version: load over it.
			opts.Force = true
			continue
		}
		if opts.Force {
			return nil, fmt.Errorf("client: %s %s: cache entry %s: %w", p.verb, redact(in.url), in.key, err)
		}
		// Only an entry written by something else can fail to decode:
		// report it, and load again over it.
		s.cacheErr(ctx, fmt.Errorf("client: %s %s: cache entry %s: %w", p.verb, redact(in.url), in.key, err))
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

// ownError returns err as the caller's own: a shared [*HTTPError] is copied,
// so that no caller can change what another one gets.
func ownError(err error) error {
	var he *HTTPError
	if errors.As(err, &he) && err == error(he) {
		return he.clone()
	}
	return err
}

// fetch makes the downstream call, runs OnSuccess and fires hitSource
// invalidation.
func (p *Method) fetch(ctx context.Context, in methodInfo) (*Response, error) {
	s, x := p.c.s, p.rare()
	timeout := x.timeout
	if timeout <= 0 {
		timeout = s.timeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	var body io.Reader
	if x.reader != nil {
		body = x.reader
	} else if x.body != nil {
		body = bytes.NewReader(x.body)
	}
	req, err := http.NewRequestWithContext(ctx, p.verb, in.url, body)
	if err != nil {
		return nil, fmt.Errorf("client: %s %s: %w", p.verb, redact(in.url), err)
	}
	if len(x.header) > 0 {
		req.Header = x.header.Clone()
	}
	p.c.forwardTo(req.Header, s.forward)
	hr, err := s.hc.Do(req)
	if err != nil {
		return nil, err // a *url.Error: it names the method and the URL, redacted
	}
	defer hr.Body.Close()
	data, err := io.ReadAll(io.LimitReader(hr.Body, s.maxBody+1))
	if err != nil {
		return nil, fmt.Errorf("client: %s %s: read body: %w", p.verb, redact(in.url), err)
	}
	if int64(len(data)) > s.maxBody {
		return nil, fmt.Errorf("client: %s %s: %w (limit %d bytes)", p.verb, redact(in.url), ErrBodyTooLarge, s.maxBody)
	}
	if hr.StatusCode < 200 || hr.StatusCode > 299 {
		return nil, &HTTPError{Method: p.verb, URL: in.url, StatusCode: hr.StatusCode, Header: hr.Header, Body: data}
	}
	resp := &Response{status: hr.StatusCode, header: hr.Header, body: unsafe.String(unsafe.SliceData(data), len(data)), source: cache.TierOrigin}
	if s.onSuccess != nil {
		r, err := s.onSuccess(ctx, p, resp)
		if err != nil {
			return nil, err
		}
		if r != nil {
			resp = r
		}
	}
	if resp, err = p.transformed(ctx, resp); err != nil {
		return nil, err
	}
	resp = resp.from(cache.TierOrigin)
	if p.isSource() {
		p.hitSources(ctx, in)
	}
	return resp, nil
}
