package client_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alovago/alova/cache"
	"github.com/alovago/alova/client"
	"github.com/alovago/alova/internal/retryctx"
)

type startKey struct{}

// TestStartSend: the hook wraps every send, hits included, its context
// reaches the other hooks, its end sees the tier, and a retry carries the
// attempt it follows.
func TestStartSend(t *testing.T) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) == 1 {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte(`{"ok":true}`))
	}))
	defer srv.Close()
	tiers := cache.NewTiered(cache.NewMemoryStore(cache.MemoryOptions{}), nil, cache.TieredOptions{})
	defer tiers.Close()

	type sent struct {
		retry   bool
		attempt int
		delay   time.Duration
		tier    cache.Tier
		err     bool
	}
	var got []sent
	api := client.New(client.Options{
		BaseURL: srv.URL,
		Cache:   tiers,
		StartSend: func(ctx context.Context, m *client.Method) (context.Context, func(*client.Response, error)) {
			ev, ok := retryctx.From(ctx)
			s := sent{retry: ok, attempt: ev.N, delay: ev.Delay}
			return context.WithValue(ctx, startKey{}, m.Verb()), func(resp *client.Response, err error) {
				if resp != nil {
					s.tier = resp.Source()
				}
				s.err = err != nil
				got = append(got, s)
			}
		},
		BeforeRequest: func(ctx context.Context, _ *client.Method) error {
			if ctx.Value(startKey{}) != http.MethodGet {
				t.Error("BeforeRequest did not get StartSend's context")
			}
			return nil
		},
	})
	ctx := context.Background()
	for range 2 {
		if _, err := client.Retry(api.Get("/p"), client.RetryOptions{Delay: time.Millisecond}).Send(ctx); err != nil {
			t.Fatal(err)
		}
	}
	want := []sent{
		{err: true},
		{retry: true, attempt: 1, delay: time.Millisecond, tier: cache.TierOrigin},
		{tier: cache.TierL1},
	}
	if len(got) != len(want) {
		t.Fatalf("StartSend saw %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("send %d = %+v, want %+v", i, got[i], want[i])
		}
	}
}

// TestRetryContextDoesNotAllocate: the accessor alovaotel calls on every
// send is free on a plain context.
func TestRetryContextDoesNotAllocate(t *testing.T) {
	ctx := context.WithValue(context.Background(), startKey{}, 1)
	if n := testing.AllocsPerRun(100, func() { _, _ = retryctx.From(ctx) }); n != 0 {
		t.Errorf("retryctx.From allocates %v times, want 0", n)
	}
}
