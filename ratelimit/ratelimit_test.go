package ratelimit_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/alovago/alova/internal/testredis"
	"github.com/alovago/alova/ratelimit"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// backend is one store to run a test body against, with a way to let time
// pass for it.
type backend struct {
	name string
	// store is the store under test; other is a store on the same backend
	// that must not share its counts (another prefix, or another map).
	store, other ratelimit.Store
	advance      func(d time.Duration)
}

// storeTimeout bounds the test stores' Redis calls: generous, as hundreds of
// concurrent scripts on miniredis under -race on a busy machine queue for a
// while. TestFrozenRedisCostsTheTimeout checks the default bound.
const storeTimeout = 10 * time.Second

// forEachStore runs body against the memory store (in a synctest bubble, so
// time.Sleep passes at once on a fake clock), miniredis (FastForward) and the
// real Redis of REDIS_URL (real time: keep durations short), each in its own
// subtest. body must not call t.Run: the memory case runs in a bubble.
func forEachStore(t *testing.T, body func(t *testing.T, b backend)) {
	t.Helper()
	t.Run("memory", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			body(t, backend{name: "memory", store: ratelimit.NewMemoryStore(), other: ratelimit.NewMemoryStore(), advance: time.Sleep})
		})
	})
	t.Run("miniredis", func(t *testing.T) {
		mr, rdb := testredis.Mini(t)
		p := testredis.Prefix(t, nil)
		body(t, backend{name: "miniredis",
			store:   ratelimit.NewRedisStore(rdb, ratelimit.RedisOptions{KeyPrefix: p, Timeout: storeTimeout}),
			other:   ratelimit.NewRedisStore(rdb, ratelimit.RedisOptions{KeyPrefix: p + "other:", Timeout: storeTimeout}),
			advance: mr.FastForward})
	})
	t.Run("redis", func(t *testing.T) {
		rdb := testredis.Real(t)
		p := testredis.Prefix(t, rdb)
		body(t, backend{name: "redis",
			store:   ratelimit.NewRedisStore(rdb, ratelimit.RedisOptions{KeyPrefix: p, Timeout: storeTimeout}),
			other:   ratelimit.NewRedisStore(rdb, ratelimit.RedisOptions{KeyPrefix: p + "other:", Timeout: storeTimeout}),
			advance: time.Sleep})
	})
}

func (b backend) limiter(opts ratelimit.Options) *ratelimit.Limiter {
	return ratelimit.New(b.store, opts)
}

// must returns a function that fails the test on an error and returns the
// Result: must(t, "Allow")(l.Allow(ctx, key)).
func must(t *testing.T, what string) func(ratelimit.Result, error) ratelimit.Result {
	t.Helper()
	return func(r ratelimit.Result, err error) ratelimit.Result {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: unexpected error %v", what, err)
		}
		return r
	}
}

func TestDefaultsAllowFourPerFourSeconds(t *testing.T) {
	forEachStore(t, func(t *testing.T, b backend) {
		l := b.limiter(ratelimit.Options{})
		ctx := context.Background()
		if l.Limit() != 4 {
			t.Fatalf("Limit() = %d, want 4", l.Limit())
		}
		for i := 1; i <= 4; i++ {
			r := must(t, "Allow")(l.Allow(ctx, "u"))
			if !r.Allowed || r.Remaining != 4-i || r.Consumed != i || r.Limit != 4 {
				t.Fatalf("Allow #%d = %+v, want allowed with %d remaining", i, r, 4-i)
			}
			if r.ResetAfter <= 3*time.Second || r.ResetAfter > 4*time.Second {
				t.Fatalf("Allow #%d ResetAfter = %s, want in (3s, 4s]", i, r.ResetAfter)
			}
			if (r.RetryAfter == 0) != (r.Remaining > 0) {
				t.Fatalf("Allow #%d RetryAfter = %s with %d remaining", i, r.RetryAfter, r.Remaining)
			}
		}
		r := must(t, "Allow")(l.Allow(ctx, "u"))
		if r.Allowed || r.Remaining != 0 || r.RetryAfter <= 3*time.Second || r.RetryAfter > 4*time.Second {
			t.Fatalf("5th Allow = %+v, want refused with RetryAfter in (3s, 4s]", r)
		}
		// Another key has its own window.
		if r := must(t, "Allow other")(l.Allow(ctx, "v")); !r.Allowed || r.Remaining != 3 {
			t.Fatalf("Allow(other key) = %+v, want allowed with 3 remaining", r)
		}
	})
}

