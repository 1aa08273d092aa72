package cache

import "sync/atomic"

// breaker skips L2 after repeated failures. After threshold consecutive
// failures it opens for cooldown ns; when that has passed, one caller is let
// through as a probe (the others keep skipping while it runs); a success closes
// it, a failure opens it again. It is lock-free and safe for concurrent use.
type breaker struct {
	threshold int32
	cooldown  int64
	fails     atomic.Int32
	openUntil atomic.Int64 // monotonic ns; 0 while closed
}

// allow reports whether a call may go to L2 at now.
func (b *breaker) allow(now int64) bool {
	u := b.openUntil.Load()
	if u == 0 {
		return true
	}
	if now < u {
		return false
	}
	// The cool-down is over: the caller that moves the deadline probes.
	return b.openUntil.CompareAndSwap(u, now+b.cooldown)
}

// success records a successful call; it reports whether that closed an open
// breaker (L2 is back).
func (b *breaker) success() (recovered bool) {
	if b.fails.Load() != 0 {
		b.fails.Store(0)
	}
	return b.openUntil.Load() != 0 && b.openUntil.Swap(0) != 0
}

// failure records a failed call at now; it reports whether that opened a
// closed breaker.
func (b *breaker) failure(now int64) (opened bool) {
	n := b.fails.Add(1)
	if n < b.threshold {
		return false
	}
	return b.openUntil.Swap(now+b.cooldown) == 0
}

// open reports whether L2 is being skipped at now.
func (b *breaker) open(now int64) bool {
	u := b.openUntil.Load()
	return u != 0 && now < u
}
