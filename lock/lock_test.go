package lock_test

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
	"github.com/alovago/alova/lock"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// backend is one Store to run a test body against. pass lets d pass for
// the store's TTLs and for the goroutines of the test (the renewal): the
// fake clock of a synctest bubble (memory), miniredis FastForward plus real
// sleeping, or real sleeping on real Redis.
type backend struct {
	store lock.Store
	pass  func(d time.Duration)
}

// storeTimeout bounds the test stores' Redis calls: generous, as concurrent
// scripts on miniredis under -race on a busy machine queue for a while.
// TestFrozenRedisCostsTheTimeout checks the default bound.
const storeTimeout = 10 * time.Second

// forEachStore runs body against MemoryStore (in a synctest bubble, so
// sleeps and timers run on a fake clock), miniredis and the real Redis of
// REDIS_URL, each in its own subtest. body must not call t.Run: the memory
// case runs in a bubble.
func forEachStore(t *testing.T, body func(t *testing.T, b backend)) {
	t.Helper()
	t.Run("memory", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			body(t, backend{store: lock.NewMemoryStore(), pass: time.Sleep})
		})
	})
	t.Run("miniredis", func(t *testing.T) {
		mr, rdb := testredis.Mini(t)
		s := lock.NewRedisStore(rdb, lock.RedisOptions{KeyPrefix: testredis.Prefix(t, nil), Timeout: storeTimeout})
		body(t, backend{store: s, pass: func(d time.Duration) { mr.FastForward(d); time.Sleep(d) }})
	})
	t.Run("redis", func(t *testing.T) {
		rdb := testredis.Real(t)
		s := lock.NewRedisStore(rdb, lock.RedisOptions{KeyPrefix: testredis.Prefix(t, rdb), Timeout: storeTimeout})
		body(t, backend{store: s, pass: time.Sleep})
	})
}

// fast are options for tests: frequent tries, renewal off unless asked, and
// a timeout long enough that concurrent waiters on a slow miniredis (-race,
// busy machine) never hit it: the tests assert exclusion, not speed.
var fast = lock.Options{Timeout: 20 * time.Second, Interval: 2 * time.Millisecond, TTL: 30 * time.Second, NoRenew: true}

func acquire(t *testing.T, l lock.Store, opts lock.Options, names ...string) *lock.Lease {
	t.Helper()
	lease, err := lock.Acquire(context.Background(), l, names, opts)
	if err != nil {
		t.Fatalf("Acquire(%q): %v", names, err)
	}
	return lease
}

// held reports whether name is held by someone, trying to take it under a
// throwaway token (and giving it back if that worked).
func held(t *testing.T, l lock.Store, name string) bool {
	t.Helper()
	ctx := context.Background()
	ok, err := l.TryLock(ctx, name, "probe", time.Second)
	if err != nil {
		t.Fatalf("TryLock(%q): %v", name, err)
	}
	if ok {
		if _, err := l.Unlock(ctx, name, "probe"); err != nil {
			t.Fatalf("Unlock(%q): %v", name, err)
		}
	}
	return !ok
}

// TestMutualExclusion: goroutines doing a read-sleep-write on a counter lose
// updates and overlap without the lock, and never with it.
func TestMutualExclusion(t *testing.T) {
	const workers = 12
	run := func(t *testing.T, l lock.Store) (counter, maxInside int32) {
		t.Helper()
		var value, inside, most atomic.Int32
		var wg sync.WaitGroup
		start := make(chan struct{})
		for range workers {
			wg.Go(func() {
				<-start
				var lease *lock.Lease
				if l != nil {
					var err error
					if lease, err = lock.Acquire(context.Background(), l, []string{"counter"}, fast); err != nil {
						t.Errorf("Acquire: %v", err)
						return
					}
				}
				n := inside.Add(1)
				for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
				}
				v := value.Load()
				time.Sleep(2 * time.Millisecond)
				value.Store(v + 1)
				inside.Add(-1)
				if lease != nil {
					if err := lease.Release(context.Background()); err != nil {
						t.Errorf("Release: %v", err)
					}
				}
			})
		}
		close(start)
		wg.Wait()
		return value.Load(), most.Load()
	}
	t.Run("without a lock", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			if counter, most := run(t, nil); counter == workers || most < 2 {
				t.Fatalf("without a lock: counter %d, at most %d inside; want lost updates and overlap", counter, most)
			}
		})
	})
	forEachStore(t, func(t *testing.T, b backend) {
		if counter, most := run(t, b.store); counter != workers || most != 1 {
			t.Fatalf("with the lock: counter %d, at most %d inside; want %d and 1", counter, most, workers)
		}
	})
}

