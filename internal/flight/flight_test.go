package flight

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestDoSharesOneCall(t *testing.T) {
	t.Parallel()
	var g Group[int]
	var calls atomic.Int32
	release := make(chan struct{})
	const n = 1000
	var wg sync.WaitGroup
	var shared atomic.Int32
	results := make([]int, n)
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			v, err, s := g.Do(context.Background(), "k", func(context.Context) (int, error) {
				calls.Add(1)
				<-release
				return 42, nil
			})
			results[i], errs[i] = v, err
			if s {
				shared.Add(1)
			}
		})
	}
	// Wait until every caller has joined before letting the call finish.
	deadline := time.Now().Add(5 * time.Second)
	for {
		g.mu.Lock()
		c := g.calls["k"]
		joined := c != nil && c.waiters == n
		g.mu.Unlock()
		if joined {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("callers did not all join the call")
		}
		time.Sleep(time.Millisecond)
	}
	close(release)
	wg.Wait()
	if got := calls.Load(); got != 1 {
		t.Fatalf("fn called %d times, want 1", got)
	}
	if got := shared.Load(); got != n-1 {
		t.Errorf("shared = %d callers, want %d", got, n-1)
	}
	for i := range n {
		if results[i] != 42 || errs[i] != nil {
			t.Fatalf("caller %d got (%d, %v), want (42, nil)", i, results[i], errs[i])
		}
	}
	if g.InFlight() != 0 {
		t.Errorf("InFlight() = %d after the call, want 0", g.InFlight())
	}
}

func TestDoErrorReachesEveryWaiterAndIsNotKept(t *testing.T) {
	t.Parallel()
	var g Group[string]
	boom := errors.New("boom")
	_, err, _ := g.Do(context.Background(), "k", func(context.Context) (string, error) { return "", boom })
	if !errors.Is(err, boom) {
		t.Fatalf("Do error = %v, want %v", err, boom)
	}
	v, err, _ := g.Do(context.Background(), "k", func(context.Context) (string, error) { return "ok", nil })
	if err != nil || v != "ok" {
		t.Fatalf("second Do = (%q, %v), want (\"ok\", nil): an error must not be kept", v, err)
	}
}

func TestLeavingWaiterDoesNotCancelOthers(t *testing.T) {
	t.Parallel()
	var g Group[int]
	started := make(chan struct{})
	release := make(chan struct{})
	fnErr := make(chan error, 1)
	fn := func(ctx context.Context) (int, error) {
		close(started)
		select {
		case <-release:
			return 7, nil
		case <-ctx.Done():
			fnErr <- ctx.Err()
			return 0, ctx.Err()
		}
	}
	impatient, cancel := context.WithCancel(context.Background())
	firstDone := make(chan error, 1)
	go func() {
		_, err, _ := g.Do(impatient, "k", fn)
		firstDone <- err
	}()
	<-started
	secondDone := make(chan int, 1)
	go func() {
		v, _, _ := g.Do(context.Background(), "k", fn)
		secondDone <- v
	}()
	waitWaiters(t, &g, "k", 2)
	cancel()
	if err := <-firstDone; !errors.Is(err, context.Canceled) {
		t.Fatalf("impatient caller got %v, want context.Canceled", err)
	}
	close(release)
	if v := <-secondDone; v != 7 {
		t.Fatalf("patient caller got %d, want 7", v)
	}
	select {
	case err := <-fnErr:
		t.Fatalf("shared call was cancelled (%v) while a caller still waited", err)
	default:
	}
}

func TestLastWaiterLeavingCancelsCall(t *testing.T) {
	t.Parallel()
	var g Group[int]
	cancelled := make(chan struct{})
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		time.Sleep(10 * time.Millisecond)
		cancel()
	}()
	_, err, _ := g.Do(ctx, "k", func(ctx context.Context) (int, error) {
		<-ctx.Done()
		close(cancelled)
		return 0, ctx.Err()
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Do error = %v, want context.Canceled", err)
	}
	select {
	case <-cancelled:
	case <-time.After(2 * time.Second):
		t.Fatal("the call was not cancelled after its only caller left")
	}
	// The key is free: a new caller starts a new call.
	v, err, shared := g.Do(context.Background(), "k", func(context.Context) (int, error) { return 1, nil })
	if v != 1 || err != nil || shared {
		t.Fatalf("fresh Do = (%d, %v, %v), want (1, nil, false)", v, err, shared)
	}
}

