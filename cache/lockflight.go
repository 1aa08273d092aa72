package cache

import (
	"context"
	"errors"
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

// leaseReader is implemented by a [Shared] tier that reads a key and, on a
// miss, tries to take its lease, as one step: [NewRedisStore] does it in
// one round trip (one script). It answers as TryLock then Get would, but
// takes no lease where there is a value. It is no part of the contract of
// Shared or Locker: a Locker without it gives the same answers with one
// more round trip per try (lockOrWait).
type leaseReader interface {
	Locker
	// getOrLock returns the value under key and its time left, as Get
	// does. On a miss it returns an error wrapping ErrMiss and, when it
	// took the lease named key for ttl (finding no value), the func that
	// releases it, as TryLock does; nil when another holder has it.
	getOrLock(ctx context.Context, key string, ttl time.Duration) (Value, time.Duration, func(context.Context) error, error)
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
//
// Each try re-reads key (the holder before us may have written) and takes
// the lease if it is free. On a shared tier that does both in one call
// (leaseReader: the Redis store, one script) a try is that call; on
// another [Locker], and for a refresh (which has the entry, due, and must
// take the lease all the same), a try takes the lease, then reads.
func (t *Tiered) lockOrWait(ctx context.Context, key string, opts LoadOptions) (unlock func(), res loaded, done bool, err error) {
	lk, ok := t.l2.(Locker)
	if !ok || t.l2 == nil || opts.Mode != ModeAll {
		return nil, loaded{}, false, nil
	}
	lr := t.oneStep(opts)
	oneStep := lr != nil
	lease := max(opts.LockWait/2, time.Millisecond)
	poll := min(max(opts.LockWait/8, minLeasePoll), maxLeasePoll)
	deadline := time.NewTimer(opts.LockWait)
	defer deadline.Stop()
	tick := time.NewTicker(poll)
	defer tick.Stop()
	for waited := false; ; waited = true {
		var rel func(context.Context) error
		var err error
		if oneStep {
			var found bool
			if res, found, rel, err = t.readOrLease(ctx, lr, key, lease, opts); found {
				return nil, res, true, nil
			}
		} else {
			rel, err = t.tryLease(ctx, lk, key, lease)
		}
		if err != nil {
			if ctx.Err() != nil {
				return nil, loaded{}, true, ctx.Err()
			}
			return nil, loaded{}, false, nil // L2 fails: load without it
		}
		if rel != nil {
			unlock := t.releaser(ctx, rel)
			// The holder before us may have written and released between
			// our L2 miss and our lease: read once more.
			if !oneStep {
				if res, ok := t.written(ctx, key, opts); ok {
					unlock()
					return nil, res, true, nil
				}
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
			// checking that it has not just written (in one call, taking
			// the lease if it has run out). A refresh leaves it to a read
			// of its entry, which still answers, after another LockWait
			// (see yield): by then the holder's lease (half of LockWait)
			// has run out.
			if oneStep {
				res, found, rel, err := t.readOrLease(ctx, lr, key, lease, opts)
				switch {
				case found:
					return nil, res, true, nil
				case err != nil && ctx.Err() != nil:
					return nil, loaded{}, true, ctx.Err()
				}
				t.stats.lockTakeovers.Add(1)
				if rel != nil {
					return t.releaser(ctx, rel), loaded{}, false, nil
				}
				return nil, loaded{}, false, nil
			}
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
		if !oneStep { // in one step, the next try reads
			if res, ok := t.written(ctx, key, opts); ok {
				return nil, res, true, nil
			}
		}
	}
}

// oneStep returns the shared tier as a leaseReader when a load with opts
// takes the lease in one read-or-lease call per try (lockOrWait), so that
// its first try also reads L2 and fill need not read it before; nil when
// the load takes no lease, is a refresh (which has the entry and must take
// the lease all the same), or the tier cannot.
func (t *Tiered) oneStep(opts LoadOptions) leaseReader {
	if opts.LockWait <= 0 || opts.Force || opts.refreshing || opts.Mode != ModeAll {
		return nil
	}
	lr, _ := t.l2.(leaseReader)
	return lr
}

// tryLease is lk.TryLock of key's lease for ttl, through the guard.
func (t *Tiered) tryLease(ctx context.Context, lk Locker, key string, ttl time.Duration) (func(context.Context) error, error) {
	return l2call(t, ctx, "lock", func(ctx context.Context) (func(context.Context) error, error) {
		return lk.TryLock(ctx, key, ttl)
	})
}

// releaser returns the func that releases a lease through rel, through the
// guard, with ctx's values but not its cancellation.
func (t *Tiered) releaser(ctx context.Context, rel func(context.Context) error) func() {
	return func() {
		uctx := context.WithoutCancel(ctx)
		_, _ = l2call(t, uctx, "unlock", func(ctx context.Context) (struct{}, error) {
			return struct{}{}, rel(ctx)
		})
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

// readOrLease is written in one call that, on a miss, also tries to take
// key's lease for ttl (leaseReader.getOrLock): found, res is the value
// another instance wrote (it fills L1); else rel releases the lease the
// call took, or, nil, another holder has it. A key whose
// invalidation waits for L2 (recovery.go) reads as a miss, so only the
// lease is tried. Like written it counts no L2 hit or miss; failures count
// as L2 errors.
func (t *Tiered) readOrLease(ctx context.Context, lr leaseReader, key string, ttl time.Duration, opts LoadOptions) (res loaded, found bool, rel func(context.Context) error, err error) {
	if t.rq.hides(key) {
		rel, err = t.tryLease(ctx, lr, key, ttl)
		return loaded{}, false, rel, err
	}
	type got struct {
		r   l2Value
		rel func(context.Context) error
	}
	g, err := l2call(t, ctx, "get or lock", func(ctx context.Context) (got, error) {
		v, left, rel, err := lr.getOrLock(ctx, key, ttl)
		return got{l2Value{v, left}, rel}, err
	})
	switch {
	case err == nil:
		t.fillL1(key, g.r.v, g.r.ttl, opts.L1TTL)
		return loaded{value: g.r.v, tier: TierL2}, true, nil, nil
	case errors.Is(err, ErrMiss):
		return loaded{}, false, g.rel, nil
	}
	return loaded{}, false, nil, err
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
