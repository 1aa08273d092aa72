package captcha

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/alovago/alova/internal/redisop"
)

// defaultKeyPrefix is the key prefix of a [RedisStore] whose
// [RedisOptions.KeyPrefix] is empty.
const defaultKeyPrefix = "alova:captcha:"

// defaultWaitTimeout is RedisOptions.WaitTimeout's default.
const defaultWaitTimeout = 100 * time.Millisecond

// RedisOptions configures a [RedisStore]. The zero value works.
type RedisOptions struct {
	// KeyPrefix is put before every key. Default "alova:captcha:".
	// Providers with different purposes (login, password reset) need
	// different prefixes, or a code sent for one would verify for the
	// other.
	KeyPrefix string

	// Timeout bounds every Redis call of the store, whatever the client's
	// own timeouts: a call to a hung Redis returns an error matching
	// [ErrStore] after Timeout. Default 200 ms.
	Timeout time.Duration

	// WaitReplicas, when above 0, makes every Verify wait, with Redis's
	// WAIT, until that many replicas acknowledged its write (the used code,
	// or the wrong attempt counted), for at most WaitTimeout; when fewer
	// did, Verify fails closed with an error matching [ErrStore] (503), even
	// for the right code. The caller's retry with the same challenge and
	// code then succeeds once the replicas catch up (see [Provider.Verify]).
	//
	// Without it, Redis replicates asynchronously: a code verified just
	// before a failover may still be unused on the promoted replica and
	// verify again there, and wrong attempts counted just before it are
	// forgotten. With it, a success is only reported once the write is on
	// WaitReplicas replicas. The price: every verify waits for a replica
	// round trip, and verifies fail while fewer replicas are reachable.
	// WAIT is not a consensus: a failover that promotes a replica which had
	// not acknowledged (more replicas than WaitReplicas) can still lose the
	// write; with Sentinel, set WaitReplicas to the replicas it may
	// promote, or use min-replicas-to-write. Sends are not waited for.
	// It needs a Client, a failover Client or a ClusterClient (not a Ring:
	// NewRedisStore panics). Default 0: no wait.
	WaitReplicas int

	// WaitTimeout bounds WAIT, on top of Timeout. Default 100 ms.
	WaitTimeout time.Duration
}

// RedisStore is a [Store] on Redis, shared by every process that uses the
// same Redis and prefix. It is safe for concurrent use.
//
// Each key has one hash, prefix+key, with the fields r (when the key may
// send again, Unix ms), p and l (pending reservation and its lease end), g
// (the key's budget of codes, see [Store.Reserve]), k (latest challenge), x
// (latest challenge expiry) and, per challenge id, d:id (code digest), e:id
// (expiry), a:id (wrong attempts), u:id (verified once) and c:id (the code,
// with ReuseCode only). The hash expires on its own when none of them
// matters any more. Every operation is one Lua script on that one key, so
// it is atomic and works on Redis Cluster whatever the key holds (a "{...}"
// in it only picks the slot). Round trips: Send 2 (reserve, then commit or
// rollback; 1 when refused), Verify 1 (WAIT, with WaitReplicas, goes in the
// same round trip) — plus, once per script after Redis restarted or its
// script cache was flushed, one EVAL after a NOSCRIPT answer.
//
// Timestamps come from the Provider's clock; the hash's own expiry uses
// Redis's clock, relative to that.
type RedisStore struct {
	rdb      redis.UniversalClient
	prefix   string
	bound    redisop.Bound
	replicas int
	waitFor  time.Duration
	waitBnd  redisop.Bound // bound + waitFor
}

var _ Store = (*RedisStore)(nil)

