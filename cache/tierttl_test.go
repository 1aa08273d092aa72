package cache

import (
	"context"
	"errors"
	"testing"
	"time"
)

// One entry can live less in L1 than in L2: Entry.L1TTL caps what a write
// puts in L1, LoadOptions.L1TTL what a load or an L2 hit puts there.
func TestTieredL1TTLPerEntry(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, b *backend) {
		ctx := context.Background()
		p := b.prefix(t)
		tr := newTiered(t, b, p, TieredOptions{NoJitter: true, NoInvalidation: true})
		within := func(what, key string, max time.Duration) {
			t.Helper()
			if ttl := l1TTL(t, tr, key); ttl > max || ttl < max-300*time.Millisecond {
				t.Errorf("%s: L1 TTL = %v, want just under %v", what, ttl, max)
			}
		}
		if err := tr.Set(ctx, "set", Entry{Value: StringValue("v"), TTL: 10 * time.Second, L1TTL: time.Second}, ModeAll); err != nil {
			t.Fatal(err)
		}
		within("Set", "set", time.Second)
		if ttl := b.direct.PTTL(ctx, p+"set").Val(); ttl <= 9*time.Second {
			t.Errorf("Set: L2 PTTL = %v, want > 9s (L1TTL caps L1 only)", ttl)
		}

		ld := &counter{entry: Entry{Value: StringValue("v"), TTL: 10 * time.Second}}
		if _, tier, err := tr.GetOrLoad(ctx, "load", ld.load, LoadOptions{L1TTL: 2 * time.Second}); tier != TierOrigin || err != nil {
			t.Fatalf("GetOrLoad = %v, %v; want a load", tier, err)
		}
		within("load with LoadOptions.L1TTL", "load", 2*time.Second)
		ld.entry.L1TTL = time.Second
		if _, _, err := tr.GetOrLoad(ctx, "load2", ld.load, LoadOptions{L1TTL: 2 * time.Second}); err != nil {
			t.Fatal(err)
		}
		within("the Entry's own L1TTL wins over the LoadOptions'", "load2", time.Second)

		b.plant(t, p+"hit", "x", 10*time.Second)
		if _, tier, _ := tr.GetOrLoad(ctx, "hit", ld.load, LoadOptions{L1TTL: time.Second}); tier != TierL2 {
			t.Fatalf("tier = %v, want an L2 hit", tier)
		}
		within("L2 hit", "hit", time.Second)
		b.plant(t, p+"forever", "x", 0)
		if _, tier, _ := tr.GetOrLoad(ctx, "forever", ld.load, LoadOptions{L1TTL: time.Second}); tier != TierL2 {
			t.Fatalf("tier = %v, want an L2 hit", tier)
		}
		within("L2 hit without expiry", "forever", time.Second)
	})
}

// ModeL2 reads and writes the shared tier alone; a write drops the L1 copy
// so that it cannot hide the new value.
func TestTieredModeL2(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, b *backend) {
		ctx := context.Background()
		p := b.prefix(t)
		tr := newTiered(t, b, p, TieredOptions{NoJitter: true, NoInvalidation: true})
		if err := tr.Set(ctx, "k", Entry{Value: StringValue("v1"), TTL: time.Minute}, ModeAll); err != nil {
			t.Fatal(err)
		}
		if err := tr.Set(ctx, "k", Entry{Value: StringValue("v2"), TTL: time.Minute}, ModeL2); err != nil {
			t.Fatal(err)
		}
		if inL1(tr, "k") {
			t.Error("after a ModeL2 Set the old L1 copy is still there")
		}
		if got := b.stored(p + "k"); got != "v2" {
			t.Errorf("L2 holds %q, want v2", got)
		}
		if v, tier, err := tr.Get(ctx, "k", ModeL2); v.String() != "v2" || tier != TierL2 || err != nil {
			t.Errorf("Get(ModeL2) = %q, %v, %v; want v2 from L2", v, tier, err)
		}
		if inL1(tr, "k") {
			t.Error("a ModeL2 read filled L1")
		}
		_ = tr.Set(ctx, "l1only", Entry{Value: StringValue("x"), TTL: time.Minute}, ModeL1)
		if _, _, err := tr.Get(ctx, "l1only", ModeL2); !errors.Is(err, ErrMiss) {
			t.Errorf("Get(ModeL2) of an L1-only entry: err = %v, want ErrMiss", err)
		}

		ld := &counter{entry: Entry{Value: StringValue("loaded"), TTL: time.Minute}}
		if v, tier, err := tr.GetOrLoad(ctx, "m", ld.load, LoadOptions{Mode: ModeL2}); v.String() != "loaded" || tier != TierOrigin || err != nil {
			t.Fatalf("GetOrLoad(ModeL2) = %q, %v, %v; want a load", v, tier, err)
		}
		if inL1(tr, "m") || b.stored(p+"m") != "loaded" {
			t.Errorf("after a ModeL2 load: in L1 %v, L2 %q; want L2 only", inL1(tr, "m"), b.stored(p+"m"))
		}
		if _, tier, _ := tr.GetOrLoad(ctx, "m", ld.load, LoadOptions{Mode: ModeL2}); tier != TierL2 || ld.calls.Load() != 1 {
			t.Errorf("second GetOrLoad(ModeL2) from %v with %d loads, want an L2 hit", tier, ld.calls.Load())
		}
	})
}
