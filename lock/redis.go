package lock

import (
	"context"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

var _ Locker = (*Redis)(nil)

// DefaultKeyPrefix is the [RedisOptions].KeyPrefix used when it is empty.
const DefaultKeyPrefix = "alova:lock:"

// RedisOptions configures a [Redis] locker.
type RedisOptions struct {
	// KeyPrefix is put before every lock name: the lock "orders" is the key
	// KeyPrefix + "orders". Default "alova:lock:".
	KeyPrefix string
}

// Redis is a [Locker] on one Redis, shared by every process using the same
// key prefix. A lock is a key holding its token with a millisecond expiry:
// taken with SET NX PX, extended and released by Lua scripts that compare the
// token first. Every call touches one key, so it works on Redis Cluster. It
// is safe for concurrent use.
type Redis struct {
	rdb    redis.UniversalClient
	prefix string
}

// NewRedis returns a locker on rdb. It panics if rdb is nil.
func NewRedis(rdb redis.UniversalClient, opts RedisOptions) *Redis {
	if rdb == nil {
		panic("lock: NewRedis with a nil client")
	}
	if opts.KeyPrefix == "" {
		opts.KeyPrefix = DefaultKeyPrefix
	}
	return &Redis{rdb: rdb, prefix: opts.KeyPrefix}
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

// TryLock implements [Locker].
func (r *Redis) TryLock(ctx context.Context, name, token string, ttl time.Duration) (bool, error) {
	ok, err := r.rdb.SetNX(ctx, r.prefix+name, token, roundMS(ttl)).Result()
	if err != nil {
		return false, fmt.Errorf("redis set nx: %w", err)
	}
	return ok, nil
}

// Extend implements [Locker].
func (r *Redis) Extend(ctx context.Context, name, token string, ttl time.Duration) (bool, error) {
	n, err := extendScript.Run(ctx, r.rdb, []string{r.prefix + name}, token, roundMS(ttl).Milliseconds()).Int()
	if err != nil {
		return false, fmt.Errorf("redis extend: %w", err)
	}
	return n == 1, nil
}

// Unlock implements [Locker].
func (r *Redis) Unlock(ctx context.Context, name, token string) (bool, error) {
	n, err := unlockScript.Run(ctx, r.rdb, []string{r.prefix + name}, token).Int()
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
