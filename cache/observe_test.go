package cache

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

// TestOnL2Call: every L2 call is reported with its op and outcome, and the
// breaker's state shows in Stats.L2CoolingDown.
func TestOnL2Call(t *testing.T) {
	var (
		mu    sync.Mutex
		calls []L2Call
	)
	l2 := &fakeShared{}
	tr := NewTiered(nil, l2, TieredOptions{L2Failures: 1, L2Cooldown: time.Hour, NoInvalidation: true,
		OnL2Call: func(_ context.Context, c L2Call) {
			mu.Lock()
			calls = append(calls, c)
			mu.Unlock()
		}})
	defer tr.Close()
	ctx := context.Background()
	load := func(context.Context) (Entry, error) { return Entry{Value: StringValue("v"), TTL: time.Minute}, nil }
	if _, _, err := tr.GetOrLoad(ctx, "k", load, LoadOptions{}); err != nil {
		t.Fatal(err)
	}
	if tr.Stats().L2CoolingDown {
		t.Fatal("Stats().L2CoolingDown = true before any failure")
	}
	boom := errors.New("boom")
	l2.setFail(boom)
	_, _, _ = tr.Get(ctx, "k", ModeAll)
	if !tr.Stats().L2CoolingDown {
		t.Fatal("Stats().L2CoolingDown = false after L2Failures failures")
	}
	_, _, _ = tr.Get(ctx, "k", ModeAll) // skipped: not reported

	mu.Lock()
	defer mu.Unlock()
	want := []struct {
		op  string
		err error
	}{{"get", ErrMiss}, {"get", ErrMiss}, {"set", nil}, {"get", boom}}
	if len(calls) != len(want) {
		t.Fatalf("OnL2Call told %d calls %+v, want %d", len(calls), calls, len(want))
	}
	for i, w := range want {
		if calls[i].Op != w.op || !errors.Is(calls[i].Err, w.err) || (w.err == nil) != (calls[i].Err == nil) {
			t.Errorf("call %d = %q, %v; want %q, %v", i, calls[i].Op, calls[i].Err, w.op, w.err)
		}
		if calls[i].Duration < 0 {
			t.Errorf("call %d: Duration %v < 0", i, calls[i].Duration)
		}
	}
}
