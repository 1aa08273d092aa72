package lock_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/alovago/alova/lock"
	"github.com/redis/go-redis/v9"
)

// Two names on Redis, and a second caller that gives up.
func ExampleNewRedisStore() {
	mr := miniredis.NewMiniRedis()
	if err := mr.Start(); err != nil {
		panic(err)
	}
	defer mr.Close()
	rdb := redis.NewClient(&redis.Options{Addr: mr.Addr()})
	defer rdb.Close()

	// Every Redis call gives up after the default 200 ms Timeout.
	locks := lock.NewRedisStore(rdb, lock.RedisOptions{KeyPrefix: "shop:lock:"})
	ctx := context.Background()

	// Two names, taken in sorted order whatever order they are given in.
	lease, err := lock.Acquire(ctx, locks, []string{"stock", "orders"}, lock.Options{})
	if err != nil {
		fmt.Println("not acquired:", err)
		return
	}
	fmt.Println("held:", mr.Keys())

	// Another caller waits at most 30 ms for one of them.
	_, err = lock.Acquire(ctx, locks, []string{"orders"}, lock.Options{Timeout: 30 * time.Millisecond, Interval: 10 * time.Millisecond})
	fmt.Println(errors.Is(err, lock.ErrTimeout), err)

	if err := lease.Release(ctx); err != nil {
		fmt.Println("release:", err)
	}
	fmt.Println("held after release:", mr.Keys())
	// Output:
	// held: [shop:lock:orders shop:lock:stock]
	// true lock: failed to acquire lock within 30ms: "orders" is held
	// held after release: []
}

// One job at a time within a process: a second Acquire waits for the first
// lease's Release.
func ExampleNewMemoryStore() {
	locks := lock.NewMemoryStore()
	ctx := context.Background()
	lease, err := lock.Acquire(ctx, locks, []string{"nightly-report"}, lock.Options{})
	if err != nil {
		fmt.Println("not acquired:", err)
		return
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		second, err := lock.Acquire(ctx, locks, []string{"nightly-report"}, lock.Options{Interval: time.Millisecond})
		if err != nil {
			fmt.Println("second:", err)
			return
		}
		fmt.Println("second caller got the lock")
		_ = second.Release(ctx)
	}()
	time.Sleep(10 * time.Millisecond)
	fmt.Println("first caller releases")
	_ = lease.Release(ctx)
	<-done
	// Output:
	// first caller releases
	// second caller got the lock
}