func TestTimeout(t *testing.T) {
	forEachStore(t, func(t *testing.T, b backend) {
		holder := acquire(t, b.store, fast, "x")
		defer holder.Release(context.Background())
		start := time.Now()
		_, err := lock.Acquire(context.Background(), b.store, []string{"x"}, lock.Options{Timeout: 50 * time.Millisecond, Interval: 10 * time.Millisecond})
		elapsed := time.Since(start)
		if !errors.Is(err, lock.ErrTimeout) {
			t.Fatalf("Acquire of a held lock = %v, want ErrTimeout", err)
		}
		if want := `lock: failed to acquire lock within 50ms: "x" is held`; err.Error() != want {
			t.Fatalf("error = %q, want %q", err, want)
		}
		if elapsed < 50*time.Millisecond || elapsed > time.Second {
			t.Fatalf("Acquire gave up after %s, want about 50ms", elapsed)
		}
		if !held(t, b.store, "x") {
			t.Fatal("the holder lost its lock to a timed-out Acquire")
		}
	})
}

// TestWaitsForRelease: a waiter gets the lock soon after the holder lets go.
func TestWaitsForRelease(t *testing.T) {
	forEachStore(t, func(t *testing.T, b backend) {
		holder := acquire(t, b.store, fast, "x")
		got := make(chan error, 1)
		go func() {
			lease, err := lock.Acquire(context.Background(), b.store, []string{"x"}, fast)
			if err == nil {
				err = lease.Release(context.Background())
			}
			got <- err
		}()
		select {
		case err := <-got:
			t.Fatalf("Acquire returned %v while the lock was held", err)
		case <-time.After(20 * time.Millisecond):
		}
		if err := holder.Release(context.Background()); err != nil {
			t.Fatalf("Release: %v", err)
		}
		select {
		case err := <-got:
			if err != nil {
				t.Fatalf("waiter: %v", err)
			}
		case <-time.After(time.Second):
			t.Fatal("waiter did not get the lock within 1s of its release")
		}
	})
}

// TestCancelReleasesWhatWasTaken: a caller holding "a" and waiting for "b"
// gives "a" back when its ctx ends.
func TestCancelReleasesWhatWasTaken(t *testing.T) {
	forEachStore(t, func(t *testing.T, b backend) {
		holder := acquire(t, b.store, fast, "b")
		defer holder.Release(context.Background())
		ctx, cancel := context.WithCancel(context.Background())
		got := make(chan error, 1)
		go func() {
			_, err := lock.Acquire(ctx, b.store, []string{"b", "a"}, fast)
			got <- err
		}()
		deadline := time.Now().Add(time.Second)
		for !held(t, b.store, "a") { // the waiter takes "a" first (sorted order)
			if time.Now().After(deadline) {
				t.Fatal(`the waiter never took "a"`)
			}
			time.Sleep(time.Millisecond)
		}
		cancel()
		select {
		case err := <-got:
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("Acquire after cancel = %v, want context.Canceled", err)
			}
		case <-time.After(time.Second):
			t.Fatal("Acquire did not return within 1s of its ctx ending")
		}
		if held(t, b.store, "a") {
			t.Fatal(`"a" is still held after the cancelled Acquire returned`)
		}
	})
}

