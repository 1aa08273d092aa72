package redisop

import (
	"context"
	"errors"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
)

// movableCluster is a ClusterClient whose whole slot map points at one
// address that the test moves, as a failover moves a master; it counts the
// client's loads of the map.
type movableCluster struct {
	*redis.ClusterClient
	master atomic.Pointer[string]
	loads  atomic.Int32
}

func newMovableCluster(t *testing.T, master string, ctxTimeout bool) *movableCluster {
	t.Helper()
	c := &movableCluster{}
	c.master.Store(&master)
	c.ClusterClient = redis.NewClusterClient(&redis.ClusterOptions{
		ClusterSlots: func(context.Context) ([]redis.ClusterSlot, error) {
			c.loads.Add(1)
			return []redis.ClusterSlot{{Start: 0, End: 16383, Nodes: []redis.ClusterNode{{Addr: *c.master.Load()}}}}, nil
		},
		ContextTimeoutEnabled: ctxTimeout,
	})
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// A killed master sends no MOVED: go-redis alone would keep dialling it until
// its slot map is ClusterStateReloadInterval (60 s) old.
func TestDoFollowsAClusterFailover(t *testing.T) {
	for _, ctxTimeout := range []bool{false, true} {
		old, promoted := miniredis.RunT(t), miniredis.RunT(t)
		promoted.Set("k", "v")
		cc := newMovableCluster(t, old.Addr(), ctxTimeout)
		b := New(cc.ClusterClient, 200*time.Millisecond)
		get := func() (string, error) {
			return Do(context.Background(), b, func(ctx context.Context) (string, error) { return cc.Get(ctx, "k").Result() })
		}
		if _, err := get(); !errors.Is(err, redis.Nil) {
			t.Fatalf("ContextTimeoutEnabled=%v: GET before the failover: %v, want redis.Nil", ctxTimeout, err)
		}
		old.Close() // the master dies…
		addr := promoted.Addr()
		cc.master.Store(&addr) // …and its replica takes over.
		start := time.Now()
		for {
			v, err := get()
			if err == nil && v == "v" {
				break
			}
			if time.Since(start) > 3*time.Second {
				t.Fatalf("ContextTimeoutEnabled=%v: GET still fails %v after the failover: %v", ctxTimeout, time.Since(start), err)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}

// An answer from Redis, even an error or a miss, says nothing about the
// topology: no reload.
func TestDoDoesNotReloadOnReplies(t *testing.T) {
	mr := miniredis.RunT(t)
	mr.Set("s", "v")
	cc := newMovableCluster(t, mr.Addr(), true)
	b := New(cc.ClusterClient, time.Second)
	ctx := context.Background()
	if err := cc.Ping(ctx).Err(); err != nil { // loads the slot map
		t.Fatal(err)
	}
	loaded := cc.loads.Load()
	for _, fn := range []func(context.Context) error{
		func(ctx context.Context) error { return cc.Get(ctx, "missing").Err() },  // redis.Nil
		func(ctx context.Context) error { return cc.LPush(ctx, "s", "x").Err() }, // WRONGTYPE
	} {
		if err := Err(ctx, b, fn); err == nil {
			t.Fatal("want an error reply")
		}
	}
	// A call the caller itself cancelled says nothing either.
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if err := Err(cancelled, b, func(ctx context.Context) error { return cc.Get(ctx, "s").Err() }); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled call: %v, want context.Canceled", err)
	}
	time.Sleep(50 * time.Millisecond) // a reload would run in the background
	if n := cc.loads.Load(); n != loaded {
		t.Errorf("slot map loaded %d times after replies and a cancelled call, want %d", n, loaded)
	}
}

func TestUnanswered(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		want bool
	}{
		{"refused", &net.OpError{Op: "dial", Err: errors.New("connection refused")}, true},
		{"deadline", context.DeadlineExceeded, true},
		{"pool timeout", redis.ErrPoolTimeout, true},
		{"nil", redis.Nil, false},
		{"cancelled", context.Canceled, false},
		{"other", errors.New("boom"), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := unanswered(tc.err); got != tc.want {
				t.Errorf("unanswered(%v) = %v, want %v", tc.err, got, tc.want)
			}
		})
	}
}
