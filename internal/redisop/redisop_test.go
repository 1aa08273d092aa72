package redisop

import (
	"context"
	"errors"
	"net"
	"testing"
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
