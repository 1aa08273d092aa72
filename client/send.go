package client

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/textproto"

	chimw "github.com/go-chi/chi/v5/middleware"

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
//  2. Unless [Method.Force] is on, the cache is read (L1, then L2 unless the
//     policy is L1-only). A hit returns a copy of the cached answer, with
//     Response.Source naming the tier.
//  3. Otherwise the request goes downstream, shared with identical sends in
//     flight (see [Method.Share]). Each caller waits for its own context only:
//     one that gives up gets ctx.Err() at once, and the downstream call is
//     cancelled only when every caller has given up.
//  4. A 2xx answer goes through [Options.OnSuccess], drops the cache entries
//     of the methods that name this one as a hitSource, and is cached
//     according to the policy. Source is cache.TierOrigin.
//  5. On any error [Options.OnError] may turn it into an answer (never
//     cached); [Options.OnComplete] runs last.
//
// The returned Response is the caller's own. Send is safe for concurrent use.
func (m *Method) Send(ctx context.Context) (*Response, error) {
	c := m.c
	ctx, stop := c.bind(ctx)
	if stop != nil {
		defer stop()
	}
	s := c.s
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
	if err != nil {
		return nil, err
	}
	return resp, nil
}

// send reads the cache, then goes downstream (shared or not).
func (p *Method) send(ctx context.Context) (*Response, error) {
	if p.bodyErr != nil {
		return nil, p.bodyErr
	}
	s := p.c.s
	in := p.info()
	pol := p.effectivePolicy()
	cacheable := s.tiers != nil && p.reader == nil && pol.enabled()
	if cacheable && !p.force {
		v, tier, err := s.tiers.Get(ctx, in.key, pol.mode)
		switch {
		case err == nil:
			if resp, derr := decodeResponse(v, true); derr == nil {
				resp.Source = tier
				return resp, nil
			}
			s.cacheErr(ctx, fmt.Errorf("client: %s %s: cache entry %s: %w", p.verb, in.url, in.key, errCorrupt))
		case errors.Is(err, cache.ErrMiss):
		case ctx.Err() != nil:
			return nil, ctx.Err()
		default:
			s.cacheErr(ctx, fmt.Errorf("client: %s %s: cache read: %w", p.verb, in.url, err))
		}
	}
	if !p.shares() {
		return p.fetch(ctx, in, pol, cacheable)
	}
	// A forced send shares only with forced sends: a call already in flight
	// may have started before whatever made the caller force.
	fkey := in.key
	if p.force {
		fkey = "force\x00" + fkey
	}
	resp, err, _ := s.flight.Do(ctx, fkey, func(ctx context.Context) (*Response, error) {
		return p.fetch(ctx, in, pol, cacheable)
	})
	// The shared value may be in the hands of several callers at once: each
	// gets its own copy.
	if err != nil {
		if he, ok := err.(*HTTPError); ok {
			return nil, he.clone()
		}
		return nil, err
	}
	return resp.Clone(), nil
}

// fetch makes the downstream call, runs OnSuccess, fires hitSource
// invalidation and writes the cache.
func (p *Method) fetch(ctx context.Context, in *methodInfo, pol Policy, cacheable bool) (*Response, error) {
	s := p.c.s
	timeout := p.timeout
	if timeout <= 0 {
		timeout = s.timeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	var body io.Reader
	if p.reader != nil {
		body = p.reader
	} else if p.body != nil {
		body = bytes.NewReader(p.body)
	}
	req, err := http.NewRequestWithContext(ctx, p.verb, in.url, body)
	if err != nil {
		return nil, fmt.Errorf("client: %s %s: %w", p.verb, in.url, err)
	}
	if len(p.header) > 0 {
		req.Header = p.header.Clone()
	}
	if fwd := p.c.fwd; fwd != nil {
		for _, name := range s.forward {
			if len(req.Header[name]) > 0 {
				continue // the method's own value wins
			}
			if vs := fwd[name]; len(vs) > 0 {
				req.Header[name] = vs
			} else if name == requestIDHeader() {
				// chi's middleware.RequestID keeps an id it generated in the
				// request's context only, not in its headers.
				if id := chimw.GetReqID(p.c.ctx); id != "" {
					req.Header[name] = []string{id}
				}
			}
		}
	}
	hr, err := s.hc.Do(req)
	if err != nil {
		return nil, err // a *url.Error: it names the method and URL
	}
	defer hr.Body.Close()
	data, err := io.ReadAll(io.LimitReader(hr.Body, s.maxBody+1))
	if err != nil {
		return nil, fmt.Errorf("client: %s %s: read body: %w", p.verb, in.url, err)
	}
	if int64(len(data)) > s.maxBody {
		return nil, fmt.Errorf("client: %s %s: %w (limit %d bytes)", p.verb, in.url, ErrBodyTooLarge, s.maxBody)
	}
	if hr.StatusCode < 200 || hr.StatusCode > 299 {
		return nil, &HTTPError{Method: p.verb, URL: in.url, StatusCode: hr.StatusCode, Header: hr.Header, Body: data}
	}
	resp := &Response{StatusCode: hr.StatusCode, Header: hr.Header, Body: data, Source: cache.TierOrigin}
	if s.onSuccess != nil {
		r, err := s.onSuccess(ctx, p, resp)
		if err != nil {
			return nil, err
		}
		if r != nil {
			resp = r
			resp.Source = cache.TierOrigin
		}
	}
	if s.tiers == nil {
		return resp, nil
	}
	if p.isSource() {
		p.hitSources(ctx, in)
	}
	if cacheable {
		if ttl := pol.ttl(resp); ttl > 0 {
			e := cache.Entry{Value: encodeResponse(resp), TTL: ttl, Tags: p.tags(in)}
			if err := s.tiers.Set(ctx, in.key, e, pol.mode); err != nil {
				s.cacheErr(ctx, fmt.Errorf("client: %s %s: cache write: %w", p.verb, in.url, err))
			}
		}
	}
	return resp, nil
}

// requestIDHeader is the canonical name of the header chi's
// middleware.RequestID reads an incoming id from (chimw.RequestIDHeader,
// "X-Request-Id" unless the program changed it).
func requestIDHeader() string {
	if h := chimw.RequestIDHeader; h != "X-Request-Id" {
		return textproto.CanonicalMIMEHeaderKey(h)
	}
	return "X-Request-Id"
}
