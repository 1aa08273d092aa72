package client_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/alovago/alova/client"
	"github.com/alovago/alova/internal/testredis"
	"github.com/alovago/alova/lock"
	"github.com/alovago/alova/ratelimit"
	"github.com/redis/go-redis/v9"
)

// hookBackend is where the limiter counts and the locks live: memory,
// miniredis or the real Redis of REDIS_URL. pass makes d pass for the
// stores' expiries where they do not run on the wall clock (miniredis).
type hookBackend struct {
	name  string
	locks lock.Store
	// limiter returns a limiter with opts counting in a store of its own.
	limiter func(opts ratelimit.Options) *ratelimit.Limiter
	pass    func(d time.Duration)
	// run runs f, in a synctest bubble for the memory stores (f must then
	// use no network and not call t.Run).
	run func(t *testing.T, f func(t *testing.T))
}

// hookTimeout bounds the test stores' Redis calls: generous, as concurrent
// scripts on miniredis under -race on a busy machine queue for a while.
const hookTimeout = 10 * time.Second

// forEachHookBackend runs body against memory, miniredis and real Redis.
func forEachHookBackend(t *testing.T, body func(t *testing.T, b hookBackend)) {
	t.Helper()
	t.Run("memory", func(t *testing.T) {
		body(t, hookBackend{name: "memory", locks: lock.NewMemoryStore(),
			limiter: func(opts ratelimit.Options) *ratelimit.Limiter {
				return ratelimit.New(ratelimit.NewMemoryStore(), opts)
			},
			pass: time.Sleep,
			run:  synctest.Test})
	})
	redisBackend := func(t *testing.T, name string, rdb redis.UniversalClient, p string, pass func(time.Duration)) hookBackend {
		var n atomic.Int32
		return hookBackend{name: name,
			locks: lock.NewRedisStore(rdb, lock.RedisOptions{KeyPrefix: p + "lock:", Timeout: hookTimeout}),
			limiter: func(opts ratelimit.Options) *ratelimit.Limiter {
				prefix := fmt.Sprintf("%srl%d:", p, n.Add(1))
				return ratelimit.New(ratelimit.NewRedisStore(rdb, ratelimit.RedisOptions{KeyPrefix: prefix, Timeout: hookTimeout}), opts)
			},
			pass: pass,
			run:  func(t *testing.T, f func(t *testing.T)) { f(t) }}
	}
	t.Run("miniredis", func(t *testing.T) {
		mr, rdb := testredis.Mini(t)
		body(t, redisBackend(t, "miniredis", rdb, testredis.Prefix(t, nil), mr.FastForward))
	})
	t.Run("redis", func(t *testing.T) {
		rdb := testredis.Real(t)
		body(t, redisBackend(t, "redis", rdb, testredis.Prefix(t, rdb), func(time.Duration) {}))
	})
}

func TestRateLimitRefusesAtOnce(t *testing.T) {
	forEachHookBackend(t, func(t *testing.T, b hookBackend) {
		srv := newHookServer(t, statuses(200))
		c := client.New(client.Options{BaseURL: srv.URL})
		s := client.RateLimit(c.Get("/quote"), b.limiter(ratelimit.Options{Points: 3, Duration: time.Minute}), "partner:7")
		var ok, limited int
		for range 10 {
			start := time.Now()
			_, err := s.Send(hookCtx(t))
			var le *ratelimit.LimitedError
			switch {
			case err == nil:
				ok++
			case errors.As(err, &le) && errors.Is(err, ratelimit.ErrLimited):
				limited++
				if le.RetryAfter <= 0 || le.RetryAfter > time.Minute || le.Limit != 3 {
					t.Fatalf("LimitedError = %+v, want Limit 3 and RetryAfter in (0, 1m]", le)
				}
				if d := time.Since(start); d > 2*time.Second {
					t.Fatalf("a refused send took %s, want at once", d)
				}
			default:
				t.Fatalf("Send = %v, want success or *ratelimit.LimitedError", err)
			}
		}
		if ok != 3 || limited != 7 || srv.calls.Load() != 3 {
			t.Fatalf("%d ok, %d limited, %d downstream calls; want 3, 7, 3", ok, limited, srv.calls.Load())
		}
	})
}

func TestRateLimitConcurrentSends(t *testing.T) {
	forEachHookBackend(t, func(t *testing.T, b hookBackend) {
		const senders, points = 100, 20
		srv := newHookServer(t, statuses(200))
		c := client.New(client.Options{BaseURL: srv.URL})
		s := client.RateLimit(c.Post("/orders", "{}"), b.limiter(ratelimit.Options{Points: points, Duration: time.Minute}), "shop")
		var ok, limited atomic.Int32
		var wg sync.WaitGroup
		for range senders {
			wg.Go(func() {
				_, err := s.Send(hookCtx(t))
				switch {
				case err == nil:
					ok.Add(1)
				case errors.Is(err, ratelimit.ErrLimited):
					limited.Add(1)
				default:
					t.Errorf("Send: %v", err)
				}
			})
		}
		wg.Wait()
		if ok.Load() != points || limited.Load() != senders-points || srv.calls.Load() != points {
			t.Fatalf("%d ok, %d limited, %d downstream calls; want %d, %d, %d", ok.Load(), limited.Load(), srv.calls.Load(), points, senders-points, points)
		}
	})
}

