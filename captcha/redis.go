package captcha

import (
	"context"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// DefaultKeyPrefix is the key prefix of a [RedisStore] made with prefix "".
const DefaultKeyPrefix = "alova:captcha:"

// RedisStore is a [Store] on Redis, shared by every process that uses the
// same Redis and prefix. It is safe for concurrent use.
//
// Each key has one hash, prefix+key, with the fields d (code digest), c (the
// code, with ReuseCode only), e (expiry, Unix ms), a (wrong attempts), r
// (when the key may send again, Unix ms), p and l (pending reservation token
// and its lease end, Unix ms). The hash expires on its own when none of
// them matters any more. Every operation is one Lua script on that one key,
// so it is atomic and works on Redis Cluster whatever the key holds (a
// "{...}" in it only picks the slot). Round trips: Send 2 (reserve, then
// commit or rollback; 1 when refused), Verify 1 — plus, once per script
// after Redis restarted or its script cache was flushed, one EVAL after a
// NOSCRIPT answer.
//
// Timestamps come from the Provider's clock (see [Options.Now]); the hash's
// own expiry uses Redis's clock, relative to that.
type RedisStore struct {
	rdb    redis.UniversalClient
	prefix string
}

var _ Store = (*RedisStore)(nil)

// NewRedisStore returns a [RedisStore] on rdb that keeps key k under
// prefix+k. A prefix of "" means [DefaultKeyPrefix] ("captcha:"). Providers
// with different purposes (login, password reset) need different prefixes,
// or a code sent for one would verify for the other. It panics if rdb is
// nil.
func NewRedisStore(rdb redis.UniversalClient, prefix string) *RedisStore {
	if rdb == nil {
		panic("captcha: NewRedisStore with a nil client")
	}
	if prefix == "" {
		prefix = DefaultKeyPrefix
	}
	return &RedisStore{rdb: rdb, prefix: prefix}
}

// keepAlive (Lua) sets the hash's expiry to the latest of its deadlines, or
// deletes it when all have passed. Arguments: key, now, e, r, l (ms).
const luaKeepAlive = `
local function keep(key, now, e, r, l)
  local last = math.max(e, r, l)
  if last > now then
    redis.call('PEXPIRE', key, last - now)
  else
    redis.call('DEL', key)
  end
end
`

// ARGV: now, token, lease, interval, reuse ("1"/"0").
// Returns {0, wait ms} when refused, {1, code or ""} when reserved.
var reserveScript = redis.NewScript(luaKeepAlive + `
local now = tonumber(ARGV[1])
local h = redis.call('HMGET', KEYS[1], 'r', 'p', 'l', 'e', 'd', 'c')
local r = tonumber(h[1]) or 0
local l = tonumber(h[3]) or 0
local e = tonumber(h[4]) or 0
if h[2] and l > now then
  return {0, math.max(tonumber(ARGV[4]), r - now)}
end
if r > now then
  return {0, r - now}
end
l = now + tonumber(ARGV[3])
redis.call('HSET', KEYS[1], 'p', ARGV[2], 'l', l)
keep(KEYS[1], now, e, r, l)
local code = ''
if ARGV[5] == '1' and h[5] and h[6] and e > now then
  code = h[6]
end
return {1, code}
`)

// ARGV: token, now, digest, code, reused ("1"/"0"), ttl, interval.
// Returns 1 when committed, 0 when the reservation was lost.
var commitScript = redis.NewScript(luaKeepAlive + `
local now = tonumber(ARGV[2])
local h = redis.call('HMGET', KEYS[1], 'p', 'd', 'e', 'r')
if h[1] ~= ARGV[1] then
  return 0
end
redis.call('HDEL', KEYS[1], 'p', 'l')
local e = tonumber(h[3]) or 0
if ARGV[5] == '1' then
  if h[2] ~= ARGV[3] or e <= now then
    keep(KEYS[1], now, e, tonumber(h[4]) or 0, 0)
    return 0
  end
else
  redis.call('HSET', KEYS[1], 'd', ARGV[3], 'a', 0)
  if ARGV[4] ~= '' then
    redis.call('HSET', KEYS[1], 'c', ARGV[4])
  else
    redis.call('HDEL', KEYS[1], 'c')
  end
end
e = now + tonumber(ARGV[6])
local r = now + tonumber(ARGV[7])
redis.call('HSET', KEYS[1], 'e', e, 'r', r)
keep(KEYS[1], now, e, r, 0)
return 1
`)

// ARGV: token. Returns 1 when released.
var rollbackScript = redis.NewScript(`
if redis.call('HGET', KEYS[1], 'p') == ARGV[1] then
  redis.call('HDEL', KEYS[1], 'p', 'l')
  return 1
end
return 0
`)

// ARGV: now, digest, max attempts. Returns 1 on a match.
//
// The digests are compared with Lua's ==: Lua interns strings, so that is a
// pointer comparison; and the digest of a guess cannot be steered, so even a
// byte-by-byte comparison would not tell how close the code was.
var verifyScript = redis.NewScript(`
local h = redis.call('HMGET', KEYS[1], 'd', 'e')
if not h[1] then
  return 0
end
if (tonumber(h[2]) or 0) <= tonumber(ARGV[1]) then
  redis.call('HDEL', KEYS[1], 'd', 'e', 'a', 'c')
  return 0
end
if h[1] == ARGV[2] then
  redis.call('HDEL', KEYS[1], 'd', 'e', 'a', 'c')
  return 1
end
if redis.call('HINCRBY', KEYS[1], 'a', 1) >= tonumber(ARGV[3]) then
  redis.call('HDEL', KEYS[1], 'd', 'e', 'a', 'c')
end
return 0
`)

func ms(t time.Time) int64      { return t.UnixMilli() }
func msd(d time.Duration) int64 { return max(d.Milliseconds(), 1) }
func redisErr(op string, err error) error {
	return fmt.Errorf("%w: redis %s: %w", ErrStore, op, err)
}

// Reserve implements [Store.Reserve] in one round trip.
func (s *RedisStore) Reserve(ctx context.Context, key string, a ReserveArgs) (Reservation, error) {
	reuse := "0"
	if a.Reuse {
		reuse = "1"
	}
	v, err := reserveScript.Run(ctx, s.rdb, []string{s.prefix + key},
		ms(a.Now), a.Token, msd(a.Lease), msd(a.Interval), reuse).Slice()
	if err != nil {
		return Reservation{}, redisErr("reserve", err)
	}
	if len(v) != 2 {
		return Reservation{}, redisErr("reserve", fmt.Errorf("unexpected reply %v", v))
	}
	if ok, _ := v[0].(int64); ok == 0 {
		wait, _ := v[1].(int64)
		return Reservation{RetryAfter: time.Duration(max(wait, 1)) * time.Millisecond}, nil
	}
	code, _ := v[1].(string)
	return Reservation{Code: code}, nil
}

// Commit implements [Store.Commit] in one round trip.
func (s *RedisStore) Commit(ctx context.Context, key string, a CommitArgs) error {
	reused := "0"
	if a.Reused {
		reused = "1"
	}
	n, err := commitScript.Run(ctx, s.rdb, []string{s.prefix + key},
		a.Token, ms(a.Now), a.Digest, a.Code, reused, msd(a.TTL), msd(a.Interval)).Int()
	if err != nil {
		return redisErr("commit", err)
	}
	if n != 1 {
		return fmt.Errorf("%w: %w", ErrStore, ErrReservationLost)
	}
	return nil
}

// Rollback implements [Store.Rollback] in one round trip.
func (s *RedisStore) Rollback(ctx context.Context, key, token string) error {
	if err := rollbackScript.Run(ctx, s.rdb, []string{s.prefix + key}, token).Err(); err != nil {
		return redisErr("rollback", err)
	}
	return nil
}

// Verify implements [Store.Verify] in one round trip.
func (s *RedisStore) Verify(ctx context.Context, key string, a VerifyArgs) (bool, error) {
	n, err := verifyScript.Run(ctx, s.rdb, []string{s.prefix + key},
		ms(a.Now), a.Digest, a.MaxAttempts).Int()
	if err != nil {
		return false, redisErr("verify", err)
	}
	return n == 1, nil
}
