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
	"time"

	"github.com/alovago/alova/client"
	"github.com/alovago/alova/internal/testredis"
	"github.com/alovago/alova/lock"
	"github.com/alovago/alova/ratelimit"
)

// overlapServer answers 200 after holding each request for hold, and records
// the most requests it ever had in hand at once.
type overlapServer struct {
	*hookServer
	inside, most atomic.Int32
}

func newOverlapServer(t testing.TB, hold time.Duration) *overlapServer {
	t.Helper()
	o := &overlapServer{}
	o.hookServer = newHookServer(t, func(_ int, w http.ResponseWriter, _ *http.Request) {
		n := o.inside.Add(1)
		for m := o.most.Load(); n > m && !o.most.CompareAndSwap(m, n); m = o.most.Load() {
		}
		time.Sleep(hold)
		o.inside.Add(-1)
		w.WriteHeader(http.StatusOK)
	})
	return o
}

// sendAll sends s from n goroutines at once and fails the test on an error.
func sendAll(t *testing.T, n int, s client.Sender) {
	t.Helper()
	var wg sync.WaitGroup
	start := make(chan struct{})
	for range n {
		wg.Go(func() {
			<-start
			if _, err := s.Send(hookCtx(t)); err != nil {
				t.Errorf("Send: %v", err)
			}
		})
	}
	close(start)
	wg.Wait()
}

// free reports whether channel is free in l, taking and giving it back.
func free(t *testing.T, l lock.Store, channel string) bool {
	t.Helper()
	ctx := context.Background()
	ok, err := l.TryLock(ctx, channel, "probe", time.Second)
	if err != nil {
		t.Fatalf("TryLock(%q): %v", channel, err)
	}
	if ok {
		_, _ = l.Unlock(ctx, channel, "probe")
	}
	return ok
}

// quick polls often enough for fast tests, and waits long enough that
// concurrent senders polling a slow miniredis (under -race, on a busy
// machine) never time out: the tests assert exclusion, not speed.
var quick = lock.Options{Interval: 5 * time.Millisecond, Timeout: 20 * time.Second}

func TestAtomizeMutualExclusion(t *testing.T) {
	t.Run("without Atomize", func(t *testing.T) {
		srv := newOverlapServer(t, 5*time.Millisecond)
		sendAll(t, 10, client.New(client.Options{BaseURL: srv.URL}).Post("/stock", "{}"))
		if srv.most.Load() < 2 {
			t.Fatalf("10 concurrent POSTs never overlapped (at most %d inside): the test proves nothing", srv.most.Load())
		}
	})
	forEachHookBackend(t, func(t *testing.T, b hookBackend) {
		srv := newOverlapServer(t, 3*time.Millisecond)
		m := client.New(client.Options{BaseURL: srv.URL}).Post("/stock", "{}")
		sendAll(t, 10, client.Atomize(m, b.locks, quick))
		if srv.most.Load() != 1 || srv.calls.Load() != 10 {
			t.Fatalf("with Atomize: at most %d inside over %d calls, want 1 over 10", srv.most.Load(), srv.calls.Load())
		}
		if !free(t, b.locks, "default") {
			t.Fatal(`"default" is still held after every send`)
		}
	})
}

func TestAtomizeTimeout(t *testing.T) {
	forEachHookBackend(t, func(t *testing.T, b hookBackend) {
		b.run(t, func(t *testing.T) {
			holder, err := lock.Acquire(context.Background(), b.locks, []string{"default"}, lock.Options{NoRenew: true})
			if err != nil {
				t.Fatalf("Acquire: %v", err)
			}
			defer holder.Release(context.Background())
			var calls atomic.Int32
			s := client.Atomize(client.SenderFunc(func(context.Context) (*client.Response, error) {
				calls.Add(1)
				return client.NewResponse(200, nil, nil), nil
			}), b.locks, lock.Options{Timeout: 30 * time.Millisecond, Interval: 5 * time.Millisecond})
			start := time.Now()
			_, err = s.Send(hookCtx(t))
			if !errors.Is(err, lock.ErrTimeout) || !strings.Contains(err.Error(), "failed to acquire lock within 30ms") {
				t.Fatalf("Send on a held channel = %v, want ErrTimeout within 30ms", err)
			}
			if d := time.Since(start); d < 30*time.Millisecond || d > time.Second {
				t.Fatalf("gave up after %s, want about 30ms", d)
			}
			if calls.Load() != 0 {
				t.Fatalf("downstream calls = %d, want 0", calls.Load())
			}
		})
	})
}

