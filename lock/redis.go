package lock

import (
	"context"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/alovago/alova/internal/redisop"
)

var _ Store = (*redisStore)(nil)

// RedisOptions configures a [NewRedisStore]. The zero value works.
type RedisOptions struct {
	// KeyPrefix is put before every lock name: the lock "orders" is the key
	// KeyPrefix + "orders". Default "alova:lock:".
	KeyPrefix string
	// Timeout bounds every Redis call of the store, whatever the client's own
	// timeouts: a call to a hung Redis returns an error wrapping
	// context.DeadlineExceeded after Timeout. Default 200 ms.
	Timeout time.Duration
}

// redisStore is the store NewRedisStore returns.
type redisStore struct {
	rdb    redis.UniversalClient
	prefix string
	bound  redisop.Bound
}

// NewRedisStore returns a store on rdb (a *redis.Client, *redis.ClusterClient
// or *redis.Ring), configured by opts (see [RedisOptions] for the defaults).
// It panics if rdb is nil or opts.Timeout is negative.
//
// The store is a [Store] on one Redis, shared by every process using the
// same key prefix. A lock is a key holding its token with a millisecond
// expiry: taken with SET NX PX, extended and released by Lua scripts that
// compare the token first. Every call touches one key, so it works on Redis
// Cluster. It is safe for concurrent use.
func NewRedisStore(rdb redis.UniversalClient, opts RedisOptions) Store {
	if rdb == nil {
		panic("lock: NewRedisStore with a nil client")
	}
	if opts.Timeout < 0 {
		panic(fmt.Sprintf("lock: NewRedisStore with a negative Timeout %v", opts.Timeout))
	}
	if opts.KeyPrefix == "" {
		opts.KeyPrefix = "alova:lock:"
	}
	return &redisStore{rdb: rdb, prefix: opts.KeyPrefix, bound: redisop.New(rdb, opts.Timeout)}
}

var (
	// extendScript: KEYS[1] the lock; ARGV token, ttl ms.
	extendScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
`)
	// unlockScript: KEYS[1] the lock; ARGV token.
	unlockScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
`)
)

// TryLock implements [Store].
func (r *redisStore) TryLock(ctx context.Context, name, token string, ttl time.Duration) (bool, error) {
	ok, err := redisop.Do(ctx, r.bound, func(ctx context.Context) (bool, error) {
		return r.rdb.SetNX(ctx, r.prefix+name, token, roundMS(ttl)).Result()
	})
	if err != nil {
		return false, fmt.Errorf("redis set nx: %w", err)
	}
	return ok, nil
}

// Extend implements [Store].
func (r *redisStore) Extend(ctx context.Context, name, token string, ttl time.Duration) (bool, error) {
	n, err := redisop.Do(ctx, r.bound, func(ctx context.Context) (int, error) {
		return extendScript.Run(ctx, r.rdb, []string{r.prefix + name}, token, roundMS(ttl).Milliseconds()).Int()
	})
	if err != nil {
		return false, fmt.Errorf("redis extend: %w", err)
	}
	return n == 1, nil
}

// Unlock implements [Store].
func (r *redisStore) Unlock(ctx context.Context, name, token string) (bool, error) {
	n, err := redisop.Do(ctx, r.bound, func(ctx context.Context) (int, error) {
		return unlockScript.Run(ctx, r.rdb, []string{r.prefix + name}, token).Int()
	})
	if err != nil {
		return false, fmt.Errorf("redis unlock: %w", err)
	}
	return n == 1, nil
}

// roundMS rounds d up to whole milliseconds, at least one: Redis refuses an
// expiry of 0 and SET would read a sub-millisecond one as none.
func roundMS(d time.Duration) time.Duration {
	return max((d + time.Millisecond - 1).Truncate(time.Millisecond), time.Millisecond)
}