// NewRedisStore returns a [RedisStore] on rdb, configured by opts (see
// [RedisOptions] for the defaults). It panics if rdb is nil, opts.Timeout,
// opts.WaitReplicas or opts.WaitTimeout is negative, or WaitReplicas is set
// on a Ring.
func NewRedisStore(rdb redis.UniversalClient, opts RedisOptions) *RedisStore {
	if rdb == nil {
		panic("captcha: NewRedisStore with a nil client")
	}
	if opts.Timeout < 0 || opts.WaitReplicas < 0 || opts.WaitTimeout < 0 {
		panic("captcha: negative value in RedisOptions")
	}
	if _, ring := rdb.(*redis.Ring); ring && opts.WaitReplicas > 0 {
		panic("captcha: RedisOptions.WaitReplicas on a Ring")
	}
	if opts.KeyPrefix == "" {
		opts.KeyPrefix = defaultKeyPrefix
	}
	if opts.WaitTimeout == 0 {
		opts.WaitTimeout = defaultWaitTimeout
	}
	s := &RedisStore{rdb: rdb, prefix: opts.KeyPrefix, bound: redisop.New(rdb, opts.Timeout),
		replicas: opts.WaitReplicas, waitFor: opts.WaitTimeout}
	s.waitBnd = redisop.New(rdb, s.bound.Timeout()+opts.WaitTimeout)
	return s
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
  redis.call('HDEL', key, 'd:' .. id, 'e:' .. id, 'a:' .. id, 'c:' .. id, 'u:' .. id)
end
`

// ARGV: now, challenge, lease, interval, reuse ("1"/"0"), burst, refill.
// Returns {0, wait ms} when refused, {1, code or ""} when reserved.
var reserveScript = redis.NewScript(luaLib + `
local now = tonumber(ARGV[1])
local h = redis.call('HMGET', KEYS[1], 'r', 'p', 'l', 'g', 'k', 'x')
local r = tonumber(h[1]) or 0
local l = tonumber(h[3]) or 0
local g = tonumber(h[4]) or 0
if h[2] and l > now then
  return {0, math.max(tonumber(ARGV[4]), r - now)}
end
local wait = math.max(r - now, g - now - (tonumber(ARGV[6]) - 1) * tonumber(ARGV[7]))
if wait > 0 then
  return {0, wait}
end
l = now + tonumber(ARGV[3])
redis.call('HSET', KEYS[1], 'p', ARGV[2], 'l', l)
keep(KEYS[1], now, math.max(r, l, g, tonumber(h[6]) or 0))
local code = ''
if ARGV[5] == '1' and h[5] then
  local c = redis.call('HMGET', KEYS[1], 'e:' .. h[5], 'c:' .. h[5], 'u:' .. h[5])
  if c[2] and not c[3] and (tonumber(c[1]) or 0) > now then
    code = c[2]
  end
end
return {1, code}
`)

// ARGV: challenge, now, digest, code, reused ("1"/"0"), ttl, interval, refill.
// Returns 1 when committed (now or by an earlier call), 0 when the
// reservation was lost.
var commitScript = redis.NewScript(luaLib + `
local id = ARGV[1]
local now = tonumber(ARGV[2])
local h = redis.call('HMGET', KEYS[1], 'p', 'k', 'r', 'g', 'x', 'd:' .. id)
if h[6] then
  if h[6] == ARGV[3] then
    return 1
  end
  return 0
end
local r = tonumber(h[3]) or 0
local g = tonumber(h[4]) or 0
local x = tonumber(h[5]) or 0
if h[1] ~= id then
  return 0
end
redis.call('HDEL', KEYS[1], 'p', 'l')
if ARGV[5] == '1' then
  local ok = false
  if h[2] then
    local c = redis.call('HMGET', KEYS[1], 'd:' .. h[2], 'e:' .. h[2], 'u:' .. h[2])
    ok = c[1] == ARGV[3] and not c[3] and (tonumber(c[2]) or 0) > now
  end
  if not ok then
    keep(KEYS[1], now, math.max(r, g, x))
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
g = math.max(g, now) + tonumber(ARGV[8])
r = now + tonumber(ARGV[7])
x = math.max(x, e)
redis.call('HSET', KEYS[1], 'r', r, 'g', g, 'x', x)
keep(KEYS[1], now, math.max(r, g, x))
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

// ARGV: now, challenge, digest, max attempts, refill, grace. Returns 1 on a
// match.
//
// The digests are compared with Lua's ==: Lua interns strings, so that is a
// pointer comparison; and the digest of a guess cannot be steered, so even a
// byte-by-byte comparison would not tell how close the code was.
var verifyScript = redis.NewScript(luaLib + `
local now = tonumber(ARGV[1])
local id = ARGV[2]
local h = redis.call('HMGET', KEYS[1], 'd:' .. id, 'e:' .. id, 'a:' .. id, 'u:' .. id)
if not h[1] then
  return 0
end
local e = tonumber(h[2]) or 0
if e <= now then
  dropChallenge(KEYS[1], id)
  return 0
end
if h[4] then
  dropChallenge(KEYS[1], id)
  if h[1] == ARGV[3] then
    return 1
  end
  return 0
end
local max = tonumber(ARGV[4])
if h[1] == ARGV[3] then
  local all = redis.call('HKEYS', KEYS[1])
  for _, f in ipairs(all) do
    if string.sub(f, 1, 2) == 'e:' and string.sub(f, 3) ~= id then
      dropChallenge(KEYS[1], string.sub(f, 3))
    end
  end
  redis.call('HDEL', KEYS[1], 'k', 'c:' .. id)
  local a = tonumber(h[3]) or 0
  local g = tonumber(redis.call('HGET', KEYS[1], 'g')) or 0
  g = math.max(now, g - math.floor((max - a) * tonumber(ARGV[5]) / max))
  redis.call('HSET', KEYS[1], 'g', g, 'u:' .. id, 1, 'e:' .. id, math.min(e, now + tonumber(ARGV[6])))
  return 1
end
if redis.call('HINCRBY', KEYS[1], 'a:' .. id, 1) >= max then
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

// errNotReplicated is the error of a verify whose write fewer than
// WaitReplicas replicas acknowledged in time.
var errNotReplicated = errors.New("fewer replicas than RedisOptions.WaitReplicas acknowledged in time")

// runWait is run followed, on the same connection and in the same round
// trip, by WAIT for s.replicas replicas.
func (s *RedisStore) runWait(ctx context.Context, script *redis.Script, key string, args ...any) (any, error) {
	if s.replicas == 0 {
		return s.run(ctx, script, key, args...)
	}
	return redisop.Do(ctx, s.waitBnd, func(ctx context.Context) (any, error) {
		keys := []string{s.prefix + key}
		var target redis.Cmdable = s.rdb
		if cc, ok := s.rdb.(*redis.ClusterClient); ok { // WAIT has no key: run it on the key's master
			m, err := cc.MasterForKey(ctx, keys[0])
			if err != nil {
				return nil, err
			}
			target = m
		}
		pipe := func(eval func(p redis.Pipeliner) *redis.Cmd) (*redis.Cmd, *redis.IntCmd) {
			var ev *redis.Cmd
			var wait *redis.IntCmd
			_, _ = target.Pipelined(ctx, func(p redis.Pipeliner) error {
				ev = eval(p)
				wait = redis.NewIntCmd(ctx, "wait", s.replicas, max(s.waitFor.Milliseconds(), 1))
				_ = p.Process(ctx, wait)
				return nil
			})
			return ev, wait
		}
		ev, wait := pipe(func(p redis.Pipeliner) *redis.Cmd { return script.EvalSha(ctx, p, keys, args...) })
		if redis.HasErrorPrefix(ev.Err(), "NOSCRIPT") {
			ev, wait = pipe(func(p redis.Pipeliner) *redis.Cmd { return script.Eval(ctx, p, keys, args...) })
		}
		if err := ev.Err(); err != nil {
			return nil, err
		}
		n, err := wait.Result()
		if err != nil {
			return nil, err
		}
		if n < int64(s.replicas) {
			return nil, fmt.Errorf("%w: %d of %d", errNotReplicated, n, s.replicas)
		}
		return ev.Val(), nil
	})
}

// Reserve implements [Store.Reserve] in one round trip.
func (s *RedisStore) Reserve(ctx context.Context, key string, a ReserveArgs) (string, time.Duration, error) {
	reuse := "0"
	if a.Reuse {
		reuse = "1"
	}
	reply, err := s.run(ctx, reserveScript, key,
		ms(a.Now), a.Challenge, msd(a.Lease), msd(a.Interval), reuse, a.Burst, msd(a.Refill))
	if err != nil {
		return "", 0, redisErr("reserve", err)
	}
	v, _ := reply.([]any)
	if len(v) != 2 {
		return "", 0, redisErr("reserve", fmt.Errorf("unexpected reply %v", reply))
	}
	if ok, _ := v[0].(int64); ok == 0 {
		wait, _ := v[1].(int64)
		return "", time.Duration(max(wait, 1)) * time.Millisecond, nil
	}
	code, _ := v[1].(string)
	return code, 0, nil
}

// Commit implements [Store.Commit] in one round trip.
func (s *RedisStore) Commit(ctx context.Context, key string, a CommitArgs) error {
	reused := "0"
	if a.Reused {
		reused = "1"
	}
	reply, err := s.run(ctx, commitScript, key,
		a.Challenge, ms(a.Now), a.Digest, a.Code, reused, msd(a.TTL), msd(a.Interval), msd(a.Refill))
	if err != nil {
		return redisErr("commit", err)
	}
	if n, _ := reply.(int64); n != 1 {
		return errReservationLost
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

// Verify implements [Store.Verify] in one round trip, WAIT included.
func (s *RedisStore) Verify(ctx context.Context, key string, a VerifyArgs) (bool, error) {
	reply, err := s.runWait(ctx, verifyScript, key, ms(a.Now), a.Challenge, a.Digest, a.MaxAttempts,
		msd(a.Refill), msd(a.Grace))
	if err != nil {
		return false, redisErr("verify", err)
	}
	n, _ := reply.(int64)
	return n == 1, nil
}
