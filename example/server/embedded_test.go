package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// TestRunClockForwardsRealTime: the clock moves miniredis forward by the time
// that passed, once a tick, stretches its tick when forwarding is slow, and
// stops when told.
func TestRunClockForwardsRealTime(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		var (
			mu      sync.Mutex
			total   time.Duration
			calls   int
			cost    time.Duration // what each forward takes
			stopped = make(chan struct{})
		)
		forward := func(d time.Duration) {
			mu.Lock()
			total += d
			calls++
			c := cost
			mu.Unlock()
			time.Sleep(c)
		}
		stop := make(chan struct{})
		go func() {
			defer close(stopped)
			runClock(stop, forward, time.Second)
		}()

		time.Sleep(10*time.Second + time.Millisecond)
		synctest.Wait()
		mu.Lock()
		if calls != 10 || total != 10*time.Second {
			t.Errorf("after 10 s: %d forwards of %v in all, want 10 of 10 s", calls, total)
		}
		cost = 200 * time.Millisecond // 200 ms per pass: at most one pass per 2 s
		calls = 0
		mu.Unlock()

		time.Sleep(40 * time.Second)
		synctest.Wait()
		mu.Lock()
		if calls > 21 {
			t.Errorf("with forwarding taking 200 ms, %d passes in 40 s, want at most 21 (10%% of the time)", calls)
		}
		mu.Unlock()

		close(stop)
		<-stopped
	})
}

// TestEmbeddedRedisExpires100kKeys: 100,000 keys with a 2 s TTL leave the
// embedded Redis on time, not before. Under -race, which slows miniredis
// tenfold (and so stretches the clock's tick, see clockBudget), it uses
// 20,000 keys.
func TestEmbeddedRedisExpires100kKeys(t *testing.T) {
	t.Parallel()
	c, err := openRedis("")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	const ttl = 2 * time.Second
	n := 100_000
	if raceEnabled {
		n = 20_000
	}
	first := time.Now()
	for i := range n {
		k := fmt.Sprintf("product:%d", i)
		if err := c.mini.Set(k, "v"); err != nil {
			t.Fatal(err)
		}
		c.mini.SetTTL(k, ttl)
	}
	// The clock waits up to clockBudget times its last pass between two
	// passes, and a pass over n keys takes longer on a loaded machine: time
	// one here, as the clock would, to know how late keys may leave.
	passStart := time.Now()
	c.mini.FastForward(0)
	pass := time.Since(passStart)
	late := embeddedTick + 2*(clockBudget+1)*pass
	ctx := context.Background()
	start := time.Now()
	if got, err := c.Client.DBSize(ctx).Result(); err != nil || (start.Sub(first) < ttl-embeddedTick && got == 0) {
		t.Fatalf("DBSIZE right after setting %d keys (%v) = %d, %v; want them there", n, start.Sub(first), got, err)
	}
	for {
		got, err := c.Client.DBSize(ctx).Result()
		if ne := net.Error(nil); errors.As(err, &ne) && ne.Timeout() && time.Since(start) < ttl+late+10*time.Second {
			// A pass over the keys holds the server: on a loaded machine a
			// command can wait for it longer than the client's read timeout.
			t.Logf("DBSIZE: %v; asking again", err)
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		if got == 0 && time.Since(first) < ttl {
			t.Fatalf("%d keys with a %v TTL gone %v after the first was set: too early", n, ttl, time.Since(first))
		}
		if got == 0 {
			t.Logf("%d keys with a %v TTL, set in %v, gone %v after the first was set", n, ttl, start.Sub(first).Round(10*time.Millisecond), time.Since(first).Round(10*time.Millisecond))
			return
		}
		if time.Since(start) > ttl+late+10*time.Second {
			t.Fatalf("%d of %d keys with a %v TTL still there %v after they were set (a pass over them took %v here, so the clock may be %v late)",
				got, n, ttl, time.Since(start), pass, late)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
