package cache

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alovago/alova/internal/testredis"
	"github.com/redis/go-redis/v9"
)

// instances returns n Tiereds on b under prefix p, as n processes sharing
// one Redis would have them.
func instances(t *testing.T, b *backend, p string, n int, opts TieredOptions) []*Tiered {
	t.Helper()
	out := make([]*Tiered, n)
	for i := range out {
		out[i] = newTiered(t, b, p, opts)
	}
	for _, tr := range out {
		if !opts.NoInvalidation {
			waitSubscribed(t, tr, 1)
		}
	}
	return out
}

// TestLockOneLoadAcrossInstances: 3 instances × 300 concurrent cold misses
// of one key make exactly one loader call, in each of 5 runs, woken by the
// feed or, without it, by the poll.
func TestLockOneLoadAcrossInstances(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, b *backend) {
		for _, feed := range []bool{true, false} {
			t.Run(fmt.Sprintf("feed=%v", feed), func(t *testing.T) {
				trs := instances(t, b, b.prefix(t), 3, TieredOptions{NoInvalidation: !feed})
				for run := range 5 {
					var calls atomic.Int64
					load := func(ctx context.Context) (Entry, error) {
						calls.Add(1)
						time.Sleep(50 * time.Millisecond)
						return Entry{Value: StringValue("v"), TTL: time.Minute}, nil
					}
					key := fmt.Sprintf("product:%d", run)
					var wg sync.WaitGroup
					errs := make(chan error, 900)
					for _, tr := range trs {
						for range 300 {
							wg.Go(func() {
								v, _, err := tr.GetOrLoad(context.Background(), key, load, LoadOptions{LockWait: 2 * time.Second})
								if err == nil && v.String() != "v" {
									err = fmt.Errorf("value %q", v)
								}
								if err != nil {
									errs <- err
								}
							})
						}
					}
					wg.Wait()
					close(errs)
					for err := range errs {
						t.Fatalf("run %d: a caller got %v", run, err)
					}
					if n := calls.Load(); n != 1 {
						t.Fatalf("run %d: loader calls = %d, want 1 for 900 misses on 3 instances", run, n)
					}
				}
				var waits uint64
				for _, tr := range trs {
					waits += tr.Stats().LockWaits
				}
				if waits == 0 {
					t.Errorf("no instance waited for a lease: the test did not race the instances")
				}
			})
		}
	})
}

// TestLockHolderDies: an instance takes the lease and never writes (it
// died); the others wait, one of them takes over when the lease ends
// (LockWait/2), and all answer within LockWait with one loader call.
func TestLockHolderDies(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, b *backend) {
		p := b.prefix(t)
		trs := instances(t, b, p, 2, TieredOptions{})
		const wait = 1 * time.Second
		// The dead holder: a lease taken and never released.
		if rel, err := l2Store(t, trs[0]).TryLock(context.Background(), "k", wait/2); err != nil || rel == nil {
			t.Fatalf("TryLock = %v, %v", rel != nil, err)
		}
		var calls atomic.Int64
		load := func(ctx context.Context) (Entry, error) {
			calls.Add(1)
			time.Sleep(50 * time.Millisecond)
			return Entry{Value: StringValue("v"), TTL: time.Minute}, nil
		}
		start := time.Now()
		var wg sync.WaitGroup
		if b.mr != nil { // miniredis's TTLs do not tick by themselves
			wg.Go(func() {
				time.Sleep(wait / 2)
				b.mr.FastForward(wait / 2)
			})
		}
		for _, tr := range trs {
			for range 50 {
				wg.Go(func() {
					if v, _, err := tr.GetOrLoad(context.Background(), "k", load, LoadOptions{LockWait: wait}); err != nil || v.String() != "v" {
						t.Errorf("GetOrLoad = %q, %v", v, err)
					}
				})
			}
		}
		wg.Wait()
		took := time.Since(start)
		if took > wait {
			t.Errorf("callers answered after %v, want within LockWait %v", took, wait)
		}
		if n := calls.Load(); n != 1 {
			t.Errorf("loader calls = %d, want 1 (one takeover)", n)
		}
		t.Logf("%s: all 100 callers answered in %v with %d loader call", b.name, took, calls.Load())
	})
}

