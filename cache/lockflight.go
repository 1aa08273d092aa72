package cache

import (
	"context"
	"time"
)

// Locker is an optional interface of a [Shared] tier that can hold short
// leases, for the distributed single-flight ([LoadOptions].LockWait).
// [NewRedisStore] implements it. A [Tiered] whose Shared tier does not
// implement it ignores LockWait.
type Locker interface {
	// TryLock takes the lease named key for ttl unless another holder has
	// it. When it got it, it returns a func that releases it (doing
	// nothing once the lease has expired or passed to another holder);
	// when another holder has it, it returns nil and no error.
	TryLock(ctx context.Context, key string, ttl time.Duration) (unlock func(context.Context) error, err error)
}

// Poll bounds of a lease waiter: it re-reads L2 every LockWait/8, within
// these bounds, and whenever the invalidation feed names the key.
const (
	minLeasePoll = 10 * time.Millisecond
	maxLeasePoll = 100 * time.Millisecond
)

// lockOrWait is the distributed single-flight around one load of key, run
// inside its (in-process) flight. It returns:
//   - unlock != nil: this caller holds the lease; it loads, writes (telling
//     the waiters) and then calls unlock;
//   - done: the answer (or the caller's ctx error) is res, err: another
//     instance's load, read from L2 (for a refresh, one fresher than the
//     due entry it has); or, for a refresh whose wait ran past LockWait,
//     nothing;
//   - neither: load without the lease (the shared tier cannot lock or
//     fails, or the wait ran past LockWait).
func (t *Tiered) lockOrWait(ctx context.Context, key string, opts LoadOptions) (unlock func(), res loaded, done bool, err error) {
	lk, ok := t.l2.(Locker)
	if !ok || t.l2 == nil || opts.Mode != ModeAll {
		return nil, loaded{}, false, nil
	}
	lease := max(opts.LockWait/2, time.Millisecond)
	poll := min(max(opts.LockWait/8, minLeasePoll), maxLeasePoll)
	deadline := time.NewTimer(opts.LockWait)
	defer deadline.Stop()
	tick := time.NewTicker(poll)
	defer tick.Stop()
	for waited := false; ; waited = true {
		rel, err := l2call(t, ctx, "lock", func(ctx context.Context) (func(context.Context) error, error) {
			return lk.TryLock(ctx, key, lease)
		})
		if err != nil {
			if ctx.Err() != nil {
				return nil, loaded{}, true, ctx.Err()
			}
			return nil, loaded{}, false, nil // L2 fails: load without it
		}
		if rel != nil {
			unlock := func() {
				uctx := context.WithoutCancel(ctx)
				_, _ = l2call(t, uctx, "unlock", func(ctx context.Context) (struct{}, error) {
					return struct{}{}, rel(ctx)
				})
			}
			// The holder before us may have written and released between
			// our L2 miss and our lease: read once more.
			if res, ok := t.written(ctx, key, opts); ok {
				unlock()
				return nil, res, true, nil
			}
			if waited {
				t.stats.lockTakeovers.Add(1)
			}
			return unlock, loaded{}, false, nil
		}
		// Another instance holds the lease: it is loading the key. Wait for
		// its write, a refresh too: a refresh that gave up here would be
		// started again by the next read of its due entry, each time a GET
		// and a lock attempt on L2, while this one keeps the key's refresh
		// slot (and serves the entry as it is) until the write arrives.
		if !waited {
			t.stats.lockWaits.Add(1)
		}
		wake := t.bg.waitFor(key)
		select {
		case <-ctx.Done():
			return nil, loaded{}, true, ctx.Err()
		case <-wake:
		case <-tick.C:
		case <-deadline.C:
			// The holder is slow or gone: load by ourselves, once more
			// checking that it has not just written. A refresh leaves it
			// to a read of its entry, which still answers, after another
			// LockWait (see yield): by then the holder's lease (half of
			// LockWait) has run out.
			if res, ok := t.written(ctx, key, opts); ok {
				return nil, res, true, nil
			}
			if opts.refreshing {
				t.bg.yield(key, opts.LockWait)
				return nil, loaded{}, true, nil
			}
			t.stats.lockTakeovers.Add(1)
			return nil, loaded{}, false, nil
		}
		if res, ok := t.written(ctx, key, opts); ok {
			return nil, res, true, nil
		}
	}
}

// written reads key from L2 for a lease's waiter or new holder: ok when it
// holds what the load would have written, which then fills L1. A refresh
// has the entry already, due: only a fresher one ends it. The read that
// started the load has counted its L2 lookup; this one is not counted.
func (t *Tiered) written(ctx context.Context, key string, opts LoadOptions) (loaded, bool) {
	v, left, err := t.l2Reread(ctx, key)
	if err != nil || opts.refreshing && opts.due(left) {
		return loaded{}, false
	}
	t.fillL1(key, v, left, opts.L1TTL)
	return loaded{value: v, tier: TierL2}, true
}

// waitFor returns a channel closed when an invalidation from another
// instance names key (its holder's write announces it).
func (b *background) waitFor(key string) <-chan struct{} {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.waiters == nil {
		b.waiters = make(map[string]chan struct{})
	}
	ch, ok := b.waiters[key]
	if !ok {
		ch = make(chan struct{})
		b.waiters[key] = ch
	}
	return ch
}

// wake closes the channels of the waiters of the keys inv names (all of
// them for inv.All).
func (b *background) wake(inv Invalidation) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.waiters) == 0 {
		return
	}
	if inv.All {
		for k, ch := range b.waiters {
			close(ch)
			delete(b.waiters, k)
		}
		return
	}
	for _, k := range inv.Keys {
		if ch, ok := b.waiters[k]; ok {
			close(ch)
			delete(b.waiters, k)
		}
	}
}