func TestDoneContextReturnsAtOnce(t *testing.T) {
	t.Parallel()
	var g Group[int]
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	called := false
	_, err, _ := g.Do(ctx, "k", func(context.Context) (int, error) { called = true; return 0, nil })
	if !errors.Is(err, context.Canceled) || called {
		t.Fatalf("Do on a done ctx = %v (fn called %v), want context.Canceled and no call", err, called)
	}
}

func TestPanicBecomesError(t *testing.T) {
	t.Parallel()
	var g Group[int]
	_, err, _ := g.Do(context.Background(), "k", func(context.Context) (int, error) { panic("kaboom") })
	var pe *PanicError
	if !errors.As(err, &pe) || pe.Value != "kaboom" || len(pe.Stack) == 0 {
		t.Fatalf("Do error = %#v, want *PanicError with value and stack", err)
	}
}

func TestValuesOfFirstCallerReachFn(t *testing.T) {
	t.Parallel()
	type key struct{}
	var g Group[string]
	ctx := context.WithValue(context.Background(), key{}, "trace-1")
	v, _, _ := g.Do(ctx, "k", func(ctx context.Context) (string, error) {
		s, _ := ctx.Value(key{}).(string)
		return s, nil
	})
	if v != "trace-1" {
		t.Fatalf("fn saw value %q, want %q", v, "trace-1")
	}
}

func waitWaiters(t *testing.T, g *Group[int], key string, n int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		g.mu.Lock()
		c := g.calls[key]
		ok := c != nil && c.waiters == n
		g.mu.Unlock()
		if ok {
			return
		}
		time.Sleep(time.Millisecond)
	}
	t.Fatalf("%d waiters never joined %q", n, key)
}

func BenchmarkDo(b *testing.B) {
	var g Group[int]
	ctx := context.Background()
	fn := func(context.Context) (int, error) { return 1, nil }
	b.ReportAllocs()
	for b.Loop() {
		g.Do(ctx, "k", fn)
	}
}

// TestUncancellableCallerRunsInline: a first caller whose ctx can never end
// runs fn on its own goroutine, and callers that join still share the call
// and may still leave early.
func TestUncancellableCallerRunsInline(t *testing.T) {
	t.Parallel()
	var g Group[int]
	started := make(chan struct{})
	release := make(chan struct{})
	leaderDone := make(chan int, 1)
	go func() {
		v, _, _ := g.Do(context.Background(), "k", func(context.Context) (int, error) {
			close(started)
			<-release
			return 5, nil
		})
		leaderDone <- v
	}()
	<-started
	joinCtx, cancel := context.WithCancel(context.Background())
	joined := make(chan error, 1)
	go func() {
		_, err, shared := g.Do(joinCtx, "k", func(context.Context) (int, error) { return -1, nil })
		if !shared && err == nil {
			err = errors.New("joiner did not share the call")
		}
		joined <- err
	}()
	waitWaiters(t, &g, "k", 2)
	cancel()
	if err := <-joined; !errors.Is(err, context.Canceled) {
		t.Fatalf("joiner that left got %v, want context.Canceled", err)
	}
	close(release)
	if v := <-leaderDone; v != 5 {
		t.Fatalf("leader got %d, want 5", v)
	}
}

func TestPanicInlineBecomesError(t *testing.T) {
	t.Parallel()
	var g Group[int]
	_, err, _ := g.Do(context.Background(), "k", func(context.Context) (int, error) { panic("inline") })
	var pe *PanicError
	if !errors.As(err, &pe) || pe.Value != "inline" {
		t.Fatalf("Do error = %v, want *PanicError", err)
	}
	if g.InFlight() != 0 {
		t.Fatal("a panicked call stayed in flight")
	}
}