func TestWindowResets(t *testing.T) {
	forEachStore(t, func(t *testing.T, b backend) {
		const window = time.Second // long enough on real Redis on a busy machine
		l := b.limiter(ratelimit.Options{Points: 2, Duration: window})
		ctx := context.Background()
		for range 2 {
			must(t, "Allow")(l.Allow(ctx, "k"))
		}
		if r := must(t, "Allow")(l.Allow(ctx, "k")); r.Allowed {
			t.Fatalf("3rd Allow = %+v, want refused", r)
		}
		b.advance(window + 50*time.Millisecond)
		r := must(t, "Allow")(l.Allow(ctx, "k"))
		if !r.Allowed || r.Consumed != 1 || r.Remaining != 1 {
			t.Fatalf("Allow after the window = %+v, want a fresh window with 1 consumed", r)
		}
	})
}

func TestConsumeSeveralPoints(t *testing.T) {
	forEachStore(t, func(t *testing.T, b backend) {
		l := b.limiter(ratelimit.Options{Points: 10, Duration: time.Minute})
		ctx := context.Background()
		if r := must(t, "Consume 7")(l.Consume(ctx, "k", 7)); !r.Allowed || r.Remaining != 3 {
			t.Fatalf("Consume(7) = %+v, want allowed with 3 remaining", r)
		}
		// 4 more do not fit; the refused points still count (alova's behaviour).
		if r := must(t, "Consume 4")(l.Consume(ctx, "k", 4)); r.Allowed || r.Consumed != 11 || r.Remaining != 0 {
			t.Fatalf("Consume(4) = %+v, want refused with 11 consumed", r)
		}
		if r := must(t, "Allow")(l.Allow(ctx, "k")); r.Allowed {
			t.Fatalf("Allow after an over-limit Consume = %+v, want refused", r)
		}
	})
}

// TestConcurrentAllowGrantsExactlyTheLimit is the atomicity proof: 200
// goroutines race for 50 points and exactly 50 win.
func TestConcurrentAllowGrantsExactlyTheLimit(t *testing.T) {
	forEachStore(t, func(t *testing.T, b backend) {
		const workers, limit = 200, 50
		l := b.limiter(ratelimit.Options{Points: limit, Duration: time.Minute})
		var allowed, refused atomic.Int32
		var wg sync.WaitGroup
		start := make(chan struct{})
		for range workers {
			wg.Go(func() {
				<-start
				r, err := l.Allow(context.Background(), "hot")
				if err != nil {
					t.Errorf("Allow: %v", err)
					return
				}
				if r.Allowed {
					allowed.Add(1)
				} else {
					refused.Add(1)
				}
			})
		}
		close(start)
		wg.Wait()
		if allowed.Load() != limit || refused.Load() != workers-limit {
			t.Fatalf("allowed %d, refused %d; want %d and %d", allowed.Load(), refused.Load(), limit, workers-limit)
		}
		if r := must(t, "Get")(l.Get(context.Background(), "hot")); r.Consumed != workers {
			t.Fatalf("Get after the race: Consumed = %d, want %d", r.Consumed, workers)
		}
	})
}

