package captcha

import (
	"context"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/alovago/alova/internal/redisop"
)

// DefaultKeyPrefix is the key prefix of a [RedisStore] whose
// [RedisOptions.KeyPrefix] is empty.
const defaultKeyPrefix = "alova:captcha:"

// RedisOptions configures a [RedisStore]. The zero value works.
type RedisOptions struct {
	// KeyPrefix is put before every key. Default [DefaultKeyPrefix]
	// ("alova:captcha:"). Providers with different purposes (login, password
	// reset) need different prefixes, or a code sent for one would verify
	// for the other.
	KeyPrefix string

	// Timeout bounds every Redis call of the store, whatever the client's
	// own timeouts: a call to a hung Redis returns an error matching
	// [ErrStore] after Timeout. Default 200 ms.
	Timeout time.Duration
}

// RedisStore is a [Store] on Redis, shared by every process that uses the
// same Redis and prefix. It is safe for concurrent use.
//
// Each key has one hash, prefix+key, with the fields r (when the key may
// send again, Unix ms), p and l (pending reservation and its lease end), w,
// n and f (day window end, sends and wrong codes in it), k (latest
// challenge), x (latest challenge expiry) and, per challenge id, d:id (code
// digest), e:id (expiry), a:id (wrong attempts) and c:id (the code, with
// ReuseCode only). The hash expires on its own when none of them matters any
// more: 24 hours after the key's window started. Every operation is one Lua
// script on that one key, so it is atomic and works on Redis Cluster whatever
// the key holds (a "{...}" in it only picks the slot). Round trips: Send 2
// (reserve, then commit or rollback; 1 when refused), Verify 1 — plus, once
// per script after Redis restarted or its script cache was flushed, one EVAL
// after a NOSCRIPT answer.
//
// Timestamps come from the Provider's clock; the hash's own expiry uses
// Redis's clock, relative to that.
type RedisStore struct {
	rdb    redis.UniversalClient
	prefix string
	bound  redisop.Bound
}

var _ Store = (*RedisStore)(nil)

// NewRedisStore returns a [RedisStore] on rdb, configured by opts (see
// [RedisOptions] for the defaults). It panics if rdb is nil or opts.Timeout
// is negative.
func NewRedisStore(rdb redis.UniversalClient, opts RedisOptions) *RedisStore {
	if rdb == nil {
		panic("captcha: NewRedisStore with a nil client")
	}
	if opts.Timeout < 0 {
		panic("captcha: negative RedisOptions.Timeout")
	}
	if opts.KeyPrefix == "" {
		opts.KeyPrefix = defaultKeyPrefix
	}
	return &RedisStore{rdb: rdb, prefix: opts.KeyPrefix, bound: redisop.New(rdb, opts.Timeout)}
}

// luaLib holds the helpers of the scripts.
//
// keep sets the hash's expiry to last (ms), or deletes it when last has
// passed. dropChallenge deletes the fields of one challenge.
const luaLib = `
local function keep(key, now, last)
  if last > now then
    redis.call('PEXPIRE', key, last - now)
  else
    redis.call('DEL', key)
  end
end
local function dropChallenge(key, id)
  redis.call('HDEL', key, 'd:' .. id, 'e:' .. id, 'a:' .. id, 'c:' .. id)
end
`

// ARGV: now, challenge, lease, interval, reuse ("1"/"0"), max sends, max failures.
// Returns {0, wait ms} when refused, {1, code or ""} when reserved.
var reserveScript = redis.NewScript(luaLib + `
local now = tonumber(ARGV[1])
local h = redis.call('HMGET', KEYS[1], 'r', 'p', 'l', 'w', 'n', 'f', 'k', 'x')
local r = tonumber(h[1]) or 0
local l = tonumber(h[3]) or 0
local w = tonumber(h[4]) or 0
if h[2] and l > now then
  return {0, math.max(tonumber(ARGV[4]), r - now)}
end
if r > now then
  return {0, r - now}
end
if w > now and ((tonumber(h[5]) or 0) >= tonumber(ARGV[6]) or (tonumber(h[6]) or 0) >= tonumber(ARGV[7])) then
  return {0, w - now}
end
l = now + tonumber(ARGV[3])
redis.call('HSET', KEYS[1], 'p', ARGV[2], 'l', l)
keep(KEYS[1], now, math.max(r, l, w, tonumber(h[8]) or 0))
local code = ''
if ARGV[5] == '1' and h[7] then
  local c = redis.call('HMGET', KEYS[1], 'e:' .. h[7], 'c:' .. h[7])
  if c[2] and (tonumber(c[1]) or 0) > now then
    code = c[2]
  end
end
return {1, code}
`)

