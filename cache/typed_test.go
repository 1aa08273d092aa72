package cache

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"testing"
	"time"
)

type product struct {
	ID   string
	Tags []string
	Attr map[string]string
}

// TestTypedCallersIsolated: callers of one load, and later hits, each get a
// value of their own: changing one changes no other.
func TestTypedCallersIsolated(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	tr := NewTiered(NewMemoryStore(MemoryOptions{MaxEntries: 10}), nil, TieredOptions{})
	defer tr.Close()
	gate := make(chan struct{})
	load := func(ctx context.Context) (TypedEntry[*product], error) {
		<-gate
		return TypedEntry[*product]{Value: &product{ID: "1", Tags: []string{"a"}, Attr: map[string]string{"k": "v"}}, TTL: time.Minute}, nil
	}
	var wg sync.WaitGroup
	got := make([]*product, 10)
	for i := range got {
		wg.Go(func() {
			p, _, err := GetOrLoadJSON(ctx, tr, "p1", load, LoadOptions{})
			if err != nil {
				t.Error(err)
				return
			}
			got[i] = p
			p.Tags[0] = "changed" // each caller spoils its own value
			p.Attr["k"] = "changed"
		})
	}
	time.Sleep(10 * time.Millisecond)
	close(gate)
	wg.Wait()
	for i := range got {
		for j := range i {
			if got[i] == got[j] {
				t.Fatalf("callers %d and %d got the same pointer", i, j)
			}
		}
	}
	p, tier, err := GetOrLoadJSON(ctx, tr, "p1", load, LoadOptions{})
	if err != nil || tier != TierL1 || p.Tags[0] != "a" || p.Attr["k"] != "v" {
		t.Fatalf("later hit = %+v, %v, %v; want the original value from L1", p, tier, err)
	}
}

// TestTypedCodecErrors: encode and decode failures come back wrapped.
func TestTypedCodecErrors(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	tr := NewTiered(NewMemoryStore(MemoryOptions{MaxEntries: 10}), nil, TieredOptions{})
	defer tr.Close()
	unencodable := func(ctx context.Context) (TypedEntry[func()], error) {
		return TypedEntry[func()]{Value: func() {}, TTL: time.Minute}, nil
	}
	var je *json.UnsupportedTypeError
	if _, _, err := GetOrLoadJSON(ctx, tr, "k", unencodable, LoadOptions{}); !errors.As(err, &je) {
		t.Fatalf("encode failure: %v, want a wrapped *json.UnsupportedTypeError", err)
	}
	_ = tr.Set(ctx, "bad", Entry{Value: StringValue("not json"), TTL: time.Minute}, ModeAll)
	load := func(ctx context.Context) (TypedEntry[int], error) {
		return TypedEntry[int]{Value: 1, TTL: time.Minute}, nil
	}
	var se *json.SyntaxError
	if _, _, err := GetOrLoadJSON(ctx, tr, "bad", load, LoadOptions{}); !errors.As(err, &se) {
		t.Fatalf("decode failure: %v, want a wrapped *json.SyntaxError", err)
	}
}
