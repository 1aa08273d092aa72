package cache

import "time"

// L2Call describes one call of a [Tiered] to its L2, as told to
// [TieredOptions].OnL2Call.
type L2Call struct {
	// Op names the call: "get", "set", "delete", "delete tags",
	// "known tags", "publish", "lock", "unlock", or "get or lock" (under
	// [LoadOptions].LockWait, after a miss: a read of the key again that,
	// on a miss, takes its lease in the same call; Err is nil for a hit
	// and [ErrMiss] for a miss, lease taken or not).
	Op string
	// Duration is how long the call took, the store's own timeout included.
	Duration time.Duration
	// Err is nil on success, [ErrMiss] for a get that found nothing, and
	// otherwise the failure (a timeout, Redis down, or the caller's context
	// ending).
	Err error
}
