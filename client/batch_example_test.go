package client_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/alovago/alova/cache"
	"github.com/alovago/alova/client"
)

// SendBatch: products by id, the ones not cached in one downstream call
// (GET /products?ids=…), each cached under the key a single send uses.
func ExampleClient_SendBatch() {
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Println("  downstream:", r.URL.RawQuery)
		out := map[string]map[string]string{}
		for _, id := range strings.Split(r.URL.Query().Get("ids"), ",") {
			out[id] = map[string]string{"id": id}
		}
		_ = json.NewEncoder(w).Encode(out)
	}))
	defer api.Close()
	tiers := cache.NewTiered(cache.NewMemoryStore(cache.MemoryOptions{MaxEntries: 1000}), nil, cache.TieredOptions{})
	defer tiers.Close()
	c := client.New(client.Options{BaseURL: api.URL, Cache: tiers})

	products := client.Batch{
		Key: func(id string) string { return "product:" + id },
		Request: func(c *client.Client, ids []string) *client.Method {
			return c.Get("/products").Param("ids", strings.Join(ids, ","))
		},
		Split: func(resp *client.Response) (map[string][]byte, error) {
			var m map[string]json.RawMessage
			err := resp.Decode(&m)
			out := make(map[string][]byte, len(m))
			for id, b := range m {
				out[id] = b
			}
			return out, err
		},
		Policy: client.CacheFor(time.Minute),
	}
	ctx := context.Background()
	_, _ = c.SendBatch(ctx, []string{"1", "2"}, products)
	got, _ := c.SendBatch(ctx, []string{"1", "2", "3"}, products)
	for _, id := range []string{"1", "2", "3"} {
		fmt.Println(id, got[id].Source(), got[id].String())
	}
	// Output:
	//   downstream: ids=1%2C2
	//   downstream: ids=3
	// 1 L1 {"id":"1"}
	// 2 L1 {"id":"2"}
	// 3 MISS {"id":"3"}
}
