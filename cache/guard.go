package cache

import (
	"context"
	"errors"
	"sync/atomic"
	"time"
)

// l2call runs fn against t's L2 through the breaker. It returns fn's result,
// ErrMiss, ErrUnavailable (skipped during a cool-down), the caller's own ctx
// error (not counted against L2), or the failure, which it counts and logs.
// The store bounds the time of fn itself.
func l2call[T any](t *Tiered, ctx context.Context, op string, fn func(context.Context) (T, error)) (T, error) {
	if !t.brk.allowAt(monotonic) {
		t.stats.l2Skipped.Add(1)
		var zero T
		return zero, ErrUnavailable
	}
	var v T
	var err error
	if hook := t.opts.OnL2Call; hook != nil {
		start := time.Now()
		v, err = fn(ctx)
		hook(ctx, L2Call{Op: op, Duration: time.Since(start), Err: err})
	} else {
		v, err = fn(ctx)
	}
	if err == nil || errors.Is(err, ErrMiss) {
		if t.brk.success() {
			t.log.Info("cache: L2 is back", "op", op)
		}
		return v, err
	}
	if ctx.Err() != nil {
		return v, ctx.Err()
	}
	t.stats.l2Errors.Add(1)
	if t.brk.failure(monotonic()) {
		t.log.Error("cache: L2 keeps failing, skipping it for a while", "op", op,
			"failures", t.opts.L2Failures, "cooldown", t.opts.L2Cooldown, "err", err)
	} else {
		t.log.Warn("cache: L2 error, served without it", "op", op, "err", err)
	}
	return v, err
}

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

// allowAt is allow at clock(), read only when the breaker is open: a
// closed breaker, the usual case, costs one atomic load and no clock read.
func (b *breaker) allowAt(clock func() int64) bool {
	if b.openUntil.Load() == 0 {
		return true
	}
	return b.allow(clock())
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
