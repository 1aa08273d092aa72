// Package cache holds alova-go's cache tiers and its one read path: an
// in-process tier (L1, [MemoryStore]), a shared tier (L2, [NewRedisStore]), and
// [Tiered], which reads through both to the origin with stampede protection.
// It knows nothing of HTTP: the client package builds keys and loaders and
// calls it.
//
// # The read path
//
// Create the tiers once per process and share them:
//
//	tiers := cache.NewTiered(
//		cache.NewMemoryStore(cache.MemoryOptions{MaxEntries: 10_000}),
//		cache.NewRedisStore(rdb, cache.RedisOptions{KeyPrefix: "app:cache:"}),
//		cache.TieredOptions{})
//	defer tiers.Close()
//	v, tier, err := tiers.GetOrLoad(ctx, key, loadFromOrigin, cache.LoadOptions{})
//
// Every cached read goes through [Tiered.GetOrLoad]:
//
//  1. L1. A hit returns the value (tier "L1").
//  2. On an L1 miss, L2: one round trip returns the value and its remaining
//     TTL. A hit fills L1 for that remaining TTL only (capped by
//     [TieredOptions.L1MaxTTL]) and returns (tier "L2").
//  3. On an L2 miss, the loader (the origin). Its answer is written to L2
//     (SET … PX ttl, with its tags), then to L1, then returned (tier "MISS").
//     A loader error is returned and not cached, unless the loader wraps it
//     with [Negative]; an [Entry] with TTL <= 0 is returned and not cached.
//
// Concurrent callers missing the same key in one process share one L2 lookup
// and one loader call ([LoadOptions].NoShare opts out). A caller that gives
// up (its ctx ends) leaves at once; the load goes on for the others and is
// cancelled when all have left.
//
// [ModeL1] keeps a read or write in L1 only (alova's memory mode).
// [LoadOptions].Force skips both reads and refreshes both tiers.
//
// # Tiers are interfaces
//
// [Tiered] uses its tiers only through [Local] (in-process: get, set,
// delete, tags) and [Shared] (the same over the network, plus the feed that
// carries [Invalidation] messages between instances), so another store plugs in
// without touching the read path: see Example_customLocal.
//
// # Values are never shared mutably
//
// A [Value] is immutable: every reader of an entry shares its memory, and no
// caller can change what another one sees.
// [Value.Bytes] returns a copy to change.
//
// # When Redis fails
//
// Reads degrade, never fail: an L2 error or timeout ([RedisOptions].Timeout,
// 200 ms by default, enforced even if the Redis client ignores context
// deadlines; set ContextTimeoutEnabled on the client to enforce it more
// cheaply) counts as an L2 miss, is counted in [Stats] and logged, and the
// origin answers. After [TieredOptions.L2Failures] consecutive failures L2
// is skipped for [TieredOptions.L2Cooldown], so a dead Redis adds no latency;
// then one call probes it, and L2 comes back by itself. Writes and
// invalidations do what they can (L1) and report the L2 part with an error
// wrapping [ErrUnavailable]; GetOrLoad ignores those.
//
// # Invalidation
//
// [Tiered.Delete] removes keys; [Tiered.DeleteTags] removes every entry
// carrying a tag ([Entry].Tags), through a tag index kept in Redis in 16
// shards, each under a hash tag of its own, so that it works in Redis
// Cluster and spreads over its slots; [Tiered.DeleteTagsFunc] removes those
// of the tags a function matches; [Tiered.KnownTags] lists the tags in use
// (in bounded pages); [Tiered.Clear] empties L1 everywhere. A Delete,
// DeleteTags, Set, Clear or forced load on one process is published on a
// Redis pub/sub channel, and every other [Tiered] on the same Redis and
// prefix drops the keys from its L1 within milliseconds (alova's @alova/psc,
// across hosts). [NewTiered] returns once Redis has confirmed its
// subscription (or after the store's timeout, purging L1 when the
// confirmation comes), so that nothing it copies into L1 misses an
// invalidation. The subscriber reconnects by itself after a Redis restart,
// checks every second that Redis still delivers to it, and purges its L1
// whenever its subscription is re-established, because messages sent while
// it was away are lost. [TieredOptions.NoInvalidation] turns this off;
// [TieredOptions.L1MaxTTL] bounds how stale an L1 copy can get either way.
//
// # Expiry and size
//
// Every entry has its own TTL, kept by Redis itself in L2 and as an absolute
// monotonic expiry in L1 (no sweeper goroutine: an expired entry is dropped
// when seen or evicted). Written TTLs get a random jitter (up to 10% shorter
// by default, [TieredOptions.Jitter]) so that keys written together do not
// expire together. L1 is bounded by entries and by bytes, and keeps no
// value larger than [MemoryOptions].MaxEntryBytes (see [MemoryOptions]).
package cache