// TestAtomizeReleasesOnEveryPath: success, a 500, a panic, a ctx cancelled
// mid-send: the channel is free afterwards each time.
func TestAtomizeReleasesOnEveryPath(t *testing.T) {
	forEachHookBackend(t, func(t *testing.T, b hookBackend) {
		var cancel context.CancelFunc // of the send under test
		cases := []struct {
			name string
			send func(ctx context.Context) (*client.Response, error)
		}{
			{"success", func(context.Context) (*client.Response, error) { return client.NewResponse(200, nil, nil), nil }},
			{"http error", func(context.Context) (*client.Response, error) { return nil, &client.HTTPError{StatusCode: 500} }},
			{"panic", func(context.Context) (*client.Response, error) { panic("downstream exploded") }},
			{"ctx cancelled", func(ctx context.Context) (*client.Response, error) { cancel(); <-ctx.Done(); return nil, ctx.Err() }},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				channel := "path-" + strings.ReplaceAll(tc.name, " ", "-")
				var heldInside bool
				s := client.Atomize(client.SenderFunc(func(ctx context.Context) (*client.Response, error) {
					heldInside = !free(t, b.locks, channel)
					return tc.send(ctx)
				}), b.locks, lock.Options{}, channel)
				var ctx context.Context
				ctx, cancel = context.WithCancel(context.Background())
				defer cancel()
				func() {
					defer func() { _ = recover() }()
					_, _ = s.Send(ctx)
				}()
				if !heldInside {
					t.Fatalf("%s: the channel was free during the send", tc.name)
				}
				if !free(t, b.locks, channel) {
					t.Fatalf("%s: the channel is still held after Send returned", tc.name)
				}
			})
		}
	})
}

// TestAtomizeChannels: sends on different channels run together; sends
// sharing one channel (among several) never do.
func TestAtomizeChannels(t *testing.T) {
	forEachHookBackend(t, func(t *testing.T, b hookBackend) {
		t.Run("different channels overlap", func(t *testing.T) {
			both := make(chan struct{})
			var entered sync.WaitGroup
			entered.Add(2)
			go func() { entered.Wait(); close(both) }()
			inner := client.SenderFunc(func(ctx context.Context) (*client.Response, error) {
				entered.Done()
				select { // each holds its lock until the other is inside too
				case <-both:
					return client.NewResponse(200, nil, nil), nil
				case <-time.After(10 * time.Second):
					return nil, errors.New("the other channel's send never came in")
				}
			})
			a := client.Atomize(inner, b.locks, lock.Options{Timeout: quick.Timeout}, "a")
			c := client.Atomize(inner, b.locks, lock.Options{Timeout: quick.Timeout}, "c")
			errs := make(chan error, 2)
			for _, s := range []client.Sender{a, c} {
				go func() { _, err := s.Send(hookCtx(t)); errs <- err }()
			}
			for range 2 {
				if err := <-errs; err != nil {
					t.Fatalf("Send: %v", err)
				}
			}
		})
		t.Run("a shared channel excludes", func(t *testing.T) {
			srv := newOverlapServer(t, 3*time.Millisecond)
			m := client.New(client.Options{BaseURL: srv.URL}).Post("/", "{}")
			ab := client.Atomize(m, b.locks, quick, "b", "a")
			bc := client.Atomize(m, b.locks, quick, "b", "c")
			var wg sync.WaitGroup
			wg.Go(func() { sendAll(t, 5, ab) })
			wg.Go(func() { sendAll(t, 5, bc) })
			wg.Wait()
			if srv.most.Load() != 1 || srv.calls.Load() != 10 {
				t.Fatalf("at most %d inside over %d calls, want 1 over 10", srv.most.Load(), srv.calls.Load())
			}
		})
	})
}

