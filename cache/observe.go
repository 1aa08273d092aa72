package cache

import "time"

// L2Call describes one call of a [Tiered] to its L2, as told to
// [TieredOptions].OnL2Call.
type L2Call struct {
	// Op names the call: "get", "set", "delete", "delete tags",
	// "known tags", "publish", "lock" or "unlock".
	Op string
	// Duration is how long the call took, the store's own timeout included.
	Duration time.Duration
	// Err is nil on success, [ErrMiss] for a get that found nothing, and
	// otherwise the failure (a timeout, Redis down, or the caller's context
	// ending).
	Err error
}

// L2CoolingDown reports whether t is skipping L2 right now: after
// [TieredOptions].L2Failures consecutive failures, L2 is left alone for
// L2Cooldown, then probed by one call. It is false for a Tiered without L2.
// It costs an atomic load and a clock read, and is safe for concurrent use;
// metrics packages read it to show the breaker's state.
func (t *Tiered) L2CoolingDown() bool { return t.brk.open(monotonic()) }
