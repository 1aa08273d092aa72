package cache

import (
	"context"
	"errors"
	"strings"
	"time"
)

// loaded is what one flight of GetOrLoad hands to all its callers.
type loaded struct {
	value Value
	tier  Tier
}

// l2Value is what an L2 read hands to all its callers.
type l2Value struct {
	v   Value
	ttl time.Duration
}

// Negative marks a loader error as cacheable for ttl (negative caching): the
// [Tiered] keeps it in L1 (only: each process keeps its own) and answers
// reads of the key with the same error until ttl ends, without calling the
// loader. Callers get err itself, not the wrapper. A ttl <= 0 caches nothing.
func Negative(err error, ttl time.Duration) error {
	if err == nil {
		return nil
	}
	return &negative{err: err, ttl: ttl}
}

type negative struct {
	err error
	ttl time.Duration
}

func (n *negative) Error() string { return n.err.Error() }
func (n *negative) Unwrap() error { return n.err }

// GetOrLoad returns the value of key: from L1; on a miss from L2, whose hit
// fills L1 for the entry's remaining TTL (capped by L1MaxTTL); on a miss from
// the loader, whose answer is written to L2, then L1, then returned. The Tier
// says where the answer came from (TierOrigin for a load). opts.Mode ==
// ModeL1 never reads or writes L2 entries; ModeL2 never reads L1 and drops
// the key from L1 when it writes.
//
// Concurrent callers missing the same key share one L2 read (run on the
// goroutine of the caller that started it, bounded by the store's timeout),
// then, with the same Mode and Force, one loader call: it runs with a
// context carrying the first caller's values that is cancelled only when
// every waiting caller has left, and a caller whose ctx ends gets ctx.Err()
// at once. The loader bounds its own running time. A caller that joins a
// load finds the tiers filled by a load that ended just before: the loader
// is not called again.
//
// A loader error is returned (with TierOrigin) to every waiter and is not
// cached, unless it is wrapped with [Negative]. An entry whose TTL is <= 0
// is returned but not cached. L2 failures are never returned: they count as
// L2 misses.
//
// The Value is immutable: callers share it safely. GetOrLoad panics if load
// is nil.
func (t *Tiered) GetOrLoad(ctx context.Context, key string, load Loader, opts LoadOptions) (Value, Tier, error) {
	if load == nil {
		panic("cache: GetOrLoad: nil loader")
	}
	if !opts.Force && opts.refreshes() {
		if v, tier, err := t.readRefresh(ctx, key, load, opts); tier != TierNone || err != nil {
			return v, tier, err
		}
	} else if !opts.Force {
		if v, tier, err := t.read(ctx, key, opts.Mode, opts.L1TTL); tier != TierNone || err != nil {
			return v, tier, err
		}
	}
	if opts.Force && t.l1 != nil && opts.Mode != ModeL2 {
		// A forced load revalidates the L1 copy, if any (revalidate.go).
		if it, ok := t.l1.Get(key); ok && it.Err == nil {
			opts = opts.withPrevious(key, it.Value)
		}
	}
	if opts.HardTimeout > 0 { // failsafe.go
		return t.softLoad(ctx, key, Value{}, TierNone, load, opts)
	}
	if opts.NoShare {
		res, err := t.fill(ctx, key, load, opts)
		return res.value, res.tier, err
	}
	res, err, shared := t.flight.Do(ctx, flightKey(key, opts), func(fctx context.Context) (loaded, error) {
		return t.fill(fctx, key, load, opts)
	})
	if shared {
		t.stats.sharedLoads.Add(1)
	}
	return res.value, res.tier, err
}

