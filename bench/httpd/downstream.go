package main

import (
	"encoding/json"
	"hash/fnv"
	"net/http"
	"strings"
	"time"
)

// product is the downstream's answer, the shape of the example server's demo
// downstream: {"id":"42","name":"Product 42","price_cents":5123}.
type product struct {
	ID    string `json:"id"`
	Name  string `json:"name"`
	Price int    `json:"price_cents"`
}

// downstreamHandler answers GET /products/{id} with a product after latency;
// ids starting with "missing" answer 404.
func downstreamHandler(latency time.Duration) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /products/{id}", func(w http.ResponseWriter, r *http.Request) {
		if latency > 0 {
			t := time.NewTimer(latency)
			select {
			case <-t.C:
			case <-r.Context().Done():
				t.Stop()
				return
			}
		}
		id := r.PathValue("id")
		w.Header().Set("Content-Type", "application/json")
		if strings.HasPrefix(id, "missing") {
			w.WriteHeader(http.StatusNotFound)
			_, _ = w.Write([]byte(`{"error":{"code":"not_found","message":"no such resource"}}`))
			return
		}
		h := fnv.New32a()
		h.Write([]byte(id))
		_ = json.NewEncoder(w).Encode(product{ID: id, Name: "Product " + id, Price: 100 + int(h.Sum32()%10_000)})
	})
	return mux
}