func TestBlockDurationLocksOutAfterTheLimit(t *testing.T) {
	forEachStore(t, func(t *testing.T, b backend) {
		const window, block = 400 * time.Millisecond, 1600 * time.Millisecond
		l := b.limiter(ratelimit.Options{Points: 2, Duration: window, BlockDuration: block})
		ctx := context.Background()
		for range 2 {
			if r := must(t, "Allow")(l.Allow(ctx, "login")); !r.Allowed {
				t.Fatalf("Allow within the limit = %+v, want allowed", r)
			}
		}
		r := must(t, "Allow")(l.Allow(ctx, "login"))
		if r.Allowed || r.RetryAfter <= window || r.RetryAfter > block {
			t.Fatalf("crossing Allow = %+v, want refused with RetryAfter in (%s, %s]", r, window, block)
		}
		b.advance(2 * window) // the window would have ended; the block has not
		r = must(t, "Allow")(l.Allow(ctx, "login"))
		if r.Allowed {
			t.Fatalf("Allow during the block = %+v, want refused", r)
		}
		if r.RetryAfter > block-2*window {
			t.Fatalf("a refused call during the block moved its end: RetryAfter = %s, want <= %s", r.RetryAfter, block-2*window)
		}
		b.advance(block)
		if r := must(t, "Allow")(l.Allow(ctx, "login")); !r.Allowed || r.Consumed != 1 {
			t.Fatalf("Allow after the block = %+v, want allowed in a fresh window", r)
		}
	})
}

func TestPenaltyAndReward(t *testing.T) {
	forEachStore(t, func(t *testing.T, b backend) {
		l := b.limiter(ratelimit.Options{Points: 4, Duration: time.Minute, BlockDuration: time.Hour})
		ctx := context.Background()
		steps := []struct {
			name          string
			do            func() (ratelimit.Result, error)
			wantConsumed  int
			wantRemaining int
			wantAllowed   bool
		}{
			{"Penalty(3)", func() (ratelimit.Result, error) { return l.Penalty(ctx, "k", 3) }, 3, 1, true},
			{"Reward(2)", func() (ratelimit.Result, error) { return l.Reward(ctx, "k", 2) }, 1, 3, true},
			{"Reward(10) floors at zero", func() (ratelimit.Result, error) { return l.Reward(ctx, "k", 10) }, 0, 4, true},
			{"Penalty(6) goes over", func() (ratelimit.Result, error) { return l.Penalty(ctx, "k", 6) }, 6, 0, false},
			{"Reward(3) brings it back", func() (ratelimit.Result, error) { return l.Reward(ctx, "k", 3) }, 3, 1, true},
			{"Allow", func() (ratelimit.Result, error) { return l.Allow(ctx, "k") }, 4, 0, true},
		}
		for _, s := range steps {
			r := must(t, s.name)(s.do())
			if r.Consumed != s.wantConsumed || r.Remaining != s.wantRemaining || r.Allowed != s.wantAllowed {
				t.Fatalf("%s = %+v, want consumed %d, remaining %d, allowed %v", s.name, r, s.wantConsumed, s.wantRemaining, s.wantAllowed)
			}
			// A penalty never starts the hour-long block: the window stays a minute.
			if r.ResetAfter > time.Minute {
				t.Fatalf("%s ResetAfter = %s, want within the 1m window", s.name, r.ResetAfter)
			}
		}
	})
}

func TestBlockGetDelete(t *testing.T) {
	forEachStore(t, func(t *testing.T, b backend) {
		l := b.limiter(ratelimit.Options{Points: 3, Duration: 50 * time.Millisecond})
		ctx := context.Background()
		if r := must(t, "Get absent")(l.Get(ctx, "k")); !r.Allowed || r.Consumed != 0 || r.Remaining != 3 || r.ResetAfter != 0 {
			t.Fatalf("Get(absent) = %+v, want nothing consumed", r)
		}
		r := must(t, "Block")(l.Block(ctx, "k", time.Second))
		if r.Allowed || r.Consumed != 4 || r.RetryAfter != time.Second {
			t.Fatalf("Block = %+v, want refused for 1s", r)
		}
		if r := must(t, "Allow")(l.Allow(ctx, "k")); r.Allowed || r.RetryAfter <= 500*time.Millisecond {
			t.Fatalf("Allow on a blocked key = %+v, want refused for ~1s (longer than the 50ms window)", r)
		}
		if r := must(t, "Get")(l.Get(ctx, "k")); r.Allowed || r.Consumed != 5 || r.RetryAfter <= 500*time.Millisecond {
			t.Fatalf("Get on a blocked key = %+v, want 5 consumed and refused", r)
		}
		if err := l.Delete(ctx, "k"); err != nil {
			t.Fatalf("Delete: %v", err)
		}
		if r := must(t, "Allow")(l.Allow(ctx, "k")); !r.Allowed || r.Consumed != 1 {
			t.Fatalf("Allow after Delete = %+v, want allowed in a fresh window", r)
		}
		if err := l.Delete(ctx, "never-seen"); err != nil {
			t.Fatalf("Delete(absent) = %v, want nil", err)
		}
		b.advance(100 * time.Millisecond)
		if r := must(t, "Get expired")(l.Get(ctx, "k")); r.Consumed != 0 || r.ResetAfter != 0 {
			t.Fatalf("Get after the window = %+v, want nothing consumed", r)
		}
	})
}

