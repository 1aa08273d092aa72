package ratelimit

import (
	"context"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

var _ Store = (*RedisStore)(nil)

// RedisStore is a [Store] on Redis, shared by every process using the same
// keys. Each Add and Get is a single Lua script, so it is atomic on the
// server; keys carry a hash tag, so it works on Redis Cluster. It is safe for
// concurrent use. Counts are plain integer strings with a millisecond expiry.
type RedisStore struct {
	rdb redis.UniversalClient
}

// NewRedisStore returns a store on rdb (a *redis.Client, *redis.ClusterClient
// or *redis.Ring). It panics if rdb is nil.
func NewRedisStore(rdb redis.UniversalClient) *RedisStore {
	if rdb == nil {
		panic("ratelimit: NewRedisStore with a nil client")
	}
	return &RedisStore{rdb: rdb}
}

// addScript: KEYS[1] the key; ARGV n, window ms, limit, block ms (0: none).
// A key without a positive PTTL (absent, or persistent because someone else
// wrote it) starts a new window at 0.
var addScript = redis.NewScript(`
local n, window, limit, block = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local ttl = redis.call('PTTL', KEYS[1])
local old = 0
if ttl > 0 then
  old = tonumber(redis.call('GET', KEYS[1])) or 0
else
  ttl = window
end
local count = old + n
if count < 0 then count = 0 end
if block > 0 and old <= limit and count > limit then ttl = block end
redis.call('SET', KEYS[1], count, 'PX', ttl)
return {count, ttl}
`)

// getScript: KEYS[1] the key; returns {count, pttl} or {0, 0} when absent.
var getScript = redis.NewScript(`
local ttl = redis.call('PTTL', KEYS[1])
if ttl <= 0 then return {0, 0} end
return {tonumber(redis.call('GET', KEYS[1])) or 0, ttl}
`)

// Add implements [Store].
func (s *RedisStore) Add(ctx context.Context, key string, n int, window time.Duration, limit int, block time.Duration) (int, time.Duration, error) {
	var blockMS int64
	if block > 0 {
		blockMS = ms(block)
	}
	v, err := addScript.Run(ctx, s.rdb, []string{key}, n, ms(window), limit, blockMS).Int64Slice()
	if err != nil {
		return 0, 0, fmt.Errorf("redis add %q: %w", key, err)
	}
	return pair(v)
}

// Set implements [Store].
func (s *RedisStore) Set(ctx context.Context, key string, count int, ttl time.Duration) error {
	if err := s.rdb.Set(ctx, key, count, time.Duration(ms(ttl))*time.Millisecond).Err(); err != nil {
		return fmt.Errorf("redis set %q: %w", key, err)
	}
	return nil
}

// Get implements [Store].
func (s *RedisStore) Get(ctx context.Context, key string) (int, time.Duration, error) {
	v, err := getScript.Run(ctx, s.rdb, []string{key}).Int64Slice()
	if err != nil {
		return 0, 0, fmt.Errorf("redis get %q: %w", key, err)
	}
	return pair(v)
}

// Delete implements [Store].
func (s *RedisStore) Delete(ctx context.Context, key string) error {
	if err := s.rdb.Del(ctx, key).Err(); err != nil {
		return fmt.Errorf("redis delete %q: %w", key, err)
	}
	return nil
}

// ms returns d in whole milliseconds, rounded up and at least 1: Redis
// refuses an expiry of 0.
func ms(d time.Duration) int64 {
	return max(int64((d+time.Millisecond-1)/time.Millisecond), 1)
}

func pair(v []int64) (int, time.Duration, error) {
	if len(v) != 2 {
		return 0, 0, fmt.Errorf("redis script returned %d values, want 2", len(v))
	}
	return int(v[0]), time.Duration(v[1]) * time.Millisecond, nil
}
