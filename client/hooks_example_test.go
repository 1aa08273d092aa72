package client_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/alovago/alova/client"
	"github.com/alovago/alova/lock"
	"github.com/alovago/alova/ratelimit"
	"github.com/redis/go-redis/v9"
)

// Retry a POST to an SMS gateway that is briefly unavailable.
func ExampleRetry() {
	var calls atomic.Int32
	gateway := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) < 3 {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusAccepted)
	}))
	defer gateway.Close()

	c := client.New(client.Options{BaseURL: gateway.URL})
	send := client.Retry(c.Post("/sms/send", map[string]string{"to": "+15550100", "code": "4711"}), client.RetryOptions{
		Attempts:   4, // alova's retry: 3; Attempts: 1 would send once
		Delay:      10 * time.Millisecond,
		Multiplier: 2,
		OnRetry: func(e client.RetryEvent) {
			var he *client.HTTPError
			errors.As(e.Err, &he)
			fmt.Printf("attempt %d: %d, retrying in %s\n", e.Attempt, he.StatusCode, e.Delay)
		},
	})
	resp, err := send.Send(context.Background())
	if err != nil {
		fmt.Println("failed:", err)
		return
	}
	fmt.Println("sent:", resp.StatusCode())
	// Output:
	// attempt 1: 503, retrying in 10ms
	// attempt 2: 503, retrying in 20ms
	// sent: 202
}

// Limit calls to a paid API to 2 per minute per customer; the third is
// refused at once, without reaching the API.
func ExampleRateLimit() {
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer api.Close()

	c := client.New(client.Options{BaseURL: api.URL})
	limiter := ratelimit.New(ratelimit.NewMemoryStore(), ratelimit.Options{Points: 2, Duration: time.Minute})
	quote := client.RateLimit(c.Get("/quote"), limiter, "customer:42")
	for range 3 {
		_, err := quote.Send(context.Background())
		var le *ratelimit.LimitedError
		if errors.As(err, &le) {
			fmt.Println("limited; retry after at most", le.RetryAfter.Round(time.Minute))
			continue
		}
		fmt.Println("ok", err)
	}
	// Output:
	// ok <nil>
	// ok <nil>
	// limited; retry after at most 1m0s
}

// One stock update at a time, even with many requests at once: the lock is
// held around each send.
func ExampleAtomize() {
	var (
		mu           sync.Mutex
		inside, most int
	)
	stock := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		inside++
		most = max(most, inside)
		mu.Unlock()
		time.Sleep(2 * time.Millisecond)
		mu.Lock()
		inside--
		mu.Unlock()
	}))
	defer stock.Close()

	c := client.New(client.Options{BaseURL: stock.URL})
	locks := lock.NewMemoryStore() // lock.NewRedisStore(rdb, lock.RedisOptions{}) across processes
	update := client.Atomize(c.Post("/stock/sku-1", map[string]int{"delta": -1}), locks,
		lock.Options{Interval: time.Millisecond}, "stock:sku-1")

	var wg sync.WaitGroup
	for range 5 {
		wg.Go(func() {
			if _, err := update.Send(context.Background()); err != nil {
				fmt.Println(err)
			}
		})
	}
	wg.Wait()
	fmt.Println("most updates at once:", most)
	// Output:
	// most updates at once: 1
}

// The hooks nest in any order. Here each attempt takes the lock and costs a
// rate-limit point, and Retry waits out failures; state lives in Redis, so
// every instance of the service shares the limit and the lock.
func Example_composeHooks() {
	mr := miniredis.NewMiniRedis()
	if err := mr.Start(); err != nil {
		panic(err)
	}
	defer mr.Close()
	rdb := redis.NewClient(&redis.Options{Addr: mr.Addr()})
	defer rdb.Close()

	var calls atomic.Int32
	payments := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) == 1 {
			w.WriteHeader(http.StatusBadGateway)
		}
	}))
	defer payments.Close()

	c := client.New(client.Options{BaseURL: payments.URL})
	limiter := ratelimit.New(ratelimit.NewRedisStore(rdb, ratelimit.RedisOptions{}), ratelimit.Options{Points: 10, Duration: time.Minute})
	locks := lock.NewRedisStore(rdb, lock.RedisOptions{})

	charge := client.Retry(
		client.RateLimit(
			client.Atomize(c.Post("/charge", map[string]any{"order": 7, "cents": 1299}), locks, lock.Options{}, "order:7"),
			limiter, "merchant:3"),
		client.RetryOptions{Delay: time.Millisecond})

	resp, err := charge.Send(context.Background())
	if err != nil {
		fmt.Println("failed:", err)
		return
	}
	used, _ := limiter.Get(context.Background(), "merchant:3")
	fmt.Println("status:", resp.StatusCode())
	fmt.Println("downstream calls:", calls.Load())
	fmt.Println("points used:", used.Consumed)
	// Output:
	// status: 200
	// downstream calls: 2
	// points used: 2
}
