// Package ratelimit counts points per key in fixed windows: alova's
// createRateLimiter, made atomic.
//
// A [Limiter] grants a key Points points per Duration. Each call that consumes
// points is one atomic step in its [Store], so concurrent callers — goroutines
// of one process with [NewMemoryStore], or many processes sharing Redis with
// [NewRedisStore] — can never be granted more than Points between them.
//
//	store := ratelimit.NewRedisStore(rdb, ratelimit.RedisOptions{KeyPrefix: "login:"})
//	lim := ratelimit.New(store, ratelimit.Options{Points: 5, Duration: time.Minute})
//	res, err := lim.Allow(ctx, "login:"+ip)
//	if err != nil { … } // the store failed
//	if !res.Allowed { … } // refused: answer 429 with Retry-After res.RetryAfter
//
// # Windows
//
// A key's window starts with the first point consumed and lasts Duration; the
// count resets when it ends. Crossing the limit with BlockDuration set blocks
// the key for BlockDuration from that moment (a login lockout). Refused calls
// never wait: they return at once with a [Result] that says when to try again,
// and [Result.Err] turns a refusal into a [*LimitedError].
// [Result].FirstInWindow tells the call that opened a window.
//
// # Stores
//
// [NewMemoryStore] counts in one process; [NewRedisStore] counts in Redis
// under a key prefix ("alova:ratelimit:" by default) with every call bounded
// by [RedisOptions].Timeout (200 ms by default), so a hung Redis costs a
// request at most that long. Limiters sharing a store share the counts of
// equal keys: give each limit its own store or prefix.
//
// # Beyond alova
//
// alova stores the counter with a get-then-set, so two concurrent requests can
// both take the last point. Here every call is one Lua script on Redis, or one
// critical section in memory. Keys are hash-tagged ({key}) so the limiter
// works on Redis Cluster.
package ratelimit