// TestLimitersShareAStore: two limiters (two processes) on one store share
// the counts; a store under another prefix does not.
func TestLimitersShareAStore(t *testing.T) {
	forEachStore(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		a := b.limiter(ratelimit.Options{Points: 2, Duration: time.Minute})
		c := b.limiter(ratelimit.Options{Points: 2, Duration: time.Minute})
		other := ratelimit.New(b.other, ratelimit.Options{Points: 2, Duration: time.Minute})
		must(t, "a.Allow")(a.Allow(ctx, "k"))
		must(t, "c.Allow")(c.Allow(ctx, "k"))
		if r := must(t, "a.Allow")(a.Allow(ctx, "k")); r.Allowed {
			t.Fatalf("third Allow across two limiters = %+v, want refused", r)
		}
		if r := must(t, "other.Allow")(other.Allow(ctx, "k")); !r.Allowed || r.Consumed != 1 {
			t.Fatalf("Allow under another prefix = %+v, want its own window", r)
		}
	})
}

func TestKeysAreHashTagged(t *testing.T) {
	mr, rdb := testredis.Mini(t)
	ctx := context.Background()
	l := ratelimit.New(ratelimit.NewRedisStore(rdb, ratelimit.RedisOptions{}), ratelimit.Options{})
	must(t, "Allow")(l.Allow(ctx, "user:42"))
	if keys := mr.Keys(); len(keys) != 1 || keys[0] != "alova:ratelimit:{user:42}" {
		t.Fatalf("keys = %q, want [alova:ratelimit:{user:42}] (the default prefix)", keys)
	}
	if got := mr.TTL("alova:ratelimit:{user:42}"); got != 4*time.Second {
		t.Fatalf("TTL = %s, want the default 4s window", got)
	}
	mr.FlushAll()
	l = ratelimit.New(ratelimit.NewRedisStore(rdb, ratelimit.RedisOptions{KeyPrefix: "login:"}), ratelimit.Options{})
	must(t, "Allow")(l.Allow(ctx, "alice"))
	if keys := mr.Keys(); len(keys) != 1 || keys[0] != "login:{alice}" {
		t.Fatalf("keys = %q, want [login:{alice}]", keys)
	}
}

func TestRedisStoreErrorsAreReturned(t *testing.T) {
	mr, rdb := testredis.Mini(t)
	l := ratelimit.New(ratelimit.NewRedisStore(rdb, ratelimit.RedisOptions{}), ratelimit.Options{})
	mr.SetError("LOADING Redis is loading the dataset in memory")
	ctx := context.Background()
	calls := map[string]func() error{
		"Allow":  func() error { _, err := l.Allow(ctx, "k"); return err },
		"Get":    func() error { _, err := l.Get(ctx, "k"); return err },
		"Block":  func() error { _, err := l.Block(ctx, "k", time.Second); return err },
		"Delete": func() error { return l.Delete(ctx, "k") },
	}
	for name, call := range calls {
		err := call()
		if err == nil || errors.Is(err, ratelimit.ErrLimited) || !strings.Contains(err.Error(), "LOADING") {
			t.Errorf("%s with Redis failing = %v, want the store error", name, err)
		}
	}
}

