package main

import (
	"context"
	"io"
	"net/http"
	"sync"

	"github.com/go-chi/chi/v5"
	chimw "github.com/go-chi/chi/v5/middleware"
)

// floorHandler is the floor: chi with the example server's middleware
// (RequestID, ClientIPFromRemoteAddr, the access log when log is not nil,
// Recoverer and one context.WithValue standing for the request-scoped
// client, in the example's order), and a sync.Map of answer bodies in place
// of alova's cache and client. A miss calls the downstream once per caller
// (no single flight) and keeps a 200's body forever. It is the least a chi
// server doing the example's job can cost: with log nil (floor) without the
// example's access log, with it (floorlog) with it.
func floorHandler(downstream string, log *accessLog) http.Handler {
	f := &floor{downstream: downstream, client: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}}
	r := chi.NewRouter()
	r.Use(chimw.RequestID, chimw.ClientIPFromRemoteAddr, log.Handler, chimw.Recoverer, withValue)
	r.Get("/api/products/{id}", f.product)
	return r
}

type floor struct {
	downstream string
	client     *http.Client
	bodies     sync.Map // id → []byte
}

type ctxKey struct{}

// withValue puts one value in the request's context, as the library's
// middleware.Client does with the request-scoped client.
func withValue(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), ctxKey{}, r)))
	})
}

func (f *floor) product(w http.ResponseWriter, r *http.Request) {
	id := chi.URLParam(r, "id")
	if !validID(id) {
		http.Error(w, `{"error":{"code":"invalid_id"}}`, http.StatusBadRequest)
		return
	}
	source := "L1"
	body, ok := f.bodies.Load(id)
	if !ok {
		b, status, err := f.fetch(r.Context(), id)
		if err != nil {
			http.Error(w, `{"error":{"code":"downstream_unavailable"}}`, http.StatusBadGateway)
			return
		}
		if status != http.StatusOK {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(status)
			_, _ = w.Write(b)
			return
		}
		f.bodies.Store(id, b)
		body, source = b, "MISS"
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Cache", source)
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(body.([]byte))
}

func (f *floor) fetch(ctx context.Context, id string) ([]byte, int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, f.downstream+"/products/"+id, nil)
	if err != nil {
		return nil, 0, err
	}
	resp, err := f.client.Do(req)
	if err != nil {
		return nil, 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return b, resp.StatusCode, err
}

// validID is the example server's check: 1–64 letters, digits, '-' and '_'.
func validID(id string) bool {
	if len(id) == 0 || len(id) > 64 {
		return false
	}
	for _, c := range []byte(id) {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}