// TestCrashedHolderExpires: a lock whose holder never releases it (a crash)
// is free once its TTL has run out.
func TestCrashedHolderExpires(t *testing.T) {
	forEachStore(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		if ok, err := b.store.TryLock(ctx, "x", "crashed-holder", time.Second); !ok || err != nil {
			t.Fatalf("TryLock = %v, %v; want true, nil", ok, err)
		}
		_, err := lock.Acquire(ctx, b.store, []string{"x"}, lock.Options{Timeout: 10 * time.Millisecond, Interval: time.Millisecond})
		if !errors.Is(err, lock.ErrTimeout) {
			t.Fatalf("Acquire before the TTL = %v, want ErrTimeout", err)
		}
		b.pass(time.Second + 50*time.Millisecond)
		lease := acquire(t, b.store, fast, "x")
		if err := lease.Release(ctx); err != nil {
			t.Fatalf("Release: %v", err)
		}
	})
}

// TestReleaseLeavesOthersLock: a holder whose lock expired and was taken by
// another must not release the other's lock.
func TestReleaseLeavesOthersLock(t *testing.T) {
	forEachStore(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		slow := acquire(t, b.store, lock.Options{TTL: 50 * time.Millisecond, NoRenew: true}, "x")
		b.pass(80 * time.Millisecond)
		next := acquire(t, b.store, fast, "x")
		if err := slow.Release(ctx); !errors.Is(err, lock.ErrNotHeld) {
			t.Fatalf("Release of an expired lock = %v, want ErrNotHeld", err)
		}
		if !held(t, b.store, "x") {
			t.Fatal("the expired holder's Release freed the new holder's lock")
		}
		if err := next.Release(ctx); err != nil {
			t.Fatalf("new holder's Release: %v", err)
		}
		if err := next.Release(ctx); err != nil {
			t.Fatalf("second Release = %v, want nil", err)
		}
		if held(t, b.store, "x") {
			t.Fatal("x is held after its holder released it")
		}
	})
}

// TestRenewalKeepsALongHolder: with renewal on, a lock held for several TTLs
// stays held; with it off, it expires.
func TestRenewalKeepsALongHolder(t *testing.T) {
	forEachStore(t, func(t *testing.T, b backend) {
		// Renewal every TTL/3 = 200ms, with 400ms to spare before expiry: a
		// busy machine cannot delay the real-Redis case that much.
		const ttl, step = 600 * time.Millisecond, 100 * time.Millisecond
		renewed := acquire(t, b.store, lock.Options{TTL: ttl}, "renewed")
		plain := acquire(t, b.store, lock.Options{TTL: ttl, NoRenew: true}, "plain")
		for range 12 { // two TTLs
			b.pass(step)
		}
		if !held(t, b.store, "renewed") {
			t.Fatal("a renewed lock expired while held")
		}
		if held(t, b.store, "plain") {
			t.Fatal("a lock without renewal outlived its TTL")
		}
		if err := renewed.Release(context.Background()); err != nil {
			t.Fatalf("Release: %v", err)
		}
		if held(t, b.store, "renewed") {
			t.Fatal("the renewed lock is held after Release")
		}
		if err := plain.Release(context.Background()); !errors.Is(err, lock.ErrNotHeld) {
			t.Fatalf("Release of the expired lock = %v, want ErrNotHeld", err)
		}
	})
}

