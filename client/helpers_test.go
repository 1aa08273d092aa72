package client_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alovago/alova/client"
)

// downstream is an httptest server that records what it receives.
type downstream struct {
	*httptest.Server
	calls atomic.Int64

	mu   sync.Mutex
	last *http.Request
	body []byte
}

// echo is what the default downstream handler answers: the request it saw.
type echo struct {
	Method string              `json:"method"`
	Path   string              `json:"path"`
	Query  string              `json:"query"`
	Header map[string][]string `json:"header"`
	Body   string              `json:"body"`
	N      int64               `json:"n"`
}

// newDownstream starts a server that runs h after counting and recording the
// request; with a nil h it answers 200 with an echo of the request as JSON.
func newDownstream(t testing.TB, h http.HandlerFunc) *downstream {
	t.Helper()
	d := &downstream{}
	d.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := d.calls.Add(1)
		body, _ := io.ReadAll(r.Body)
		d.mu.Lock()
		d.last, d.body = r, body
		d.mu.Unlock()
		if h != nil {
			h(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(echo{Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery,
			Header: r.Header, Body: string(body), N: n})
	}))
	t.Cleanup(d.Close)
	return d
}

// lastRequest returns the last request the server got and its body.
func (d *downstream) lastRequest() (*http.Request, []byte) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.last, d.body
}

// ctx returns a context that ends with the test, with a generous deadline.
func testCtx(t testing.TB) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// eventually polls cond until it holds or a generous deadline passes.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

func decodeEcho(t testing.TB, body []byte) echo {
	t.Helper()
	var e echo
	if err := json.Unmarshal(body, &e); err != nil {
		t.Fatalf("decode echo %q: %v", body, err)
	}
	return e
}

// bound returns c bound to the incoming request r, as middleware.Client
// binds it.
func bound(c *client.Client, r *http.Request) *client.Client {
	return client.FromContext(client.Bind(r, c, nil).Context())
}
