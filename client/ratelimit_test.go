package client_test

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alovago/alova/client"
	"github.com/alovago/alova/internal/testredis"
	"github.com/alovago/alova/lock"
	"github.com/alovago/alova/ratelimit"
)

// hookBackend is where the limiter counts and the locks live: memory,
// miniredis or the real Redis of REDIS_URL. advance makes d pass for the
// store's expiries where they do not run on the wall clock (miniredis).
type hookBackend struct {
	store   ratelimit.Store
	locker  lock.Locker
	prefix  string
	advance func(d time.Duration)
}

func (b hookBackend) limiter(opts ratelimit.Options) *ratelimit.Limiter {
	opts.KeyPrefix = b.prefix + "rl:"
	return ratelimit.New(b.store, opts)
}

// forEachHookBackend runs body against memory, miniredis and real Redis.
func forEachHookBackend(t *testing.T, body func(t *testing.T, b hookBackend)) {
	t.Helper()
	t.Run("memory", func(t *testing.T) {
		body(t, hookBackend{store: ratelimit.NewMemoryStore(), locker: lock.NewMemory(), prefix: "mem:", advance: func(time.Duration) {}})
	})
	t.Run("miniredis", func(t *testing.T) {
		mr, rdb := testredis.Mini(t)
		p := testredis.Prefix(t, nil)
		body(t, hookBackend{store: ratelimit.NewRedisStore(rdb), locker: lock.NewRedis(rdb, lock.RedisOptions{KeyPrefix: p + "lock:"}), prefix: p, advance: mr.FastForward})
	})
	t.Run("redis", func(t *testing.T) {
		rdb := testredis.Real(t)
		p := testredis.Prefix(t, rdb)
		body(t, hookBackend{store: ratelimit.NewRedisStore(rdb), locker: lock.NewRedis(rdb, lock.RedisOptions{KeyPrefix: p + "lock:"}), prefix: p, advance: func(time.Duration) {}})
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

func TestRateLimitByKeyFromContext(t *testing.T) {
	type userKey struct{}
	srv := newHookServer(t, statuses(200))
	c := client.New(client.Options{BaseURL: srv.URL})
	lim := ratelimit.New(ratelimit.NewMemoryStore(), ratelimit.Options{Points: 2, Duration: time.Minute})
	s := client.RateLimitBy(c.Get("/me"), lim, func(ctx context.Context) string {
		u, _ := ctx.Value(userKey{}).(string)
		return "user:" + u
	})
	got := map[string]int{}
	for _, u := range []string{"ann", "bob", "ann", "bob", "ann", "bob"} {
		if _, err := s.Send(context.WithValue(hookCtx(t), userKey{}, u)); err == nil {
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
	lim := ratelimit.New(ratelimit.NewRedisStore(rdb), ratelimit.Options{})
	s := client.RateLimit(client.New(client.Options{BaseURL: srv.URL}).Get("/"), lim, "k")
	mr.SetError("MASTERDOWN Link with MASTER is down")
	_, err := s.Send(hookCtx(t))
	if err == nil || errors.Is(err, ratelimit.ErrLimited) || srv.calls.Load() != 0 {
		t.Fatalf("Send with the store failing = %v after %d calls, want a store error and no call", err, srv.calls.Load())
	}
}

// TestRetryWaitsOutARateLimit: Retry outside RateLimit retries a limited send
// once the window has ended, and no sooner.
func TestRetryWaitsOutARateLimit(t *testing.T) {
	forEachHookBackend(t, func(t *testing.T, b hookBackend) {
		const window = 300 * time.Millisecond // long enough that both sends land in it
		srv := newHookServer(t, statuses(200))
		lim := b.limiter(ratelimit.Options{Points: 1, Duration: window})
		var rec recorder
		s := client.Retry(client.RateLimit(client.New(client.Options{BaseURL: srv.URL}).Get("/"), lim, "k"), client.RetryOptions{
			Delay: time.Millisecond,
			OnRetry: func(e client.RetryEvent) {
				rec.onRetry(e)
				b.advance(e.Delay) // miniredis expiries only move when told
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
		if srv.calls.Load() != 2 {
			t.Fatalf("downstream calls = %d, want 2", srv.calls.Load())
		}
	})
}

func TestRateLimitPanicsOnNil(t *testing.T) {
	ok := client.SenderFunc(func(context.Context) (*client.Response, error) {
		return &client.Response{StatusCode: http.StatusOK}, nil
	})
	lim := ratelimit.New(ratelimit.NewMemoryStore(), ratelimit.Options{})
	for name, f := range map[string]func(){
		"nil sender":  func() { client.RateLimit(nil, lim, "k") },
		"nil limiter": func() { client.RateLimit(ok, nil, "k") },
		"nil key":     func() { client.RateLimitBy(ok, lim, nil) },
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
	resp := &client.Response{StatusCode: http.StatusOK}
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
