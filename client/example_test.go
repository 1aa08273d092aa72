package client_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/alovago/alova/cache"
	"github.com/alovago/alova/client"
)

// products is a stand-in downstream service.
func products() *httptest.Server {
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/products/42":
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprint(w, `{"id":42,"name":"fountain pen","price":12.5}`)
		case "/products":
			w.WriteHeader(http.StatusCreated)
		default:
			http.NotFound(w, r)
		}
	}))
}

type Product struct {
	ID    int     `json:"id"`
	Name  string  `json:"name"`
	Price float64 `json:"price"`
}

// Create a client once, send a method, decode its JSON answer.
func Example() {
	srv := products()
	defer srv.Close()

	tiers := cache.NewTiered(cache.NewMemoryStore(cache.MemoryOptions{MaxEntries: 10_000}), nil, cache.TieredOptions{}) // add cache.NewRedisStore(rdb, cache.RedisOptions{KeyPrefix: "app:"}) for L2
	defer tiers.Close()
	api := client.New(client.Options{BaseURL: srv.URL, Timeout: 2 * time.Second, Cache: tiers})

	ctx := context.Background()
	for range 2 {
		resp, err := api.Get("/products/42").Send(ctx)
		if err != nil {
			fmt.Println("error:", err)
			return
		}
		var p Product
		if err := resp.Decode(&p); err != nil {
			fmt.Println("error:", err)
			return
		}
		// The second send is answered by the cache.
		fmt.Printf("%s costs %.2f (X-Cache: %s)\n", p.Name, p.Price, resp.Source())
	}
	// Output:
	// fountain pen costs 12.50 (X-Cache: MISS)
	// fountain pen costs 12.50 (X-Cache: L1)
}

// A non-2xx answer is an *HTTPError.
func ExampleHTTPError() {
	srv := products()
	defer srv.Close()
	api := client.New(client.Options{BaseURL: srv.URL})

	_, err := api.Get("/products/7").Send(context.Background())
	var he *client.HTTPError
	if errors.As(err, &he) && he.StatusCode == http.StatusNotFound {
		fmt.Println("no such product")
	}
	// Output: no such product
}

// A middleware binds the client to each request; handlers take it back from
// the context. Downstream calls then carry the request's X-Request-Id and end
// when the caller hangs up.
func ExampleBind() {
	downstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, r.Header.Get("X-Request-Id"))
	}))
	defer downstream.Close()
	api := client.New(client.Options{BaseURL: downstream.URL})

	withClient := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			next.ServeHTTP(w, client.Bind(r, api, nil))
		})
	}
	handler := withClient(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		resp, err := client.FromContext(r.Context()).Get("/echo").Send(r.Context())
		if err != nil {
			http.Error(w, "downstream failed", http.StatusBadGateway)
			return
		}
		fmt.Fprintf(w, "downstream saw request id %s", resp.Bytes())
	}))

	req := httptest.NewRequest(http.MethodGet, "/", nil)
	req.Header.Set("X-Request-Id", "abc-123")
	rec := httptest.NewRecorder()
	handler.ServeHTTP(rec, req)
	fmt.Println(rec.Body.String())
	// Output: downstream saw request id abc-123
}

// A cached list names its source: creating a product drops it, in every
// process that shares the cache.
func ExampleMethod_HitSource() {
	srv := products()
	defer srv.Close()
	tiers := cache.NewTiered(cache.NewMemoryStore(cache.MemoryOptions{MaxEntries: 1000}), nil, cache.TieredOptions{})
	defer tiers.Close()
	api := client.New(client.Options{BaseURL: srv.URL, Cache: tiers})
	ctx := context.Background()

	product := func() *client.Method { return api.Get("/products/42").HitSource(client.ByName("createProduct")) }
	r, _ := product().Send(ctx)
	fmt.Println("first:", r.Source())
	r, _ = product().Send(ctx)
	fmt.Println("again:", r.Source())

	_, _ = api.Post("/products", Product{Name: "ink"}).Name("createProduct").Send(ctx)
	r, _ = product().Send(ctx)
	fmt.Println("after createProduct:", r.Source())
	// Output:
	// first: MISS
	// again: L1
	// after createProduct: MISS
}

// Invalidate drops entries by method, name, URL prefix or pattern.
func ExampleClient_Invalidate() {
	srv := products()
	defer srv.Close()
	tiers := cache.NewTiered(cache.NewMemoryStore(cache.MemoryOptions{MaxEntries: 1000}), nil, cache.TieredOptions{})
	defer tiers.Close()
	api := client.New(client.Options{BaseURL: srv.URL, Cache: tiers})
	ctx := context.Background()

	_, _ = api.Get("/products/42").Send(ctx)
	if err := api.Invalidate(ctx, client.ByURLPrefix("/products/")); err != nil {
		fmt.Println("error:", err)
	}
	_, err := api.QueryCache(ctx, api.Get("/products/42"), cache.ModeAll)
	fmt.Println("cached after Invalidate:", !errors.Is(err, cache.ErrMiss))
	// Output: cached after Invalidate: false
}

// Policies say how long, and in which tiers, answers are kept.
func ExampleCacheFor() {
	srv := products()
	defer srv.Close()
	tiers := cache.NewTiered(cache.NewMemoryStore(cache.MemoryOptions{MaxEntries: 1000}), nil, cache.TieredOptions{})
	defer tiers.Close()
	api := client.New(client.Options{BaseURL: srv.URL, Cache: tiers, DefaultCache: map[string]client.Policy{}})
	ctx := context.Background()

	for range 2 {
		r, _ := api.Get("/products/42").Cache(client.CacheFor(time.Minute)).Send(ctx)
		fmt.Println(r.Source())
	}
	// Output:
	// MISS
	// L1
}
