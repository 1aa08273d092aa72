package client_test

import (
	"context"
	"runtime"
	"testing"
	"weak"

	"github.com/alovago/alova/cache"
	"github.com/alovago/alova/client"
)

// What a send leaves behind (the L1 entry, its decoded answer, net/http's
// connection pool) does not keep the method alive: the cache owns copies of
// what it keeps, so a method built per request is garbage after it.
func TestSentMethodIsNotRetained(t *testing.T) {
	d := newCounting(t)
	tr := cache.NewTiered(cache.NewMemoryStore(cache.MemoryOptions{}), nil, cache.TieredOptions{})
	defer tr.Close()
	api := client.New(client.Options{BaseURL: d.URL, Cache: tr})
	ctx := context.Background()
	var ws []weak.Pointer[client.Method]
	for _, tier := range []cache.Tier{cache.TierOrigin, cache.TierL1} {
		m := api.Get("/products/42").Param("lang", "en")
		resp, err := m.Send(ctx)
		if err != nil || resp.Source() != tier {
			t.Fatalf("send = %v, %v; want an answer from %v", resp, err, tier)
		}
		ws = append(ws, weak.Make(m))
	}
	runtime.GC()
	for i, w := range ws {
		if w.Value() != nil {
			t.Errorf("method %d (sent, then dropped) is still reachable after a GC", i)
		}
	}
	// The entry is still found by a new method.
	if resp, err := api.Get("/products/42").Param("lang", "en").Send(ctx); err != nil || resp.Source() != cache.TierL1 {
		t.Fatalf("send after GC = %v, %v; want an L1 hit", resp, err)
	}
}
