package captcha_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/alovago/alova/captcha"
	"github.com/alovago/alova/internal/redisop"
	"github.com/alovago/alova/internal/testredis"
)

// redisBackends gives a client on miniredis and on the real Redis.
func redisBackends() []struct {
	name string
	open func(t *testing.T) *redis.Client
} {
	return []struct {
		name string
		open func(t *testing.T) *redis.Client
	}{
		{"miniredis", func(t *testing.T) *redis.Client { mr, _ := testredis.Mini(t); return fastClient(t, mr.Addr()) }},
		{"redis", func(t *testing.T) *redis.Client { testredis.Real(t); return realClient(t) }},
	}
}

// TestRoundTrips counts the Redis round trips of each call once the scripts
// are loaded, and checks each is one script on one key under the prefix
// (cluster-safe).
func TestRoundTrips(t *testing.T) {
	for _, b := range redisBackends() {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			c := b.open(t)
			prefix := testredis.Prefix(t, c)
			var cnt counter
			c.AddHook(&cnt)
			p := captcha.NewProvider(captcha.NewRedisStore(c, generous(prefix)), captcha.Options{})
			ctx := context.Background()
			var ob outbox
			fail := outbox{fail: errors.New("down")}

			// Warm up: the first run of each script may be EVALSHA + EVAL.
			_, _ = p.Send(ctx, "warm", fail.deliver)
			ch, code := mustSend(t, p, &ob, "warm")
			_ = p.Verify(ctx, "warm", ch, code)
			cnt.take()

			var challenge string
			tests := []struct {
				name string
				call func() error
				want int64
			}{
				{"Send", func() error {
					res, err := p.Send(ctx, "k", ob.deliver)
					challenge = res.Challenge
					return err
				}, 2},
				{"Send refused", func() error {
					_, err := p.Send(ctx, "k", ob.deliver)
					if errors.Is(err, captcha.ErrResendTooSoon) {
						return nil
					}
					return fmt.Errorf("err = %v, want ErrResendTooSoon", err)
				}, 1},
				{"Send failing delivery", func() error {
					_, err := p.Send(ctx, "k2", fail.deliver)
					if errors.Is(err, captcha.ErrDelivery) {
						return nil
					}
					return fmt.Errorf("err = %v, want ErrDelivery", err)
				}, 2},
				{"Verify wrong", func() error {
					if err := p.Verify(ctx, "k", challenge, "nope"); !errors.Is(err, captcha.ErrInvalidCode) {
						return fmt.Errorf("err = %v, want ErrInvalidCode", err)
					}
					return nil
				}, 1},
				{"Verify right", func() error { return p.Verify(ctx, "k", challenge, ob.last(t)) }, 1},
			}
			for _, tc := range tests {
				if err := tc.call(); err != nil {
					t.Fatalf("%s: %v", tc.name, err)
				}
				n, cmds := cnt.take()
				if n != tc.want {
					t.Errorf("%s: %d round trips (%v), want %d", tc.name, n, cmds, tc.want)
				}
				for _, args := range cmds {
					name := strings.ToLower(fmt.Sprint(args[0]))
					key := fmt.Sprint(args[3])
					if name != "evalsha" || fmt.Sprint(args[2]) != "1" || !strings.HasPrefix(key, prefix) {
						t.Errorf("%s: command %v, want EVALSHA on one key under %q", tc.name, args, prefix)
					}
				}
			}
		})
	}
}

func TestNoscriptFallback(t *testing.T) {
	for _, b := range redisBackends() {
		t.Run(b.name, func(t *testing.T) {
			rdb := b.open(t)
			p := captcha.NewProvider(captcha.NewRedisStore(rdb, generous(testredis.Prefix(t, rdb))), captcha.Options{})
			if err := rdb.ScriptFlush(context.Background()).Err(); err != nil {
				t.Fatal(err)
			}
			var ob outbox
			ch, code := mustSend(t, p, &ob, "k")
			wantVerify(t, p, "k", ch, code, nil)
		})
	}
}

func TestDefaultKeyPrefix(t *testing.T) {
	mr, rdb := testredis.Mini(t)
	p := captcha.NewProvider(captcha.NewRedisStore(rdb, captcha.RedisOptions{}), captcha.Options{})
	var ob outbox
	mustSend(t, p, &ob, "user@example.com")
	const key = "alova:captcha:user@example.com"
	if !mr.Exists(key) {
		t.Fatalf("keys = %v, want %s", mr.Keys(), key)
	}
	if ttl := mr.TTL(key); ttl != 15*time.Minute {
		t.Errorf("TTL = %v, want 15m (until the key's budget is full again)", ttl)
	}
	mr.FastForward(15 * time.Minute)
	if mr.Exists(key) {
		t.Errorf("record outlived its expiry")
	}
}

