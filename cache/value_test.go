package cache

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestValue(t *testing.T) {
	t.Parallel()
	b := []byte("héllo\x00")
	v := ValueOf(b)
	b[0] = 'J'
	if v.String() != "héllo\x00" || v.Len() != len("héllo\x00") {
		t.Fatalf("ValueOf copied %q (len %d), then saw the caller's change", v.String(), v.Len())
	}
	c := v.Bytes()
	c[0] = 'X'
	if v.String() != "héllo\x00" {
		t.Fatalf("changing Bytes() changed the Value: %q", v.String())
	}
	if d := v.Bytes(); &d[0] == &c[0] {
		t.Fatal("two Bytes() calls returned the same memory")
	}
	var w bytes.Buffer
	if n, err := v.WriteTo(&w); err != nil || n != int64(v.Len()) || w.String() != v.String() {
		t.Fatalf("WriteTo = %d, %v, wrote %q", n, err, w.String())
	}
	if s := StringValue("s"); s.String() != "s" || s.Len() != 1 {
		t.Errorf("StringValue(s) = %q", s.String())
	}
	own := []byte("own")
	if o := ValueOf(own); o.String() != "own" {
		t.Errorf("OwnValue = %q", o.String())
	}

	var zero Value
	if zero.String() != "" || zero.Len() != 0 || zero.Bytes() != nil {
		t.Errorf("zero Value: %q, %d, %v", zero.String(), zero.Len(), zero.Bytes())
	}
	for _, empty := range []Value{ValueOf(nil), ValueOf([]byte{}), ValueOf(nil), ValueOf([]byte{}), StringValue("")} {
		if empty != zero {
			t.Errorf("an empty Value %#v is not the zero Value", empty)
		}
	}
	var sb strings.Builder
	if n, err := zero.WriteTo(&sb); n != 0 || err != nil {
		t.Errorf("zero WriteTo = %d, %v", n, err)
	}
}

type memoKey struct{}
type otherMemoKey struct{}

// An L1 entry decodes once per Memo key, whoever reads it; a value outside
// L1 decodes each time; errors are not remembered.
func TestValueMemo(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	tr := NewTiered(NewMemoryStore(MemoryOptions{}), nil, TieredOptions{})
	defer tr.Close()
	if err := tr.Set(ctx, "k", Entry{Value: StringValue("42"), TTL: time.Hour}, ModeAll); err != nil {
		t.Fatal(err)
	}
	calls := 0
	decode := func(s string) (any, error) {
		calls++
		return &struct{ s string }{s}, nil
	}
	var first any
	for i := range 3 {
		v, tier, err := tr.Get(ctx, "k", ModeAll)
		if err != nil || tier != TierL1 {
			t.Fatalf("Get = %v, %v", tier, err)
		}
		got, err := v.Memo(memoKey{}, decode)
		if err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			first = got
		} else if got != first {
			t.Fatalf("hit %d decoded anew: %p, first %p", i, got, first)
		}
	}
	if calls != 1 {
		t.Fatalf("3 hits of one entry called decode %d times, want 1", calls)
	}
	// Another key is not answered with the first key's result.
	v, _, _ := tr.Get(ctx, "k", ModeAll)
	other, _ := v.Memo(otherMemoKey{}, func(s string) (any, error) { return "other:" + s, nil })
	if other != "other:42" {
		t.Fatalf("Memo with another key = %v", other)
	}
	// A value that is not from L1 has no memo.
	calls = 0
	plain := StringValue("7")
	_, _ = plain.Memo(memoKey{}, decode)
	_, _ = plain.Memo(memoKey{}, decode)
	if calls != 2 {
		t.Fatalf("a plain value decoded %d times in 2 Memos, want 2", calls)
	}
	// An error is returned and not remembered.
	if err := tr.Set(ctx, "bad", Entry{Value: StringValue("x"), TTL: time.Hour}, ModeAll); err != nil {
		t.Fatal(err)
	}
	fails := 0
	for range 2 {
		v, _, _ := tr.Get(ctx, "bad", ModeAll)
		if _, err := v.Memo(memoKey{}, func(string) (any, error) { fails++; return nil, errors.New("bad") }); err == nil {
			t.Fatal("Memo lost the decoder's error")
		}
	}
	if fails != 2 {
		t.Fatalf("a failing decode ran %d times in 2 Memos, want 2 (errors are not remembered)", fails)
	}
}

// GetL1 answers what GetOrLoad would answer from L1 at once, and nothing
// when the options ask for more.
func TestGetL1(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	tr := NewTiered(NewMemoryStore(MemoryOptions{}), nil, TieredOptions{})
	defer tr.Close()
	if _, hit, err := tr.GetL1("k", LoadOptions{}); hit || err != nil {
		t.Fatalf("GetL1 of an empty cache = %v, %v", hit, err)
	}
	if s := tr.Stats(); s.L1Misses != 0 {
		t.Fatalf("a GetL1 miss was counted: %+v", s)
	}
	if err := tr.Set(ctx, "k", Entry{Value: StringValue("v"), TTL: time.Hour}, ModeAll); err != nil {
		t.Fatal(err)
	}
	v, hit, err := tr.GetL1("k", LoadOptions{})
	if !hit || err != nil || v.String() != "v" {
		t.Fatalf("GetL1 = %q, %v, %v", v.String(), hit, err)
	}
	if s := tr.Stats(); s.L1Hits != 1 {
		t.Fatalf("L1Hits = %d after one GetL1 hit", s.L1Hits)
	}
	for name, o := range map[string]LoadOptions{
		"Force":                  {Force: true},
		"ModeL2":                 {Mode: ModeL2},
		"due for a refresh":      {RefreshBefore: 2 * time.Hour},
		"stale":                  {StaleFor: 2 * time.Hour},
		"stale within a refresh": {RefreshBefore: time.Minute, StaleFor: 59 * time.Minute},
	} {
		if _, hit, _ := tr.GetL1("k", o); hit {
			t.Errorf("GetL1 with %s answered from L1; GetOrLoad would refresh", name)
		}
	}
	// An entry with an hour left, outside a 10-minute refresh window: a
	// plain hit, nothing to refresh.
	if _, hit, err := tr.GetL1("k", LoadOptions{RefreshBefore: 10 * time.Minute, StaleFor: time.Minute}); !hit || err != nil {
		t.Errorf("GetL1 of a fresh entry with refresh-ahead = %v, %v; want a hit", hit, err)
	}
	boom := errors.New("boom")
	_, _, _ = tr.GetOrLoad(ctx, "neg", func(context.Context) (Entry, error) { return Entry{}, Negative(boom, time.Hour) }, LoadOptions{})
	if _, hit, err := tr.GetL1("neg", LoadOptions{}); !hit || !errors.Is(err, boom) {
		t.Fatalf("GetL1 of a negative entry = %v, %v; want a hit with its error", hit, err)
	}
}