// TestRateLimitPerUser: wrapping a method per request with the user's key
// limits each user on their own.
func TestRateLimitPerUser(t *testing.T) {
	srv := newHookServer(t, statuses(200))
	c := client.New(client.Options{BaseURL: srv.URL})
	lim := ratelimit.New(ratelimit.NewMemoryStore(), ratelimit.Options{Points: 2, Duration: time.Minute})
	got := map[string]int{}
	for _, u := range []string{"ann", "bob", "ann", "bob", "ann", "bob"} {
		if _, err := client.RateLimit(c.Get("/me"), lim, "user:"+u).Send(hookCtx(t)); err == nil {
			got[u]++
		} else if !errors.Is(err, ratelimit.ErrLimited) {
			t.Fatalf("Send as %s: %v", u, err)
		}
	}
	if got["ann"] != 2 || got["bob"] != 2 {
		t.Fatalf("allowed sends per user = %v, want 2 each", got)
	}
}

// TestRateLimitStoreFailureRefuses: with Redis down the send fails with the
// store's error (not ErrLimited) and nothing goes downstream.
func TestRateLimitStoreFailureRefuses(t *testing.T) {
	mr, rdb := testredis.Mini(t)
	srv := newHookServer(t, statuses(200))
	lim := ratelimit.New(ratelimit.NewRedisStore(rdb, ratelimit.RedisOptions{}), ratelimit.Options{})
	s := client.RateLimit(client.New(client.Options{BaseURL: srv.URL}).Get("/"), lim, "k")
	mr.SetError("MASTERDOWN Link with MASTER is down")
	_, err := s.Send(hookCtx(t))
	if err == nil || errors.Is(err, ratelimit.ErrLimited) || !strings.Contains(err.Error(), "MASTERDOWN") || srv.calls.Load() != 0 {
		t.Fatalf("Send with the store failing = %v after %d calls, want a store error and no call", err, srv.calls.Load())
	}
}

// TestRetryWaitsOutARateLimit: Retry outside RateLimit retries a limited send
// once the window has ended, and no sooner.
func TestRetryWaitsOutARateLimit(t *testing.T) {
	forEachHookBackend(t, func(t *testing.T, b hookBackend) {
		b.run(t, func(t *testing.T) {
			const window = 500 * time.Millisecond // long enough that both sends land in it
			ok, calls := failing(nil)
			lim := b.limiter(ratelimit.Options{Points: 1, Duration: window})
			var rec recorder
			s := client.Retry(client.RateLimit(ok, lim, "k"), client.RetryOptions{
				Delay: time.Millisecond,
				OnRetry: func(e client.RetryEvent) {
					rec.onRetry(e)
					if b.name == "miniredis" {
						b.pass(e.Delay) // miniredis expiries only move when told
					}
				},
			})
			if _, err := s.Send(hookCtx(t)); err != nil {
				t.Fatalf("first Send: %v", err)
			}
			start := time.Now()
			if _, err := s.Send(hookCtx(t)); err != nil {
				t.Fatalf("second Send = %v, want success after waiting for the window", err)
			}
			if len(rec.retries) != 1 || !errors.Is(rec.retries[0].Err, ratelimit.ErrLimited) {
				t.Fatalf("OnRetry = %+v, want one retry of a limited send", rec.retries)
			}
			var le *ratelimit.LimitedError
			if d := rec.retries[0].Delay; !errors.As(rec.retries[0].Err, &le) || d != le.RetryAfter || d <= time.Millisecond || d > window {
				t.Fatalf("wait = %s, want the limiter's RetryAfter (%v, at most %s), not the 1ms delay", d, le, window)
			}
			if elapsed := time.Since(start); elapsed < rec.retries[0].Delay {
				t.Fatalf("second Send took %s, less than its wait %s", elapsed, rec.retries[0].Delay)
			}
			if len(*calls) != 2 {
				t.Fatalf("downstream calls = %d, want 2", len(*calls))
			}
		})
	})
}

func TestRateLimitPanicsOnNil(t *testing.T) {
	ok := client.SenderFunc(func(context.Context) (*client.Response, error) {
		return client.NewResponse(http.StatusOK, nil, nil), nil
	})
	lim := ratelimit.New(ratelimit.NewMemoryStore(), ratelimit.Options{})
	for name, f := range map[string]func(){
		"nil sender":  func() { client.RateLimit(nil, lim, "k") },
		"nil limiter": func() { client.RateLimit(ok, nil, "k") },
	} {
		t.Run(name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Errorf("%s did not panic", name)
				}
			}()
			f()
		})
	}
}

// BenchmarkRateLimitMemory is RateLimit around a send that succeeds at once,
// on the memory store.
func BenchmarkRateLimitMemory(b *testing.B) {
	resp := client.NewResponse(http.StatusOK, nil, nil)
	lim := ratelimit.New(ratelimit.NewMemoryStore(), ratelimit.Options{Points: 1 << 30, Duration: time.Hour})
	s := client.RateLimit(client.SenderFunc(func(context.Context) (*client.Response, error) { return resp, nil }), lim, "k")
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Send(ctx); err != nil {
			b.Fatal(err)
		}
	}
}
