package cache

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"sync/atomic"
	"time"

	"github.com/alovago/alova/internal/redisop"
	"github.com/redis/go-redis/v9"
)

var _ Shared = (*RedisStore)(nil)

// DefaultKeyPrefix is the key prefix of a [RedisStore] whose
// RedisOptions.KeyPrefix is empty.
const defaultKeyPrefix = "alova:cache:"

// RedisOptions configures a [RedisStore]; it has the same shape in every
// package of alova-go that keeps state in Redis. The zero value is ready to
// use; every field states its default.
type RedisOptions struct {
	// KeyPrefix starts every key the store writes, e.g. "app:cache:". Empty
	// means DefaultKeyPrefix ("alova:cache:").
	KeyPrefix string
	// Timeout bounds every Redis call, so that a hung Redis cannot stall a
	// read: past it the call fails (and a read goes on to the origin). Zero
	// means 200 ms. The bound holds even when the client ignores context
	// deadlines (go-redis's default): the call then runs in a goroutine of
	// its own that the caller stops waiting for, which costs a goroutine
	// hand-off per call. Set ContextTimeoutEnabled in the client's options
	// to let the client enforce the deadline itself and skip that hand-off.
	Timeout time.Duration
}

// RedisStore is the shared tier (L2): values in Redis under a key prefix,
// each with its TTL in Redis itself (SET … PX), so Redis evicts them, and a
// pub/sub channel that carries invalidations between instances. Each value
// also carries its expiry in a 9-byte header, so a Get is one plain GET (the
// time left is worked out on the reader's clock: keep the clocks of the
// processes sharing a Redis in sync, as NTP does) and a Set is one round
// trip.
//
// It works with any [redis.UniversalClient]: a single node, Sentinel, Ring
// or Cluster. Every script touches keys of one hash slot only: a value key
// alone, or the tag keys, which share the hash tag {tags}.
//
// # Keys
//
// With prefix P, the value of key k lives at P+k. The tag index lives under
// P+"{tags}:" (P+"{tags}:all" is the registry of tag names, P+"{tags}:t:"+tag
// the keys carrying tag, scored by expiry), and invalidations travel on the
// channel P+"{tags}:invalidate". Keys of your own that begin with "{tags}:"
// are therefore reserved.
//
// RedisStore is safe for concurrent use. It does not own the client: closing
// the client is the caller's business.
type RedisStore struct {
	rdb     redis.UniversalClient
	bound   redisop.Bound
	prefix  string
	tagBase string // prefix + "{tags}:"
	tagAll  string // the registry of tag names
	channel string // the invalidation channel

	// Feed events, for tests: subscriptions confirmed, and replaced after
	// failed checks.
	subscribed, renewed atomic.Int64
}

// NewRedisStore returns an L2 on rdb. It panics if rdb is nil or
// opts.Timeout is negative.
func NewRedisStore(rdb redis.UniversalClient, opts RedisOptions) *RedisStore {
	if rdb == nil {
		panic("cache: NewRedisStore: nil redis client")
	}
	if opts.Timeout < 0 {
		panic("cache: NewRedisStore: negative Timeout")
	}
	if opts.KeyPrefix == "" {
		opts.KeyPrefix = defaultKeyPrefix
	}
	base := opts.KeyPrefix + "{tags}:"
	return &RedisStore{rdb: rdb, bound: redisop.New(rdb, opts.Timeout), prefix: opts.KeyPrefix,
		tagBase: base, tagAll: base + "all", channel: base + "invalidate"}
}

// Get returns the value stored under key and the time it has left (at
// millisecond resolution; < 0 if it has no expiry), or ErrMiss. Any other
// error is Redis's, wrapped. It is one plain GET, and the value shares the
// memory of the reply: no copy. A value under the prefix that the cache did
// not write reads as a miss, and is overwritten by the next load.
func (r *RedisStore) Get(ctx context.Context, key string) (Value, time.Duration, error) {
	b, err := redisop.Do(ctx, r.bound, func(ctx context.Context) (string, error) {
		return r.rdb.Get(ctx, r.prefix+key).Result()
	})
	if err != nil {
		if errors.Is(err, redis.Nil) {
			return Value{}, 0, ErrMiss
		}
		return Value{}, 0, fmt.Errorf("cache: redis get: %w", err)
	}
	v, exp, ok := decodeL2(b)
	if !ok {
		return Value{}, 0, ErrMiss
	}
	if exp == 0 {
		return v, -1, nil
	}
	left := time.Duration(exp-time.Now().UnixMilli()) * time.Millisecond
	if left <= 0 {
		return Value{}, 0, ErrMiss // Redis evicts it at the same moment
	}
	return v, left, nil
}

