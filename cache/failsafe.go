package cache

import (
	"context"
	"fmt"
	"time"
)

// defaultFailSafeFor is the default of [LoadOptions].FailSafeFor.
const defaultFailSafeFor = time.Hour

// keep is how long, past its TTL and StaleFor, an entry written under o is
// kept as the last good value for a soft timeout: FailSafeFor (default one
// hour) when SoftTimeout is set, else nothing.
func (o LoadOptions) keep() time.Duration {
	switch {
	case o.SoftTimeout <= 0:
		return o.StaleIfError // revalidate.go
	case o.FailSafeFor > 0:
		return max(o.FailSafeFor, o.StaleIfError)
	}
	return max(defaultFailSafeFor, o.StaleIfError)
}

// failSafe reports whether an entry with left to live (< 0: forever) is past
// its TTL and StaleFor under o, and kept only as the last good value for a
// soft timeout: a read reloads it, waiting at most SoftTimeout.
func (o LoadOptions) failSafe(left time.Duration) bool {
	return (o.SoftTimeout > 0 || o.StaleIfError > 0) && left >= 0 && left <= o.keep()
}

// refreshKey is the flight key of the reloads of an entry the tiers still
// hold (a background refresh, a reload under a soft timeout): they share one
// loader call, apart from the loads of a miss, whose flight must answer
// every caller (a reload may give up and answer nothing, see lockOrWait).
func refreshKey(key string, opts LoadOptions) string {
	return "r" + flightKey(key, opts)
}

// softLoad answers a read of key under a SoftTimeout or HardTimeout. With a
// stale value (from tier, past its TTL and StaleFor but within FailSafeFor)
// it reloads the key and waits at most SoftTimeout, then answers the stale
// value; without one (tier TierNone) it loads and waits at most
// HardTimeout (zero: as long as ctx allows), then returns an error wrapping
// context.DeadlineExceeded. Either way the load goes on, on a goroutine of
// the Tiered (stopped by Close), and fills the tiers when it lands. A
// reload that ends without a fresher value (it waited for another
// instance's lease in vain) answers the stale value too.
func (t *Tiered) softLoad(ctx context.Context, key string, stale Value, tier Tier, load Loader, opts LoadOptions) (Value, Tier, error) {
	wait, fkey := opts.HardTimeout, flightKey(key, opts)
	if tier != TierNone {
		if opts.StaleIfError > 0 && t.staleIfFailing(ctx, key, stale, load, opts) { // revalidate.go
			return stale, tier, nil
		}
		wait, fkey = opts.SoftTimeout, refreshKey(key, opts)
		opts.refreshing, opts.Force = true, false
		opts = opts.withPrevious(key, stale)
	}
	run := func(ctx context.Context) (loaded, error) {
		if opts.NoShare && !opts.refreshing {
			return t.fill(ctx, key, load, opts)
		}
		// Run here, with ctx (cancelled by Close, which waits for it).
		res, err, shared := t.flight.DoHere(ctx, fkey, func(context.Context) (loaded, error) {
			return t.fill(ctx, key, load, opts)
		})
		if shared {
			t.stats.sharedLoads.Add(1)
		}
		return res, err
	}
	type result struct {
		res loaded
		err error
	}
	done := make(chan result, 1)
	if !t.bg.detach(ctx, func(ctx context.Context) {
		res, err := run(ctx)
		done <- result{res, err}
	}) {
		res, err := run(ctx) // closed: no background work, the caller waits
		done <- result{res, err}
	}
	var expired <-chan time.Time
	if wait > 0 {
		timer := time.NewTimer(wait)
		defer timer.Stop()
		expired = timer.C
	}
	select {
	case r := <-done:
		if tier != TierNone && (r.err != nil || r.res.tier == TierNone) {
			// The reload failed or found nothing fresher: the last good
			// value is the answer (the next read tries again), unless
			// StaleOnError refuses the error.
			if r.err != nil && !opts.staleOn(r.err) {
				return Value{}, TierOrigin, r.err
			}
			t.stats.staleHits.Add(1)
			if r.err != nil && opts.StaleIfError > 0 {
				t.stats.staleIfError.Add(1)
			}
			opts.onStale(r.err)
			return stale, tier, nil
		}
		return r.res.value, r.res.tier, r.err
	case <-expired:
		if tier != TierNone {
			t.stats.softTimeouts.Add(1)
			t.stats.staleHits.Add(1)
			opts.onStale(fmt.Errorf("cache: reload ran past the soft timeout (%v): %w", wait, context.DeadlineExceeded))
			return stale, tier, nil
		}
		t.stats.hardTimeouts.Add(1)
		return Value{}, TierOrigin, fmt.Errorf("cache: load ran past the hard timeout (%v), still loading: %w", wait, context.DeadlineExceeded)
	case <-ctx.Done():
		return Value{}, TierNone, ctx.Err()
	}
}

// detach runs fn on a goroutine owned by b, with a context carrying ctx's
// values but not its cancellation, cancelled by close. It reports false,
// running nothing, once b is closed.
func (b *background) detach(ctx context.Context, fn func(context.Context)) bool {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return false
	}
	b.init()
	b.wg.Add(1)
	life := b.ctx
	b.mu.Unlock()
	go func() {
		defer b.wg.Done()
		dctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
		defer cancel()
		stop := context.AfterFunc(life, cancel)
		defer stop()
		fn(dctx)
	}()
	return true
}

// init makes b's context (and the map refreshAsync checks to make it) on
// first use. The caller holds b.mu.
func (b *background) init() {
	if b.running == nil {
		b.running = make(map[string]struct{})
		b.ctx, b.cancel = context.WithCancel(context.Background())
	}
}
