package client

import (
	"context"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"sync"
	"weak"

	lru "github.com/hashicorp/golang-lru/v2"

	"github.com/alovago/alova/cache"
)

// HitSource names the sources of this method's cached answer (alova's
// hitSource): when a source gets a successful network answer (not a cache
// hit), this method's cache entries are dropped, in every process that
// shares the L2 tier. A source is one of these targets:
//
//   - a [*Method]: any send with its HTTP method and URL, whatever its body;
//   - [ByName]: any send of a method with that [Method.Name];
//   - [ByNameMatch]: any send of a named method whose name matches;
//   - [ByURLPrefix] or [ByURLMatch]: any source send whose full URL starts
//     with the prefix (joined to this method's base URL when relative) or
//     matches.
//
// The sources are kept as cache tags next to the entry, in L2 when the entry
// is there, so they hold across processes and restarts. Patterns are looked
// up in the tags of L2 and of this process's L1, so a pattern on an L1-only
// entry ([Policy.L1]) is seen by this process only.
//
// Which caches a source's answer reaches is the source client's
// [Options.HitSourceScope]: every client's cache (the default), its own, or
// none.
//
// Cost: a successful network answer of a POST, PUT, PATCH or DELETE (or of
// any named method) runs one tag deletion on the cache, which also looks up
// the patterns in use (two L2 round trips while no new pattern appears, and
// an invalidation message). A GET, HEAD or OPTIONS is a source only when
// named, so that the cache misses of plain reads do not pay for it: name a
// read that others depend on.
func (m *Method) HitSource(sources ...Target) *Method {
	own := m.snapshot() // first: a method may name itself
	add := make([]source, 0, len(sources))
	for _, t := range sources {
		switch t := t.(type) {
		case *Method:
			f := t.snapshot()
			var buf [256]byte
			add = append(add, source{tag: tagHitMethod + f.verb + " " + string(f.appendURL(buf[:0]))})
		case byName:
			add = append(add, source{tag: tagHitName + string(t)})
		case byNameMatch:
			add = append(add, source{tag: tagHitPattern + "n" + t.re.String()})
		case byURLPrefix:
			u := string(t)
			if !isAbsolute(u) {
				base := own.c.s.base
				if x := own.rare(); x.hasBase {
					base = x.base
				}
				u = joinURL(base, u)
			}
			add = append(add, source{tag: tagHitPattern + "u^" + regexp.QuoteMeta(u)})
		case byURLMatch:
			add = append(add, source{tag: tagHitPattern + "u" + t.re.String()})
		}
	}
	return m.set(func(f *fields) { x := f.ext(); x.sources = append(slices.Clip(x.sources), add...) })
}

// source is one hitSource of a method: the tag its entries carry.
type source struct{ tag string }

// Cache tags the client writes next to each entry. They live in L2 when the
// entry does, so every process sharing the Redis sees them, across restarts.
const (
	tagURL       = "client/url:"  // + full URL: ByURLPrefix, ByURLMatch
	tagName      = "client/name:" // + method name: ByName, ByNameMatch
	tagHitMethod = "client/hs:m:" // + verb + " " + URL of a *Method source
	tagHitName   = "client/hs:n:" // + name of a source
	// + "n" and a pattern matched against source names, or "u" and one
	// matched against source URLs; {r}: in one shard of the index.
	tagHitPattern = "client/hs:{r}:"
)

// tags returns the tags of an entry cached for r.
func (r *request) tags() []string {
	tags := make([]string, 0, 2+len(r.sources))
	tags = append(tags, tagURL+r.url)
	if r.name != "" {
		tags = append(tags, tagName+r.name)
	}
	for _, src := range r.sources {
		tags = append(tags, src.tag)
	}
	return tags
}

// isSource reports whether a network answer of r drops hitSource
// dependents: always for methods that change something, and for GET, HEAD
// and OPTIONS only when named, so that the cache misses of plain reads do
// not each pay an invalidation round trip (and a message to every process).
func (r *request) isSource() bool {
	switch r.verb {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
		return r.name != ""
	}
	return true
}

// The values of Options.HitSourceScope.
const (
	hitGlobal = ""
	hitSelf   = "self"
	hitOff    = "off"
)

// hitSources drops, in the caches of the client's scope, the entries of the
// methods that name r as a hitSource, after a successful network answer of
// r. Failures in the client's own cache go to OnCacheError; the other
// caches log their own L2 failures.
func (r *request) hitSources(ctx context.Context) {
	s := r.c.s
	switch s.hitScope {
	case hitOff:
	case hitSelf:
		if s.tiers != nil {
			r.hitSourcesIn(ctx, s.tiers, true)
		}
	default:
		for _, t := range registered() {
			r.hitSourcesIn(ctx, t, t == s.tiers)
		}
	}
}

// hitSourcesIn drops from t the entries of the methods that name r as a
// hitSource; own says whether t is r's client's cache, whose failures are
// reported to OnCacheError.
func (r *request) hitSourcesIn(ctx context.Context, t *cache.Tiered, own bool) {
	tags := make([]string, 1, 2)
	tags[0] = tagHitMethod + r.verb + " " + r.url
	if r.name != "" {
		tags = append(tags, tagHitName+r.name)
	}
	match := func(tag string) bool {
		pat := strings.TrimPrefix(tag, tagHitPattern)
		if pat == "" {
			return false
		}
		re := compiled(pat[1:])
		switch {
		case re == nil:
			return false
		case pat[0] == 'n':
			return r.name != "" && re.MatchString(r.name)
		case pat[0] == 'u':
			return re.MatchString(r.url)
		}
		return false
	}
	if err := t.DeleteTagsFunc(ctx, tagHitPattern, match, tags...); err != nil && own {
		r.c.s.cacheErr(ctx, fmt.Errorf("client: %s %s: hitSource invalidation: %w", r.verb, redact(r.url), err))
	}
}

// patterns holds the compiled hitSource patterns of the process, the most
// recently used first: the patterns come from the tags in L2, which other
// processes write, so their number is bounded here.
var patterns, _ = lru.New[string, *regexp.Regexp](1024)

// compiled returns the compiled pattern, or nil if it does not compile (it
// came from another process's tags).
func compiled(pat string) *regexp.Regexp {
	if re, ok := patterns.Get(pat); ok {
		return re
	}
	re, err := regexp.Compile(pat)
	if err != nil {
		re = nil
	}
	patterns.Add(pat, re)
	return re
}

// caches is every cache.Tiered given to New in this process, held weakly:
// a Tiered no client uses any more is dropped when collected.
var caches struct {
	mu   sync.Mutex
	list []weak.Pointer[cache.Tiered]
}

// register adds t to caches, once.
func register(t *cache.Tiered) {
	w := weak.Make(t)
	caches.mu.Lock()
	defer caches.mu.Unlock()
	live := caches.list[:0]
	seen := false
	for _, p := range caches.list {
		if p.Value() != nil {
			live = append(live, p)
			seen = seen || p == w
		}
	}
	clear(caches.list[len(live):])
	caches.list = live
	if !seen {
		caches.list = append(caches.list, w)
	}
}

// registered returns the caches still in use.
func registered() []*cache.Tiered {
	caches.mu.Lock()
	defer caches.mu.Unlock()
	out := make([]*cache.Tiered, 0, len(caches.list))
	for _, p := range caches.list {
		if t := p.Value(); t != nil {
			out = append(out, t)
		}
	}
	return out
}