// TestLockWaitBounded: a holder that keeps its lease past LockWait does not
// hold the others: each instance loads by itself at the bound.
func TestLockWaitBounded(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, b *backend) {
		trs := instances(t, b, b.prefix(t), 1, TieredOptions{})
		const wait = 300 * time.Millisecond
		if rel, err := l2Store(t, trs[0]).TryLock(context.Background(), "k", time.Minute); err != nil || rel == nil {
			t.Fatalf("TryLock = %v, %v", rel != nil, err)
		}
		ld := &counter{entry: Entry{Value: StringValue("v"), TTL: time.Minute}}
		start := time.Now()
		if _, tier, err := trs[0].GetOrLoad(context.Background(), "k", ld.load, LoadOptions{LockWait: wait}); tier != TierOrigin || err != nil {
			t.Fatalf("GetOrLoad = %v, %v; want a load of its own", tier, err)
		}
		if took := time.Since(start); took < wait || took > wait+500*time.Millisecond {
			t.Errorf("loaded after %v, want just past LockWait %v", took, wait)
		}
		if s := trs[0].Stats(); s.LockWaits != 1 || s.LockTakeovers != 1 {
			t.Errorf("Stats: LockWaits %d, LockTakeovers %d; want 1, 1", s.LockWaits, s.LockTakeovers)
		}
	})
}

// TestLockUnlockKeepsOthersLease: unlock after the lease passed to another
// holder leaves the new holder's lease alone.
func TestLockUnlockKeepsOthersLease(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, b *backend) {
		r := newRedis(b.rdb, RedisOptions{KeyPrefix: b.prefix(t), Timeout: testL2Timeout})
		ctx := context.Background()
		rel, err := r.TryLock(ctx, "k", 50*time.Millisecond)
		if err != nil || rel == nil {
			t.Fatalf("TryLock = %v, %v", rel != nil, err)
		}
		if again, err := r.TryLock(ctx, "k", time.Minute); again != nil || err != nil {
			t.Fatalf("second TryLock while held = %v, %v; want nil, nil", again != nil, err)
		}
		if b.mr != nil {
			b.mr.FastForward(100 * time.Millisecond)
		} else {
			time.Sleep(100 * time.Millisecond)
		}
		other, err := r.TryLock(ctx, "k", time.Minute)
		if err != nil || other == nil {
			t.Fatalf("TryLock after expiry = %v, %v", other != nil, err)
		}
		if err := rel(ctx); err != nil {
			t.Fatal(err)
		}
		if again, _ := r.TryLock(ctx, "k", time.Minute); again != nil {
			t.Fatal("the first holder's unlock released the second holder's lease")
		}
		if err := other(ctx); err != nil {
			t.Fatal(err)
		}
		if again, _ := r.TryLock(ctx, "k", time.Minute); again == nil {
			t.Fatal("unlock did not release the lease")
		}
	})
}

