package cache

import (
	"context"
	"sync"
	"time"
)

// defaultMaxRefreshes is the default of [TieredOptions].MaxRefreshes.
const defaultMaxRefreshes = 64

// LocalTTL is an optional interface of a [Local] tier: Get with the time the
// item has left. [MemoryStore] implements it. Refresh-ahead and stale
// serving ([LoadOptions].RefreshBefore, StaleFor) need to know how much
// time an L1 entry has left; a Local without GetTTL is not read by such
// loads (they read L2), though it is still written.
type LocalTTL interface {
	// GetTTL returns the live item under key and the time it has left.
	GetTTL(key string) (Item, time.Duration, bool)
}

var _ LocalTTL = (*MemoryStore)(nil)

// refreshes reports whether o reloads entries in the background.
func (o LoadOptions) refreshes() bool {
	return o.RefreshBefore > 0 || o.StaleFor > 0 || o.SoftTimeout > 0 || o.StaleIfError > 0
}

// background is the state of a [Tiered]'s background work: its refreshes,
// lease waiters and batches. Its zero value is ready; close stops it.
type background struct {
	mu      sync.Mutex
	closed  bool
	ctx     context.Context    // cancelled by close; made on first use
	cancel  context.CancelFunc // guarded by mu
	running map[string]struct{}
	wg      sync.WaitGroup

	waiters map[string]chan struct{} // lockflight.go, guarded by mu
	// yielded holds the keys whose refresh gave up waiting for another
	// instance's lease, and until when no new refresh of them starts (see
	// yield); guarded by mu.
	yielded map[string]time.Time
	batches map[string]*batchCall // batch.go, guarded by mu
	// failing holds the keys whose last reload failed under StaleIfError
	// (revalidate.go); guarded by mu.
	failing map[string]failure
}

// close cancels the background refreshes and waits for them to end.
func (b *background) close() {
	b.mu.Lock()
	b.closed = true
	if b.cancel != nil {
		b.cancel()
	}
	b.mu.Unlock()
	b.wg.Wait()
}

// due reports whether an entry with left to live (< 0: forever) is due for
// a background reload under o.
func (o LoadOptions) due(left time.Duration) bool {
	return left >= 0 && left-o.StaleFor-o.keep() <= o.RefreshBefore
}

// readRefresh is read for a load with RefreshBefore or StaleFor: a hit
// whose fresh time left is RefreshBefore or less (or gone: a stale hit)
// starts a background reload.
func (t *Tiered) readRefresh(ctx context.Context, key string, load Loader, opts LoadOptions) (Value, Tier, error) {
	if lt, ok := t.l1.(LocalTTL); ok && t.l1 != nil {
		if it, left, ok := lt.GetTTL(key); ok {
			t.countL1Hit(it)
			if it.Err != nil {
				return it.Value, TierL1, it.Err
			}
			if opts.failSafe(left) { // failsafe.go
				return t.softLoad(ctx, key, it.Value, TierL1, load, opts)
			}
			t.checkFresh(ctx, key, it.Value, left, load, opts)
			return it.Value, TierL1, nil
		}
		t.stats.l1Misses.Add(1)
	}
	if t.l2 != nil && opts.Mode == ModeAll {
		if v, left, err := t.readL2(ctx, key, opts.L1TTL); err == nil {
			if opts.failSafe(left) {
				return t.softLoad(ctx, key, v, TierL2, load, opts)
			}
			t.checkFresh(ctx, key, v, left, load, opts)
			return v, TierL2, nil
		} else if ctx.Err() != nil {
			return Value{}, TierNone, ctx.Err()
		}
	}
	return Value{}, TierNone, nil
}

// checkFresh starts a background reload of key when an entry (v) with left
// to live (< 0: forever) is due for one under opts.
func (t *Tiered) checkFresh(ctx context.Context, key string, v Value, left time.Duration, load Loader, opts LoadOptions) {
	if left < 0 {
		return
	}
	fresh := left - opts.StaleFor - opts.keep()
	if fresh <= 0 {
		t.stats.staleHits.Add(1)
	}
	if fresh <= opts.RefreshBefore {
		t.refreshAsync(ctx, key, v, load, opts)
	}
}

