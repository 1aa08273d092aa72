package main

import "net/http"

// ceilingBody is the one product the ceiling answers, as long as a product
// of a 3-digit id from the downstream.
var ceilingBody = []byte(`{"id":"123","name":"Product 123","price_cents":4321}` + "\n")

// ceilingHandler is the static ceiling: a bare net/http handler that writes
// the same headers as the servers under test and a fixed body, whatever the
// path. No router, no middleware, no lookup.
func ceilingHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("X-Cache", "L1")
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(ceilingBody)
	})
}
