package client

import (
	"time"

	"github.com/alovago/alova/cache"
)

// RefreshAhead returns a copy of p whose hot entries are reloaded in the
// background before they expire, so that no send waits for the downstream
// when a hot answer's time is up (see [cache.LoadOptions].RefreshBefore):
// a send that hits an entry with less than before left answers from the
// cache at once and starts one reload (one per key per process, and one
// across instances with [Policy.Lock]). With stale > 0, an entry is also
// kept stale for that long past its time and answered at once while one
// reload runs (stale-while-revalidate); sends of the method must then all
// use the same stale. Zero durations turn each part off.
//
// The reload runs the method again after the send that started it has
// returned, on a goroutine of the cache (stopped by [cache.Tiered.Close]),
// with a context that keeps the send's values but not its cancellation;
// its hooks (OnSuccess) run as for any downstream call, and the forwarded
// headers are those of the request that started it.
func (p Policy) RefreshAhead(before, stale time.Duration) Policy {
	return p.with(func(x *policyMore) { x.refreshBefore, x.staleFor = max(before, 0), max(stale, 0) })
}

// Lock returns a copy of p under which the instances sharing an L2 make one
// downstream call between them when they miss the same answer at once
// (a distributed single-flight, see [cache.LoadOptions].LockWait): one
// instance takes a short lease in Redis and calls the downstream, the others
// wait for its answer in L2, for at most wait; past it (the holder died or is
// slow) each calls the downstream itself. It costs one Redis round trip per
// cold miss. A wait <= 0 turns it off. It has no effect with [Policy.L1].
func (p Policy) Lock(wait time.Duration) Policy {
	return p.with(func(x *policyMore) { x.lockWait = max(wait, 0) })
}

// beyond copies p's refresh and lease settings into opts.
func (p Policy) beyond(opts *cache.LoadOptions) {
	x := p.more()
	opts.RefreshBefore, opts.StaleFor, opts.LockWait = x.refreshBefore, x.staleFor, x.lockWait
}
