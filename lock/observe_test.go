package lock_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/alovago/alova/lock"
)

// TestOnAcquire: the hook sees each Acquire with its wait and error.
func TestOnAcquire(t *testing.T) {
	s := lock.NewMemoryStore()
	var errs []error
	var waits []time.Duration
	opts := lock.Options{Timeout: 30 * time.Millisecond, Interval: 5 * time.Millisecond, NoRenew: true,
		OnAcquire: func(_ context.Context, waited time.Duration, err error) {
			waits = append(waits, waited)
			errs = append(errs, err)
		}}
	ctx := context.Background()
	l, err := lock.Acquire(ctx, s, []string{"a"}, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Release(ctx)
	if _, err := lock.Acquire(ctx, s, []string{"a"}, opts); !errors.Is(err, lock.ErrTimeout) {
		t.Fatalf("second Acquire = %v, want ErrTimeout", err)
	}
	if len(errs) != 2 || errs[0] != nil || !errors.Is(errs[1], lock.ErrTimeout) {
		t.Fatalf("OnAcquire told %v, want [nil, ErrTimeout]", errs)
	}
	if waits[1] < opts.Timeout {
		t.Errorf("timed-out wait = %v, want >= %v", waits[1], opts.Timeout)
	}
}