// TestAtomizeCrashedHolder: a lock left by a crashed process is taken once
// its TTL has run out, within the wait.
func TestAtomizeCrashedHolder(t *testing.T) {
	forEachHookBackend(t, func(t *testing.T, b hookBackend) {
		b.run(t, func(t *testing.T) {
			if ok, err := b.locks.TryLock(context.Background(), "default", "crashed", 60*time.Millisecond); !ok || err != nil {
				t.Fatalf("TryLock = %v, %v", ok, err)
			}
			var calls atomic.Int32
			s := client.Atomize(client.SenderFunc(func(context.Context) (*client.Response, error) {
				calls.Add(1)
				return client.NewResponse(200, nil, nil), nil
			}), b.locks, lock.Options{Timeout: 2 * time.Second, Interval: 10 * time.Millisecond})
			done := make(chan error, 1)
			go func() { _, err := s.Send(hookCtx(t)); done <- err }()
			for { // miniredis only expires keys when told: tell it, in steps
				select {
				case err := <-done:
					if err != nil {
						t.Fatalf("Send = %v, want success once the crashed lock expired", err)
					}
					if calls.Load() != 1 {
						t.Fatalf("downstream calls = %d, want 1", calls.Load())
					}
					return
				case <-time.After(10 * time.Millisecond):
					b.pass(10 * time.Millisecond)
				}
			}
		})
	})
}

func TestAtomizeDefaultChannelKey(t *testing.T) {
	mr, rdb := testredis.Mini(t)
	var during []string
	s := client.Atomize(client.SenderFunc(func(context.Context) (*client.Response, error) {
		during = mr.Keys()
		return client.NewResponse(200, nil, nil), nil
	}), lock.NewRedisStore(rdb, lock.RedisOptions{}), lock.Options{})
	if _, err := s.Send(hookCtx(t)); err != nil {
		t.Fatalf("Send: %v", err)
	}
	if fmt.Sprint(during) != "[alova:lock:default]" || len(mr.Keys()) != 0 {
		t.Fatalf("keys during the send %v, after %v; want [alova:lock:default], then none", during, mr.Keys())
	}
}