// l2Magic starts every value the cache writes to Redis; the 8 bytes after it
// are the value's expiry in Unix milliseconds, big-endian (0: none).
const (
	l2Magic  = 0xa1
	l2Header = 9
)

// encodeL2 returns value framed with its expiry (Unix ms; 0 for none).
func encodeL2(value Value, exp int64) []byte {
	b := make([]byte, l2Header+value.Len())
	b[0] = l2Magic
	binary.BigEndian.PutUint64(b[1:l2Header], uint64(exp))
	copy(b[l2Header:], value.s)
	return b
}

// decodeL2 splits what encodeL2 wrote; ok is false for anything else.
func decodeL2(b string) (value Value, exp int64, ok bool) {
	if len(b) < l2Header || b[0] != l2Magic {
		return Value{}, 0, false
	}
	for i := 1; i < l2Header; i++ {
		exp = exp<<8 | int64(b[i])
	}
	return Value{b[l2Header:]}, exp, true
}

// Set stores v under key for ttl (rounded up to a whole millisecond) in one
// round trip, with the key added to the index of each tag (which lives as
// long as its longest-lived key), and announce published. A ttl <= 0 stores
// nothing and deletes any value under key.
func (r *RedisStore) Set(ctx context.Context, key string, v Value, ttl time.Duration, tags []string, announce *Invalidation) error {
	if ttl <= 0 {
		return r.Delete(ctx, []string{key}, announce)
	}
	err := r.pipe(ctx, func(p redis.Pipeliner) {
		ttl := pxTTL(ttl)
		p.Set(ctx, r.prefix+key, encodeL2(v, time.Now().Add(ttl).UnixMilli()), ttl)
		r.queueTags(ctx, p, key, ttl, tags)
		r.queuePublish(ctx, p, announce, nil)
	})
	if err != nil {
		return fmt.Errorf("cache: redis set: %w", err)
	}
	return nil
}

// pipe runs the commands queue adds in one round trip, within the timeout.
func (r *RedisStore) pipe(ctx context.Context, queue func(redis.Pipeliner)) error {
	return redisop.Err(ctx, r.bound, func(ctx context.Context) error {
		_, err := r.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
			queue(p)
			return nil
		})
		return err
	})
}

// queueTags queues the tag index update of a key written for ttl.
func (r *RedisStore) queueTags(ctx context.Context, p redis.Pipeliner, key string, ttl time.Duration, tags []string) {
	if len(tags) == 0 {
		return
	}
	keys := make([]string, 0, 1+len(tags))
	keys = append(keys, r.tagAll)
	args := make([]any, 0, 3+len(tags))
	args = append(args, key, time.Now().UnixMilli(), ttl.Milliseconds())
	for _, tag := range tags {
		keys = append(keys, r.tagBase+"t:"+tag)
		args = append(args, tag)
	}
	// EVAL, not EVALSHA: a pipeline cannot fall back on NOSCRIPT.
	p.Eval(ctx, tagScript, keys, args...)
}

// queuePublish queues announce, with keys added, if announce is not nil.
func (r *RedisStore) queuePublish(ctx context.Context, p redis.Pipeliner, announce *Invalidation, keys []string) {
	if announce == nil {
		return
	}
	m := *announce
	if len(keys) > 0 {
		m.Keys = append(append([]string(nil), m.Keys...), keys...)
	}
	p.Publish(ctx, r.channel, encodeMessage(m))
}

// tagScript adds ARGV[1] (a key, living ARGV[3] ms from ARGV[2], the caller's
// clock in ms) to the tag sets KEYS[2..] and the tag names ARGV[4..] to the
// registry KEYS[1]. A tag set is a sorted set scored by each key's expiry;
// keys already expired are pruned on each add, and the set itself expires
// with its longest-lived key. The registry is a sorted set too, each name
// scored by the expiry of its set: names whose keys have all expired are
// pruned on each add, so the registry holds only live tags even when
// KnownTags is never called, and it expires with the last of them. All keys
// share the hash tag {tags}.
const tagScript = `
local now = tonumber(ARGV[2])
local ms = tonumber(ARGV[3])
local exp = now + ms
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
for i = 2, #KEYS do
  redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', now)
  redis.call('ZADD', KEYS[i], exp, ARGV[1])
  if redis.call('PTTL', KEYS[i]) < ms then
    redis.call('PEXPIRE', KEYS[i], ms)
  end
  local s = redis.call('ZSCORE', KEYS[1], ARGV[i + 2])
  if not s or tonumber(s) < exp then
    redis.call('ZADD', KEYS[1], exp, ARGV[i + 2])
  end
end
if redis.call('PTTL', KEYS[1]) < ms then
  redis.call('PEXPIRE', KEYS[1], ms)
end
return 1
`

