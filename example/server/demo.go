package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/alovago/alova/middleware"
)

// demo is the built-in downstream: the services a real server would call,
// on a loopback listener of its own so that the server reaches it over HTTP
// exactly as it would reach a real one.
//
//	GET  /products/{id}  a product, after the configured latency, with an
//	                     ETag: If-None-Match with it answers 304 without a
//	                     body; ids starting with "missing" answer 404
//	POST /sms/send       {"to": key, "code": code}: the SMS/e-mail gateway;
//	                     remembers the last code delivered to each key
//
// Both answer 503 for the configured fraction of calls, spread evenly;
// products answer 503 every time while the demo is switched down (the
// admin route POST /demo/down).
type demo struct {
	latency  time.Duration
	failRate float64
	log      *slog.Logger

	products   atomic.Int64 // product calls received
	deliveries atomic.Int64 // codes delivered (answered 200)
	cancelled  atomic.Int64 // product calls whose caller went away before the answer
	bodyBytes  atomic.Int64 // product body bytes sent
	notMod     atomic.Int64 // product calls answered 304
	down       atomic.Bool  // products answer 503

	mu      sync.Mutex
	failAcc map[string]float64 // per endpoint, see fail
	outbox  map[string]string  // key → last code delivered

	srv *http.Server
	url string
}

// maxOutbox bounds the demo gateway's memory: past it, the outbox starts over.
const maxOutbox = 10_000

// startDemo starts the demo downstream on a free loopback port.
func startDemo(latency time.Duration, failRate float64, log *slog.Logger) (*demo, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	d := newDemo(latency, failRate, log)
	d.url = "http://" + ln.Addr().String()
	d.srv = &http.Server{Handler: d.routes(), ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := d.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("demo downstream stopped", "err", err)
		}
	}()
	return d, nil
}

func newDemo(latency time.Duration, failRate float64, log *slog.Logger) *demo {
	return &demo{latency: latency, failRate: failRate, log: log,
		failAcc: map[string]float64{}, outbox: map[string]string{}}
}

// URL is the demo's base URL, e.g. http://127.0.0.1:41234.
func (d *demo) URL() string { return d.url }

// Close stops the demo downstream.
func (d *demo) Close(ctx context.Context) error { return d.srv.Shutdown(ctx) }

func (d *demo) routes() http.Handler {
	r := chi.NewRouter()
	r.Get("/products/{id}", d.product)
	r.Post("/sms/send", d.sms)
	return r
}

// fail reports whether this call to endpoint is one of the failing ones: with
// rate 0.5 every second call fails, with 0.25 every fourth. Deterministic, so
// that a test of retries is reproducible.
func (d *demo) fail(endpoint string) bool {
	if d.failRate <= 0 {
		return false
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	acc := d.failAcc[endpoint] + d.failRate
	failed := acc >= 1
	if failed {
		acc--
	}
	d.failAcc[endpoint] = acc
	return failed
}

type product struct {
	ID    string `json:"id"`
	Name  string `json:"name"`
	Price int    `json:"price_cents"`
}

func (d *demo) product(w http.ResponseWriter, r *http.Request) {
	d.products.Add(1)
	if d.latency > 0 {
		t := time.NewTimer(d.latency)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			d.cancelled.Add(1)
			d.log.Info("demo downstream: product call cancelled by the caller", "id", chi.URLParam(r, "id"))
			return
		}
	}
	if d.down.Load() || d.fail("products") {
		writeError(w, http.StatusServiceUnavailable, "demo_failure")
		return
	}
	id := chi.URLParam(r, "id")
	if strings.HasPrefix(id, "missing") {
		writeError(w, http.StatusNotFound, "not_found")
		return
	}
	h := fnv.New32a()
	h.Write([]byte(id))
	body, _ := json.Marshal(product{ID: id, Name: "Product " + id, Price: 100 + int(h.Sum32()%10_000)})
	h.Reset()
	h.Write(body)
	etag := fmt.Sprintf(`"%08x"`, h.Sum32())
	w.Header().Set("ETag", etag)
	if r.Header.Get("If-None-Match") == etag {
		d.notMod.Add(1)
		w.WriteHeader(http.StatusNotModified)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	n, _ := w.Write(body)
	d.bodyBytes.Add(int64(n))
}

// handleDown serves POST /demo/down?on=true|false on the main server: it
// switches the demo's products down (503) or back up, to watch the cache
// answer kept products meanwhile (-stale-if-error).
func (d *demo) handleDown(w http.ResponseWriter, r *http.Request) {
	on, err := strconv.ParseBool(r.URL.Query().Get("on"))
	if err != nil {
		writeError(w, http.StatusBadRequest, "bad_on")
		return
	}
	d.down.Store(on)
	d.log.Warn("demo downstream: products switched", "down", on)
	middleware.WriteJSON(w, http.StatusOK, map[string]bool{"down": on})
}

func (d *demo) sms(w http.ResponseWriter, r *http.Request) {
	var in struct {
		To   string `json:"to"`
		Code string `json:"code"`
	}
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 4<<10)).Decode(&in); err != nil || in.To == "" || in.Code == "" {
		writeError(w, http.StatusBadRequest, "bad_request")
		return
	}
	if d.fail("sms") {
		writeError(w, http.StatusServiceUnavailable, "demo_failure")
		return
	}
	d.mu.Lock()
	if len(d.outbox) >= maxOutbox {
		clear(d.outbox)
	}
	d.outbox[in.To] = in.Code
	d.mu.Unlock()
	d.deliveries.Add(1)
	d.log.Info("demo gateway: code delivered", "to", in.To)
	middleware.WriteJSON(w, http.StatusOK, map[string]bool{"delivered": true})
}

// lastCode returns the last code delivered to key.
func (d *demo) lastCode(key string) (string, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	code, ok := d.outbox[key]
	return code, ok
}

// handleOutbox serves GET /demo/outbox?key=K on the main server. Every
// answer is marked Cache-Control: no-store: it reveals a live code, which no
// browser or proxy cache may keep.
func (d *demo) handleOutbox(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	key := r.URL.Query().Get("key")
	if key == "" {
		writeError(w, http.StatusBadRequest, "missing_key")
		return
	}
	code, ok := d.lastCode(key)
	if !ok {
		writeError(w, http.StatusNotFound, "not_found")
		return
	}
	middleware.WriteJSON(w, http.StatusOK, map[string]string{"key": key, "code": code})
}

// demoStats is the body of GET /demo/stats.
type demoStats struct {
	Products   int64 `json:"products"`     // product calls received, failed ones included
	Deliveries int64 `json:"deliveries"`   // codes delivered
	Cancelled  int64 `json:"cancelled"`    // product calls abandoned by the caller
	BodyBytes  int64 `json:"body_bytes"`   // product body bytes sent
	NotMod     int64 `json:"not_modified"` // product calls answered 304
	Down       bool  `json:"down"`         // products switched down (POST /demo/down)
}

// handleStats serves GET /demo/stats on the main server.
func (d *demo) handleStats(w http.ResponseWriter, _ *http.Request) {
	middleware.WriteJSON(w, http.StatusOK, demoStats{Products: d.products.Load(),
		Deliveries: d.deliveries.Load(), Cancelled: d.cancelled.Load(),
		BodyBytes: d.bodyBytes.Load(), NotMod: d.notMod.Load(), Down: d.down.Load()})
}
