package cache

import "context"

// listen runs the invalidation subscriber until ctx ends (Close).
func (t *Tiered) listen(ctx context.Context) {
	defer close(t.feedDone)
	if err := t.l2.Subscribe(ctx, t.apply); err != nil && ctx.Err() == nil {
		t.log.Error("cache: invalidation feed ended; L1 copies live until their TTL", "err", err)
	}
}

// apply drops from L1 what an invalidation from another instance names.
func (t *Tiered) apply(inv Invalidation) {
	if inv.From == t.id {
		return
	}
	t.bg.wake(inv) // lease waiters (lockflight.go)
	t.stats.invalidations.Add(1)
	if inv.All {
		t.l1.Purge()
		if inv.From == "" {
			t.log.Info("cache: invalidation feed (re)established, L1 purged")
		}
		return
	}
	t.l1.Delete(inv.Keys...)
	t.l1.DeleteTags(inv.Tags...)
}
