package ratelimit

import (
	"context"
	"time"
)

// Store keeps the counters of a [Limiter]: one count and one expiry per key.
// Every method is one atomic step, so that concurrent limiters sharing a
// store never grant more than the limit between them. Implementations are
// safe for concurrent use. [NewMemoryStore] and [NewRedisStore] return one.
//
// Limiters that share a store share their counts for equal keys: give each
// limit its own store (on Redis, its own [RedisOptions].KeyPrefix).
type Store interface {
	// Add adds n (which may be negative) to the count under key, never
	// taking it below zero, and returns the new count and the time before
	// the key expires. A key that is absent or expired starts a new window of
	// length window at count 0 first, and started reports that it did. If
	// block > 0 and this call takes the count from <= limit to > limit, the
	// key instead expires block from now.
	Add(ctx context.Context, key string, n int, window time.Duration, limit int, block time.Duration) (count int, ttl time.Duration, started bool, err error)
	// Set stores count under key for ttl, replacing any window.
	Set(ctx context.Context, key string, count int, ttl time.Duration) error
	// Get returns the count under key and the time before it expires; an
	// absent key reads as 0, 0.
	Get(ctx context.Context, key string) (count int, ttl time.Duration, err error)
	// Delete removes key; an absent key is not an error.
	Delete(ctx context.Context, key string) error
}
