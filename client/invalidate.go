package client

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strings"

	"github.com/alovago/alova/cache"
)

// Cache tags the client writes next to each entry. They live in L2 when the
// entry does, so every process sharing the Redis sees them, across restarts.
const (
	tagURL       = "client/url:"    // + full URL: ByURLPrefix, ByURLMatch
	tagName      = "client/name:"   // + method name: ByName
	tagHitMethod = "client/hs:m:"   // + verb + " " + URL of a *Method source
	tagHitName   = "client/hs:n:"   // + name of a source
	tagHitRegexp = "client/hs:{r}:" // + pattern matched against source names; {r}: in one shard of the index
)

// tags returns the tags of an entry cached for p.
func (p *Method) tags(in methodInfo) []string {
	x := p.rare()
	tags := make([]string, 0, 2+len(x.sources))
	tags = append(tags, tagURL+in.url)
	if x.name != "" {
		tags = append(tags, tagName+x.name)
	}
	for _, src := range x.sources {
		switch v := src.(type) {
		case *Method:
			tags = append(tags, tagHitMethod+v.verb+" "+v.URL())
		case string:
			tags = append(tags, tagHitName+v)
		case *regexp.Regexp:
			tags = append(tags, tagHitRegexp+v.String())
		}
	}
	return tags
}

// isSource reports whether a network answer of p drops hitSource
// dependents: always for methods that change something, and for GET, HEAD and
// OPTIONS only when named, so that the cache misses of plain reads do not each
// pay an invalidation round trip (and a message to every process).
func (p *Method) isSource() bool {
	switch p.verb {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
		return p.rare().name != ""
	}
	return true
}

// hitSourcesIn drops from t the entries of the methods that name p as a
// hitSource; own says whether t is p's client's cache, whose failures are
// reported to OnCacheError.
func (p *Method) hitSourcesIn(ctx context.Context, in methodInfo, t *cache.Tiered, own bool) {
	s := p.c.s
	report := func(err error) {
		if own {
			s.cacheErr(ctx, err)
		}
	}
	name := p.rare().name
	tags := make([]string, 1, 2)
	tags[0] = tagHitMethod + p.verb + " " + in.url
	if name == "" {
		if err := t.DeleteTags(ctx, tags...); err != nil {
			report(fmt.Errorf("client: %s %s: hitSource invalidation: %w", p.verb, in.url, err))
		}
		return
	}
	// A named source also drops the dependents of the patterns matching its
	// name: the cache keeps the pattern tags it knows with a version, so
	// that this costs two round trips to Redis while no new pattern appears.
	tags = append(tags, tagHitName+name)
	match := func(tag string) bool {
		re := s.pattern(strings.TrimPrefix(tag, tagHitRegexp))
		return re != nil && re.MatchString(name)
	}
	if err := t.DeleteTagsFunc(ctx, tagHitRegexp, match, tags...); err != nil {
		report(fmt.Errorf("client: %s %s: hitSource invalidation: %w", p.verb, in.url, err))
	}
}

// pattern returns the compiled hitSource pattern, or nil if it does not
// compile (it came from another process's Redis tags).
func (s *core) pattern(pat string) *regexp.Regexp {
	if v, ok := s.patterns.Load(pat); ok {
		return v.(*regexp.Regexp)
	}
	re, err := regexp.Compile(pat)
	if err != nil {
		re = nil
	}
	s.patterns.Store(pat, re)
	return re
}

// ByName targets the entries of the methods named name (see [Method.Name]).
func ByName(name string) Target { return byName(name) }

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
	byURLPrefix string
	byURLMatch  struct{ re *regexp.Regexp }
)

func (byName) target()      {}
func (byURLPrefix) target() {}
func (byURLMatch) target()  {}

