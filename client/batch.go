package client

import (
	"context"
	"fmt"
	"net/http"

	"github.com/alovago/alova/cache"
)

// Batch describes a downstream endpoint that answers many ids in one call,
// for [Client.SendBatch]. Key, Request and Split are required.
type Batch struct {
	// Key returns the cache key of one id's answer, e.g. "product:"+id.
	// Use the key the single-id method sets with [Method.CacheKey], and the
	// two share their entries: a batch answers from what single sends
	// cached, and the other way round.
	Key func(id string) string
	// Request builds the downstream call for the ids that are not cached,
	// e.g. c.Get("/products").Param("ids", strings.Join(ids, ",")). It is
	// sent with [Method.Send] (hooks included) and never cached as a whole.
	Request func(c *Client, ids []string) *Method
	// Split cuts the batch answer into one body per id. An id it leaves
	// out is absent from SendBatch's answer and not cached.
	Split func(resp *Response) (map[string][]byte, error)
	// Policy says how long each id's answer is cached (computed on the
	// batch answer) and in which tiers. The zero Policy means the client's
	// [Options.DefaultCache]; [Policy.Errors], RefreshAhead and Lock do not
	// apply to batches.
	Policy Policy
}

// SendBatch returns the answer for each of ids, loading those not cached in
// one downstream call (sturdyc's GetOrFetchBatch): each id is read from the
// cache under b.Key(id); the missing ids are sent in one request built by
// b.Request, whose answer b.Split cuts into one body per id, each cached
// under its own key. Concurrent batches share the ids they have in common
// (see [cache.Tiered.GetOrLoadBatch]).
//
// Each answer is a Response of its own: status 200, the batch answer's
// Content-Type, the id's body, and Source naming the tier (TierOrigin for
// ids just fetched). Ids the downstream did not answer are absent. When the
// downstream call or Split fails, the error is returned together with the
// answers found in the cache. Without a cache (or with a Policy that caches
// nothing) every id goes downstream in one call. SendBatch is safe for
// concurrent use. It panics when b lacks Key, Request or Split.
func (c *Client) SendBatch(ctx context.Context, ids []string, b Batch) (map[string]*Response, error) {
	if b.Key == nil || b.Request == nil || b.Split == nil {
		panic("client: SendBatch: the Batch needs Key, Request and Split")
	}
	pol := b.Policy
	if pol.kind == policyUnset {
		pol = NoCache
		if p, ok := c.s.defaults[http.MethodGet]; ok {
			pol = p
		}
	}
	byKey := make(map[string]string, len(ids))
	keys := make([]string, 0, len(ids))
	for _, id := range ids {
		k := b.Key(id)
		if _, dup := byKey[k]; !dup {
			byKey[k] = id
			keys = append(keys, k)
		}
	}
	load := func(ctx context.Context, keys []string) (map[string]cache.Entry, error) {
		want := make([]string, len(keys))
		for i, k := range keys {
			want[i] = byKey[k]
		}
		m := b.Request(c, want).Cache(NoCache)
		resp, err := m.Send(ctx)
		if err != nil {
			return nil, err
		}
		parts, err := b.Split(resp)
		if err != nil {
			return nil, fmt.Errorf("client: batch split: %w", err)
		}
		f := m.snapshot()
		var r request
		r.derive(&f)
		ttl := pol.ttl(&r, resp)
		h := http.Header{}
		if ct := resp.Header("Content-Type"); ct != "" {
			h.Set("Content-Type", ct)
		}
		out := make(map[string]cache.Entry, len(parts))
		for id, body := range parts {
			r := &Response{status: http.StatusOK, header: h, body: string(body)}
			e := cache.Entry{Value: cache.StringValue(encodeEntry(r, pol.more().version)), L1TTL: pol.l1d}
			if len(body) > 0 {
				e.TTL = ttl
			}
			out[b.Key(id)] = e
		}
		return out, nil
	}
	out := make(map[string]*Response, len(keys))
	if c.s.tiers == nil || !pol.enabled() {
		entries, err := load(ctx, keys)
		for _, k := range keys {
			if e, ok := entries[k]; ok {
				c.addBatchAnswer(ctx, out, byKey[k], k, cache.Found{Value: e.Value, Tier: cache.TierOrigin}, pol.more().version)
			}
		}
		return out, err
	}
	found, err := c.s.tiers.GetOrLoadBatch(ctx, keys, load, cache.LoadOptions{Mode: pol.mode, L1TTL: pol.l1d})
	for k, f := range found {
		c.addBatchAnswer(ctx, out, byKey[k], k, f, pol.more().version)
	}
	return out, err
}

// addBatchAnswer decodes one cached answer into out[id]; an entry that does
// not decode is reported to OnCacheError and left out.
func (c *Client) addBatchAnswer(ctx context.Context, out map[string]*Response, id, key string, f cache.Found, version string) {
	r, err := decodeEntry(f.Value.String(), version)
	if err != nil {
		c.s.cacheErr(ctx, fmt.Errorf("client: batch: cache entry %s: %w", key, err))
		return
	}
	r.source = f.Tier
	out[id] = r
}