func TestAtomizePanicsOnBadOptions(t *testing.T) {
	ok := client.SenderFunc(func(context.Context) (*client.Response, error) { return nil, nil })
	for name, f := range map[string]func(){
		"nil sender":        func() { client.Atomize(nil, lock.NewMemoryStore(), lock.Options{}) },
		"nil store":         func() { client.Atomize(ok, nil, lock.Options{}) },
		"negative timeout":  func() { client.Atomize(ok, lock.NewMemoryStore(), lock.Options{Timeout: -1}) },
		"negative interval": func() { client.Atomize(ok, lock.NewMemoryStore(), lock.Options{Interval: -1}) },
		"negative ttl":      func() { client.Atomize(ok, lock.NewMemoryStore(), lock.Options{TTL: -1}) },
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

// TestHooksCompose runs the three hooks around a real method, in several
// orders, against a downstream that fails twice then answers: the order
// decides what a retry costs in rate-limit points.
func TestHooksCompose(t *testing.T) {
	type wrap func(m client.Sender, lim *ratelimit.Limiter, l lock.Store) client.Sender
	retry := func(s client.Sender) client.Sender {
		return client.Retry(s, client.RetryOptions{Delay: time.Millisecond})
	}
	rl := func(s client.Sender, lim *ratelimit.Limiter) client.Sender { return client.RateLimit(s, lim, "k") }
	at := func(s client.Sender, l lock.Store) client.Sender { return client.Atomize(s, l, quick) }
	cases := []struct {
		name         string
		wrap         wrap
		wantConsumed int // points spent by one send that needs 3 attempts
	}{
		{"Retry(RateLimit(Atomize(m)))", func(m client.Sender, lim *ratelimit.Limiter, l lock.Store) client.Sender {
			return retry(rl(at(m, l), lim))
		}, 3},
		{"Retry(Atomize(RateLimit(m)))", func(m client.Sender, lim *ratelimit.Limiter, l lock.Store) client.Sender {
			return retry(at(rl(m, lim), l))
		}, 3},
		{"RateLimit(Retry(Atomize(m)))", func(m client.Sender, lim *ratelimit.Limiter, l lock.Store) client.Sender {
			return rl(retry(at(m, l)), lim)
		}, 1},
		{"Atomize(Retry(RateLimit(m)))", func(m client.Sender, lim *ratelimit.Limiter, l lock.Store) client.Sender {
			return at(retry(rl(m, lim)), l)
		}, 3},
		{"Atomize(RateLimit(Retry(m)))", func(m client.Sender, lim *ratelimit.Limiter, l lock.Store) client.Sender {
			return at(rl(retry(m), lim), l)
		}, 1},
	}
	forEachHookBackend(t, func(t *testing.T, b hookBackend) {
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				srv := newHookServer(t, statuses(503, 500, 200))
				lim := b.limiter(ratelimit.Options{Points: 10, Duration: time.Minute})
				m := client.New(client.Options{BaseURL: srv.URL}).Post("/pay", `{"amount":1}`)
				resp, err := tc.wrap(m, lim, b.locks).Send(hookCtx(t))
				if err != nil || resp.StatusCode() != 200 {
					t.Fatalf("Send = %v, %v; want 200 on the third attempt", resp, err)
				}
				if srv.calls.Load() != 3 {
					t.Fatalf("downstream calls = %d, want 3", srv.calls.Load())
				}
				if r, err := lim.Get(context.Background(), "k"); err != nil || r.Consumed != tc.wantConsumed {
					t.Fatalf("points consumed = %d (%v), want %d", r.Consumed, err, tc.wantConsumed)
				}
				if !free(t, b.locks, "default") {
					t.Fatal(`"default" is still held after the send`)
				}
			})
		}
		t.Run("concurrent Retry(RateLimit(Atomize(m)))", func(t *testing.T) {
			srv := newOverlapServer(t, 2*time.Millisecond)
			lim := b.limiter(ratelimit.Options{Points: 100, Duration: time.Minute})
			m := client.New(client.Options{BaseURL: srv.URL}).Post("/pay", "{}")
			sendAll(t, 8, client.Retry(client.RateLimit(client.Atomize(m, b.locks, quick), lim, "k"), client.RetryOptions{Delay: time.Millisecond}))
			if srv.most.Load() != 1 || srv.calls.Load() != 8 {
				t.Fatalf("at most %d inside over %d calls, want 1 over 8", srv.most.Load(), srv.calls.Load())
			}
		})
	})
}

// BenchmarkAtomizeMemory is Atomize around a send that succeeds at once, on
// the memory locker, with renewal on (the default) and off.
func BenchmarkAtomizeMemory(b *testing.B) {
	resp := client.NewResponse(http.StatusOK, nil, nil)
	inner := client.SenderFunc(func(context.Context) (*client.Response, error) { return resp, nil })
	for _, noRenew := range []bool{false, true} {
		b.Run(fmt.Sprintf("norenew=%v", noRenew), func(b *testing.B) {
			s := client.Atomize(inner, lock.NewMemoryStore(), lock.Options{NoRenew: noRenew})
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				if _, err := s.Send(ctx); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
