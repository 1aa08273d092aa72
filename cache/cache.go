package cache

import (
	"context"
	"errors"
	"time"
)

// ErrMiss is returned by a read when the key is absent or has expired.
var ErrMiss = errors.New("cache: miss")

// ErrUnavailable is wrapped by the errors of the [Tiered] operations that
// cannot be answered without L2 (Delete, DeleteTags, KnownTags) when Redis
// fails, times out, or is being skipped during a cool-down. Reads never
// return it: a read degrades to the origin instead.
var ErrUnavailable = errors.New("cache: L2 unavailable")

// Store is one cache tier. Both [LRU] (L1) and [Redis] (L2) implement it.
// Implementations are safe for concurrent use.
type Store interface {
	// Get returns the value stored under key and the time it has left.
	// It returns ErrMiss when there is no live entry. The value belongs to
	// the caller: changing it never changes what is stored. A ttl < 0 means
	// the entry has no expiry (only possible for keys written by others);
	// a ttl of 0 means it expires within the store's resolution.
	Get(ctx context.Context, key string) (value []byte, ttl time.Duration, err error)
	// Set stores a copy of value under key for ttl. A ttl <= 0 stores
	// nothing and removes any entry under key.
	Set(ctx context.Context, key string, value []byte, ttl time.Duration) error
	// Delete removes the keys; absent keys are not an error.
	Delete(ctx context.Context, keys ...string) error
}

// Tier names the place an answer came from.
type Tier uint8

const (
	// TierNone means no tier answered (a miss, or an error).
	TierNone Tier = iota
	// TierL1 is the in-process LRU.
	TierL1
	// TierL2 is Redis.
	TierL2
	// TierOrigin is the loader: the value was fetched from the origin.
	TierOrigin
)

// String returns "L1", "L2", "MISS" (origin) or "NONE".
func (t Tier) String() string {
	switch t {
	case TierL1:
		return "L1"
	case TierL2:
		return "L2"
	case TierOrigin:
		return "MISS"
	default:
		return "NONE"
	}
}

// Mode says which tiers a read or write of a [Tiered] uses.
type Mode uint8

const (
	// ModeAll uses every tier the Tiered has (L1 and L2). It is the zero value.
	ModeAll Mode = iota
	// ModeL1 uses the in-process tier only (alova's "memory" mode).
	ModeL1
)

// Entry is what a [Loader] produces and what [Tiered.Set] writes.
type Entry struct {
	// Value is stored as given; the tiers keep their own copy.
	Value []byte
	// TTL is how long the entry lives. A TTL <= 0 means the value is returned
	// to the callers but not cached.
	TTL time.Duration
	// Tags name groups the entry belongs to, for [Tiered.DeleteTags].
	Tags []string
}

// Loader fetches a value from the origin on a miss.
type Loader func(ctx context.Context) (Entry, error)