// ARGV: challenge, now, digest, code, reused ("1"/"0"), ttl, interval, window.
// Returns 1 when committed, 0 when the reservation was lost.
var commitScript = redis.NewScript(luaLib + `
local id = ARGV[1]
local now = tonumber(ARGV[2])
local h = redis.call('HMGET', KEYS[1], 'p', 'k', 'r', 'w', 'x')
local r = tonumber(h[3]) or 0
local w = tonumber(h[4]) or 0
local x = tonumber(h[5]) or 0
if h[1] ~= id then
  return 0
end
redis.call('HDEL', KEYS[1], 'p', 'l')
if ARGV[5] == '1' then
  local ok = false
  if h[2] then
    local c = redis.call('HMGET', KEYS[1], 'd:' .. h[2], 'e:' .. h[2])
    ok = c[1] == ARGV[3] and (tonumber(c[2]) or 0) > now
  end
  if not ok then
    keep(KEYS[1], now, math.max(r, w, x))
    return 0
  end
end
local all = redis.call('HGETALL', KEYS[1])
for i = 1, #all, 2 do
  if string.sub(all[i], 1, 2) == 'e:' and tonumber(all[i + 1]) <= now then
    dropChallenge(KEYS[1], string.sub(all[i], 3))
  end
end
local e = now + tonumber(ARGV[6])
redis.call('HSET', KEYS[1], 'd:' .. id, ARGV[3], 'e:' .. id, e, 'a:' .. id, 0, 'k', id)
if ARGV[4] ~= '' then
  redis.call('HSET', KEYS[1], 'c:' .. id, ARGV[4])
end
if w <= now then
  w = now + tonumber(ARGV[8])
  redis.call('HSET', KEYS[1], 'w', w, 'n', 1, 'f', 0)
else
  redis.call('HINCRBY', KEYS[1], 'n', 1)
end
r = now + tonumber(ARGV[7])
x = math.max(x, e)
redis.call('HSET', KEYS[1], 'r', r, 'x', x)
keep(KEYS[1], now, math.max(r, w, x))
return 1
`)

// ARGV: challenge. Returns 1 when released.
var rollbackScript = redis.NewScript(`
if redis.call('HGET', KEYS[1], 'p') == ARGV[1] then
  redis.call('HDEL', KEYS[1], 'p', 'l')
  return 1
end
return 0
`)

// ARGV: now, challenge, digest, max attempts. Returns 1 on a match.
//
// The digests are compared with Lua's ==: Lua interns strings, so that is a
// pointer comparison; and the digest of a guess cannot be steered, so even a
// byte-by-byte comparison would not tell how close the code was.
var verifyScript = redis.NewScript(luaLib + `
local id = ARGV[2]
local h = redis.call('HMGET', KEYS[1], 'd:' .. id, 'e:' .. id)
if not h[1] then
  return 0
end
if (tonumber(h[2]) or 0) <= tonumber(ARGV[1]) then
  dropChallenge(KEYS[1], id)
  return 0
end
if h[1] == ARGV[3] then
  local all = redis.call('HKEYS', KEYS[1])
  for _, f in ipairs(all) do
    if string.sub(f, 1, 2) == 'e:' then
      dropChallenge(KEYS[1], string.sub(f, 3))
    end
  end
  redis.call('HDEL', KEYS[1], 'k')
  return 1
end
redis.call('HINCRBY', KEYS[1], 'f', 1)
if redis.call('HINCRBY', KEYS[1], 'a:' .. id, 1) >= tonumber(ARGV[4]) then
  dropChallenge(KEYS[1], id)
end
return 0
`)

func ms(t time.Time) int64      { return t.UnixMilli() }
func msd(d time.Duration) int64 { return max(d.Milliseconds(), 1) }
func redisErr(op string, err error) error {
	return fmt.Errorf("%w: redis %s: %w", ErrStore, op, err)
}

// run runs script on key within the store's timeout.
func (s *RedisStore) run(ctx context.Context, script *redis.Script, key string, args ...any) (any, error) {
	return redisop.Do(ctx, s.bound, func(ctx context.Context) (any, error) {
		return script.Run(ctx, s.rdb, []string{s.prefix + key}, args...).Result()
	})
}

// Reserve implements [Store.Reserve] in one round trip.
func (s *RedisStore) Reserve(ctx context.Context, key string, a ReserveArgs) (Reservation, error) {
	reuse := "0"
	if a.Reuse {
		reuse = "1"
	}
	reply, err := s.run(ctx, reserveScript, key,
		ms(a.Now), a.Challenge, msd(a.Lease), msd(a.Interval), reuse, a.MaxSends, a.MaxFailures)
	if err != nil {
		return Reservation{}, redisErr("reserve", err)
	}
	v, _ := reply.([]any)
	if len(v) != 2 {
		return Reservation{}, redisErr("reserve", fmt.Errorf("unexpected reply %v", reply))
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
	reply, err := s.run(ctx, commitScript, key,
		a.Challenge, ms(a.Now), a.Digest, a.Code, reused, msd(a.TTL), msd(a.Interval), msd(a.Window))
	if err != nil {
		return redisErr("commit", err)
	}
	if n, _ := reply.(int64); n != 1 {
		return fmt.Errorf("%w: %w", ErrStore, ErrReservationLost)
	}
	return nil
}

// Rollback implements [Store.Rollback] in one round trip.
func (s *RedisStore) Rollback(ctx context.Context, key, challenge string) error {
	if _, err := s.run(ctx, rollbackScript, key, challenge); err != nil {
		return redisErr("rollback", err)
	}
	return nil
}

// Verify implements [Store.Verify] in one round trip.
func (s *RedisStore) Verify(ctx context.Context, key string, a VerifyArgs) (bool, error) {
	reply, err := s.run(ctx, verifyScript, key, ms(a.Now), a.Challenge, a.Digest, a.MaxAttempts)
	if err != nil {
		return false, redisErr("verify", err)
	}
	n, _ := reply.(int64)
	return n == 1, nil
}
