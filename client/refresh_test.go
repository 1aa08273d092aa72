package client_test

import (
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/alovago/alova/cache"
	"github.com/alovago/alova/client"
	"github.com/alovago/alova/internal/testredis"
)

// TestRefreshAheadSend: a send that hits an answer close to its end is
// answered from the cache and refreshes it in the background: the next
// sends get the new answer, and none waited for the downstream.
func TestRefreshAheadSend(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	d := newDownstream(t, nil)
	tiers := cache.NewTiered(cache.NewMemoryStore(cache.MemoryOptions{MaxEntries: 10}), nil, cache.TieredOptions{NoJitter: true})
	defer tiers.Close()
	c := client.New(client.Options{BaseURL: d.URL, Cache: tiers})
	pol := client.CacheFor(300*time.Millisecond).RefreshAhead(250*time.Millisecond, 0)
	send := func() *client.Response {
		t.Helper()
		resp, err := c.Get("/p").Cache(pol).Send(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	if r := send(); r.Source() != cache.TierOrigin {
		t.Fatalf("first send: Source %v, want MISS", r.Source())
	}
	time.Sleep(100 * time.Millisecond) // 200 ms left: due
	if r := send(); r.Source() != cache.TierL1 || decodeEcho(t, r.Bytes()).N != 1 {
		t.Fatalf("due send: Source %v, N %d; want the cached answer 1 from L1", r.Source(), decodeEcho(t, r.Bytes()).N)
	}
	eventually(t, "the background refresh", func() bool { return d.calls.Load() == 2 })
	eventually(t, "the refreshed answer", func() bool {
		r := send()
		return r.Source() == cache.TierL1 && decodeEcho(t, r.Bytes()).N == 2
	})
}

// TestLockSendAcrossInstances: two clients, each with its own tiers on one
// Redis, as two instances: concurrent cold sends make one downstream call.
func TestLockSendAcrossInstances(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	d := newDownstream(t, func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(50 * time.Millisecond)
		_, _ = w.Write([]byte(`{"id":1}`))
	})
	_, rdb := testredis.Mini(t)
	var clients []*client.Client
	for range 2 {
		tiers := cache.NewTiered(cache.NewMemoryStore(cache.MemoryOptions{MaxEntries: 10}),
			cache.NewRedisStore(rdb, cache.RedisOptions{KeyPrefix: "lock-test:", Timeout: 2 * time.Second}), cache.TieredOptions{})
		t.Cleanup(func() { _ = tiers.Close() })
		clients = append(clients, client.New(client.Options{BaseURL: d.URL, Cache: tiers,
			DefaultCache: map[string]client.Policy{http.MethodGet: client.CacheFor(time.Minute).Lock(2 * time.Second)}}))
	}
	var wg sync.WaitGroup
	for _, c := range clients {
		for range 50 {
			wg.Go(func() {
				if _, err := c.Get("/p/1").Send(ctx); err != nil {
					t.Error(err)
				}
			})
		}
	}
	wg.Wait()
	if n := d.calls.Load(); n != 1 {
		t.Fatalf("downstream calls = %d, want 1 for 100 sends on 2 instances", n)
	}
}
