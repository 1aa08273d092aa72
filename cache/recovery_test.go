package cache

import (
	"context"
	"errors"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// TestRecoveryReplaysInvalidations: Redis stopped, a key deleted and a tag
// invalidated through one instance, Redis started: once the queue is
// replayed, neither instance serves the old values, and L2 holds none.
func TestRecoveryReplaysInvalidations(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, b *backend) {
		ctx := context.Background()
		p := b.prefix(t)
		opts := TieredOptions{L2Cooldown: 50 * time.Millisecond, Logger: quiet, NoJitter: true}
		a := newTiered(t, b, p, opts)
		bb := newTiered(t, b, p, opts)
		waitSubscribed(t, a, 1)
		waitSubscribed(t, bb, 1)
		old := func(context.Context) (Entry, error) {
			return Entry{Value: StringValue("old"), TTL: time.Hour, Tags: []string{"tg"}}, nil
		}
		for _, k := range []string{"p", "q"} {
			if v, _, err := a.GetOrLoad(ctx, k, old, LoadOptions{}); err != nil || v.String() != "old" {
				t.Fatalf("prime %q via a: %q, %v", k, v, err)
			}
			if v, tier, err := bb.GetOrLoad(ctx, k, old, LoadOptions{}); err != nil || tier != TierL2 {
				t.Fatalf("prime %q via b: %q, %v, %v; want an L2 hit", k, v, tier, err)
			}
		}

		b.down()
		if err := a.Delete(ctx, "p"); err != nil {
			t.Errorf("Delete with Redis down = %v, want nil (queued)", err)
		}
		if err := a.DeleteTags(ctx, "tg"); err != nil {
			t.Errorf("DeleteTags with Redis down = %v, want nil (queued)", err)
		}
		if s := a.Stats(); s.RecoveryQueued != 2 || s.RecoveryPending != 2 {
			t.Errorf("Stats with Redis down: RecoveryQueued %d, RecoveryPending %d; want 2, 2", s.RecoveryQueued, s.RecoveryPending)
		}
		if inL1(a, "p") || inL1(a, "q") {
			t.Error("a's L1 still holds what it invalidated")
		}

		// b reads all along: what does it answer once a has replayed?
		var mu sync.Mutex
		type read struct {
			at  time.Time
			old bool
		}
		var reads []read
		stop := make(chan struct{})
		var wg sync.WaitGroup
		fresh := func(context.Context) (Entry, error) {
			return Entry{Value: StringValue("new"), TTL: time.Hour, Tags: []string{"tg"}}, nil
		}
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				for _, k := range []string{"p", "q"} {
					start := time.Now() // a read that starts later cannot see an earlier state
					v, _, err := bb.GetOrLoad(ctx, k, fresh, LoadOptions{})
					mu.Lock()
					reads = append(reads, read{start, err == nil && v.String() == "old"})
					mu.Unlock()
				}
				time.Sleep(time.Millisecond)
			}
		})
		up := time.Now()
		b.up()
		eventually(t, 10*time.Second, "a's queue replayed", func() bool { return a.Stats().RecoveryPending == 0 })
		replayed := time.Now()
		// b hears nothing until its feed is back: then it has purged its
		// L1, and L2 no longer holds the old values.
		waitSubscribed(t, bb, 2)
		eventually(t, 5*time.Second, "b's L1 free of the old values", func() bool { return !inL1Is(bb, "p", "old") && !inL1Is(bb, "q", "old") })
		settled := time.Now()
		time.Sleep(500 * time.Millisecond)
		close(stop)
		wg.Wait()

		for _, k := range []string{"p", "q"} {
			if got := b.stored(p + k); got == "old" {
				t.Errorf("after the replay, L2 holds the old %q", k)
			}
		}
		var before, after, late int
		var lastOld time.Time
		for _, r := range reads {
			switch {
			case !r.old:
			case r.at.Before(replayed):
				before++
			default:
				after++
				lastOld = r.at
				if !r.at.Before(settled) {
					late++
				}
			}
		}
		t.Logf("%s: %d reads by b; old answers: %d before a's replay (done %v after Redis was up), %d after it",
			b.name, len(reads), before, replayed.Sub(up), after)
		if after > 0 {
			t.Logf("the last old answer came %v after the replay", lastOld.Sub(replayed))
		}
		if late > 0 {
			t.Errorf("b answered the old value %d times after a's replay and its own feed's return (last %v after the replay)", late, lastOld.Sub(replayed))
		}
		if s := a.Stats(); s.RecoveryReplayed != 2 || s.RecoveryDropped != 0 {
			t.Errorf("a's Stats: RecoveryReplayed %d, RecoveryDropped %d; want 2, 0", s.RecoveryReplayed, s.RecoveryDropped)
		}
		for _, tr := range []*Tiered{a, bb} {
			for _, k := range []string{"p", "q"} {
				if v, _, err := tr.GetOrLoad(ctx, k, fresh, LoadOptions{}); err != nil || v.String() != "new" {
					t.Errorf("after recovery, GetOrLoad(%q) = %q, %v; want new", k, v, err)
				}
			}
		}
	})
}

