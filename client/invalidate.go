package client

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/alovago/alova/cache"
)

// Target is something [Client.Invalidate] can drop from the cache, and that
// [Method.HitSource] can name as a source: a [*Method], or what [ByName],
// [ByNameMatch], [ByURLPrefix] and [ByURLMatch] return.
type Target interface{ target() }

func (*Method) target() {}

// ByName targets the entries of the methods named name (see [Method.Name]).
func ByName(name string) Target { return byName(name) }

// ByNameMatch targets the entries of the named methods whose name matches
// re.
func ByNameMatch(re *regexp.Regexp) Target { return byNameMatch{re} }

// ByURLPrefix targets the entries whose full URL starts with prefix. A
// relative prefix is joined to the client's BaseURL first, so
// ByURLPrefix("/products") on a client of http://shop drops
// http://shop/products, http://shop/products/1 and
// http://shop/products?page=2.
func ByURLPrefix(prefix string) Target { return byURLPrefix(prefix) }

// ByURLMatch targets the entries whose full URL (base URL, path and sorted
// params) matches re.
func ByURLMatch(re *regexp.Regexp) Target { return byURLMatch{re} }

type (
	byName      string
	byNameMatch struct{ re *regexp.Regexp }
	byURLPrefix string
	byURLMatch  struct{ re *regexp.Regexp }
)

func (byName) target()      {}
func (byNameMatch) target() {}
func (byURLPrefix) target() {}
func (byURLMatch) target()  {}

// Invalidate drops cached answers from every tier (alova's invalidateCache),
// in this process and, through the cache's invalidation, in every process
// sharing its L2. Targets are methods, [ByName], [ByNameMatch],
// [ByURLPrefix] and [ByURLMatch]. With no target it drops every entry under
// the client's BaseURL (every entry of the tiers if there is no BaseURL).
// It does nothing on a client without a cache. The errors of every target
// are joined.
//
// A method target drops its exact entry, in the cache of the client that
// built the method, under the key its send would use: BeforeRequest
// included, and the forwarded headers of the client it was built from. So
// on a request-scoped client that forwards Authorization, Invalidate(m)
// drops the caller's own entry only, while [ByURLPrefix] drops every
// user's. A method whose policy is [CacheControlled] has no entry to drop
// and is left alone, as alova does.
func (c *Client) Invalidate(ctx context.Context, targets ...Target) error {
	s := c.s
	if s.unbound {
		return errUnbound
	}
	if s.tiers == nil {
		return nil
	}
	if len(targets) == 0 {
		targets = []Target{ByURLPrefix("")}
	}
	var keys, tags []string
	var errs []error
	// known returns the tags in use under prefix whose rest keep accepts.
	known := func(prefix string, what any, keep func(rest string) bool) {
		ts, err := s.tiers.KnownTags(ctx, prefix)
		if err != nil {
			errs = append(errs, fmt.Errorf("client: invalidate %v: %w", what, err))
		}
		for _, t := range ts {
			if keep(strings.TrimPrefix(t, prefix)) {
				tags = append(tags, t)
			}
		}
	}
	for _, t := range targets {
		switch t := t.(type) {
		case *Method:
			r, err := t.prepare(ctx)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			if r.pol.kind == policyControlled {
				continue
			}
			if ts := r.c.s.tiers; ts != s.tiers {
				// Another client's method: its entry lives in that client's
				// cache (alova's invalidateCache([method])).
				if ts != nil {
					if err := ts.Delete(ctx, r.key); err != nil {
						errs = append(errs, fmt.Errorf("client: invalidate: %w", err))
					}
				}
				continue
			}
			keys = append(keys, r.key)
		case byName:
			tags = append(tags, tagName+string(t))
		case byNameMatch:
			known(tagName, t.re, t.re.MatchString)
		case byURLPrefix:
			u := string(t)
			if !isAbsolute(u) {
				u = joinURL(s.base, u)
			}
			known(tagURL+u, fmt.Sprintf("prefix %q", u), func(string) bool { return true })
		case byURLMatch:
			known(tagURL, t.re, t.re.MatchString)
		default:
			errs = append(errs, fmt.Errorf("client: invalidate: unknown target %T", t))
		}
	}
	if len(keys) > 0 {
		if err := s.tiers.Delete(ctx, keys...); err != nil {
			errs = append(errs, fmt.Errorf("client: invalidate: %w", err))
		}
	}
	if len(tags) > 0 {
		if err := s.tiers.DeleteTags(ctx, tags...); err != nil {
			errs = append(errs, fmt.Errorf("client: invalidate: %w", err))
		}
	}
	return errors.Join(errs...)
}

// InvalidateAll drops every cached answer of every client (alova's
// invalidateCache() without arguments): for each cache a client of this
// process uses (every [cache.Tiered] given to [New]), it deletes from L2
// every entry a client wrote (each carries a URL tag: one look-up of the tag
// registry and one tag deletion, in time linear in the number of entries),
// then empties L1 here and, through the invalidation feed, in every process
// sharing that L2 ([cache.Tiered.Clear]), negative entries and L1-only ones
// included. Keys in L2 that no client wrote (a direct GetOrLoad's) are left
// alone. Processes on another Redis, or caches no client uses, are not
// touched. The errors of every cache are joined; an L2 failure leaves that
// L2's entries to expire by themselves, while L1 is emptied all the same.
func InvalidateAll(ctx context.Context) error {
	var errs []error
	for _, t := range registered() {
		known, err := t.KnownTags(ctx, tagURL)
		if err != nil {
			errs = append(errs, fmt.Errorf("client: invalidate all: %w", err))
		}
		if len(known) > 0 {
			if err := t.DeleteTags(ctx, known...); err != nil {
				errs = append(errs, fmt.Errorf("client: invalidate all: %w", err))
			}
		}
		if err := t.Clear(ctx); err != nil {
			errs = append(errs, fmt.Errorf("client: invalidate all: %w", err))
		}
	}
	return errors.Join(errs...)
}

