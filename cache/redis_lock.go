package cache

import (
	"context"
	"crypto/rand"
	"fmt"
	"time"

	"github.com/alovago/alova/internal/redisop"
	"github.com/redis/go-redis/v9"
)

var _ Locker = (*redisStore)(nil)

// lockInfix starts the name of a lease under the prefix: the lease of key
// k lives at P+"~lock:"+k. Keys of your own that begin with "~lock:" are
// therefore reserved. A hash tag in k ({…}) is kept, so the lease lives in
// the same Cluster slot as the value.
const lockInfix = "~lock:"

// unlockScript deletes KEYS[1] if it still holds the token ARGV[1].
var unlockScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
`)

// TryLock takes the lease of key for ttl (SET NX PX, under a random token)
// unless another holder has it. The returned unlock deletes the lease only
// if it still holds this token (one script, one key: it works in Cluster).
func (r *redisStore) TryLock(ctx context.Context, key string, ttl time.Duration) (func(context.Context) error, error) {
	name := r.prefix + lockInfix + key
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
	return func(ctx context.Context) error {
		err := redisop.Err(ctx, r.bound, func(ctx context.Context) error {
			return unlockScript.Run(ctx, r.rdb, []string{name}, token).Err()
		})
		if err != nil {
			return fmt.Errorf("cache: redis unlock: %w", err)
		}
		return nil
	}, nil
}
