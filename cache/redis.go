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

var _ Shared = (*redisStore)(nil)

// DefaultKeyPrefix is the key prefix of a [NewRedisStore] whose
// RedisOptions.KeyPrefix is empty.
const defaultKeyPrefix = "alova:cache:"

// RedisOptions configures a [NewRedisStore]; it has the same shape in every
// package of alova-go that keeps state in Redis. The zero value is ready to
// use; every field states its default.
type RedisOptions struct {
	// KeyPrefix starts every key the store writes, e.g. "app:cache:". Empty
	// means DefaultKeyPrefix ("alova:cache:").
	KeyPrefix string
	// Timeout bounds every Redis call, so that a hung Redis cannot stall a
	// read: past it the call fails (and a read goes on to the origin). Zero
	// means 200 ms. A caller's context deadline that comes sooner ends the
	// call instead (and saves the bound a timer of its own). The bound holds
	// even when the client ignores context deadlines (go-redis's default):
	// the call then runs in a goroutine of its own that the caller stops
	// waiting for, which costs a goroutine hand-off per call. Set
	// ContextTimeoutEnabled in the client's options to let the client
	// enforce the deadline itself and skip that hand-off.
	Timeout time.Duration
}

// redisStore is the Shared tier NewRedisStore returns.
type redisStore struct {
	rdb     redis.UniversalClient
	bound   redisop.Bound
	prefix  string
	topo    topology  // which keys a script may touch together (redis_lock.go)
	tags    *tagIndex // the tag index, in tags.go
	channel string    // the invalidation channel

	// Feed events, for tests: subscriptions confirmed, and replaced after
	// failed checks.
	subscribed, renewed atomic.Int64
}

// NewRedisStore returns the shared tier (L2) on rdb: values in Redis under a
// key prefix,
// each with its TTL in Redis itself (SET … PX), so Redis evicts them, and a
// pub/sub channel that carries invalidations between instances. Each value
// also carries its expiry in a 9-byte header, so a Get is one plain GET (the
// time left is worked out on the reader's clock: keep the clocks of the
// processes sharing a Redis in sync, as NTP does) and a Set is one round
// trip.
//
// It works with any [redis.UniversalClient]: a single node, Sentinel, Ring
// or Cluster. Every script touches keys of one hash slot only: a value key
// alone, or the keys of one shard of the tag index, which share the shard's
// hash tag. The index is spread over 16 shards, so tagged writes spread over
// 16 slots, and no command walks a whole index: names and members are read,
// pruned and taken in bounded pages.
//
// # Keys
//
// With prefix P, the value of key k lives at P+k. A tag lives in shard NN
// (00 to 15, by a hash of its name, or, as Redis Cluster hashes keys, of the
// part between its first "{" and the next "}" when that part is not empty),
// under P+"{tags:NN}:": the keys carrying
// tag are the sorted set P+"{tags:NN}:t:"+tag, scored by their expiry; the
// shard's tag names are P+"{tags:NN}:reg" (scored by the expiry of their
// set, for pruning) and P+"{tags:NN}:lex" (score 0, in lexical order, for
// listing by prefix); P+"{tags:NN}:watch" holds a version per watched prefix
// of names (hitSource patterns), and P+"{tags:NN}:x:…" briefly holds a very
// large tag set while it is being emptied. Invalidations travel on the
// channel P+"{tags}:invalidate". Keys of your own that begin with "{tags"
// are therefore reserved. The lease of k ([Locker]) lives at P+"~lock:"+k;
// on a Cluster, when P+k has no hash tag, at P+"~lock:{t}"+k, where t is a
// short base-36 name that hashes to the slot of P+k, so that after a miss
// under [LoadOptions].LockWait one script reads the value again and takes
// the lease (one round trip). A prefix with a "{" that makes no hash tag
// leaves them in different slots: that step is then the lease and a GET.
//
// The store is safe for concurrent use, and also implements [Locker]. It
// does not own the client: closing the client is the caller's business.
// NewRedisStore panics if rdb is nil or opts.Timeout is negative.
func NewRedisStore(rdb redis.UniversalClient, opts RedisOptions) Shared {
	if rdb == nil {
		panic("cache: NewRedisStore: nil redis client")
	}
	if opts.Timeout < 0 {
		panic("cache: NewRedisStore: negative Timeout")
	}
	if opts.KeyPrefix == "" {
		opts.KeyPrefix = defaultKeyPrefix
	}
	topo := topologyOf(rdb)
	if topo == topoCluster {
		slotTags() // made once per process, here rather than in a read
	}
	return &redisStore{rdb: rdb, bound: redisop.New(rdb, opts.Timeout), prefix: opts.KeyPrefix, topo: topo,
		tags: newTagIndex(opts.KeyPrefix), channel: opts.KeyPrefix + "{tags}:invalidate"}
}