func TestInvalidArguments(t *testing.T) {
	l := ratelimit.New(ratelimit.NewMemoryStore(), ratelimit.Options{})
	ctx := context.Background()
	calls := map[string]func() error{
		"Consume(0)":  func() error { _, err := l.Consume(ctx, "k", 0); return err },
		"Penalty(-1)": func() error { _, err := l.Penalty(ctx, "k", -1); return err },
		"Reward(-1)":  func() error { _, err := l.Reward(ctx, "k", -1); return err },
		"Block(0)":    func() error { _, err := l.Block(ctx, "k", 0); return err },
	}
	for name, call := range calls {
		if err := call(); err == nil {
			t.Errorf("%s = nil error, want one", name)
		}
	}
	panics := []struct {
		name string
		f    func()
	}{
		{"nil store", func() { ratelimit.New(nil, ratelimit.Options{}) }},
		{"negative points", func() { ratelimit.New(ratelimit.NewMemoryStore(), ratelimit.Options{Points: -1}) }},
		{"negative duration", func() { ratelimit.New(ratelimit.NewMemoryStore(), ratelimit.Options{Duration: -1}) }},
		{"negative block", func() { ratelimit.New(ratelimit.NewMemoryStore(), ratelimit.Options{BlockDuration: -1}) }},
		{"nil redis", func() { ratelimit.NewRedisStore(nil, ratelimit.RedisOptions{}) }},
		{"negative redis timeout", func() {
			_, rdb := testredis.Mini(t)
			ratelimit.NewRedisStore(rdb, ratelimit.RedisOptions{Timeout: -1})
		}},
	}
	for _, tc := range panics {
		t.Run(tc.name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Errorf("%s did not panic", tc.name)
				}
			}()
			tc.f()
		})
	}
}

func TestLimitedErrorWraps(t *testing.T) {
	l := ratelimit.New(ratelimit.NewMemoryStore(), ratelimit.Options{Points: 1, Duration: time.Minute})
	ctx := context.Background()
	if r, _ := l.Allow(ctx, "k"); r.Err() != nil {
		t.Fatalf("allowed Result.Err() = %v, want nil", r.Err())
	}
	r, _ := l.Allow(ctx, "k")
	err := fmt.Errorf("handler: %w", fmt.Errorf("login: %w", r.Err()))
	if !errors.Is(err, ratelimit.ErrLimited) {
		t.Fatalf("errors.Is(%v, ErrLimited) = false", err)
	}
	var le *ratelimit.LimitedError
	if !errors.As(err, &le) || le.Limit != 1 || le.RetryAfter != r.RetryAfter || le.RetryAfter <= 0 {
		t.Fatalf("errors.As = %+v, want Limit 1 and RetryAfter %s", le, r.RetryAfter)
	}
	want := fmt.Sprintf("ratelimit: limit of 1 exceeded, retry after %s", r.RetryAfter)
	if le.Error() != want {
		t.Fatalf("Error() = %q, want %q", le.Error(), want)
	}
}

// TestMemoryStoreSweepsExpiredKeys: keys whose window ended are dropped by
// later calls, without a goroutine.
func TestMemoryStoreSweepsExpiredKeys(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := ratelimit.NewMemoryStore()
		l := ratelimit.New(s, ratelimit.Options{Duration: time.Second})
		ctx := context.Background()
		for i := range 1000 {
			must(t, "Allow")(l.Allow(ctx, fmt.Sprint("ip-", i)))
		}
		if ratelimit.StoreLen(s) != 1000 {
			t.Fatalf("Len() = %d, want 1000", ratelimit.StoreLen(s))
		}
		time.Sleep(2 * time.Second)
		for range 1000 {
			must(t, "Allow")(l.Allow(ctx, "live"))
		}
		if ratelimit.StoreLen(s) != 1 {
			t.Fatalf("Len() after the windows ended = %d, want 1 (the live key)", ratelimit.StoreLen(s))
		}
	})
}