// TestSortedOrderAvoidsDeadlock: callers asking for the same names in
// opposite orders all get them.
func TestSortedOrderAvoidsDeadlock(t *testing.T) {
	forEachStore(t, func(t *testing.T, b backend) {
		var wg sync.WaitGroup
		for i := range 8 {
			names := []string{"a", "b", "c"}
			if i%2 == 1 {
				names = []string{"c", "b", "a", "b"} // reversed, with a duplicate
			}
			wg.Go(func() {
				for range 5 {
					lease, err := lock.Acquire(context.Background(), b.store, names, fast)
					if err != nil {
						t.Errorf("Acquire(%q): %v", names, err)
						return
					}
					if err := lease.Release(context.Background()); err != nil {
						t.Errorf("Release(%q): %v", names, err)
					}
				}
			})
		}
		wg.Wait()
		for _, name := range []string{"a", "b", "c"} {
			if held(t, b.store, name) {
				t.Fatalf("%q still held after every lease was released", name)
			}
		}
	})
}

func TestStoreErrorEndsTheWait(t *testing.T) {
	mr, rdb := testredis.Mini(t)
	l := lock.NewRedisStore(rdb, lock.RedisOptions{})
	mr.SetError("READONLY You can't write against a read only replica.")
	_, err := lock.Acquire(context.Background(), l, []string{"x"}, lock.Options{})
	if err == nil || errors.Is(err, lock.ErrTimeout) || !strings.Contains(err.Error(), "READONLY") {
		t.Fatalf("Acquire with Redis failing = %v, want the store error", err)
	}
	mr.SetError("")
	eventually(t, "no key left after a failed Acquire", func() bool { return len(mr.Keys()) == 0 })
}

func TestRedisKeys(t *testing.T) {
	mr, rdb := testredis.Mini(t)
	lease := acquire(t, lock.NewRedisStore(rdb, lock.RedisOptions{}), lock.Options{NoRenew: true}, "orders")
	if keys := mr.Keys(); len(keys) != 1 || keys[0] != "alova:lock:orders" {
		t.Fatalf("keys = %q, want [alova:lock:orders] (the default prefix)", keys)
	}
	if ttl := mr.TTL("alova:lock:orders"); ttl != 5*time.Second {
		t.Fatalf("TTL = %s, want the default 5s", ttl)
	}
	if token, _ := mr.Get("alova:lock:orders"); len(token) < 26 {
		t.Fatalf("token %q is shorter than 128 random bits", token)
	}
	if err := lease.Release(context.Background()); err != nil {
		t.Fatalf("Release: %v", err)
	}
	if mr.Exists("alova:lock:orders") {
		t.Fatal("the key is still there after Release")
	}
}

func TestInvalidArguments(t *testing.T) {
	l := lock.NewMemoryStore()
	cases := []struct {
		name  string
		names []string
		opts  lock.Options
	}{
		{"no names", nil, lock.Options{}},
		{"negative timeout", []string{"x"}, lock.Options{Timeout: -1}},
		{"negative interval", []string{"x"}, lock.Options{Interval: -1}},
		{"negative TTL", []string{"x"}, lock.Options{TTL: -1}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if lease, err := lock.Acquire(context.Background(), l, tc.names, tc.opts); err == nil {
				lease.Release(context.Background())
				t.Fatalf("Acquire(%q, %+v) = nil error, want one", tc.names, tc.opts)
			}
		})
	}
	_, rdb := testredis.Mini(t)
	for name, f := range map[string]func(){
		"nil client":       func() { lock.NewRedisStore(nil, lock.RedisOptions{}) },
		"negative timeout": func() { lock.NewRedisStore(rdb, lock.RedisOptions{Timeout: -time.Second}) },
	} {
		t.Run(name, func(t *testing.T) {
			defer func() {
				if r := recover(); r == nil {
					t.Errorf("NewRedisStore with a %s did not panic", name)
				} else if !strings.HasPrefix(fmt.Sprint(r), "lock: ") {
					t.Errorf("panic %q lacks the package prefix", r)
				}
			}()
			f()
		})
	}
}