// TestStoreDown: a store that fails never yields a sent or valid code.
func TestStoreDown(t *testing.T) {
	tests := []struct {
		name string
		// setup returns a provider holding a valid code for "k", and breaks
		// the store.
		setup func(t *testing.T) (p *captcha.Provider, challenge, code string, ctx context.Context)
	}{
		{"miniredis closed", func(t *testing.T) (*captcha.Provider, string, string, context.Context) {
			mr, _ := testredis.Mini(t)
			p := captcha.NewProvider(captcha.NewRedisStore(fastClient(t, mr.Addr()), captcha.RedisOptions{}), captcha.Options{ResendInterval: time.Millisecond})
			var ob outbox
			ch, code := mustSend(t, p, &ob, "k")
			mr.Close()
			return p, ch, code, context.Background()
		}},
		{"miniredis error", func(t *testing.T) (*captcha.Provider, string, string, context.Context) {
			mr, _ := testredis.Mini(t)
			p := captcha.NewProvider(captcha.NewRedisStore(fastClient(t, mr.Addr()), captcha.RedisOptions{}), captcha.Options{ResendInterval: time.Millisecond})
			var ob outbox
			ch, code := mustSend(t, p, &ob, "k")
			mr.SetError("LOADING Redis is loading the dataset in memory")
			return p, ch, code, context.Background()
		}},
		{"unreachable", func(t *testing.T) (*captcha.Provider, string, string, context.Context) {
			mr, _ := testredis.Mini(t)
			addr := mr.Addr()
			mr.Close()
			return captcha.NewProvider(captcha.NewRedisStore(fastClient(t, addr), captcha.RedisOptions{}), captcha.Options{}), strings.Repeat("a", 32), "123456", context.Background()
		}},
		{"memory, cancelled", func(t *testing.T) (*captcha.Provider, string, string, context.Context) {
			p := captcha.NewProvider(captcha.NewMemoryStore(), captcha.Options{})
			var ob outbox
			ch, code := mustSend(t, p, &ob, "k")
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			return p, ch, code, ctx
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, ch, code, ctx := tc.setup(t)
			time.Sleep(2 * time.Millisecond) // past the 1 ms resend interval
			if err := p.Verify(ctx, "k", ch, code); !errors.Is(err, captcha.ErrStore) || errors.Is(err, captcha.ErrInvalidCode) {
				t.Errorf("Verify(right code) = %v, want ErrStore", err)
			}
			var ob outbox
			if _, err := p.Send(ctx, "k", ob.deliver); !errors.Is(err, captcha.ErrStore) {
				t.Errorf("Send = %v, want ErrStore", err)
			}
			if ob.count() != 0 {
				t.Errorf("Send delivered %v while the store was down", ob.codes)
			}
		})
	}
}

// TestStoreDiesDuringDelivery: the code was delivered but could not be
// committed; Send reports ErrStore and no challenge, and nothing is stored
// once the store is back.
func TestStoreDiesDuringDelivery(t *testing.T) {
	mr, _ := testredis.Mini(t)
	p := captcha.NewProvider(captcha.NewRedisStore(fastClient(t, mr.Addr()), captcha.RedisOptions{}), captcha.Options{})
	var code string
	_, err := p.Send(context.Background(), "k", func(_ context.Context, c, _ string) error {
		code = c
		mr.Close()
		return nil
	})
	if !errors.Is(err, captcha.ErrStore) {
		t.Fatalf("Send = %v, want ErrStore", err)
	}
	// The challenge was never returned; even one that guessed it fails.
	if err := p.Verify(context.Background(), "k", strings.Repeat("a", 32), code); !errors.Is(err, captcha.ErrStore) {
		t.Fatalf("Verify while down = %v, want ErrStore", err)
	}
	if err := mr.Restart(); err != nil {
		t.Fatal(err)
	}
	fields, _ := mr.HKeys("alova:captcha:" + "k")
	for _, f := range fields {
		if strings.HasPrefix(f, "d:") {
			t.Errorf("a challenge (%s) was stored although the commit failed", f)
		}
	}
}

// TestRollbackFails: delivery failed and the store is gone too; the error
// says both.
func TestRollbackFails(t *testing.T) {
	mr, _ := testredis.Mini(t)
	p := captcha.NewProvider(captcha.NewRedisStore(fastClient(t, mr.Addr()), captcha.RedisOptions{}), captcha.Options{})
	boom := errors.New("gateway down")
	_, err := p.Send(context.Background(), "k", func(context.Context, string, string) error {
		mr.Close()
		return boom
	})
	if !errors.Is(err, captcha.ErrDelivery) || !errors.Is(err, boom) || !errors.Is(err, captcha.ErrStore) {
		t.Fatalf("Send = %v, want ErrDelivery, %v and ErrStore", err, boom)
	}
}

// TestFrozenRedis (issue 9, item 5): with Redis frozen by SIGSTOP and a
// go-redis client on its default options (3 s read timeout, 3 retries),
// Verify returns an error matching ErrStore within the store's Timeout
// (default 200 ms) plus 50 ms, and Send within twice that: its reserve, then
// the release of a reservation whose reply may have been lost.
func TestFrozenRedis(t *testing.T) {
	srv := testredis.Server(t)
	p := captcha.NewProvider(captcha.NewRedisStore(srv.Client(), captcha.RedisOptions{}), captcha.Options{})
	var ob outbox
	ch, code := mustSend(t, p, &ob, "k") // the pool holds a live connection
	srv.Freeze()
	calls := []struct {
		name  string
		call  func(ctx context.Context) error
		limit time.Duration
	}{
		{"Send", func(ctx context.Context) error { _, err := p.Send(ctx, "other", ob.deliver); return err },
			2*redisop.DefaultTimeout + 50*time.Millisecond},
		{"Verify", func(ctx context.Context) error { return p.Verify(ctx, "k", ch, code) },
			redisop.DefaultTimeout + 50*time.Millisecond},
	}
	for _, c := range calls {
		start := time.Now()
		err := c.call(context.Background())
		took := time.Since(start)
		if !errors.Is(err, captcha.ErrStore) || !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("%s on a frozen Redis = %v, want ErrStore wrapping DeadlineExceeded", c.name, err)
		}
		if took > c.limit {
			t.Errorf("%s on a frozen Redis took %v, want at most %v", c.name, took, c.limit)
		}
		t.Logf("%s on a frozen Redis: %v after %v", c.name, err, took)
	}
	if ob.count() != 1 {
		t.Errorf("%d deliveries, want 1: nothing is delivered while the store hangs", ob.count())
	}
}