// TestDoHereLeaderWaitsJoinersMayLeave: with DoHere the starting caller runs
// fn itself and gets its result even after its ctx ends; a joiner leaves at
// once when its own ctx ends; fn's ctx is never cancelled.
func TestDoHereLeaderWaitsJoinersMayLeave(t *testing.T) {
	t.Parallel()
	var g Group[int]
	started := make(chan struct{})
	release := make(chan struct{})
	fnCtxErr := make(chan error, 1)
	leaderCtx, cancelLeader := context.WithCancel(context.Background())
	leaderDone := make(chan int, 1)
	go func() {
		v, _, shared := g.DoHere(leaderCtx, "k", func(ctx context.Context) (int, error) {
			close(started)
			<-release
			fnCtxErr <- ctx.Err()
			return 9, nil
		})
		if shared {
			v = -1
		}
		leaderDone <- v
	}()
	<-started
	joinCtx, cancelJoin := context.WithCancel(context.Background())
	joined := make(chan error, 1)
	go func() {
		_, err, _ := g.DoHere(joinCtx, "k", func(context.Context) (int, error) { return -2, nil })
		joined <- err
	}()
	waitWaiters(t, &g, "k", 2)
	cancelJoin()
	cancelLeader()
	if err := <-joined; !errors.Is(err, context.Canceled) {
		t.Fatalf("joiner that left got %v, want context.Canceled", err)
	}
	close(release)
	if v := <-leaderDone; v != 9 {
		t.Fatalf("leader got %d, want 9 (its own call's result, unshared)", v)
	}
	if err := <-fnCtxErr; err != nil {
		t.Fatalf("fn's ctx was cancelled (%v): DoHere's call must not be", err)
	}
}

// TestDoHereJoinersGetResult: callers that join a DoHere call wait for it
// and get its result (its done channel is made by the first of them).
func TestDoHereJoinersGetResult(t *testing.T) {
	t.Parallel()
	var g Group[int]
	started := make(chan struct{})
	release := make(chan struct{})
	leader := make(chan int, 1)
	go func() {
		v, _, _ := g.DoHere(context.Background(), "k", func(context.Context) (int, error) {
			close(started)
			<-release
			return 7, nil
		})
		leader <- v
	}()
	<-started
	type got struct {
		v      int
		err    error
		shared bool
	}
	joined := make(chan got, 3)
	for range 3 {
		go func() {
			v, err, shared := g.DoHere(context.Background(), "k", func(context.Context) (int, error) { return -1, nil })
			joined <- got{v, err, shared}
		}()
	}
	waitWaiters(t, &g, "k", 4)
	close(release)
	if v := <-leader; v != 7 {
		t.Fatalf("leader got %d, want 7", v)
	}
	for range 3 {
		if r := <-joined; r.v != 7 || r.err != nil || !r.shared {
			t.Fatalf("joiner got %+v, want 7, no error, shared", r)
		}
	}
	if g.InFlight() != 0 {
		t.Fatal("the call stayed in flight")
	}
}

// TestDoHereAllocations: a DoHere call nobody joins costs its call record
// only: no channel, no goroutine, and fn (a closure) stays on the caller's
// stack.
func TestDoHereAllocations(t *testing.T) {
	var g Group[int]
	ctx := context.Background()
	key, n := "k", 1
	_, _, _ = g.DoHere(ctx, key, func(context.Context) (int, error) { return n, nil }) // makes the map
	allocs := testing.AllocsPerRun(100, func() {
		if v, err, _ := g.DoHere(ctx, key, func(context.Context) (int, error) { return n, nil }); v != 1 || err != nil {
			t.Fatalf("DoHere = %d, %v", v, err)
		}
	})
	if allocs > 1 {
		t.Errorf("DoHere nobody joins: %v allocations, want 1 (the call record)", allocs)
	}
}
