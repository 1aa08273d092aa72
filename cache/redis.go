package cache

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

var _ Store = (*Redis)(nil)

// Redis is the shared tier (L2): values in Redis under a key prefix, each
// with its TTL in Redis itself (SET … PX), so Redis evicts them. Each value
// also carries its expiry in a 9-byte header, so a Get is one plain GET (the
// time left is worked out on the reader's clock: keep the clocks of the
// processes sharing a Redis in sync, as NTP does) and a Set is one round trip.
//
// It works with any [redis.UniversalClient]: a single node, Sentinel, Ring
// or Cluster. Every script touches keys of one hash slot only: a value key
// alone, or the tag keys, which share the hash tag {tags}.
//
// # Keys
//
// With prefix P, the value of key k lives at P+k. The tag index lives under
// P+"{tags}:" (P+"{tags}:all" is the set of tag names, P+"{tags}:t:"+tag the
// keys carrying tag, scored by expiry), and [Tiered] publishes invalidations
// on the channel P+"{tags}:invalidate". Keys of your own that begin with
// "{tags}:" are therefore reserved.
//
// Redis is safe for concurrent use. It does not own the client: closing the
// client is the caller's business.
type Redis struct {
	rdb     redis.UniversalClient
	prefix  string
	tagBase string // prefix + "{tags}:"
	tagAll  string // the set of tag names
	channel string // the invalidation channel
	// deadlines is set when rdb bounds its I/O by context deadlines
	// (ContextTimeoutEnabled), so Tiered can call it without a watchdog.
	deadlines bool
}

// NewRedis returns an L2 on rdb whose keys all start with prefix (for example
// "app:cache:"; "" is allowed). It panics if rdb is nil.
func NewRedis(rdb redis.UniversalClient, prefix string) *Redis {
	if rdb == nil {
		panic("cache: NewRedis: nil redis client")
	}
	base := prefix + "{tags}:"
	return &Redis{rdb: rdb, prefix: prefix, tagBase: base, tagAll: base + "all", channel: base + "invalidate",
		deadlines: honoursDeadlines(rdb)}
}

// honoursDeadlines reports whether rdb's options say it bounds socket reads
// and writes by the context's deadline. Unknown client types are assumed not to.
func honoursDeadlines(rdb redis.UniversalClient) bool {
	switch c := rdb.(type) {
	case *redis.Client:
		return c.Options().ContextTimeoutEnabled
	case *redis.ClusterClient:
		return c.Options().ContextTimeoutEnabled
	case *redis.Ring:
		return c.Options().ContextTimeoutEnabled
	}
	return false
}

// Key returns the Redis key that holds the value of key.
func (r *Redis) Key(key string) string { return r.prefix + key }

// Client returns the client r was built on.
func (r *Redis) Client() redis.UniversalClient { return r.rdb }

// Get returns the value stored under key and the time it has left (at
// millisecond resolution; < 0 if it has no expiry), or ErrMiss. Any other
// error is Redis's, wrapped. It is one plain GET: each value carries its
// expiry (see [Redis]), so no second command or script is needed. A value
// under the prefix that the cache did not write reads as a miss, and is
// overwritten by the next load.
func (r *Redis) Get(ctx context.Context, key string) ([]byte, time.Duration, error) {
	b, err := r.rdb.Get(ctx, r.prefix+key).Bytes()
	if err != nil {
		if errors.Is(err, redis.Nil) {
			return nil, 0, ErrMiss
		}
		return nil, 0, fmt.Errorf("cache: redis get: %w", err)
	}
	v, exp, ok := decodeL2(b)
	if !ok {
		return nil, 0, ErrMiss
	}
	if exp == 0 {
		return v, -1, nil
	}
	left := time.Duration(exp-time.Now().UnixMilli()) * time.Millisecond
	if left <= 0 {
		return nil, 0, ErrMiss // Redis evicts it at the same moment
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
func encodeL2(value []byte, exp int64) []byte {
	b := make([]byte, l2Header+len(value))
	b[0] = l2Magic
	binary.BigEndian.PutUint64(b[1:l2Header], uint64(exp))
	copy(b[l2Header:], value)
	return b
}

// decodeL2 splits what encodeL2 wrote; ok is false for anything else.
func decodeL2(b []byte) (value []byte, exp int64, ok bool) {
	if len(b) < l2Header || b[0] != l2Magic {
		return nil, 0, false
	}
	return b[l2Header:], int64(binary.BigEndian.Uint64(b[1:l2Header])), true
}

// frame returns value framed with the expiry ttl from now, and ttl rounded
// up to the whole millisecond that SET … PX takes.
func frame(value []byte, ttl time.Duration) ([]byte, time.Duration) {
	ttl = pxTTL(ttl)
	return encodeL2(value, time.Now().Add(ttl).UnixMilli()), ttl
}

// Set stores value under key for ttl (rounded up to a whole millisecond). A
// ttl <= 0 stores nothing and deletes any value under key.
func (r *Redis) Set(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	var err error
	if ttl <= 0 {
		err = r.rdb.Del(ctx, r.prefix+key).Err()
	} else {
		b, px := frame(value, ttl)
		err = r.rdb.Set(ctx, r.prefix+key, b, px).Err()
	}
	if err != nil {
		return fmt.Errorf("cache: redis set: %w", err)
	}
	return nil
}

// Delete removes the keys in one round trip (one DEL per key, so that keys
// in different Cluster slots work); absent keys are not an error.
func (r *Redis) Delete(ctx context.Context, keys ...string) error {
	if len(keys) == 0 {
		return nil
	}
	if len(keys) == 1 {
		if err := r.rdb.Del(ctx, r.prefix+keys[0]).Err(); err != nil {
			return fmt.Errorf("cache: redis delete: %w", err)
		}
		return nil
	}
	_, err := r.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		r.queueDelete(ctx, p, keys)
		return nil
	})
	if err != nil {
		return fmt.Errorf("cache: redis delete: %w", err)
	}
	return nil
}