// Delete removes the keys in one round trip (one DEL per key, so that keys
// in different Cluster slots work), with announce published; absent keys are
// not an error.
func (r *RedisStore) Delete(ctx context.Context, keys []string, announce *Invalidation) error {
	if len(keys) == 0 && announce == nil {
		return nil
	}
	err := r.pipe(ctx, func(p redis.Pipeliner) {
		for _, k := range keys {
			p.Del(ctx, r.prefix+k)
		}
		r.queuePublish(ctx, p, announce, nil)
	})
	if err != nil {
		return fmt.Errorf("cache: redis delete: %w", err)
	}
	return nil
}

// takeTagsScript removes the tag sets KEYS[2..] and their names ARGV[..]
// from the registry KEYS[1], and returns the keys they held. Taking the
// members and deleting the set in one script means a key tagged while
// DeleteTags runs is either taken (and deleted) or lands in a fresh set.
var takeTagsScript = redis.NewScript(`
local out = {}
for i = 2, #KEYS do
  local ks = redis.call('ZRANGE', KEYS[i], 0, -1)
  for _, k in ipairs(ks) do out[#out + 1] = k end
  redis.call('DEL', KEYS[i])
  redis.call('ZREM', KEYS[1], ARGV[i - 1])
end
return out
`)

// DeleteTags deletes every value carrying any of the tags and the index of
// those tags, and publishes announce with the keys found: two round trips.
// It returns the keys deleted, sorted and without duplicates.
func (r *RedisStore) DeleteTags(ctx context.Context, tags []string, announce *Invalidation) ([]string, error) {
	if len(tags) == 0 {
		return nil, nil
	}
	keys := make([]string, 0, 1+len(tags))
	keys = append(keys, r.tagAll)
	args := make([]any, 0, len(tags))
	for _, tag := range tags {
		keys = append(keys, r.tagBase+"t:"+tag)
		args = append(args, tag)
	}
	found, err := redisop.Do(ctx, r.bound, func(ctx context.Context) ([]string, error) {
		return takeTagsScript.Run(ctx, r.rdb, keys, args...).StringSlice()
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("cache: redis delete tags: %w", err)
	}
	found = sortedSet(found)
	err = r.pipe(ctx, func(p redis.Pipeliner) {
		for _, k := range found {
			p.Del(ctx, r.prefix+k)
		}
		r.queuePublish(ctx, p, announce, found)
	})
	if err != nil {
		return found, fmt.Errorf("cache: redis delete tags: %w", err)
	}
	return found, nil
}

// knownTagsScript returns the tag names in the registry KEYS[1] that start
// with ARGV[1] and whose tag set (prefix ARGV[2]) still exists; it removes
// the names whose set has expired (by score, ARGV[3] being the caller's clock
// in ms, or because the set is gone). The tag sets it reads are not declared
// in KEYS (their names are data), but they share the registry's hash tag, so
// they live in its slot, which is what Cluster checks.
var knownTagsScript = redis.NewScript(`
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[3])
local out = {}
local p = ARGV[1]
for _, t in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  if redis.call('EXISTS', ARGV[2] .. t) == 1 then
    if string.sub(t, 1, #p) == p then out[#out + 1] = t end
  else
    redis.call('ZREM', KEYS[1], t)
  end
end
return out
`)

// KnownTags returns, in no particular order, the tags currently carried by
// a live entry in Redis whose name starts with prefix (all of them for "").
// It reads the registry of live tag names (one round trip, in time linear in
// their number), pruning the names whose entries have all expired.
func (r *RedisStore) KnownTags(ctx context.Context, prefix string) ([]string, error) {
	res, err := redisop.Do(ctx, r.bound, func(ctx context.Context) ([]string, error) {
		return knownTagsScript.Run(ctx, r.rdb, []string{r.tagAll}, prefix, r.tagBase+"t:", time.Now().UnixMilli()).StringSlice()
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("cache: redis known tags: %w", err)
	}
	return res, nil
}

// Publish sends inv on the invalidation channel.
func (r *RedisStore) Publish(ctx context.Context, inv Invalidation) error {
	err := redisop.Err(ctx, r.bound, func(ctx context.Context) error {
		return r.rdb.Publish(ctx, r.channel, encodeMessage(inv)).Err()
	})
	if err != nil {
		return fmt.Errorf("cache: redis publish: %w", err)
	}
	return nil
}

// pxTTL rounds ttl up to a whole millisecond, the resolution of PX.
func pxTTL(ttl time.Duration) time.Duration {
	if r := ttl % time.Millisecond; r != 0 {
		ttl += time.Millisecond - r
	}
	return ttl
}

// sortedSet sorts s and drops duplicates.
func sortedSet(s []string) []string {
	slices.Sort(s)
	return slices.Compact(s)
}
