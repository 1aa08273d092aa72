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
			clk := newClock()
			p := captcha.NewProvider(captcha.NewRedisStore(c, prefix), captcha.Options{Now: clk.Now})
			ctx := context.Background()
			var ob outbox
			fail := outbox{fail: errors.New("down")}

			// Warm up: the first run of each script may be EVALSHA + EVAL.
			_, _ = p.Send(ctx, "warm", fail.deliver)
			_ = p.Verify(ctx, "warm", mustSend(t, p, &ob, "warm"))
			cnt.take()

			tests := []struct {
				name string
				call func() error
				want int64
			}{
				{"Send", func() error { _, err := p.Send(ctx, "k", ob.deliver); return err }, 2},
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
					if err := p.Verify(ctx, "k", "nope"); !errors.Is(err, captcha.ErrInvalidCode) {
						return fmt.Errorf("err = %v, want ErrInvalidCode", err)
					}
					return nil
				}, 1},
				{"Verify right", func() error { return p.Verify(ctx, "k", ob.last(t)) }, 1},
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
			p := captcha.NewProvider(captcha.NewRedisStore(rdb, testredis.Prefix(t, rdb)), captcha.Options{})
			if err := rdb.ScriptFlush(context.Background()).Err(); err != nil {
				t.Fatal(err)
			}
			var ob outbox
			wantVerify(t, p, "k", mustSend(t, p, &ob, "k"), nil)
		})
	}
}

func TestDefaultKeyPrefix(t *testing.T) {
	mr, rdb := testredis.Mini(t)
	p := captcha.NewProvider(captcha.NewRedisStore(rdb, ""), captcha.Options{})
	var ob outbox
	mustSend(t, p, &ob, "user@example.com")
	const key = "alova:captcha:user@example.com"
	if !mr.Exists(key) {
		t.Fatalf("keys = %v, want %s", mr.Keys(), key)
	}
	if ttl := mr.TTL(key); ttl != 5*time.Minute {
		t.Errorf("TTL = %v, want 5m", ttl)
	}
	mr.FastForward(5 * time.Minute)
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
		setup func(t *testing.T) (p *captcha.Provider, code string, ctx context.Context)
	}{
		{"miniredis closed", func(t *testing.T) (*captcha.Provider, string, context.Context) {
			mr, _ := testredis.Mini(t)
			p := captcha.NewProvider(captcha.NewRedisStore(fastClient(t, mr.Addr()), ""), captcha.Options{ResendInterval: time.Millisecond})
			var ob outbox
			code := mustSend(t, p, &ob, "k")
			mr.Close()
			return p, code, context.Background()
		}},
		{"miniredis error", func(t *testing.T) (*captcha.Provider, string, context.Context) {
			mr, _ := testredis.Mini(t)
			p := captcha.NewProvider(captcha.NewRedisStore(fastClient(t, mr.Addr()), ""), captcha.Options{ResendInterval: time.Millisecond})
			var ob outbox
			code := mustSend(t, p, &ob, "k")
			mr.SetError("LOADING Redis is loading the dataset in memory")
			return p, code, context.Background()
		}},
		{"unreachable", func(t *testing.T) (*captcha.Provider, string, context.Context) {
			mr, _ := testredis.Mini(t)
			addr := mr.Addr()
			mr.Close()
			return captcha.NewProvider(captcha.NewRedisStore(fastClient(t, addr), ""), captcha.Options{}), "1234", context.Background()
		}},
		{"memory, cancelled", func(t *testing.T) (*captcha.Provider, string, context.Context) {
			p := captcha.NewProvider(captcha.NewMemoryStore(), captcha.Options{})
			var ob outbox
			code := mustSend(t, p, &ob, "k")
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			return p, code, ctx
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, code, ctx := tc.setup(t)
			time.Sleep(2 * time.Millisecond) // past the 1 ms resend interval
			if err := p.Verify(ctx, "k", code); !errors.Is(err, captcha.ErrStore) || errors.Is(err, captcha.ErrInvalidCode) {
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
// committed; Send reports ErrStore, and the code is not valid once the store
// is back.
func TestStoreDiesDuringDelivery(t *testing.T) {
	mr, _ := testredis.Mini(t)
	p := captcha.NewProvider(captcha.NewRedisStore(fastClient(t, mr.Addr()), ""), captcha.Options{})
	var code string
	_, err := p.Send(context.Background(), "k", func(_ context.Context, c, _ string) error {
		code = c
		mr.Close()
		return nil
	})
	if !errors.Is(err, captcha.ErrStore) {
		t.Fatalf("Send = %v, want ErrStore", err)
	}
	if err := p.Verify(context.Background(), "k", code); !errors.Is(err, captcha.ErrStore) {
		t.Fatalf("Verify while down = %v, want ErrStore", err)
	}
	if err := mr.Restart(); err != nil {
		t.Fatal(err)
	}
	wantVerify(t, p, "k", code, captcha.ErrInvalidCode)
}

// TestRollbackFails: delivery failed and the store is gone too; the error
// says both.
func TestRollbackFails(t *testing.T) {
	mr, _ := testredis.Mini(t)
	p := captcha.NewProvider(captcha.NewRedisStore(fastClient(t, mr.Addr()), ""), captcha.Options{})
	boom := errors.New("gateway down")
	_, err := p.Send(context.Background(), "k", func(context.Context, string, string) error {
		mr.Close()
		return boom
	})
	if !errors.Is(err, captcha.ErrDelivery) || !errors.Is(err, boom) || !errors.Is(err, captcha.ErrStore) {
		t.Fatalf("Send = %v, want ErrDelivery, %v and ErrStore", err, boom)
	}
}