// TestRefreshWaitsForOthersLease: an instance whose entry is due for a
// refresh while another instance holds the key's lease (it is reloading the
// key) waits in the background for that instance's write, and does not try
// again on every read: a busy instance read the key thousands of times in
// the window, each read a GET and a lock attempt on Redis. The write reaches
// it, and its loader is never called. (Into its L1 when the write's
// invalidation wakes the refresh; a refresh whose poll of L2 saw the write
// first has its copy dropped by that invalidation, and the next read takes
// the write from L2.)
func TestRefreshWaitsForOthersLease(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, b *backend) {
		trs := instances(t, b, b.prefix(t), 2, TieredOptions{NoJitter: true})
		holder, reader := trs[0], trs[1]
		ctx := context.Background()
		opts := LoadOptions{RefreshBefore: 10 * time.Second, LockWait: 3 * time.Second}
		ld := &counter{entry: Entry{Value: StringValue("v1"), TTL: 5 * time.Second}} // due at once
		if v, _, err := reader.GetOrLoad(ctx, "k", ld.load, opts); err != nil || v.String() != "v1" {
			t.Fatalf("first read = %q, %v", v, err)
		}
		settle := func() {
			eventually(t, 10*time.Second, "the first read's refresh to end", func() bool {
				reader.bg.mu.Lock()
				defer reader.bg.mu.Unlock()
				return len(reader.bg.running) == 0
			})
		}
		settle() // the first read's own refresh (it found the entry due): its loader ran
		loads, refreshes := ld.calls.Load(), reader.Stats().Refreshes
		// The other instance takes the lease: it is reloading the key.
		rel, err := l2Store(t, holder).TryLock(ctx, "k", time.Minute)
		if err != nil || rel == nil {
			t.Fatalf("TryLock = %v, %v", rel != nil, err)
		}
		defer func() { _ = rel(ctx) }()
		for range 20 {
			if v, tier, err := reader.GetOrLoad(ctx, "k", ld.load, opts); err != nil || tier != TierL1 || v.String() == "" {
				t.Fatalf("read during the other's reload = %q, %v, %v; want the L1 entry", v, tier, err)
			}
			// Long enough for a refresh that gives up at the lease to end.
			time.Sleep(20 * time.Millisecond)
		}
		if n := reader.Stats().Refreshes - refreshes; n != 1 {
			t.Errorf("%d refreshes started during the other instance's reload, want 1 (waiting for its write)", n)
		}
		// The other instance writes its reload, which reaches the reader's L1.
		if err := holder.Set(ctx, "k", Entry{Value: StringValue("v2"), TTL: time.Minute}, ModeAll); err != nil {
			t.Fatal(err)
		}
		eventually(t, 5*time.Second, "the other instance's write to reach the reader", func() bool {
			v, _, err := reader.Get(ctx, "k", ModeAll)
			return err == nil && v.String() == "v2"
		})
		if n := ld.calls.Load() - loads; n != 0 {
			t.Errorf("the reader's loader ran %d times during the other's reload, want 0", n)
		}
	})
}

// TestLockCountsOneMissPerTier: with the lease on, ten reads of one cold key
// count one L1 miss and one L2 miss (the re-read of L2 after taking the
// lease is not a read of its own), nine L1 hits and one load; and an L2
// that the lease's re-read finds filled counts no second lookup either.
func TestLockCountsOneMissPerTier(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, b *backend) {
		tr := newTiered(t, b, b.prefix(t), TieredOptions{NoInvalidation: true})
		c := &counter{entry: Entry{Value: StringValue("v"), TTL: time.Minute}}
		for i := range 10 {
			v, _, err := tr.GetOrLoad(context.Background(), "cold", c.load, LoadOptions{LockWait: 2 * time.Second})
			if err != nil || v.String() != "v" {
				t.Fatalf("read %d: GetOrLoad = %q, %v; want v", i, v, err)
			}
		}
		s := tr.Stats()
		got := [5]uint64{s.L1Misses, s.L2Misses, s.L1Hits, s.L2Hits, s.Loads}
		if want := [5]uint64{1, 1, 9, 0, 1}; got != want {
			t.Errorf("after 10 reads of a cold key: L1 misses, L2 misses, L1 hits, L2 hits, loads = %v, want %v", got, want)
		}
	})
}

