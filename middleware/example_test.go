package middleware_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/go-chi/chi/v5"
	chimw "github.com/go-chi/chi/v5/middleware"

	"github.com/alovago/alova/client"
	"github.com/alovago/alova/middleware"
	"github.com/alovago/alova/ratelimit"
)

// A handler calls a downstream service through the request-scoped client:
// the request id chi generated travels with the call.
func ExampleClient() {
	products := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Println("downstream got a request id:", r.Header.Get("X-Request-Id") != "")
		_, _ = io.WriteString(w, `{"id":"42","name":"Lamp"}`)
	}))
	defer products.Close()
	api := client.New(client.Options{BaseURL: products.URL})

	r := chi.NewRouter()
	r.Use(chimw.RequestID, middleware.Client(api))
	r.Get("/products/{id}", func(w http.ResponseWriter, r *http.Request) {
		c := client.FromContext(r.Context()) // cancelled if the caller hangs up
		var p struct{ Name string }
		resp, err := c.Get("/products/" + chi.URLParam(r, "id")).Send(r.Context())
		if err == nil {
			err = resp.Decode(&p)
		}
		if err != nil {
			middleware.WriteError(w, http.StatusBadGateway, middleware.Error{Code: "downstream_failed", Message: "the product service failed"})
			return
		}
		middleware.WriteJSON(w, http.StatusOK, map[string]string{"name": p.Name})
	})

	rec := httptest.NewRecorder()
	r.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/products/42", nil))
	fmt.Print(rec.Code, " ", rec.Body.String())
	// Output:
	// downstream got a request id: true
	// 200 {"name":"Lamp"}
}

// Two requests per minute per client IP; the third is refused with 429.
func ExampleRateLimit() {
	lim := ratelimit.New(ratelimit.NewMemoryStore(), ratelimit.Options{Points: 2, Duration: time.Minute})
	r := chi.NewRouter()
	r.Use(chimw.ClientIPFromRemoteAddr, middleware.RateLimit(lim, middleware.RateLimitOptions{}))
	r.Get("/", func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "ok\n") })

	for range 3 {
		req := httptest.NewRequest(http.MethodGet, "/", nil)
		req.RemoteAddr = "203.0.113.7:40000"
		rec := httptest.NewRecorder()
		r.ServeHTTP(rec, req)
		fmt.Print(rec.Code, " remaining=", rec.Header().Get("X-RateLimit-Remaining"), " ", rec.Body.String())
	}
	// Output:
	// 200 remaining=1 ok
	// 200 remaining=0 ok
	// 429 remaining=0 {"error":{"code":"rate_limited","message":"too many requests; retry later","retry_after":60}}
}
