package ratelimit_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/alovago/alova/ratelimit"
	"github.com/redis/go-redis/v9"
)

func ExampleLimiter_Allow() {
	lim := ratelimit.New(ratelimit.NewMemoryStore(), ratelimit.Options{Points: 2, Duration: time.Minute})
	ctx := context.Background()
	for range 3 {
		res, err := lim.Allow(ctx, "203.0.113.7")
		if err != nil {
			fmt.Println("store failed:", err)
			return
		}
		fmt.Printf("allowed=%v remaining=%d limited=%v\n", res.Allowed, res.Remaining, errors.Is(res.Err(), ratelimit.ErrLimited))
	}
	// Output:
	// allowed=true remaining=1 limited=false
	// allowed=true remaining=0 limited=false
	// allowed=false remaining=0 limited=true
}

// A login lockout on Redis: three wrong passwords block the account for 15
// minutes; a good one clears the count.
func ExampleNewRedisStore() {
	mr := miniredis.NewMiniRedis()
	if err := mr.Start(); err != nil {
		panic(err)
	}
	defer mr.Close()
	rdb := redis.NewClient(&redis.Options{Addr: mr.Addr()})
	defer rdb.Close()

	// Every call on the store gives up after 200 ms (the default Timeout),
	// whatever the client's own timeouts: a hung Redis cannot hold a login.
	store := ratelimit.NewRedisStore(rdb, ratelimit.RedisOptions{KeyPrefix: "login:"})
	logins := ratelimit.New(store, ratelimit.Options{
		Points:        3,
		Duration:      time.Minute,
		BlockDuration: 15 * time.Minute,
	})
	ctx := context.Background()
	for range 4 { // four wrong passwords
		res, _ := logins.Allow(ctx, "alice")
		if !res.Allowed {
			fmt.Println("locked out for", res.RetryAfter)
		}
	}
	fmt.Println("keys:", mr.Keys())
	_ = logins.Delete(ctx, "alice") // an administrator unlocks the account
	res, _ := logins.Get(ctx, "alice")
	fmt.Println("remaining after unlock:", res.Remaining)
	// Output:
	// locked out for 15m0s
	// keys: [login:{alice}]
	// remaining after unlock: 3
}

// One limiter per process, counting in memory: the first call of a window
// says so, e.g. to log a client's first request after a quiet spell.
func ExampleNewMemoryStore() {
	lim := ratelimit.New(ratelimit.NewMemoryStore(), ratelimit.Options{Points: 10, Duration: time.Minute})
	ctx := context.Background()
	for range 2 {
		res, err := lim.Allow(ctx, "203.0.113.7")
		if err != nil {
			fmt.Println("store failed:", err)
			return
		}
		fmt.Printf("first in window: %v, remaining %d\n", res.FirstInWindow, res.Remaining)
	}
	// Output:
	// first in window: true, remaining 9
	// first in window: false, remaining 8
}