func TestMemorySweepsExpiredLocks(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m := lock.NewMemoryStore()
		ctx := context.Background()
		for i := range 500 {
			if ok, _ := m.TryLock(ctx, fmt.Sprint("job-", i), "crashed", time.Second); !ok {
				t.Fatalf("TryLock(job-%d) failed", i)
			}
		}
		time.Sleep(2 * time.Second)
		for range 500 {
			_, _ = m.TryLock(ctx, "live", "t", time.Minute)
		}
		if n := lock.StoreLen(m); n != 1 {
			t.Fatalf("Len() after the crashed locks expired = %d, want 1", n)
		}
	})
}

// lostReply is a Store whose TryLock takes the lock but reports an error, as
// when Redis applied the SET and the client timed out before the reply.
type lostReply struct{ lock.Store }

func (l lostReply) TryLock(ctx context.Context, name, token string, ttl time.Duration) (bool, error) {
	_, _ = l.Store.TryLock(ctx, name, token, ttl)
	return false, errors.New("i/o timeout")
}

// TestLostReplyDoesNotLeaveALock: after a TryLock error, Acquire releases
// the name under its token (in the background) in case the lock was taken
// after all.
func TestLostReplyDoesNotLeaveALock(t *testing.T) {
	forEachStore(t, func(t *testing.T, b backend) {
		_, err := lock.Acquire(context.Background(), lostReply{b.store}, []string{"x"}, fast)
		if err == nil || !strings.Contains(err.Error(), "i/o timeout") {
			t.Fatalf("Acquire = %v, want the TryLock error", err)
		}
		eventually(t, "x released after a TryLock whose reply was lost", func() bool { return !held(t, b.store, "x") })
	})
}

// eventually polls cond every 5 ms for up to 5 s (fake time in a bubble)
// and fails the test with what when it never holds.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("after 5s: want %s", what)
		}
	}
}

// TestFrozenRedisCostsTheTimeout: with Redis stopped (SIGSTOP) and a
// go-redis client on its default options (3 s read timeout, 3 retries),
// Acquire and Release return their store error within the store's Timeout
// plus 50 ms. The median of 3 tries of each is held to that, so that one
// unlucky pause of a loaded machine cannot fail the test; every try must
// still end within Timeout + 1 s, far below what the client alone would
// take (several 3 s read timeouts).
func TestFrozenRedisCostsTheTimeout(t *testing.T) {
	srv := testredis.Server(t)
	rdb := srv.Client()
	const timeout = 200 * time.Millisecond // the default Timeout
	s := lock.NewRedisStore(rdb, lock.RedisOptions{})
	ctx := context.Background()
	var leases []*lock.Lease
	for i := range 3 { // renewed every 5s/3: not during the test
		leases = append(leases, acquire(t, s, lock.Options{}, fmt.Sprint("held-", i)))
	}
	srv.Freeze()

	check := func(what string, took []time.Duration) {
		t.Helper()
		slices.Sort(took)
		t.Logf("%s on a frozen Redis took %v", what, took)
		if took[1] > timeout+50*time.Millisecond || took[2] > timeout+time.Second {
			t.Errorf("%s on a frozen Redis took %v, want a median within %s and none over %s",
				what, took, timeout+50*time.Millisecond, timeout+time.Second)
		}
	}
	var took []time.Duration
	for i := range 3 {
		start := time.Now()
		_, err := lock.Acquire(ctx, s, []string{fmt.Sprint("orders-", i)}, lock.Options{})
		took = append(took, time.Since(start))
		if !errors.Is(err, context.DeadlineExceeded) || errors.Is(err, lock.ErrTimeout) {
			t.Errorf("Acquire on a frozen Redis = %v, want the store's error wrapping context.DeadlineExceeded", err)
		}
	}
	check("Acquire", took)

	took = nil
	for _, lease := range leases {
		start := time.Now()
		err := lease.Release(ctx)
		took = append(took, time.Since(start))
		if !errors.Is(err, context.DeadlineExceeded) || errors.Is(err, lock.ErrNotHeld) {
			t.Errorf("Release on a frozen Redis = %v, want the store's error wrapping context.DeadlineExceeded", err)
		}
	}
	check("Release", took)
}
