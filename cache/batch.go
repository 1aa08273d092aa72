package cache

import (
	"context"
	"fmt"
)

// BatchLoader fetches the entries of many keys from the origin in one call.
// It returns an entry for each key it found; a key it leaves out is
// absent from the answer and not cached. Keys it returns that were not
// asked for are ignored.
type BatchLoader func(ctx context.Context, keys []string) (map[string]Entry, error)

// Found is one key's answer in [Tiered.GetOrLoadBatch]: its value and the
// tier that answered (TierOrigin for a load).
type Found struct {
	Value Value
	Tier  Tier
}

// batchCall is one BatchLoader call, shared by the batches that need its
// keys.
type batchCall struct {
	done  chan struct{} // closed when found and err are set
	found map[string]Found
	err   error
}

// GetOrLoadBatch returns the values of keys (sturdyc's GetOrFetchBatch):
// each key is read from L1, then L2 (with ModeAll), as in
// [Tiered.GetOrLoad]; the keys found in neither are fetched with one call to
// load, and each entry it returns is written under its own key (L2, then
// L1). The answer maps each key found to its value; a key that load did not
// return, or that holds a cached error (see [Negative]), is absent.
//
// Concurrent batches share their common keys: a key that another batch is
// loading is not asked for again, and this batch waits for that batch's
// answer. load runs on the caller's goroutine with a context carrying ctx's
// values but not its cancellation, because other batches may be waiting
// for it; load bounds its own running time. A caller whose ctx ends while
// waiting for another batch returns what it has with ctx.Err().
//
// opts.Force skips the reads; opts.Mode selects the tiers; the other
// LoadOptions are ignored. When load fails, the error (wrapped) is returned
// together with the values found in the tiers, and nothing is cached; the
// batches that shared its keys get it too. GetOrLoadBatch panics if load is
// nil.
func (t *Tiered) GetOrLoadBatch(ctx context.Context, keys []string, load BatchLoader, opts LoadOptions) (map[string]Found, error) {
	if load == nil {
		panic("cache: GetOrLoadBatch: nil loader")
	}
	out := make(map[string]Found, len(keys))
	seen := make(map[string]bool, len(keys))
	var missing []string
	for _, k := range keys {
		if seen[k] {
			continue
		}
		seen[k] = true
		if !opts.Force {
			v, tier, err := t.read(ctx, k, opts.Mode, opts.L1TTL)
			if tier == TierNone && err != nil {
				return out, err // ctx ended
			}
			if tier != TierNone {
				if err == nil {
					out[k] = Found{v, tier}
				}
				continue
			}
		}
		missing = append(missing, k)
	}
	if len(missing) == 0 {
		return out, nil
	}

	mine, theirs := t.bg.claim(missing)
	var errs []error
	if len(mine) > 0 {
		c := t.loadBatch(context.WithoutCancel(ctx), mine, load, opts)
		for k, f := range c.found {
			out[k] = f
		}
		if c.err != nil {
			errs = append(errs, c.err)
		}
	}
	for k, c := range theirs {
		select {
		case <-c.done:
		case <-ctx.Done():
			return out, ctx.Err()
		}
		if f, ok := c.found[k]; ok {
			out[k] = f
		} else if c.err != nil {
			errs = append(errs, c.err)
		}
	}
	if len(errs) > 0 {
		return out, errs[0]
	}
	return out, nil
}

// claim registers a batch call for the keys no other batch is loading
// (mine, returned registered) and returns the calls of the others.
func (b *background) claim(keys []string) (mine []string, theirs map[string]*batchCall) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.batches == nil {
		b.batches = make(map[string]*batchCall)
	}
	c := &batchCall{done: make(chan struct{})}
	for _, k := range keys {
		if o, ok := b.batches[k]; ok {
			if theirs == nil {
				theirs = make(map[string]*batchCall)
			}
			theirs[k] = o
			continue
		}
		b.batches[k] = c
		mine = append(mine, k)
	}
	return mine, theirs
}

// loadBatch runs the call this batch claimed for keys (the call registered
// by claim under each of them), writes its entries and releases the keys.
func (t *Tiered) loadBatch(ctx context.Context, keys []string, load BatchLoader, opts LoadOptions) (c *batchCall) {
	t.bg.mu.Lock()
	c = t.bg.batches[keys[0]]
	t.bg.mu.Unlock()
	defer func() {
		if r := recover(); r != nil {
			c.found, c.err = nil, fmt.Errorf("cache: batch loader panicked: %v", r)
		}
		t.bg.mu.Lock()
		for _, k := range keys {
			if t.bg.batches[k] == c {
				delete(t.bg.batches, k)
			}
		}
		t.bg.mu.Unlock()
		close(c.done)
	}()
	t.stats.batchLoads.Add(1)
	t.stats.batchKeys.Add(uint64(len(keys)))
	entries, err := load(ctx, keys)
	if err != nil {
		t.stats.loadErrors.Add(1)
		c.err = fmt.Errorf("cache: batch load of %d keys: %w", len(keys), err)
		return c
	}
	c.found = make(map[string]Found, len(keys))
	for _, k := range keys {
		e, ok := entries[k]
		if !ok {
			continue
		}
		if e.TTL > 0 {
			_ = t.write(ctx, k, e, opts.Mode, opts.Force)
		}
		c.found[k] = Found{e.Value, TierOrigin}
	}
	return c
}