// Get returns the value stored under key and the time it has left (at
// millisecond resolution; < 0 if it has no expiry), or ErrMiss. Any other
// error is Redis's, wrapped. It is one plain GET, and the value shares the
// memory of the reply: no copy. A value under the prefix that the cache did
// not write reads as a miss, and is overwritten by the next load.
func (r *redisStore) Get(ctx context.Context, key string) (Value, time.Duration, error) {
	b, err := redisop.DoWith(ctx, r.bound, getArgs{r.rdb, r.prefix + key}, redisGet)
	if err != nil {
		if errors.Is(err, redis.Nil) {
			return Value{}, 0, ErrMiss
		}
		return Value{}, 0, fmt.Errorf("cache: redis get: %w", err)
	}
	if v, left, ok := liveL2(b); ok {
		return v, left, nil
	}
	return Value{}, 0, ErrMiss
}

// liveL2 decodes b, a value read from Redis, into the entry and its time
// left (< 0: no expiry); ok is false when b is not an entry the cache wrote
// or its time is up (Redis evicts it at the same moment).
func liveL2(b string) (v Value, left time.Duration, ok bool) {
	v, exp, ok := decodeL2(b)
	if !ok {
		return Value{}, 0, false
	}
	if exp == 0 {
		return v, -1, true
	}
	left = time.Duration(exp-time.Now().UnixMilli()) * time.Millisecond
	if left <= 0 {
		return Value{}, 0, false
	}
	return v, left, true
}

// getArgs are the arguments of redisGet.
type getArgs struct {
	rdb redis.UniversalClient
	key string
}

// redisGet is the GET of [redisStore.Get]: a plain function, so that a read
// allocates no closure (redisop.DoWith).
func redisGet(ctx context.Context, a getArgs) (string, error) {
	return a.rdb.Get(ctx, a.key).Result()
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
	return Value{s: b[l2Header:]}, exp, true
}

// Set stores v under key for ttl (rounded up to a whole millisecond) in one
// round trip, with the key added to the index of each tag (which lives as
// long as its longest-lived key), and announce published. A ttl <= 0 stores
// nothing and deletes any value under key.
func (r *redisStore) Set(ctx context.Context, key string, v Value, ttl time.Duration, tags []string, announce *Invalidation) error {
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
func (r *redisStore) pipe(ctx context.Context, queue func(redis.Pipeliner)) error {
	return redisop.Err(ctx, r.bound, func(ctx context.Context) error {
		_, err := r.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
			queue(p)
			return nil
		})
		return err
	})
}

// queuePublish queues announce, with keys added, if announce is not nil.
func (r *redisStore) queuePublish(ctx context.Context, p redis.Pipeliner, announce *Invalidation, keys []string) {
	if announce == nil {
		return
	}
	m := *announce
	if len(keys) > 0 {
		m.Keys = append(append([]string(nil), m.Keys...), keys...)
	}
	p.Publish(ctx, r.channel, encodeMessage(m))
}

// Delete removes the keys in one round trip (one DEL per key, so that keys
// in different Cluster slots work), with announce published; absent keys are
// not an error.
func (r *redisStore) Delete(ctx context.Context, keys []string, announce *Invalidation) error {
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

// Publish sends inv on the invalidation channel.
func (r *redisStore) Publish(ctx context.Context, inv Invalidation) error {
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
