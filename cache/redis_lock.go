package cache

import (
	"context"
	"crypto/rand"
	_ "embed"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/alovago/alova/internal/redisop"
	"github.com/redis/go-redis/v9"
)

var (
	_ Locker      = (*redisStore)(nil)
	_ leaseReader = (*redisStore)(nil)
)

// lockInfix starts the name of a lease under the prefix: the lease of key
// k lives at P+"~lock:"+k, or, on a Redis Cluster when k's value key has no
// hash tag, at P+"~lock:{"+t+"}"+k, where t is a short name that hashes to
// the slot of the value (see leaseName). Keys of your own that begin with
// "~lock:" are therefore reserved.
const lockInfix = "~lock:"

// topology says which keys one script may touch together on a client.
type topology uint8

const (
	// topoOne: every key lives on one server (a single node, Sentinel).
	topoOne topology = iota
	// topoCluster: keys of one hash slot (Redis Cluster).
	topoCluster
	// topoTagged: keys with the same hash tag only (a Ring, which shards
	// by the tag, or by the whole key without one), or a client of
	// another kind, for which no two keys are known to be together.
	topoTagged
)

// topologyOf returns the topology of rdb.
func topologyOf(rdb redis.UniversalClient) topology {
	switch rdb.(type) {
	case *redis.Client:
		return topoOne
	case *redis.ClusterClient:
		return topoCluster
	}
	return topoTagged
}

// leaseName returns the Redis key of key's lease, given vk, the key of its
// value, and whether one script may touch both (they share a node). On a
// Cluster the lease shares the value's slot: through the same hash tag
// when vk has one in the part they share, otherwise through a tag of its
// own that hashes to vk's slot (slotTags). Only a prefix with a "{" of its
// own that does not make a hash tag leaves them apart there.
func (r *redisStore) leaseName(key, vk string) (string, bool) {
	name := r.prefix + lockInfix + key
	switch r.topo {
	case topoOne:
		return name, true
	case topoCluster:
		slot := keySlot(vk)
		if keySlot(name) == slot {
			return name, true
		}
		if strings.IndexByte(r.prefix, '{') < 0 {
			return r.prefix + lockInfix + "{" + slotTag(slot) + "}" + key, true
		}
		return name, false
	}
	tag := hashTag(name)
	return name, tag != name && tag == hashTag(vk)
}

// unlockScript deletes KEYS[1] if it still holds the token ARGV[1].
var unlockScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
`)

// getOrLockScript is the read-or-lease of getOrLock: the value KEYS[1], or
// 1 when it took the lease KEYS[2] (token ARGV[1], for ARGV[2] ms), or 0
// when another holder has it.
//
//go:embed lua/get_or_lock.lua
var getOrLockSrc string

var getOrLockScript = redis.NewScript(getOrLockSrc)

// TryLock takes the lease of key for ttl (SET NX PX, under a random token)
// unless another holder has it. The returned unlock deletes the lease only
// if it still holds this token (one script, one key: it works in Cluster).
func (r *redisStore) TryLock(ctx context.Context, key string, ttl time.Duration) (func(context.Context) error, error) {
	name, _ := r.leaseName(key, r.prefix+key)
	return r.tryLock(ctx, name, ttl)
}

// tryLock is TryLock on the lease named name.
func (r *redisStore) tryLock(ctx context.Context, name string, ttl time.Duration) (func(context.Context) error, error) {
	token := rand.Text()
	ok, err := redisop.Do(ctx, r.bound, func(ctx context.Context) (bool, error) {
		return r.rdb.SetNX(ctx, name, token, pxTTL(ttl)).Result()
	})
	if err != nil {
		return nil, fmt.Errorf("cache: redis lock: %w", err)
	}
	if !ok {
		return nil, nil
	}
	return r.unlocker(name, token), nil
}

// unlocker returns the unlock of the lease name held under token.
func (r *redisStore) unlocker(name, token string) func(context.Context) error {
	return func(ctx context.Context) error {
		err := redisop.Err(ctx, r.bound, func(ctx context.Context) error {
			return unlockScript.Run(ctx, r.rdb, []string{name}, token).Err()
		})
		if err != nil {
			return fmt.Errorf("cache: redis unlock: %w", err)
		}
		return nil
	}
}

// getOrLock is Get and, on a miss, TryLock, as one step (see leaseReader):
// one round trip (getOrLockScript, EVALSHA, or EVAL the first time a server
// sees it) where the value and the lease share a node (leaseName); else two
// (getThenLock).
func (r *redisStore) getOrLock(ctx context.Context, key string, ttl time.Duration) (Value, time.Duration, func(context.Context) error, error) {
	vk := r.prefix + key
	name, together := r.leaseName(key, vk)
	if !together {
		return r.getThenLock(ctx, key, name, ttl)
	}
	token := rand.Text()
	res, err := redisop.Do(ctx, r.bound, func(ctx context.Context) (any, error) {
		return getOrLockScript.Run(ctx, r.rdb, []string{vk, name}, token, pxTTL(ttl).Milliseconds()).Result()
	})
	if err != nil {
		return Value{}, 0, nil, fmt.Errorf("cache: redis get or lock: %w", err)
	}
	switch res := res.(type) {
	case string:
		if v, left, ok := liveL2(res); ok {
			return v, left, nil, nil
		}
		// Not a live entry of the cache (another writer's value, or one
		// expiring this very moment): a miss, and the lease is still to
		// take.
		unlock, err := r.tryLock(ctx, name, ttl)
		if err != nil {
			return Value{}, 0, nil, err
		}
		return Value{}, 0, unlock, ErrMiss
	case int64:
		if res == 1 {
			return Value{}, 0, r.unlocker(name, token), ErrMiss
		}
		return Value{}, 0, nil, ErrMiss
	}
	return Value{}, 0, nil, fmt.Errorf("cache: redis get or lock: unexpected reply %T", res)
}

// getThenLock is getOrLock in two round trips, for a value and a lease that
// one script cannot touch together: the lease, then a GET. The GET comes
// last so that a holder that wrote and released just before is seen; it
// runs whether or not the lease was taken, so that a waiter sees the
// holder's write while the holder still has the lease.
func (r *redisStore) getThenLock(ctx context.Context, key, name string, ttl time.Duration) (Value, time.Duration, func(context.Context) error, error) {
	unlock, err := r.tryLock(ctx, name, ttl)
	if err != nil {
		return Value{}, 0, nil, err
	}
	v, left, err := r.Get(ctx, key)
	if errors.Is(err, ErrMiss) {
		return Value{}, 0, unlock, err
	}
	if unlock != nil {
		// Written meanwhile, or Redis failing: either way not ours to load.
		_ = unlock(context.WithoutCancel(ctx))
	}
	return v, left, nil, err
}