// refreshAsync reloads key, whose entry holds prev, in the background, unless a reload of key is
// running already, MaxRefreshes are, or the Tiered is closed. The reload's
// context carries ctx's values, not its cancellation, and is cancelled by
// Close.
func (t *Tiered) refreshAsync(ctx context.Context, key string, prev Value, load Loader, opts LoadOptions) {
	b := &t.bg
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return
	}
	if _, ok := b.running[key]; ok {
		b.mu.Unlock()
		return
	}
	if until, ok := b.yielded[key]; ok {
		if time.Now().Before(until) {
			b.mu.Unlock()
			return
		}
		delete(b.yielded, key)
	}
	// A reader that saw the entry due just before a reload of key ended
	// finds it fresh in L1 now (the reload wrote L1 before leaving running).
	if lt, ok := t.l1.(LocalTTL); ok {
		if _, left, ok := lt.GetTTL(key); ok && !opts.due(left) {
			b.mu.Unlock()
			return
		}
	}
	max := t.opts.MaxRefreshes
	if max == 0 {
		max = defaultMaxRefreshes
	}
	if len(b.running) >= max {
		b.mu.Unlock()
		return
	}
	if b.running == nil {
		b.running = make(map[string]struct{})
		b.ctx, b.cancel = context.WithCancel(context.Background())
	}
	b.running[key] = struct{}{}
	b.wg.Add(1)
	life := b.ctx
	b.mu.Unlock()
	t.stats.refreshes.Add(1)

	go func() {
		defer b.wg.Done()
		defer func() {
			b.mu.Lock()
			delete(b.running, key)
			b.mu.Unlock()
		}()
		rctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
		defer cancel()
		stop := context.AfterFunc(life, cancel)
		defer stop()
		t.refresh(rctx, key, load, opts.withPrevious(key, prev))
	}()
}

// refresh reloads key: from L2 when another instance has reloaded it
// already, else from the loader (under the lease, with LockWait).
func (t *Tiered) refresh(ctx context.Context, key string, load Loader, opts LoadOptions) {
	if t.l2 != nil && opts.Mode == ModeAll {
		if v, left, err := t.l2Get(ctx, key); err == nil && !opts.due(left) {
			t.fillL1(key, v, left, opts.L1TTL)
			if opts.StaleIfError > 0 {
				t.bg.recovered(key) // revalidate.go: another instance reloaded it
			}
			return
		} else if err == nil {
			opts = opts.withPrevious(key, v) // the newest copy, to revalidate
		}
	}
	opts.refreshing, opts.Force = true, false
	defer func() {
		if r := recover(); r != nil { // a panicking loader must not end the process
			t.log.Error("cache: background refresh: loader panicked", "panic", r)
		}
	}()
	// One flight with the reloads of soft timeouts (failsafe.go), run here
	// with ctx: Close cancels it and waits.
	_, err, _ := t.flight.DoHere(ctx, refreshKey(key, opts), func(context.Context) (loaded, error) {
		return t.fill(ctx, key, load, opts)
	})
	if err != nil && ctx.Err() == nil {
		// The loader failed (the downstream is down, say): the entry is
		// still served, and the next refresh waits, so that the reads of a
		// due entry do not each send a reload to a failing downstream.
		t.bg.yield(key, staleRetry)
	}
}

// maxYielded bounds the keys a [Tiered] remembers as yielded to another
// instance's lease.
const maxYielded = 1024

// yield records that the refresh of key gave up, its entry still due: it
// waited for another instance's lease for wait in vain, or its loader
// failed (wait staleRetry). The next reads of the entry serve it as it
// is and start no refresh of it for another wait, by when the holder has
// written or its lease has run out (half of wait), or the downstream may be
// back. So a slow holder or a failing downstream costs one refresh per
// wait, not one per read. With maxYielded keys remembered (and none past
// its time), it remembers nothing more.
func (b *background) yield(key string, wait time.Duration) {
	now := time.Now()
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.yielded == nil {
		b.yielded = make(map[string]time.Time)
	}
	if len(b.yielded) >= maxYielded {
		for k, until := range b.yielded {
			if !now.Before(until) {
				delete(b.yielded, k)
			}
		}
		if len(b.yielded) >= maxYielded {
			return
		}
	}
	b.yielded[key] = now.Add(wait)
}
