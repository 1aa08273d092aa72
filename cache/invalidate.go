package cache

import (
	"context"
	"time"
)

// feedWait bounds how long NewTiered waits for its invalidation feed to be
// live (see Shared.Subscribe).
const feedWait = 500 * time.Millisecond

// The states of Tiered.feedState.
const (
	feedWaiting = iota // NewTiered waits for the feed
	feedLive           // live while NewTiered waited
	feedGaveUp         // NewTiered stopped waiting first
)

// listen runs the invalidation subscriber until ctx ends (Close).
func (t *Tiered) listen(ctx context.Context) {
	defer close(t.feedDone)
	if err := t.l2.Subscribe(ctx, t.apply, t.feedIsLive); err != nil && ctx.Err() == nil {
		t.log.Error("cache: invalidation feed ended; L1 copies live until their TTL", "err", err)
	}
}

// waitFeed waits, up to feedWait, for the feed to be live, so that nothing
// this Tiered copies into L1 can miss an invalidation.
func (t *Tiered) waitFeed() {
	timer := time.NewTimer(feedWait)
	defer timer.Stop()
	select {
	case <-t.feedUp:
	case <-timer.C:
		t.feedState.CompareAndSwap(feedWaiting, feedGaveUp)
	}
}

// feedIsLive is called once, when the feed's first subscription is
// confirmed. When NewTiered had stopped waiting, L1 may hold copies that
// missed an invalidation published before: it is purged.
func (t *Tiered) feedIsLive() {
	if t.feedState.CompareAndSwap(feedWaiting, feedLive) {
		close(t.feedUp)
		return
	}
	t.l1.Purge()
	t.log.Info("cache: invalidation feed live after NewTiered stopped waiting for it, L1 purged")
}

// apply drops from L1 what an invalidation from another instance names.
func (t *Tiered) apply(inv Invalidation) {
	if inv.From == t.id {
		return
	}
	t.stats.invalidations.Add(1)
	// L1 first, then the lease waiters (lockflight.go): a waiter this wakes
	// copies the holder's write into L1, which the drop must not undo.
	defer t.bg.wake(inv)
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
