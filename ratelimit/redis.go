package ratelimit

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
	// KeyPrefix is put before every key: the key "login:alice" is stored as
	// KeyPrefix + "{login:alice}", hash-tagged so that each script touches
	// one Redis Cluster slot. Give every limit its own prefix. Default
	// "alova:ratelimit:".
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
// The store is a [Store] on Redis, shared by every process using the same
// key prefix. Each Add and Get is a single Lua script, so it is atomic on the
// server; keys carry a hash tag, so it works on Redis Cluster. Counts are
// plain integer strings with a millisecond expiry. It is safe for concurrent
// use.
func NewRedisStore(rdb redis.UniversalClient, opts RedisOptions) Store {
	if rdb == nil {
		panic("ratelimit: NewRedisStore with a nil client")
	}
	if opts.Timeout < 0 {
		panic(fmt.Sprintf("ratelimit: NewRedisStore with a negative Timeout %v", opts.Timeout))
	}
	if opts.KeyPrefix == "" {
		opts.KeyPrefix = "alova:ratelimit:"
	}
	return &redisStore{rdb: rdb, prefix: opts.KeyPrefix, bound: redisop.New(rdb, opts.Timeout)}
}

// addScript: KEYS[1] the key; ARGV n, window ms, limit, block ms (0: none).
// A key without a positive PTTL (absent, or persistent because someone else
// wrote it) starts a new window at 0. Returns {count, pttl, started}.
var addScript = redis.NewScript(`
local n, window, limit, block = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local ttl = redis.call('PTTL', KEYS[1])
local old, started = 0, 0
if ttl > 0 then
  old = tonumber(redis.call('GET', KEYS[1])) or 0
else
  ttl, started = window, 1
end
local count = old + n
if count < 0 then count = 0 end
if block > 0 and old <= limit and count > limit then ttl = block end
redis.call('SET', KEYS[1], count, 'PX', ttl)
return {count, ttl, started}
`)

// getScript: KEYS[1] the key; returns {count, pttl} or {0, 0} when absent.
var getScript = redis.NewScript(`
local ttl = redis.call('PTTL', KEYS[1])
if ttl <= 0 then return {0, 0} end
return {tonumber(redis.call('GET', KEYS[1])) or 0, ttl}
`)

// key returns the stored key for key: hash-tagged, so a script touching it
// runs on the node owning its slot.
func (s *redisStore) key(key string) string { return s.prefix + "{" + key + "}" }

// Add implements [Store].
func (s *redisStore) Add(ctx context.Context, key string, n int, window time.Duration, limit int, block time.Duration) (int, time.Duration, bool, error) {
	var blockMS int64
	if block > 0 {
		blockMS = ms(block)
	}
	k := s.key(key)
	v, err := redisop.Do(ctx, s.bound, func(ctx context.Context) ([]int64, error) {
		return addScript.Run(ctx, s.rdb, []string{k}, n, ms(window), limit, blockMS).Int64Slice()
	})
	if err != nil {
		return 0, 0, false, fmt.Errorf("redis add %q: %w", k, err)
	}
	if len(v) != 3 {
		return 0, 0, false, fmt.Errorf("redis add %q: script returned %d values, want 3", k, len(v))
	}
	return int(v[0]), time.Duration(v[1]) * time.Millisecond, v[2] == 1, nil
}

// Set implements [Store].
func (s *redisStore) Set(ctx context.Context, key string, count int, ttl time.Duration) error {
	k := s.key(key)
	err := redisop.Err(ctx, s.bound, func(ctx context.Context) error {
		return s.rdb.Set(ctx, k, count, time.Duration(ms(ttl))*time.Millisecond).Err()
	})
	if err != nil {
		return fmt.Errorf("redis set %q: %w", k, err)
	}
	return nil
}

// Get implements [Store].
func (s *redisStore) Get(ctx context.Context, key string) (int, time.Duration, error) {
	k := s.key(key)
	v, err := redisop.Do(ctx, s.bound, func(ctx context.Context) ([]int64, error) {
		return getScript.Run(ctx, s.rdb, []string{k}).Int64Slice()
	})
	if err != nil {
		return 0, 0, fmt.Errorf("redis get %q: %w", k, err)
	}
	if len(v) != 2 {
		return 0, 0, fmt.Errorf("redis get %q: script returned %d values, want 2", k, len(v))
	}
	return int(v[0]), time.Duration(v[1]) * time.Millisecond, nil
}

// Delete implements [Store].
func (s *redisStore) Delete(ctx context.Context, key string) error {
	k := s.key(key)
	if err := redisop.Err(ctx, s.bound, func(ctx context.Context) error { return s.rdb.Del(ctx, k).Err() }); err != nil {
		return fmt.Errorf("redis delete %q: %w", k, err)
	}
	return nil
}

// ms returns d in whole milliseconds, rounded up and at least 1: Redis
// refuses an expiry of 0.
func ms(d time.Duration) int64 {
	return max(int64((d+time.Millisecond-1)/time.Millisecond), 1)
}