// SetTagged is Set for an entry that belongs to tags, in one round trip: the
// value, and the key added to the index of each tag (which lives as long as
// its longest-lived key). [Redis.DeleteTags] with any of the tags deletes it.
func (r *Redis) SetTagged(ctx context.Context, key string, value []byte, ttl time.Duration, tags []string) error {
	if ttl <= 0 || len(tags) == 0 {
		return r.Set(ctx, key, value, ttl)
	}
	_, err := r.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		r.queueSet(ctx, p, key, value, ttl, tags)
		return nil
	})
	if err != nil {
		return fmt.Errorf("cache: redis set: %w", err)
	}
	return nil
}

// queueSet queues the writes of SetTagged (ttl > 0) on p.
func (r *Redis) queueSet(ctx context.Context, p redis.Pipeliner, key string, value []byte, ttl time.Duration, tags []string) {
	b, px := frame(value, ttl)
	p.Set(ctx, r.prefix+key, b, px)
	if len(tags) == 0 {
		return
	}
	keys := make([]string, 0, 1+len(tags))
	keys = append(keys, r.tagAll)
	args := make([]any, 0, 3+len(tags))
	now := time.Now().UnixMilli()
	ms := pxTTL(ttl).Milliseconds()
	args = append(args, key, now, ms)
	for _, tag := range tags {
		keys = append(keys, r.tagBase+"t:"+tag)
		args = append(args, tag)
	}
	// EVAL, not EVALSHA: a pipeline cannot fall back on NOSCRIPT.
	p.Eval(ctx, tagScript, keys, args...)
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

// queueDelete queues one DEL per key on p.
func (r *Redis) queueDelete(ctx context.Context, p redis.Pipeliner, keys []string) {
	for _, k := range keys {
		p.Del(ctx, r.prefix+k)
	}
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

// takeTags empties the index of each tag and returns the keys it held
// (possibly with duplicates, and with keys that have since expired).
func (r *Redis) takeTags(ctx context.Context, tags []string) ([]string, error) {
	keys := make([]string, 0, 1+len(tags))
	keys = append(keys, r.tagAll)
	args := make([]any, 0, len(tags))
	for _, tag := range tags {
		keys = append(keys, r.tagBase+"t:"+tag)
		args = append(args, tag)
	}
	res, err := takeTagsScript.Run(ctx, r.rdb, keys, args...).StringSlice()
	if err != nil && !errors.Is(err, redis.Nil) {
		return nil, err
	}
	return res, nil
}

// DeleteTags deletes every value carrying any of the tags and the index of
// those tags, in two round trips. Redis alone knows nothing of any L1: use
// [Tiered.DeleteTags] to drop the L1 copies as well.
func (r *Redis) DeleteTags(ctx context.Context, tags ...string) error {
	if len(tags) == 0 {
		return nil
	}
	keys, err := r.takeTags(ctx, tags)
	if err != nil {
		return fmt.Errorf("cache: redis delete tags: %w", err)
	}
	return r.Delete(ctx, keys...)
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
// their number), pruning the names whose entries have all expired. The tag
// sets are hash-tagged with the registry, so the script is Cluster-safe.
func (r *Redis) KnownTags(ctx context.Context, prefix string) ([]string, error) {
	res, err := knownTagsScript.Run(ctx, r.rdb, []string{r.tagAll}, prefix, r.tagBase+"t:", time.Now().UnixMilli()).StringSlice()
	if err != nil && !errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("cache: redis known tags: %w", err)
	}
	return res, nil
}

// pxTTL rounds ttl up to a whole millisecond, the resolution of PX.
func pxTTL(ttl time.Duration) time.Duration {
	if r := ttl % time.Millisecond; r != 0 {
		ttl += time.Millisecond - r
	}
	return ttl
}
