package main

import (
	"context"
	"errors"
	"net/http"

	"github.com/go-chi/chi/v5"

	"github.com/alovago/alova/cache"
	"github.com/alovago/alova/client"
	"github.com/alovago/alova/middleware"
)

// validID accepts product ids of 1–64 letters, digits, '-' and '_': anything
// else never reaches the downstream (nor the cache).
func validID(id string) bool {
	if len(id) == 0 || len(id) > 64 {
		return false
	}
	for _, c := range []byte(id) {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// productMethod is the downstream call for one product. The same method is
// sent by GET and named by DELETE, so both compute the same cache key. The
// key names the product rather than the downstream's address, so instances
// share the entry even when each calls a downstream of its own (the demo).
// Its policy (productPolicy) refreshes hot products ahead of their expiry
// and makes one downstream call across instances.
func (a *app) productMethod(c *client.Client, id string) *client.Method {
	return c.Get("/products/" + id).CacheKey("product:" + id).Cache(a.productPolicy)
}

// productPolicy is the cache policy of products: -cache-ttl, refreshed in
// its last fifth with -refresh-ahead, one call across instances with
// -lock-wait, the last good answer after -soft-timeout or while the
// downstream fails (-stale-if-error), reloads revalidated with the
// product's ETag unless -revalidate=false.
func productPolicy(cfg config) client.Policy {
	p := client.CacheFor(cfg.CacheTTL)
	if cfg.RefreshAhead {
		p = p.RefreshAhead(cfg.CacheTTL/5, 0)
	}
	if !cfg.Revalidate {
		p = p.NoRevalidate()
	}
	return p.Lock(cfg.LockWait).Timeouts(cfg.SoftTimeout, cfg.HardTimeout).StaleIfError(cfg.StaleIfError)
}

// The header values of a product answer, made once: Header.Set would
// allocate each one per answer. net/http copies them out and never writes
// into them.
var (
	jsonType = []string{"application/json"}
	xCache   [cache.TierOrigin + 1][]string // by Response.Source
)

func init() {
	for t := range xCache {
		xCache[t] = []string{cache.Tier(t).String()}
	}
}

// getProduct serves GET /api/products/{id}: the downstream product through the
// request-scoped client (cached in L1 and L2, retried on failure), with
// X-Cache saying which tier answered: L1, L2 or MISS, and the Warning of a
// product answered past its time because the downstream failed or was slow.
func (a *app) getProduct(w http.ResponseWriter, r *http.Request) {
	id := chi.URLParam(r, "id")
	if !validID(id) {
		writeError(w, http.StatusBadRequest, "invalid_id")
		return
	}
	c := client.FromContext(r.Context())
	resp, err := client.Retry(a.productMethod(c, id), a.retry).Send(r.Context())
	if err != nil {
		a.downstreamError(w, r, err)
		return
	}
	h := w.Header()
	h["Content-Type"] = jsonType
	h["X-Cache"] = xCache[resp.Source()]
	if warn := resp.Header("Warning"); warn != "" {
		h["Warning"] = []string{warn}
	}
	w.WriteHeader(http.StatusOK)
	_, _ = resp.WriteTo(w)
}

// downstreamError answers for a product call that failed, with a stable code.
func (a *app) downstreamError(w http.ResponseWriter, r *http.Request, err error) {
	var he *client.HTTPError
	switch {
	case r.Context().Err() != nil:
		// The caller hung up: the downstream call was cancelled with it and
		// nobody reads this answer.
		a.log.Info("product: caller went away", "err", err)
		writeError(w, http.StatusServiceUnavailable, "cancelled")
	case errors.As(err, &he) && he.StatusCode == http.StatusNotFound:
		writeError(w, http.StatusNotFound, "not_found")
	case errors.Is(err, context.DeadlineExceeded):
		a.log.Warn("product: downstream timed out", "err", err)
		writeError(w, http.StatusGatewayTimeout, "downstream_timeout")
	default:
		a.log.Warn("product: downstream failed", "err", err)
		writeError(w, http.StatusBadGateway, "downstream_unavailable")
	}
}

// invalidateProduct serves DELETE /api/products/{id}/cache: the product is
// dropped from L2 and from the L1 of this and every other instance sharing
// the Redis (the cache publishes the invalidation). When Redis cannot be
// reached, it is dropped from this L1 and the rest waits in the cache's
// recovery queue until Redis is back (204 all the same); 503 only when the
// queue is full: other instances might then keep the product until its TTL.
func (a *app) invalidateProduct(w http.ResponseWriter, r *http.Request) {
	id := chi.URLParam(r, "id")
	if !validID(id) {
		writeError(w, http.StatusBadRequest, "invalid_id")
		return
	}
	c := client.FromContext(r.Context())
	if err := c.Invalidate(r.Context(), a.productMethod(c, id)); err != nil {
		// Only Redis can fail here (cache.ErrUnavailable), and the queue be full.
		a.log.Warn("product: invalidation failed", "id", id, "err", err)
		writeError(w, http.StatusServiceUnavailable, "cache_unavailable")
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// cacheStats is the body of GET /debug/cache. Every field is always there.
type cacheStats struct {
	L1            l1Stats    `json:"l1"`
	L2            l2Stats    `json:"l2"`
	Invalidations uint64     `json:"invalidations"` // received from other instances
	Redis         redisStats `json:"redis"`
	Recovery      recovery   `json:"recovery"`
	Stale         staleStats `json:"stale"`
	Revalidation  revalStats `json:"revalidation"`
}

// revalStats counts the product reloads that sent the cached ETag.
type revalStats struct {
	Sent        uint64 `json:"sent"`         // conditional reloads
	NotModified uint64 `json:"not_modified"` // answered 304
	BytesSaved  uint64 `json:"bytes_saved"`  // body bytes the 304s did not send
}

// recovery counts the invalidations made while Redis was unreachable.
type recovery struct {
	Pending  uint64 `json:"pending"`  // waiting for Redis
	Queued   uint64 `json:"queued"`   // since start
	Replayed uint64 `json:"replayed"` // carried out once Redis was back
	Dropped  uint64 `json:"dropped"`  // refused: the queue was full
}

// staleStats counts the answers past their time.
type staleStats struct {
	Hits         uint64 `json:"hits"`          // answers past their TTL
	SoftTimeouts uint64 `json:"soft_timeouts"` // of which the downstream ran past -soft-timeout
	HardTimeouts uint64 `json:"hard_timeouts"` // loads given up after -hard-timeout
	IfError      uint64 `json:"if_error"`      // answers kept because the downstream failed (-stale-if-error)
}

type l1Stats struct {
	Hits   uint64 `json:"hits"`
	Misses uint64 `json:"misses"`
}

type l2Stats struct {
	Hits    uint64 `json:"hits"`
	Misses  uint64 `json:"misses"`
	Errors  uint64 `json:"errors"`  // Redis calls that failed
	Skipped uint64 `json:"skipped"` // calls skipped while Redis cools down after errors
}

type redisStats struct {
	Kind string `json:"kind"`           // "embedded" or "external"
	Keys *int64 `json:"keys,omitempty"` // embedded only: keys held (DBSIZE); absent when Redis does not answer
}

// debugCache serves GET /debug/cache: the tiers' counters and, in the
// embedded mode, how many keys the embedded Redis holds.
func (a *app) debugCache(w http.ResponseWriter, r *http.Request) {
	s := a.tiers.Stats()
	out := cacheStats{
		L1:            l1Stats{Hits: s.L1Hits, Misses: s.L1Misses},
		L2:            l2Stats{Hits: s.L2Hits, Misses: s.L2Misses, Errors: s.L2Errors, Skipped: s.L2Skipped},
		Invalidations: s.Invalidations,
		Redis:         redisStats{Kind: a.redis.Kind},
		Recovery:      recovery{Pending: s.RecoveryPending, Queued: s.RecoveryQueued, Replayed: s.RecoveryReplayed, Dropped: s.RecoveryDropped},
		Stale:         staleStats{Hits: s.StaleHits, SoftTimeouts: s.SoftTimeouts, HardTimeouts: s.HardTimeouts, IfError: s.StaleIfErrorHits},
		Revalidation:  revalStats{Sent: s.Revalidations, NotModified: s.NotModified, BytesSaved: s.BytesSaved},
	}
	if a.redis.embedded != nil {
		ctx, cancel := context.WithTimeout(r.Context(), healthTimeout)
		defer cancel()
		if n, err := a.redis.Client.DBSize(ctx).Result(); err == nil {
			out.Redis.Keys = &n
		}
	}
	middleware.WriteJSON(w, http.StatusOK, out)
}
