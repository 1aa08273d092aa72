package client

import (
	"context"
	"sync"
	"weak"

	"github.com/alovago/alova/cache"
)

// HitSourceScope says which caches a source's successful network answer
// invalidates (alova's autoHitCache); see [Method.HitSource] and
// [Options.HitSourceScope].
type HitSourceScope uint8

const (
	// HitSourceGlobal invalidates the dependents in every cache a client of
	// this process uses (every [cache.Tiered] given to [New]), and so, through
	// their L2, in every process sharing them. It is the zero value.
	HitSourceGlobal HitSourceScope = iota
	// HitSourceSelf invalidates the dependents in this client's own cache
	// only (in every process sharing its L2). Clients given the same
	// cache.Tiered share their entries, and so their invalidations.
	HitSourceSelf
	// HitSourceOff invalidates nothing: hitSource declarations are kept but
	// this client's answers do not act on them (alova's 'close').
	HitSourceOff
)

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

// hitSources drops, in the caches of the client's scope, the entries of the
// methods that name p as a hitSource, after a successful network answer of
// p. Failures in the client's own cache go to OnCacheError; the other
// caches log their own L2 failures.
func (p *Method) hitSources(ctx context.Context, in methodInfo) {
	s := p.c.s
	switch s.hitScope {
	case HitSourceOff:
	case HitSourceSelf:
		if s.tiers != nil {
			p.hitSourcesIn(ctx, in, s.tiers, true)
		}
	default:
		for _, t := range registered() {
			p.hitSourcesIn(ctx, in, t, t == s.tiers)
		}
	}
}