// Invalidate drops cached answers from every tier (alova's invalidateCache),
// in this process and, through the cache's invalidation, in every process
// sharing its L2. Targets are methods (their exact entry, in the cache of the
// client that built the method: the key is computed as Send computes it,
// BeforeRequest included), [ByName], [ByURLPrefix] and
// [ByURLMatch]. With no target it drops every entry under the client's
// BaseURL (every entry of the tiers if there is no BaseURL). It does nothing
// on a client without a cache. The errors of every target are joined.
func (c *Client) Invalidate(ctx context.Context, targets ...Target) error {
	s := c.s
	if s.tiers == nil {
		return nil
	}
	if len(targets) == 0 {
		targets = []Target{ByURLPrefix("")}
	}
	var keys, tags []string
	var errs []error
	for _, t := range targets {
		switch t := t.(type) {
		case *Method:
			p, err := t.prepare(ctx)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			if ts := p.c.s.tiers; ts != s.tiers {
				// Another client's method: its entry lives in that client's
				// cache (alova's invalidateCache([method])).
				if ts != nil {
					if err := ts.Delete(ctx, p.Key()); err != nil {
						errs = append(errs, fmt.Errorf("client: invalidate: %w", err))
					}
				}
				continue
			}
			keys = append(keys, p.Key())
		case byName:
			tags = append(tags, tagName+string(t))
		case byURLPrefix:
			u := string(t)
			if !isAbsolute(u) {
				u = joinURL(s.base, u)
			}
			known, err := s.tiers.KnownTags(ctx, tagURL+u)
			if err != nil {
				errs = append(errs, fmt.Errorf("client: invalidate prefix %q: %w", u, err))
			}
			tags = append(tags, known...)
		case byURLMatch:
			known, err := s.tiers.KnownTags(ctx, tagURL)
			if err != nil {
				errs = append(errs, fmt.Errorf("client: invalidate %v: %w", t.re, err))
			}
			for _, k := range known {
				if t.re.MatchString(strings.TrimPrefix(k, tagURL)) {
					tags = append(tags, k)
				}
			}
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
// SetCache returns [ErrNoCache] on a client without a cache and
// [ErrNotCacheable] when m's policy caches nothing (or gives the answer no
// time to live) or m has a reader body. It panics if update is nil.
func (c *Client) SetCache(ctx context.Context, m *Method, mode cache.Mode, update func(cur *Response) *Response) error {
	if update == nil {
		panic("client: SetCache: nil update")
	}
	p, err := m.prepare(ctx)
	if err != nil {
		return err
	}
	s := p.c.s
	if s.tiers == nil {
		return ErrNoCache
	}
	pol := p.effectivePolicy()
	if p.rare().reader != nil || !pol.enabled() {
		return fmt.Errorf("client: set cache of %s %s: %w", p.verb, redact(p.URL()), ErrNotCacheable)
	}
	mode = pol.tiers(mode)
	in := p.info()
	cur, _ := p.queryCache(ctx, in, pol, mode)
	resp := update(cur)
	if resp == nil {
		return nil
	}
	ttl := pol.ttl(p, resp)
	if ttl <= 0 {
		return fmt.Errorf("client: set cache of %s %s: %w (ttl %v)", p.verb, redact(in.url), ErrNotCacheable, ttl)
	}
	e := cache.Entry{Value: cache.StringValue(encodeEntry(resp, pol.more().version)), TTL: ttl, Tags: p.tags(in), L1TTL: pol.l1d}
	if err := s.tiers.Set(ctx, in.key, e, mode); err != nil {
		return fmt.Errorf("client: set cache of %s %s: %w", p.verb, redact(in.url), err)
	}
	return nil
}

// QueryCache returns m's cached answer (alova's queryCache) from the cache
// of the client that built m, without going downstream; [Response.Source]
// names the tier. mode limits the read to one tier (alova's policy):
// cache.ModeL1 or cache.ModeL2; cache.ModeAll means the tiers m's policy
// uses. A miss, an entry of another [Policy.Version], or a client without a
// cache returns an error that errors.Is(err, cache.ErrMiss).
func (c *Client) QueryCache(ctx context.Context, m *Method, mode cache.Mode) (*Response, error) {
	p, err := m.prepare(ctx)
	if err != nil {
		return nil, err
	}
	pol := p.effectivePolicy()
	return p.queryCache(ctx, p.info(), pol, pol.tiers(mode))
}

// queryCache reads p's entry from the tiers mode names.
func (p *Method) queryCache(ctx context.Context, in methodInfo, pol Policy, mode cache.Mode) (*Response, error) {
	s := p.c.s
	if s.tiers == nil {
		return nil, fmt.Errorf("client: query cache of %s %s: %w", p.verb, redact(in.url), cache.ErrMiss)
	}
	v, tier, err := s.tiers.Get(ctx, in.key, mode)
	if err != nil {
		return nil, fmt.Errorf("client: query cache of %s %s: %w", p.verb, redact(in.url), err)
	}
	resp, err := decodeEntry(v.String(), pol.more().version)
	if errors.Is(err, errStale) {
		err = cache.ErrMiss
	}
	if err != nil {
		return nil, fmt.Errorf("client: query cache of %s %s: %w", p.verb, redact(in.url), err)
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

// prepare returns the method as Send would see it: after BeforeRequest, run
// on a copy.
func (m *Method) prepare(ctx context.Context) (*Method, error) {
	before := m.c.s.before
	if before == nil {
		return m, nil
	}
	p := m.clone()
	if err := before(ctx, p); err != nil {
		return nil, fmt.Errorf("%w: %s %s: %w", ErrRefused, p.verb, p.URL(), err)
	}
	return p, nil
}
