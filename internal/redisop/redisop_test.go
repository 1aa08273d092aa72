package redisop

import (
	"context"
	"errors"
	"fmt"
	"net"
	"testing"
	"testing/synctest"
	"time"

	"github.com/redis/go-redis/v9"
)

// frozen returns the address of a server that accepts connections and never
// answers, like a Redis stopped with SIGSTOP.
func frozen(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	conns := make(chan net.Conn, 16)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns <- c
		}
	}()
	t.Cleanup(func() {
		_ = ln.Close()
		for {
			select {
			case c := <-conns:
				_ = c.Close()
			default:
				return
			}
		}
	})
	return ln.Addr().String()
}

func TestDoBoundsAFrozenServer(t *testing.T) {
	for _, ctxTimeout := range []bool{false, true} {
		rdb := redis.NewClient(&redis.Options{Addr: frozen(t), ContextTimeoutEnabled: ctxTimeout})
		t.Cleanup(func() { _ = rdb.Close() })
		b := New(rdb, 100*time.Millisecond)
		if b.watch == ctxTimeout {
			t.Fatalf("ContextTimeoutEnabled=%v: watch = %v", ctxTimeout, b.watch)
		}
		start := time.Now()
		_, err := Do(context.Background(), b, func(ctx context.Context) (string, error) {
			return rdb.Get(ctx, "k").Result()
		})
		took := time.Since(start)
		if !errors.Is(err, context.DeadlineExceeded) && !isTimeout(err) {
			t.Errorf("ContextTimeoutEnabled=%v: err = %v, want a timeout", ctxTimeout, err)
		}
		if took > time.Second {
			t.Errorf("ContextTimeoutEnabled=%v: took %v, want about 100ms", ctxTimeout, took)
		}
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

func TestDoReturnsResult(t *testing.T) {
	b := Bound{timeout: time.Second, watch: true}
	v, err := Do(context.Background(), b, func(context.Context) (int, error) { return 7, nil })
	if v != 7 || err != nil {
		t.Fatalf("Do = %v, %v; want 7, nil", v, err)
	}
	want := errors.New("boom")
	if err := Err(context.Background(), b, func(context.Context) error { return want }); !errors.Is(err, want) {
		t.Fatalf("Err = %v, want %v", err, want)
	}
}

func TestDoCallerCancel(t *testing.T) {
	b := Bound{timeout: time.Hour, watch: true}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	release := make(chan struct{})
	defer close(release)
	_, err := Do(ctx, b, func(ctx context.Context) (int, error) { <-release; return 0, nil })
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
}

func TestNewDefaults(t *testing.T) {
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"})
	defer rdb.Close()
	if got := New(rdb, 0).Timeout(); got != DefaultTimeout {
		t.Fatalf("timeout = %v, want %v", got, DefaultTimeout)
	}
	defer func() {
		if recover() == nil {
			t.Fatal("New with a negative timeout did not panic")
		}
	}()
	New(rdb, -1)
}

// A caller's deadline that comes before the bound ends the call at that
// deadline, on both kinds of client.
func TestDoEndsAtAnEarlierCallerDeadline(t *testing.T) {
	for _, ctxTimeout := range []bool{false, true} {
		rdb := redis.NewClient(&redis.Options{Addr: frozen(t), ContextTimeoutEnabled: ctxTimeout})
		t.Cleanup(func() { _ = rdb.Close() })
		b := New(rdb, time.Hour)
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		start := time.Now()
		_, err := DoWith(ctx, b, "k", func(ctx context.Context, key string) (string, error) {
			return rdb.Get(ctx, key).Result()
		})
		took := time.Since(start)
		cancel()
		if !errors.Is(err, context.DeadlineExceeded) && !isTimeout(err) {
			t.Errorf("ContextTimeoutEnabled=%v: err = %v, want a timeout", ctxTimeout, err)
		}
		// The bound is an hour and go-redis's ReadTimeout 3 s: only the
		// caller's deadline can end the call this early.
		if took > time.Second {
			t.Errorf("ContextTimeoutEnabled=%v: took %v, want about 100ms", ctxTimeout, took)
		}
	}
}

// The bound applies when the caller has no deadline or a later one; an
// earlier deadline of the caller's ends the call instead. fn sees the
// deadline that applies.
func TestDoDeadlines(t *testing.T) {
	for _, watch := range []bool{false, true} {
		for _, tc := range []struct {
			name   string
			caller time.Duration // the caller's deadline, from now; 0: none
			want   time.Duration // when the call ends
		}{
			{"no caller deadline", 0, 100 * time.Millisecond},
			{"later caller deadline", time.Hour, 100 * time.Millisecond},
			{"earlier caller deadline", 40 * time.Millisecond, 40 * time.Millisecond},
		} {
			t.Run(fmt.Sprintf("watch=%v/%s", watch, tc.name), func(t *testing.T) {
				synctest.Test(t, func(t *testing.T) {
					b := Bound{timeout: 100 * time.Millisecond, watch: watch}
					ctx := t.Context()
					if tc.caller > 0 {
						var cancel context.CancelFunc
						ctx, cancel = context.WithTimeout(ctx, tc.caller)
						defer cancel()
					}
					start := time.Now()
					// fn may still run when a watched Do returns: it tells its
					// deadline on a channel, not in a variable.
					deadline := make(chan time.Time, 1)
					_, err := DoWith(ctx, b, 0, func(ctx context.Context, _ int) (int, error) {
						d, _ := ctx.Deadline()
						deadline <- d
						<-ctx.Done() // a Redis that never answers
						return 0, ctx.Err()
					})
					if !errors.Is(err, context.DeadlineExceeded) {
						t.Errorf("err = %v, want context.DeadlineExceeded", err)
					}
					if took := time.Since(start); took != tc.want {
						t.Errorf("took %v, want %v", took, tc.want)
					}
					if got, want := <-deadline, start.Add(tc.want); !got.Equal(want) {
						t.Errorf("fn saw deadline %v, want %v", got, want)
					}
				})
			})
		}
	}
}

// A call within a caller's earlier deadline, on a client that honours it,
// makes no context of its own: a plain fn through DoWith allocates nothing.
func TestDoWithCallerDeadlineAllocatesNothing(t *testing.T) {
	b := Bound{timeout: time.Hour}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	get := func(_ context.Context, k string) (string, error) { return k, nil }
	allocs := testing.AllocsPerRun(100, func() {
		if v, err := DoWith(ctx, b, "k", get); v != "k" || err != nil {
			t.Fatalf("DoWith = %q, %v; want \"k\", nil", v, err)
		}
	})
	if allocs != 0 {
		t.Errorf("DoWith allocated %v times per call, want 0", allocs)
	}
}

// A watched call that its caller abandoned ends when fn returns, its result
// dropped: synctest.Test fails if the goroutine is left blocked.
func TestDoAbandonedCallEnds(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := Bound{timeout: 100 * time.Millisecond, watch: true}
		release := make(chan struct{})
		returned := make(chan struct{})
		_, err := Do(t.Context(), b, func(context.Context) (string, error) {
			defer close(returned)
			<-release // a go-redis read that ends at its own ReadTimeout, later
			return "late", nil
		})
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("err = %v, want context.DeadlineExceeded", err)
		}
		close(release)
		<-returned
		synctest.Wait() // the goroutine has dropped the result and exited
	})
}