// GetL1 is the first step of [Tiered.GetOrLoad] alone: it reports whether
// GetOrLoad with opts would answer key from L1 at once, and with what, with
// nothing else to do. It never reads L2 nor loads, and it answers false
// whenever GetOrLoad would do more than a plain L1 read: Force, ModeL2, or
// an entry due for a refresh or stale (RefreshBefore, StaleFor; an L1 that
// does not tell the time an entry has left is never asked then). A hit is
// counted as GetOrLoad counts it; a miss is not counted (the GetOrLoad that
// follows counts it). A negative entry is a hit with its cached error.
//
// It lets a caller whose loader costs an allocation to build (a closure)
// build it on a miss only.
func (t *Tiered) GetL1(key string, opts LoadOptions) (v Value, hit bool, err error) {
	if t.l1 == nil || opts.Force || opts.Mode == ModeL2 {
		return Value{}, false, nil
	}
	var it Item
	var ok bool
	if opts.refreshes() {
		lt, can := t.l1.(LocalTTL)
		if !can {
			return Value{}, false, nil
		}
		var left time.Duration
		it, left, ok = lt.GetTTL(key)
		// Due for a refresh (or stale): GetOrLoad has more to do.
		if ok && it.Err == nil && opts.due(left) {
			return Value{}, false, nil
		}
	} else {
		it, ok = t.l1.Get(key)
	}
	if !ok {
		return Value{}, false, nil
	}
	t.countL1Hit(it)
	return it.Value, true, it.Err
}

// countL1Hit counts a hit of the L1 item it, as every read path does.
func (t *Tiered) countL1Hit(it Item) {
	t.stats.l1Hits.Inc()
	if it.Err != nil {
		t.stats.negativeHits.Add(1)
	}
}

// setL1 stores it in L1 for ttl under a copy of key, its value with a memo
// slot: the cache owns what it keeps (a caller's key may point into a larger
// object, such as a client's method), and the hits of the entry decode it
// once (Value.Memo).
func (t *Tiered) setL1(key string, it Item, ttl time.Duration) {
	if it.Err == nil {
		it.Value = it.Value.memoized()
	}
	t.l1.Set(strings.Clone(key), it, ttl)
}

// Get returns the value of key from the tiers mode names, without loading
// it: ErrMiss when none has it. With ModeAll an L2 hit fills L1 as in
// GetOrLoad. L2 failures count as misses. A negative entry returns its
// cached error with TierL1.
func (t *Tiered) Get(ctx context.Context, key string, mode Mode) (Value, Tier, error) {
	v, tier, err := t.read(ctx, key, mode, 0)
	if tier == TierNone && err == nil {
		err = ErrMiss
	}
	return v, tier, err
}

// read looks key up in L1 (unless ModeL2), then (unless ModeL1) L2; an L2
// hit fills L1 (ModeAll only), capped by l1TTL if > 0. TierNone with a nil
// error is a miss; an error with TierNone is the caller's ctx ending.
func (t *Tiered) read(ctx context.Context, key string, mode Mode, l1TTL time.Duration) (Value, Tier, error) {
	if mode == ModeL2 {
		return t.readL2Only(ctx, key)
	}
	if t.l1 != nil {
		if it, ok := t.l1.Get(key); ok {
			t.countL1Hit(it)
			return it.Value, TierL1, it.Err
		}
		t.stats.l1Misses.Add(1)
	}
	if t.l2 != nil && mode == ModeAll {
		if v, _, err := t.readL2(ctx, key, l1TTL); err == nil {
			return v, TierL2, nil
		} else if ctx.Err() != nil {
			return Value{}, TierNone, ctx.Err()
		}
	}
	return Value{}, TierNone, nil
}

// flightKey separates the flights of one key that must not share an answer:
// a ModeL1 load must not be answered by L2, nor a forced one by a cache.
func flightKey(key string, opts LoadOptions) string {
	var b byte = '0' + byte(opts.Mode)
	if opts.Force {
		b += 'a' - '0'
	}
	return string(b) + key
}

