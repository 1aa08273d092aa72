package client_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"time"

	"github.com/alovago/alova/cache"
	"github.com/alovago/alova/client"
)

// Cache the merged answer of two downstream calls: the transform runs once
// per miss, and what it returns is what is cached and shared.
func ExampleMethod_Transform() {
	var calls atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		switch r.URL.Path {
		case "/users/42":
			fmt.Fprint(w, `{"id":42,"name":"Ada","internal_notes":"…"}`)
		case "/users/42/orders":
			fmt.Fprint(w, `[{"id":1,"total":12.5},{"id":2,"total":3}]`)
		}
	}))
	defer srv.Close()
	tiers := cache.NewTiered(cache.NewMemoryStore(cache.MemoryOptions{}), nil, cache.TieredOptions{})
	defer tiers.Close()
	api := client.New(client.Options{BaseURL: srv.URL, Cache: tiers})

	type Order struct {
		ID    int     `json:"id"`
		Total float64 `json:"total"`
	}
	type Profile struct {
		ID     int     `json:"id"`
		Name   string  `json:"name"`
		Orders []Order `json:"orders"`
	}
	profile := func(id string) *client.Method {
		return api.Get("/users/" + id).Transform(func(ctx context.Context, user *client.Response) (*client.Response, error) {
			orders, err := api.Get("/users/" + id + "/orders").Cache(client.NoCache).Send(ctx)
			if err != nil {
				return nil, err
			}
			var p Profile // only the fields we keep: internal_notes is trimmed
			if err := user.Decode(&p); err != nil {
				return nil, err
			}
			if err := orders.Decode(&p.Orders); err != nil {
				return nil, err
			}
			body, err := json.Marshal(p)
			if err != nil {
				return nil, err
			}
			return user.WithBody(body), nil
		})
	}
	ctx := context.Background()
	for range 2 {
		resp, err := profile("42").Send(ctx)
		if err != nil {
			fmt.Println("error:", err)
			return
		}
		fmt.Println(resp.Source(), resp.String())
	}
	fmt.Println("downstream calls:", calls.Load())
	// Output:
	// MISS {"id":42,"name":"Ada","orders":[{"id":1,"total":12.5},{"id":2,"total":3}]}
	// L1 {"id":42,"name":"Ada","orders":[{"id":1,"total":12.5},{"id":2,"total":3}]}
	// downstream calls: 2
}

// Change a cached answer in place: the update gets the current answer, and
// returning nil leaves the cache as it is.
func ExampleClient_SetCache() {
	srv := products()
	defer srv.Close()
	tiers := cache.NewTiered(cache.NewMemoryStore(cache.MemoryOptions{}), nil, cache.TieredOptions{})
	defer tiers.Close()
	api := client.New(client.Options{BaseURL: srv.URL, Cache: tiers})
	ctx := context.Background()

	_, _ = api.Get("/products/42").Send(ctx)
	err := api.SetCache(ctx, api.Get("/products/42"), cache.ModeAll, func(cur *client.Response) *client.Response {
		if cur == nil {
			return nil // nothing cached: cancel
		}
		var p Product
		if cur.Decode(&p) != nil {
			return nil
		}
		p.Price = 10 // a price change we already know of
		body, err := json.Marshal(p)
		if err != nil {
			return nil
		}
		return cur.WithBody(body)
	})
	if err != nil {
		fmt.Println("error:", err)
	}
	resp, _ := api.Get("/products/42").Send(ctx)
	fmt.Println(resp.Source(), resp.String())
	// Output: L1 {"id":42,"name":"fountain pen","price":10}
}

// A controlled cache answers from a store of your own, or goes downstream.
func ExampleCacheControlled() {
	srv := products()
	defer srv.Close()
	api := client.New(client.Options{BaseURL: srv.URL})
	featured := client.NewResponse(200, nil, []byte(`{"id":42,"name":"fountain pen","price":9.99}`))
	pol := client.CacheControlled(func(ctx context.Context, m *client.Method) (*client.Response, error) {
		if m.URL() == srv.URL+"/products/42" {
			return featured, nil // e.g. from a file loaded at start-up
		}
		return nil, nil // downstream, not cached
	})
	resp, _ := api.Get("/products/42").Cache(pol).Send(context.Background())
	fmt.Println(resp.String())
	// Output: {"id":42,"name":"fountain pen","price":9.99}
}

// Tag the entries of a method whose answer changed shape: entries of the
// previous deploy are misses, loaded again and overwritten.
func ExamplePolicy_Version() {
	srv := products()
	defer srv.Close()
	tiers := cache.NewTiered(cache.NewMemoryStore(cache.MemoryOptions{}), nil, cache.TieredOptions{})
	defer tiers.Close()
	ctx := context.Background()
	v1 := client.New(client.Options{BaseURL: srv.URL, Cache: tiers})
	v2 := client.New(client.Options{BaseURL: srv.URL, Cache: tiers, DefaultCache: map[string]client.Policy{
		http.MethodGet: client.CacheFor(time.Hour).L1For(time.Minute).Version("2"),
	}})
	for _, c := range []*client.Client{v1, v2, v2} {
		resp, _ := c.Get("/products/42").Send(ctx)
		fmt.Println(resp.Source())
	}
	// Output:
	// MISS
	// MISS
	// L1
}
