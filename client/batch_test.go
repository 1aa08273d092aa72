package client_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/alovago/alova/cache"
	"github.com/alovago/alova/client"
)

// productsBatch is a Batch on the downstream GET /products?ids=a,b,…,
// answering {"a": {...}, "b": {...}}.
var productsBatch = client.Batch{
	Key: func(id string) string { return "product:" + id },
	Request: func(c *client.Client, ids []string) *client.Method {
		return c.Get("/products").Param("ids", strings.Join(ids, ","))
	},
	Split: func(resp *client.Response) (map[string][]byte, error) {
		var m map[string]json.RawMessage
		if err := resp.Decode(&m); err != nil {
			return nil, err
		}
		out := make(map[string][]byte, len(m))
		for id, b := range m {
			out[id] = b
		}
		return out, nil
	},
	Policy: client.CacheFor(time.Minute),
}

// batchDownstream answers GET /products?ids=… with one object per id, and
// records the ids of each call.
func batchDownstream(t *testing.T) (*downstream, func() [][]string) {
	var mu sync.Mutex
	var calls [][]string
	d := newDownstream(t, func(w http.ResponseWriter, r *http.Request) {
		ids := strings.Split(r.URL.Query().Get("ids"), ",")
		mu.Lock()
		calls = append(calls, ids)
		mu.Unlock()
		out := map[string]any{}
		for _, id := range ids {
			if !strings.HasPrefix(id, "missing") {
				out[id] = map[string]string{"id": id}
			}
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(out)
	})
	return d, func() [][]string { mu.Lock(); defer mu.Unlock(); return calls }
}

func idList(from, to int) []string {
	var out []string
	for i := from; i < to; i++ {
		out = append(out, fmt.Sprint(i))
	}
	return out
}

// TestSendBatch: 1,000 ids with 900 cached make one downstream call for the
// 100 missing ones; each answer is the id's own; a single send of one id
// finds the batch's entry.
func TestSendBatch(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	d, calls := batchDownstream(t)
	tiers := cache.NewTiered(cache.NewMemoryStore(cache.MemoryOptions{MaxEntries: 2000}), nil, cache.TieredOptions{})
	defer tiers.Close()
	c := client.New(client.Options{BaseURL: d.URL, Cache: tiers})

	if _, err := c.SendBatch(ctx, idList(0, 900), productsBatch); err != nil {
		t.Fatal(err)
	}
	got, err := c.SendBatch(ctx, idList(0, 1000), productsBatch)
	if err != nil {
		t.Fatal(err)
	}
	if cs := calls(); len(cs) != 2 || len(cs[1]) != 100 || cs[1][0] != "900" {
		t.Fatalf("downstream calls: %d, the second with %d ids; want 2, the second with the 100 missing", len(cs), len(cs[1]))
	}
	if len(got) != 1000 {
		t.Fatalf("SendBatch answered %d ids, want 1000", len(got))
	}
	for _, id := range []string{"0", "899", "900", "999"} {
		want := cache.TierL1
		if id >= "900" && len(id) == 3 {
			want = cache.TierOrigin
		}
		if r := got[id]; r.String() != `{"id":"`+id+`"}` || r.Source() != want {
			t.Fatalf("answer[%s] = %s from %v, want its own object from %v", id, r.Bytes(), r.Source(), want)
		}
	}
	// A single send under the same key is answered by the batch's entry.
	r, err := c.Get("/products/950").CacheKey("product:950").Send(ctx)
	if err != nil || r.Source() != cache.TierL1 || r.String() != `{"id":"950"}` {
		t.Fatalf("single send = %s from %v, %v; want the batch's entry from L1", r.Bytes(), r.Source(), err)
	}
	// Ids the downstream does not know are absent, and not cached.
	got, err = c.SendBatch(ctx, []string{"1", "missing-1"}, productsBatch)
	if _, ok := got["missing-1"]; ok || err != nil || len(got) != 1 {
		t.Fatalf("batch with an unknown id = %v, %v", got, err)
	}
}

// TestSendBatchErrors: a Batch without its funcs, and a failing downstream.
func TestSendBatchErrors(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	d := newDownstream(t, func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusBadGateway) })
	c := client.New(client.Options{BaseURL: d.URL})
	func() {
		defer func() {
			if p := recover(); p == nil || !strings.Contains(fmt.Sprint(p), "Key, Request and Split") {
				t.Errorf("SendBatch of an empty Batch panicked with %v, want a message naming Key, Request and Split", p)
			}
		}()
		_, _ = c.SendBatch(ctx, []string{"1"}, client.Batch{})
	}()
	var he *client.HTTPError
	if _, err := c.SendBatch(ctx, []string{"1"}, productsBatch); !errors.As(err, &he) || he.StatusCode != 502 {
		t.Fatalf("failing downstream: %v, want an *HTTPError 502", err)
	}
}