// leaseTiered returns a Tiered on b under prefix p, without the feed, whose
// store's round trips rt counts.
func leaseTiered(t *testing.T, b *backend, p string) (*Tiered, *testredis.RoundTrips) {
	t.Helper()
	r, rt := countedStore(t, b, p)
	tr := NewTiered(NewMemoryStore(MemoryOptions{MaxEntries: 1000}), r, TieredOptions{NoInvalidation: true})
	t.Cleanup(func() { _ = tr.Close() })
	return tr, rt
}

// TestLockColdMissRoundTrips: under the lease, a cold miss is four round
// trips (read, read-or-lease, write, release) and counts one L1 and one L2
// miss; a read that finds the key in L2 is one round trip (a GET); without
// the lease a cold miss is two (read, write).
func TestLockColdMissRoundTrips(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, b *backend) {
		ctx := context.Background()
		p := b.prefix(t)
		tr, rt := leaseTiered(t, b, p)
		opts := LoadOptions{LockWait: 2 * time.Second}
		ld := &counter{entry: Entry{Value: StringValue("v"), TTL: time.Minute, Tags: []string{"t"}}}
		if _, _, err := tr.GetOrLoad(ctx, "warm", ld.load, opts); err != nil { // loads the scripts
			t.Fatal(err)
		}
		before := tr.Stats()
		start := rt.N()
		if v, tier, err := tr.GetOrLoad(ctx, "cold", ld.load, opts); err != nil || tier != TierOrigin || v.String() != "v" {
			t.Fatalf("GetOrLoad(cold) = %q, %v, %v; want v from the origin", v, tier, err)
		}
		if n := rt.N() - start; n != 4 {
			t.Errorf("a cold miss under the lease = %d round trips, want 4 (read, read-or-lease, write, release)", n)
		}
		s := tr.Stats()
		if got, want := [4]uint64{s.L1Misses - before.L1Misses, s.L2Misses - before.L2Misses, s.Loads - before.Loads, s.L2Errors},
			[4]uint64{1, 1, 1, 0}; got != want {
			t.Errorf("a cold miss counts L1 misses, L2 misses, loads, L2 errors = %v, want %v", got, want)
		}
		if rel, err := l2Store(t, tr).TryLock(ctx, "cold", time.Second); err != nil || rel == nil {
			t.Errorf("the lease is still held after the load: TryLock = %v, %v", rel != nil, err)
		} else {
			_ = rel(ctx)
		}

		// Another instance reads it from L2: one round trip, no load.
		other, ort := leaseTiered(t, b, p)
		start = ort.N()
		if v, tier, err := other.GetOrLoad(ctx, "cold", ld.load, opts); err != nil || tier != TierL2 || v.String() != "v" {
			t.Fatalf("other GetOrLoad(cold) = %q, %v, %v; want v from L2", v, tier, err)
		}
		if n := ort.N() - start; n != 1 {
			t.Errorf("an L2 hit under the lease = %d round trips, want 1", n)
		}
		if s := other.Stats(); s.L2Hits != 1 || s.L2Misses != 0 || s.Loads != 0 {
			t.Errorf("other: L2 hits %d, misses %d, loads %d; want 1, 0, 0", s.L2Hits, s.L2Misses, s.Loads)
		}

		start = rt.N()
		if _, tier, err := tr.GetOrLoad(ctx, "plain", ld.load, LoadOptions{}); err != nil || tier != TierOrigin {
			t.Fatalf("GetOrLoad(plain) = %v, %v", tier, err)
		}
		if n := rt.N() - start; n != 2 {
			t.Errorf("a cold miss without the lease = %d round trips, want 2 (read, write)", n)
		}

		// A Tiered without L1 checks L2 again before it loads (a flight may
		// have just filled it); under the lease the read-or-lease call is
		// that check: still four round trips, one L2 miss counted.
		r2, rt2 := countedStore(t, b, p)
		l2only := NewTiered(nil, r2, TieredOptions{NoInvalidation: true})
		t.Cleanup(func() { _ = l2only.Close() })
		if _, _, err := l2only.GetOrLoad(ctx, "warm2", ld.load, opts); err != nil { // loads the scripts
			t.Fatal(err)
		}
		start = rt2.N()
		if _, tier, err := l2only.GetOrLoad(ctx, "cold2", ld.load, opts); err != nil || tier != TierOrigin {
			t.Fatalf("L2-only GetOrLoad(cold2) = %v, %v", tier, err)
		}
		if n := rt2.N() - start; n != 4 {
			t.Errorf("a cold miss under the lease without L1 = %d round trips, want 4 (read, read-or-lease, write, release)", n)
		}
		if s := l2only.Stats(); s.L2Misses != 2 || s.L2Hits != 0 {
			t.Errorf("L2-only: L2 misses %d, hits %d after two cold reads; want 2, 0", s.L2Misses, s.L2Hits)
		}
	})
}

