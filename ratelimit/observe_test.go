package ratelimit_test

import (
	"context"
	"testing"

	"github.com/alovago/alova/ratelimit"
)

// TestOnConsume: every Allow is told, granted or refused.
func TestOnConsume(t *testing.T) {
	var allowed, refused int
	l := ratelimit.New(ratelimit.NewMemoryStore(), ratelimit.Options{Points: 2,
		OnConsume: func(_ context.Context, r ratelimit.Result, err error) {
			switch {
			case err != nil:
				t.Errorf("OnConsume err = %v", err)
			case r.Allowed:
				allowed++
			default:
				refused++
			}
		}})
	for range 3 {
		_, _ = l.Allow(context.Background(), "k")
	}
	if allowed != 2 || refused != 1 {
		t.Errorf("OnConsume told %d allowed, %d refused; want 2, 1", allowed, refused)
	}
}
