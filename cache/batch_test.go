package cache

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"
)

// batchOrigin answers every key asked for, recording each call's keys.
type batchOrigin struct {
	mu    sync.Mutex
	calls [][]string
	gate  chan struct{} // when not nil, each call waits for it
	in    chan struct{} // when not nil, told when a call starts
}

func (o *batchOrigin) load(ctx context.Context, keys []string) (map[string]Entry, error) {
	o.mu.Lock()
	o.calls = append(o.calls, slices.Clone(keys))
	o.mu.Unlock()
	if o.in != nil {
		o.in <- struct{}{}
	}
	if o.gate != nil {
		<-o.gate
	}
	out := make(map[string]Entry, len(keys))
	for _, k := range keys {
		out[k] = Entry{Value: StringValue("v:" + k), TTL: time.Minute}
	}
	return out, nil
}

func ids(from, to int) []string {
	var out []string
	for i := from; i < to; i++ {
		out = append(out, fmt.Sprintf("id%d", i))
	}
	return out
}

// TestBatchCachedNotFetched: 1,000 keys with 900 cached make one call for
// the 100 missing ones, and every key is answered.
func TestBatchCachedNotFetched(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, b *backend) {
		ctx := context.Background()
		tr := newTiered(t, b, b.prefix(t), TieredOptions{NoInvalidation: true})
		o := &batchOrigin{}
		if _, err := tr.GetOrLoadBatch(ctx, ids(0, 900), o.load, LoadOptions{}); err != nil {
			t.Fatal(err)
		}
		o.calls = nil
		got, err := tr.GetOrLoadBatch(ctx, ids(0, 1000), o.load, LoadOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if len(o.calls) != 1 || !slices.Equal(o.calls[0], ids(900, 1000)) {
			t.Fatalf("origin calls = %d (first with %d keys), want 1 with the 100 missing keys", len(o.calls), len(o.calls[0]))
		}
		if len(got) != 1000 {
			t.Fatalf("answered %d keys, want 1000", len(got))
		}
		for _, k := range ids(0, 1000) {
			want := TierL1
			if k >= "id900" && len(k) == 5 {
				want = TierOrigin
			}
			if f := got[k]; f.Value.String() != "v:"+k || f.Tier != want {
				t.Fatalf("got[%q] = %q from %v, want %q from %v", k, f.Value, f.Tier, "v:"+k, want)
			}
		}
		// The new entries are cached per key, in L2 too.
		if v, tier, err := tr.Get(ctx, "id950", ModeAll); err != nil || v.String() != "v:id950" {
			t.Fatalf("Get(id950) = %q, %v, %v", v, tier, err)
		}
		if s := tr.Stats(); s.BatchLoads != 2 || s.BatchKeys != 1000 {
			t.Errorf("Stats: BatchLoads %d, BatchKeys %d; want 2, 1000", s.BatchLoads, s.BatchKeys)
		}
	})
}

// TestBatchOverlapShared: two concurrent batches overlapping on 50 keys
// fetch those 50 once.
func TestBatchOverlapShared(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	tr := NewTiered(NewMemoryStore(MemoryOptions{MaxEntries: 1000}), nil, TieredOptions{})
	defer tr.Close()
	o := &batchOrigin{gate: make(chan struct{}), in: make(chan struct{}, 2)}
	a, bk := ids(0, 100), ids(50, 150) // common: id50…id99
	var wg sync.WaitGroup
	var gotA, gotB map[string]Found
	wg.Go(func() { gotA, _ = tr.GetOrLoadBatch(ctx, a, o.load, LoadOptions{}) })
	<-o.in // A is loading its 100 keys
	wg.Go(func() { gotB, _ = tr.GetOrLoadBatch(ctx, bk, o.load, LoadOptions{}) })
	<-o.in // B is loading the keys A does not
	close(o.gate)
	wg.Wait()
	if len(o.calls) != 2 || !slices.Equal(o.calls[0], a) || !slices.Equal(o.calls[1], ids(100, 150)) {
		t.Fatalf("origin calls = %v, want A's 100 keys, then B's 50 not in A", o.calls)
	}
	if len(gotA) != 100 || len(gotB) != 100 {
		t.Fatalf("answers: A %d keys, B %d keys; want 100 each", len(gotA), len(gotB))
	}
	for _, k := range bk {
		if gotB[k].Value.String() != "v:"+k {
			t.Fatalf("B[%q] = %q", k, gotB[k].Value)
		}
	}
}

// TestBatchErrorShared: a failed batch caches nothing and its error reaches
// the batches that waited for its keys.
func TestBatchErrorShared(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	tr := NewTiered(NewMemoryStore(MemoryOptions{MaxEntries: 100}), nil, TieredOptions{})
	defer tr.Close()
	boom := errors.New("boom")
	gate, in := make(chan struct{}), make(chan struct{}, 1)
	load := func(ctx context.Context, keys []string) (map[string]Entry, error) {
		in <- struct{}{}
		<-gate
		return nil, boom
	}
	var wg sync.WaitGroup
	var errA, errB error
	wg.Go(func() { _, errA = tr.GetOrLoadBatch(ctx, []string{"a", "b"}, load, LoadOptions{}) })
	<-in
	wg.Go(func() { _, errB = tr.GetOrLoadBatch(ctx, []string{"b"}, load, LoadOptions{}) })
	time.Sleep(10 * time.Millisecond) // B finds A's call (had it not, it fails the same way)
	close(gate)
	wg.Wait()
	if !errors.Is(errA, boom) || !errors.Is(errB, boom) {
		t.Fatalf("errors: A %v, B %v; want both wrapping boom", errA, errB)
	}
	if _, _, err := tr.Get(ctx, "a", ModeAll); !errors.Is(err, ErrMiss) {
		t.Fatalf("Get(a) after a failed batch: %v, want ErrMiss", err)
	}
}