// TestLockWaiterSeesHolderWrite: a reader that finds the lease held waits,
// polling (no feed) with one call per try; the holder writes and releases;
// the reader's next try reads the write: no load, the value from L2, one
// L2 miss, one wait counted and no takeover.
func TestLockWaiterSeesHolderWrite(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, b *backend) {
		ctx := context.Background()
		p := b.prefix(t)
		holder := newRedis(b.rdb, RedisOptions{KeyPrefix: p, Timeout: testL2Timeout})
		r, _ := countedStore(t, b, p)
		_, _, _, _ = r.getOrLock(ctx, "warm", time.Millisecond) // loads the script
		sent := &cmdLog{}
		r.rdb.AddHook(sent)
		reader := NewTiered(NewMemoryStore(MemoryOptions{MaxEntries: 10}), r, TieredOptions{NoInvalidation: true})
		t.Cleanup(func() { _ = reader.Close() })
		rel, err := holder.TryLock(ctx, "k", time.Minute)
		if err != nil || rel == nil {
			t.Fatalf("TryLock = %v, %v", rel != nil, err)
		}
		ld := &counter{entry: Entry{Value: StringValue("mine"), TTL: time.Minute}}
		type answer struct {
			v    Value
			tier Tier
			err  error
		}
		got := make(chan answer, 1)
		go func() {
			v, tier, err := reader.GetOrLoad(ctx, "k", ld.load, LoadOptions{LockWait: 5 * time.Second})
			got <- answer{v, tier, err}
		}()
		// The first try and two polls.
		eventually(t, 5*time.Second, "the reader to poll twice", func() bool { return len(sent.names()) >= 4 })
		if err := holder.Set(ctx, "k", StringValue("theirs"), time.Minute, nil, nil); err != nil {
			t.Fatal(err)
		}
		_ = rel(ctx)
		a := <-got
		if a.err != nil || a.tier != TierL2 || a.v.String() != "theirs" {
			t.Fatalf("reader GetOrLoad = %q, %v, %v; want theirs from L2", a.v, a.tier, a.err)
		}
		if s := reader.Stats(); ld.calls.Load() != 0 || s.LockWaits != 1 || s.LockTakeovers != 0 || s.L2Misses != 1 || s.L2Hits != 0 {
			t.Errorf("reader: loads %d, waits %d, takeovers %d, L2 misses %d, L2 hits %d; want 0, 1, 0, 1, 0",
				ld.calls.Load(), s.LockWaits, s.LockTakeovers, s.L2Misses, s.L2Hits)
		}
		names := sent.names()
		if names[0] != "get" {
			t.Errorf("the reader's first command = %q, want get", names[0])
		}
		for i, n := range names[1:] {
			if n != "evalsha" {
				t.Errorf("the reader's try %d = %q, want evalsha (read-or-lease, one call): %q", i+1, n, names)
				break
			}
		}
	})
}

// cmdLog is a go-redis hook that records the names of the commands sent.
type cmdLog struct {
	mu  sync.Mutex
	cmd []string
}

func (h *cmdLog) names() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.cmd...)
}