// inL1Is reports whether tr's L1 holds want under key.
func inL1Is(tr *Tiered, key, want string) bool {
	it, ok := tr.l1.Get(key)
	return ok && it.Value.String() == want
}

// replayShared is a fakeShared whose Delete records the keys it deletes.
type replayShared struct {
	fakeShared
	mu      sync.Mutex
	deleted [][]string
}

func (r *replayShared) Delete(ctx context.Context, keys []string, inv *Invalidation) error {
	if err := r.fakeShared.Delete(ctx, keys, inv); err != nil {
		return err
	}
	r.mu.Lock()
	r.deleted = append(r.deleted, keys)
	r.mu.Unlock()
	return nil
}

// TestRecoveryHidesQueuedKeys: until its delete is replayed, a key is an L2
// miss on the instance that deleted it, so that its L1 is not refilled with
// the old value; the queue keeps each key once, in the order of the latest
// delete, and refuses new names past its cap.
func TestRecoveryHidesQueuedKeys(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		l2 := &replayShared{fakeShared: fakeShared{vals: map[string]Value{}}}
		tr := NewTiered(NewMemoryStore(MemoryOptions{MaxEntries: 10}), l2,
			TieredOptions{NoInvalidation: true, Logger: quiet, RecoveryQueue: 3})
		defer tr.Close()
		for _, k := range []string{"a", "b", "c"} {
			_ = tr.Set(ctx, k, Entry{Value: StringValue("old"), TTL: time.Hour}, ModeAll)
		}
		down := errors.New("connection refused")
		l2.setFail(down)
		for _, k := range []string{"a", "b", "a", "c"} {
			if err := tr.Delete(ctx, k); err != nil {
				t.Fatalf("Delete(%q) with L2 down = %v, want nil (queued)", k, err)
			}
		}
		if err := tr.Delete(ctx, "d"); !errors.Is(err, ErrUnavailable) {
			t.Errorf("Delete past the cap = %v, want ErrUnavailable", err)
		}
		if s := tr.Stats(); s.RecoveryPending != 3 || s.RecoveryDropped != 1 || s.RecoveryQueued != 4 {
			t.Errorf("Stats: pending %d, dropped %d, queued %d; want 3, 1, 4", s.RecoveryPending, s.RecoveryDropped, s.RecoveryQueued)
		}
		// L2 answers again, before the replay has run: a read must not
		// bring the old value back.
		l2.setFail(nil)
		fresh := func(context.Context) (Entry, error) { return Entry{Value: StringValue("new"), TTL: time.Hour}, nil }
		if v, tier, err := tr.GetOrLoad(ctx, "a", fresh, LoadOptions{}); err != nil || v.String() != "new" || tier != TierOrigin {
			t.Errorf("read of a queued key = %q, %v, %v; want new from the origin", v, tier, err)
		}
		time.Sleep(recoveryPoll)
		synctest.Wait()
		l2.mu.Lock()
		got := l2.deleted
		l2.mu.Unlock()
		if len(got) != 1 || len(got[0]) != 3 || got[0][0] != "b" || got[0][1] != "a" || got[0][2] != "c" {
			t.Errorf("replayed deletes = %q, want one call of [b a c]", got)
		}
		if s := tr.Stats(); s.RecoveryPending != 0 || s.RecoveryReplayed != 3 {
			t.Errorf("after the replay: pending %d, replayed %d; want 0, 3", s.RecoveryPending, s.RecoveryReplayed)
		}
		if _, tier, _ := tr.Get(ctx, "b", ModeL2); tier != TierNone {
			t.Errorf("after the replay, b is still in L2 (tier %v)", tier)
		}
	})
}
