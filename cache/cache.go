package cache

import (
	"context"
	"errors"
	"time"
)

// ErrMiss is returned by a read when the key is absent or has expired.
var ErrMiss = errors.New("cache: miss")

// ErrUnavailable is wrapped by the errors of the [Tiered] operations that
// cannot be answered without the shared tier (Set, Delete, DeleteTags,
// KnownTags) when it fails, times out, or is being skipped during a
// cool-down; Delete, DeleteTags, DeleteTagsFunc and Clear only when their
// invalidation cannot be queued for later (see
// [TieredOptions].RecoveryQueue). Reads never return it: a read degrades to
// the origin instead.
var ErrUnavailable = errors.New("cache: L2 unavailable")

// Tier names the place an answer came from.
type Tier uint8

const (
	// TierNone means no tier answered (a miss, or an error).
	TierNone Tier = iota
	// TierL1 is the in-process tier.
	TierL1
	// TierL2 is the shared tier (Redis).
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
	// ModeL2 uses the shared tier only (alova's policy 'l2' of setCache and
	// queryCache): a read skips L1 and does not fill it; a write goes to L2
	// and drops the key from L1, here and (unless NoInvalidation) on every
	// other instance, so that no older L1 copy hides it.
	ModeL2
)

// Entry is what a [Loader] produces and what [Tiered.Set] writes.
type Entry struct {
	// Value is the value to cache; it cannot change once made.
	Value Value
	// TTL is how long the entry lives. A TTL <= 0 means the value is returned
	// to the callers but not cached.
	TTL time.Duration
	// Tags name groups the entry belongs to, for [Tiered.DeleteTags].
	Tags []string
	// L1TTL, when > 0, caps how long L1 keeps the entry (jittered like TTL),
	// so that one entry can live for TTL in L2 and less in L1; it adds to
	// [TieredOptions].L1MaxTTL, the shorter wins. Zero: no cap of its own.
	L1TTL time.Duration

	// Revalidated says the loader asked the origin whether the value it
	// was reloading (see [Previous]) is still current, as an HTTP
	// conditional request does; it counts in [Stats].Revalidations.
	// NotModified says the origin answered that it is (an HTTP 304): Value
	// is that value, renewed for TTL (also a revalidation); it counts in
	// Stats.NotModified. Saved is what the origin did not send because of
	// it (for HTTP, the body's length), added to Stats.BytesSaved. The
	// entry is written as any other: both tiers, and every instance's L1
	// drops its copy. Default false, 0: a plain load.
	Revalidated, NotModified bool
	Saved                    int64

	// stale is how long the entry is kept past its TTL (after the jitter):
	// LoadOptions.StaleFor and the fail-safe window of a soft timeout.
	stale time.Duration
}

// Loader fetches a value from the origin on a miss. To cache an error for a
// while (negative caching), return it wrapped with [Negative].
type Loader func(ctx context.Context) (Entry, error)

// Item is what a [Local] tier holds under a key: a value with its tags, or,
// for a negative entry (see [Negative]), the error a load returned.
type Item struct {
	Value Value
	Tags  []string
	Err   error
}

// Local is an in-process tier (L1), such as [MemoryStore]. A Local never
// blocks on I/O, so its methods take no context. Implementations must be
// safe for concurrent use, must never return an entry past the ttl it was
// stored with, and must treat the Item's Tags as read-only.
type Local interface {
	// Get returns the live item under key.
	Get(key string) (Item, bool)
	// Set stores it under key for ttl (> 0), replacing any item there.
	Set(key string, it Item, ttl time.Duration)
	// Delete removes the keys; absent keys are no error.
	Delete(keys ...string)
	// DeleteTags removes every item carrying any of the tags.
	DeleteTags(tags ...string)
	// Tags returns the tags carried by live items whose name starts with
	// prefix, in any order.
	Tags(prefix string) []string
	// Purge removes every item.
	Purge()
}

// Invalidation tells the instances sharing a [Shared] tier which entries of
// their [Local] tier to drop. It is published by the instance that made a
// change and applied by every other one.
type Invalidation struct {
	// From identifies the sending [Tiered]; it ignores its own messages.
	From string
	// Keys and Tags name the entries to drop.
	Keys, Tags []string
	// All drops every entry. A [Shared] tier also hands its subscriber an
	// Invalidation with All set when its feed was re-established after a
	// break, because what was published meanwhile is lost.
	All bool
}

// Shared is a tier every instance reads and writes (L2), such as
// [NewRedisStore] returns, together with the feed that carries
// invalidations between instances. The interface is the whole contract a
// [Tiered] relies on; a store that also implements [Locker] lets it share
// one load across instances ([LoadOptions].LockWait). Implementations must
// be safe for concurrent use and must bound the time of each call
// themselves (a Tiered waits for them). An announce argument that is not
// nil is published to the other instances together with the change, in the
// same round trip where the store can.
type Shared interface {
	// Get returns the value under key and its time left (< 0: no expiry),
	// or an error wrapping ErrMiss.
	Get(ctx context.Context, key string) (Value, time.Duration, error)
	// Set stores v under key for ttl (> 0), indexed under tags.
	Set(ctx context.Context, key string, v Value, ttl time.Duration, tags []string, announce *Invalidation) error
	// Delete removes the keys; absent keys are no error.
	Delete(ctx context.Context, keys []string, announce *Invalidation) error
	// DeleteTags removes every entry carrying any of the tags and returns
	// their keys; announce, if not nil, is published with those keys added.
	DeleteTags(ctx context.Context, tags []string, announce *Invalidation) ([]string, error)
	// KnownTags returns the tags of live entries whose name starts with
	// prefix, in any order.
	KnownTags(ctx context.Context, prefix string) ([]string, error)
	// DeleteTagsFunc removes, as DeleteTags does, every entry carrying any
	// of the tags or any tag in use whose name starts with prefix and for
	// which match reports true, and returns the keys removed and the tags
	// matched. match may be called more than once per name, from the
	// calling goroutine only. A store with no faster way calls KnownTags
	// and then DeleteTags; the Redis store watches the names under a prefix
	// so that it costs two round trips (see [Tiered.DeleteTagsFunc]).
	DeleteTagsFunc(ctx context.Context, prefix string, match func(tag string) bool, tags []string, announce *Invalidation) (keys, matched []string, err error)
	// Publish sends inv to every subscriber.
	Publish(ctx context.Context, inv Invalidation) error
	// Subscribe calls fn with every invalidation published, from any
	// instance, until ctx ends; then it returns nil. It re-establishes a
	// broken feed by itself and then calls fn with All set. live, when not
	// nil, is called once the feed first receives: from then on no
	// invalidation is missed ([NewTiered] waits for it, briefly, so that
	// nothing it copies into L1 can miss one). A feed that needs no setup
	// calls live at once.
	Subscribe(ctx context.Context, fn func(Invalidation), live func()) error
}