func (h *cmdLog) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h *cmdLog) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		h.mu.Lock()
		h.cmd = append(h.cmd, cmd.Name())
		h.mu.Unlock()
		return next(ctx, cmd)
	}
}

func (h *cmdLog) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next
}

// TestLockHiddenKey: a key whose invalidation waits for L2 (the recovery
// queue) is not answered by the old value L2 still has, neither by the read
// nor by the try for the lease, which takes the lease only: the load runs
// under it.
func TestLockHiddenKey(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, b *backend) {
		ctx := context.Background()
		r := newRedis(b.rdb, RedisOptions{KeyPrefix: b.prefix(t), Timeout: testL2Timeout})
		tr := NewTiered(NewMemoryStore(MemoryOptions{MaxEntries: 10}), failDeletes{r},
			TieredOptions{NoInvalidation: true, Logger: quiet})
		t.Cleanup(func() { _ = tr.Close() })
		if err := tr.Set(ctx, "k", Entry{Value: StringValue("old"), TTL: time.Minute}, ModeAll); err != nil {
			t.Fatal(err)
		}
		if err := tr.Delete(ctx, "k"); err != nil {
			t.Fatalf("Delete with L2 deletes failing = %v, want nil (queued)", err)
		}
		ld := &counter{entry: Entry{Value: StringValue("new"), TTL: time.Minute}}
		if v, tier, err := tr.GetOrLoad(ctx, "k", ld.load, LoadOptions{LockWait: 2 * time.Second}); err != nil || tier != TierOrigin || v.String() != "new" {
			t.Fatalf("GetOrLoad of a hidden key = %q, %v, %v; want new from the origin", v, tier, err)
		}
		if s := tr.Stats(); ld.calls.Load() != 1 || s.L2Misses != 1 || s.LockWaits != 0 {
			t.Errorf("loads %d, L2 misses %d, lock waits %d; want 1, 1, 0", ld.calls.Load(), s.L2Misses, s.LockWaits)
		}
	})
}

// failDeletes is a Redis store whose deletes fail, as when L2 is down.
type failDeletes struct{ *redisStore }

func (f failDeletes) Delete(context.Context, []string, *Invalidation) error {
	return errors.New("connection refused")
}

// TestLockOtherLocker: a Shared tier that implements Locker but not the
// one-step read (any store but the Redis one) keeps the two-call path: one
// load across instances.
func TestLockOtherLocker(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, b *backend) {
		p := b.prefix(t)
		var calls atomic.Int64
		load := func(ctx context.Context) (Entry, error) {
			calls.Add(1)
			time.Sleep(30 * time.Millisecond)
			return Entry{Value: StringValue("v"), TTL: time.Minute}, nil
		}
		var trs []*Tiered
		for range 3 {
			r := newRedis(b.rdb, RedisOptions{KeyPrefix: p, Timeout: testL2Timeout})
			tr := NewTiered(NewMemoryStore(MemoryOptions{MaxEntries: 10}), plainLocker{r, r}, TieredOptions{NoInvalidation: true})
			t.Cleanup(func() { _ = tr.Close() })
			if _, ok := tr.l2.(leaseReader); ok {
				t.Fatal("plainLocker reads in one step")
			}
			trs = append(trs, tr)
		}
		var wg sync.WaitGroup
		for _, tr := range trs {
			for range 20 {
				wg.Go(func() {
					if v, _, err := tr.GetOrLoad(context.Background(), "k", load, LoadOptions{LockWait: 2 * time.Second}); err != nil || v.String() != "v" {
						t.Errorf("GetOrLoad = %q, %v", v, err)
					}
				})
			}
		}
		wg.Wait()
		if n := calls.Load(); n != 1 {
			t.Errorf("loader calls = %d, want 1", n)
		}
	})
}

// plainLocker is a Shared tier and a Locker, and nothing more.
type plainLocker struct {
	Shared
	Locker
}