// fill is the body of one GetOrLoad flight, run once for all its callers.
func (t *Tiered) fill(ctx context.Context, key string, load Loader, opts LoadOptions) (loaded, error) {
	if !opts.Force && !opts.refreshing {
		// A flight that ended between this caller's misses and the start of
		// this one has filled the tiers: don't fetch again. L1 tells when
		// there is one; an L2-only Tiered (or read) asks L2 once more,
		// unless the lease's first try (a read-or-lease call) is about to.
		if t.l1 != nil && opts.Mode != ModeL2 {
			if it, ok := t.l1.Get(key); ok {
				return loaded{value: it.Value, tier: TierL1}, it.Err
			}
		} else if t.l2 != nil && opts.Mode != ModeL1 && t.oneStep(opts) == nil {
			if v, _, err := t.l2Reread(ctx, key); err == nil {
				return loaded{value: v, tier: TierL2}, nil
			}
		}
	}
	publish := opts.Force || opts.refreshing
	if opts.LockWait > 0 && !opts.Force {
		// Distributed single-flight (lockflight.go): take the lease, or
		// wait for its holder's write.
		unlock, res, done, err := t.lockOrWait(ctx, key, opts)
		if done {
			return res, err
		}
		if unlock != nil {
			defer unlock()
			publish = true // wakes the waiters of other instances
		}
	}
	t.stats.loads.Add(1)
	e, err := load(opts.loadCtx(ctx))
	t.counted(key, e, err, opts) // revalidate.go
	if err != nil {
		t.stats.loadErrors.Add(1)
		var neg *negative
		if errors.As(err, &neg) {
			err = neg.err
			if t.l1 != nil && neg.ttl > 0 {
				t.setL1(key, Item{Err: err}, neg.ttl)
			}
		}
		return loaded{tier: TierOrigin}, err
	}
	if e.L1TTL <= 0 {
		e.L1TTL = opts.L1TTL
	}
	if e.TTL > 0 {
		// Kept stale for StaleFor, then as the last good value for a soft
		// timeout (failsafe.go), past its (jittered) TTL.
		e.stale = opts.StaleFor + opts.keep()
	}
	if e.TTL > 0 || opts.Force {
		// A forced load overwrites (or, uncacheable, deletes) what the
		// tiers held, and tells the other instances. Its L2 errors are
		// counted and logged by write; the read does not fail on them.
		_ = t.write(ctx, key, e, opts.Mode, publish)
	}
	return loaded{value: e.Value, tier: TierOrigin}, nil
}

// readL2 reads key from L2 and fills L1 on a hit. Concurrent readers of a
// key share one L2 read, which runs on the goroutine of the reader that
// started it (bounded by the store's timeout): a hit costs one round trip
// and no hand-off to another goroutine. Any error means "not from L2".
// The L1 copy is capped by the l1TTL of the reader that started the read.
func (t *Tiered) readL2(ctx context.Context, key string, l1TTL time.Duration) (Value, time.Duration, error) {
	r, err, _ := t.l2flight.DoHere(ctx, key, func(fctx context.Context) (l2Value, error) {
		v, ttl, err := t.l2Get(fctx, key)
		if err == nil {
			t.fillL1(key, v, ttl, l1TTL)
		}
		return l2Value{v, ttl}, err
	})
	return r.v, r.ttl, err
}

// l2Get reads key from L2 through the guard, counting the outcome as the
// read's L2 hit or miss. Any error means "not from L2".
func (t *Tiered) l2Get(ctx context.Context, key string) (Value, time.Duration, error) {
	v, ttl, err := t.l2Reread(ctx, key)
	switch {
	case err == nil:
		t.stats.l2Hits.Add(1)
	case errors.Is(err, ErrMiss):
		t.stats.l2Misses.Add(1)
	}
	return v, ttl, err
}

// l2Reread reads key from L2 through the guard for a read that has counted
// its L2 lookup already (a load checking again before or under the lease),
// so it counts no hit or miss: one read is one hit or one miss per tier.
// Failures still count as L2 errors. Any error means "not from L2".
func (t *Tiered) l2Reread(ctx context.Context, key string) (Value, time.Duration, error) {
	if t.rq.hides(key) { // recovery.go: an invalidation of key waits for L2
		return Value{}, 0, ErrMiss
	}
	r, err := l2call(t, ctx, "get", func(ctx context.Context) (l2Value, error) {
		v, ttl, err := t.l2.Get(ctx, key)
		return l2Value{v, ttl}, err
	})
	return r.v, r.ttl, err
}

// fillL1 stores an L2 hit in L1 for its remaining ttl, capped by L1MaxTTL
// and by l1TTL if > 0. An entry without expiry is kept for the cap, or not at
// all without one.
func (t *Tiered) fillL1(key string, v Value, ttl, l1TTL time.Duration) {
	if t.l1 == nil {
		return
	}
	if ttl < 0 {
		ttl = t.opts.L1MaxTTL
		if l1TTL > 0 {
			ttl = l1TTL
		}
		if ttl <= 0 {
			return
		}
	}
	t.setL1(key, Item{Value: v}, t.capL1(ttl, l1TTL))
}