// TestFirstInWindow: the call that opens a key's window says so (alova's
// isFirstInDuration); the others in the window, Get and Block do not.
func TestFirstInWindow(t *testing.T) {
	forEachStore(t, func(t *testing.T, b backend) {
		const window = time.Second // long enough on real Redis on a busy machine
		l := b.limiter(ratelimit.Options{Points: 2, Duration: window})
		ctx := context.Background()
		steps := []struct {
			name string
			do   func() (ratelimit.Result, error)
			want bool
		}{
			{"Get before any call", func() (ratelimit.Result, error) { return l.Get(ctx, "k") }, false},
			{"first Allow", func() (ratelimit.Result, error) { return l.Allow(ctx, "k") }, true},
			{"second Allow", func() (ratelimit.Result, error) { return l.Allow(ctx, "k") }, false},
			{"refused Allow", func() (ratelimit.Result, error) { return l.Allow(ctx, "k") }, false},
			{"Reward to zero", func() (ratelimit.Result, error) { return l.Reward(ctx, "k", 5) }, false},
			{"Allow after the reward, same window", func() (ratelimit.Result, error) { return l.Allow(ctx, "k") }, false},
			{"Get", func() (ratelimit.Result, error) { return l.Get(ctx, "k") }, false},
			{"Penalty on another key", func() (ratelimit.Result, error) { return l.Penalty(ctx, "p", 1) }, true},
			{"Block", func() (ratelimit.Result, error) { return l.Block(ctx, "b", time.Second) }, false},
			{"Allow on a blocked key", func() (ratelimit.Result, error) { return l.Allow(ctx, "b") }, false},
		}
		for _, s := range steps {
			if r := must(t, s.name)(s.do()); r.FirstInWindow != s.want {
				t.Fatalf("%s: FirstInWindow = %v, want %v (result %+v)", s.name, r.FirstInWindow, s.want, r)
			}
		}
		b.advance(window + 50*time.Millisecond)
		if r := must(t, "Allow in the next window")(l.Allow(ctx, "k")); !r.FirstInWindow || r.Consumed != 1 {
			t.Fatalf("Allow after the window = %+v, want FirstInWindow with 1 consumed", r)
		}
	})
}

// TestFrozenRedisCostsTheTimeout: with Redis stopped (SIGSTOP) and a
// go-redis client on its default options (3 s read timeout, 3 retries), the
// limiter's calls return their store error within the store's Timeout plus
// 50 ms. The median of 3 tries of each call is held to that, so that one
// unlucky pause of a loaded machine cannot fail the test; every try must
// still end within Timeout + 1 s, far below what the client alone would
// take (several 3 s read timeouts).
func TestFrozenRedisCostsTheTimeout(t *testing.T) {
	srv := testredis.Server(t)
	rdb := srv.Client()
	cases := []struct {
		name    string
		opts    ratelimit.RedisOptions
		timeout time.Duration
	}{
		{"default timeout", ratelimit.RedisOptions{}, 200 * time.Millisecond},
		{"Timeout 100ms", ratelimit.RedisOptions{Timeout: 100 * time.Millisecond}, 100 * time.Millisecond},
	}
	ctx := context.Background()
	for _, tc := range cases {
		l := ratelimit.New(ratelimit.NewRedisStore(rdb, tc.opts), ratelimit.Options{})
		must(t, "Allow before the freeze")(l.Allow(ctx, "k")) // a live connection, and the script loaded
	}
	srv.Freeze()
	for _, tc := range cases {
		l := ratelimit.New(ratelimit.NewRedisStore(rdb, tc.opts), ratelimit.Options{})
		calls := []struct {
			name string
			call func() error
		}{
			{"Allow", func() error { _, err := l.Allow(ctx, "k"); return err }},
			{"Get", func() error { _, err := l.Get(ctx, "k"); return err }},
			{"Block", func() error { _, err := l.Block(ctx, "k", time.Second); return err }},
			{"Delete", func() error { return l.Delete(ctx, "k") }},
		}
		for _, c := range calls {
			var took []time.Duration
			for range 3 {
				start := time.Now()
				err := c.call()
				took = append(took, time.Since(start))
				if !errors.Is(err, context.DeadlineExceeded) {
					t.Errorf("%s: %s on a frozen Redis = %v, want an error wrapping context.DeadlineExceeded", tc.name, c.name, err)
				}
			}
			slices.Sort(took)
			t.Logf("%s: %s on a frozen Redis took %v", tc.name, c.name, took)
			if took[1] > tc.timeout+50*time.Millisecond || took[2] > tc.timeout+time.Second {
				t.Errorf("%s: %s on a frozen Redis took %v, want a median within %s and none over %s",
					tc.name, c.name, took, tc.timeout+50*time.Millisecond, tc.timeout+time.Second)
			}
		}
	}
}