// SetCache writes m's cached answer (alova's setCache) in the cache of the
// client that built m, with m's cache policy (its TTL, L1 cap, version and
// tiers) and tags, as if m had just been sent. update receives m's current
// answer (read as [Client.QueryCache] reads it; nil when there is none) and
// returns the answer to store, which the cache copies; returning nil
// cancels the write (alova's updater returning undefined). To set a value
// outright, ignore cur. The read and the write are not atomic: a send that
// refreshes the entry in between is overwritten.
//
// mode limits the write to one tier (alova's policy 'l1' | 'l2'):
// cache.ModeL1 or cache.ModeL2; cache.ModeAll means the tiers m's policy
// uses. A write to L2 alone drops the L1 copies, here and in the processes
// sharing L2.
//
// SetCache returns [ErrNotCacheable] on a client without a cache, when m's
// policy caches nothing (or gives the answer no time to live) or is
// [CacheControlled], and when m has a reader body. It panics if update is
// nil.
func (c *Client) SetCache(ctx context.Context, m *Method, mode cache.Mode, update func(cur *Response) *Response) error {
	if update == nil {
		panic("client: SetCache: nil update")
	}
	r, err := m.prepare(ctx)
	if err != nil {
		return err
	}
	s := r.c.s
	if s.tiers == nil || r.reader != nil || !r.pol.enabled() {
		return fmt.Errorf("client: set cache of %s %s: %w", r.verb, redact(r.url), ErrNotCacheable)
	}
	mode = r.pol.tiers(mode)
	cur, _ := r.queryCache(ctx, mode)
	resp := update(cur)
	if resp == nil {
		return nil
	}
	ttl := r.pol.ttl(r, resp)
	if ttl <= 0 {
		return fmt.Errorf("client: set cache of %s %s: %w (ttl %v)", r.verb, redact(r.url), ErrNotCacheable, ttl)
	}
	e := cache.Entry{Value: cache.StringValue(encodeEntry(resp, r.pol.more().version)), TTL: ttl, Tags: r.tags(), L1TTL: r.pol.l1d}
	if err := s.tiers.Set(ctx, r.key, e, mode); err != nil {
		return fmt.Errorf("client: set cache of %s %s: %w", r.verb, redact(r.url), err)
	}
	return nil
}

// QueryCache returns m's cached answer (alova's queryCache) from the cache
// of the client that built m, without going downstream; [Response.Source]
// names the tier. mode limits the read to one tier (alova's policy):
// cache.ModeL1 or cache.ModeL2; cache.ModeAll means the tiers m's policy
// uses. A miss, an entry of another [Policy.Version], or a client without a
// cache returns an error that errors.Is(err, cache.ErrMiss). For a method
// whose policy is [CacheControlled], QueryCache returns what the controlled
// function answers (a nil answer is a miss), as alova does.
func (c *Client) QueryCache(ctx context.Context, m *Method, mode cache.Mode) (*Response, error) {
	r, err := m.prepare(ctx)
	if err != nil {
		return nil, err
	}
	if fn := r.pol.more().control; fn != nil {
		resp, err := fn(ctx, r.method())
		switch {
		case err != nil:
			return nil, fmt.Errorf("client: query cache of %s %s: %w", r.verb, redact(r.url), err)
		case resp == nil:
			return nil, fmt.Errorf("client: query cache of %s %s: %w", r.verb, redact(r.url), cache.ErrMiss)
		}
		return resp, nil
	}
	return r.queryCache(ctx, r.pol.tiers(mode))
}

// queryCache reads r's entry from the tiers mode names.
func (r *request) queryCache(ctx context.Context, mode cache.Mode) (*Response, error) {
	s := r.c.s
	if s.tiers == nil {
		return nil, fmt.Errorf("client: query cache of %s %s: %w", r.verb, redact(r.url), cache.ErrMiss)
	}
	v, tier, err := s.tiers.Get(ctx, r.key, mode)
	if err != nil {
		return nil, fmt.Errorf("client: query cache of %s %s: %w", r.verb, redact(r.url), err)
	}
	resp, err := decodeEntry(v.String(), r.pol.more().version)
	if errors.Is(err, errStale) {
		err = cache.ErrMiss
	}
	if err != nil {
		return nil, fmt.Errorf("client: query cache of %s %s: %w", r.verb, redact(r.url), err)
	}
	resp.source = tier
	return resp, nil
}

// tiers is the cache mode of an explicit request: ModeAll means the
// policy's own.
func (p Policy) tiers(mode cache.Mode) cache.Mode {
	if mode == cache.ModeAll {
		return p.mode
	}
	return mode
}

// prepare returns the request a send of m would make: BeforeRequest runs on
// a copy of m first.
func (m *Method) prepare(ctx context.Context) (*request, error) {
	f := m.snapshot()
	if f.c.s.unbound {
		return nil, errUnbound
	}
	if before := f.c.s.before; before != nil {
		cp := &Method{f: f}
		if err := before(ctx, cp); err != nil {
			return nil, refused(cp, err)
		}
		f = cp.snapshot()
	}
	r := new(request)
	r.derive(&f)
	return r, nil
}
