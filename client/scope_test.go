package client_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"runtime"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/alovago/alova/client"
)

func incoming(t testing.TB, ctx context.Context) *http.Request {
	t.Helper()
	r := httptest.NewRequestWithContext(ctx, http.MethodGet, "/in", nil)
	r.Header.Set("X-Request-Id", "req-1")
	r.Header.Set("Traceparent", "00-abc-def-01")
	r.Header.Set("X-Other", "not forwarded")
	return r
}

func TestScopedForwardsHeaders(t *testing.T) {
	t.Parallel()
	d := newDownstream(t, nil)
	tests := []struct {
		name    string
		forward []string
		method  func(c *client.Client) *client.Method
		want    map[string]string
	}{
		{"defaults", nil, func(c *client.Client) *client.Method { return c.Get("/x") },
			map[string]string{"X-Request-Id": "req-1", "Traceparent": "00-abc-def-01", "X-Other": ""}},
		{"method header wins", nil, func(c *client.Client) *client.Method { return c.Get("/x").Header("X-Request-Id", "mine") },
			map[string]string{"X-Request-Id": "mine", "Traceparent": "00-abc-def-01"}},
		{"custom list", []string{"x-other"}, func(c *client.Client) *client.Method { return c.Get("/x") },
			map[string]string{"X-Request-Id": "", "X-Other": "not forwarded"}},
		{"none", []string{}, func(c *client.Client) *client.Method { return c.Get("/x") },
			map[string]string{"X-Request-Id": "", "Traceparent": ""}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			api := client.New(client.Options{BaseURL: d.URL, ForwardHeaders: tc.forward})
			r := client.Bind(incoming(t, testCtx(t)), api)
			c := client.FromContext(r.Context())
			if _, err := tc.method(c).Send(r.Context()); err != nil {
				t.Fatal(err)
			}
			got, _ := d.lastRequest()
			for k, v := range tc.want {
				if got.Header.Get(k) != v {
					t.Errorf("downstream %s = %q, want %q", k, got.Header.Get(k), v)
				}
			}
		})
	}
	t.Run("root client forwards nothing", func(t *testing.T) {
		api := client.New(client.Options{BaseURL: d.URL})
		if _, err := api.Get("/x").Send(incoming(t, testCtx(t)).Context()); err != nil {
			t.Fatal(err)
		}
		if got, _ := d.lastRequest(); got.Header.Get("X-Request-Id") != "" {
			t.Error("a client that is not request-scoped forwarded headers")
		}
	})
}

func TestScopedCancelledWithRequest(t *testing.T) {
	t.Parallel()
	arrived := make(chan struct{}, 10)
	d := newDownstream(t, func(w http.ResponseWriter, r *http.Request) {
		arrived <- struct{}{}
		<-r.Context().Done()
	})
	api := client.New(client.Options{BaseURL: d.URL, Timeout: time.Hour})
	tests := []struct {
		name    string
		sendCtx func(t *testing.T, r *http.Request) context.Context
	}{
		{"send given the request context", func(t *testing.T, r *http.Request) context.Context { return r.Context() }},
		{"send given a context derived from it", func(t *testing.T, r *http.Request) context.Context {
			ctx, cancel := context.WithTimeout(r.Context(), time.Hour)
			t.Cleanup(cancel)
			return ctx
		}},
		{"send given an unrelated context", func(t *testing.T, r *http.Request) context.Context { return context.Background() }},
		{"send given a value context", func(t *testing.T, r *http.Request) context.Context {
			return context.WithValue(context.Background(), tokenKey{}, "x")
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			reqCtx, hangUp := context.WithCancel(context.Background())
			defer hangUp()
			r := client.Bind(incoming(t, reqCtx), api)
			c := client.FromContext(r.Context())
			done := make(chan error, 1)
			go func() {
				_, err := c.Get("/wait").Share(false).Send(tc.sendCtx(t, r))
				done <- err
			}()
			<-arrived
			hangUp()
			select {
			case err := <-done:
				if !errors.Is(err, context.Canceled) {
					t.Errorf("err = %v, want context.Canceled", err)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("the send outlived the request")
			}
		})
	}
	t.Run("request already gone", func(t *testing.T) {
		reqCtx, hangUp := context.WithCancel(context.Background())
		hangUp()
		c := api.WithRequest(incoming(t, reqCtx))
		before := d.calls.Load()
		if _, err := c.Get("/wait").Send(context.Background()); !errors.Is(err, context.Canceled) {
			t.Errorf("err = %v, want context.Canceled", err)
		}
		if d.calls.Load() != before {
			t.Error("a send for a request already gone went downstream")
		}
	})
}

func TestContextAccessors(t *testing.T) {
	t.Parallel()
	api := client.New(client.Options{})
	bg := context.Background()
	if c := client.FromContext(bg); c == nil {
		t.Fatal("FromContext(empty) = nil, want the default client")
	}
	if client.FromContext(bg) != client.FromContext(context.TODO()) {
		t.Error("the default client is not one process-wide client")
	}
	if got := client.FromContext(client.NewContext(bg, api)); got != api {
		t.Errorf("FromContext(NewContext(api)) = %p, want %p", got, api)
	}

	r := incoming(t, bg)
	scoped := api.WithRequest(r)
	if scoped == api {
		t.Fatal("WithRequest returned the parent")
	}
	ctx := client.NewContext(r.Context(), scoped)
	if got := client.FromContext(ctx); got != scoped {
		t.Errorf("FromContext(NewContext(r.Context(), scoped)) = %p, want %p", got, scoped)
	}
	if ctx.Value(tokenKey{}) != nil || ctx.Err() != nil || ctx.Done() != r.Context().Done() {
		t.Error("the scoped context does not behave as the request's")
	}
	br := client.Bind(r, api)
	if got := client.FromContext(br.Context()); got == api || got == nil {
		t.Error("Bind did not put a scoped client in the request context")
	}
	// A value set on the request context before Bind is still visible.
	r2 := r.WithContext(context.WithValue(r.Context(), tokenKey{}, "v"))
	if got := client.Bind(r2, api).Context().Value(tokenKey{}); got != "v" {
		t.Errorf("value through the scoped context = %v, want v", got)
	}
	deadline := time.Now().Add(time.Hour)
	dctx, cancel := context.WithDeadline(bg, deadline)
	defer cancel()
	if d, ok := client.Bind(r.WithContext(dctx), api).Context().Deadline(); !ok || !d.Equal(deadline) {
		t.Errorf("Deadline() = %v, %v; want the request's", d, ok)
	}
}

func TestScopedAllocations(t *testing.T) {
	api := client.New(client.Options{})
	r := incoming(t, context.Background())
	scoped := api.WithRequest(r)
	bound := client.Bind(r, api)
	tests := []struct {
		name string
		max  float64
		f    func()
	}{
		{"WithRequest", 1, func() { _ = api.WithRequest(r) }},
		{"NewContext(r.Context(), c.WithRequest(r))", 1, func() { _ = client.NewContext(r.Context(), api.WithRequest(r)) }},
		{"Bind (scoped client + r.WithContext)", 2, func() { _ = client.Bind(r, api) }},
		{"FromContext", 0, func() { _ = client.FromContext(bound.Context()) }},
		{"FromContext default", 0, func() { _ = client.FromContext(context.Background()) }},
		{"NewContext of the scope itself", 0, func() { _ = client.NewContext(r.Context(), scoped) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := testing.AllocsPerRun(1000, tc.f); got > tc.max {
				t.Errorf("%s: %v allocations, want <= %v", tc.name, got, tc.max)
			}
		})
	}
}

// Deriving a client per request must leave nothing behind (alova #647, #826).
func TestScopedDoesNotGrowMemory(t *testing.T) {
	d := newDownstream(t, nil)
	api := client.New(client.Options{BaseURL: d.URL})
	r := incoming(t, context.Background())
	heap := func() uint64 {
		runtime.GC()
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return ms.HeapAlloc
	}
	// Warm up (connections, pools), then measure.
	for range 10 {
		_, _ = client.FromContext(client.Bind(r, api).Context()).Get("/x").Send(r.Context())
	}
	before := heap()
	const n = 200_000
	var keep *client.Client
	for i := range n {
		br := client.Bind(r, api)
		keep = client.FromContext(br.Context())
		if i%20_000 == 0 { // some that really send
			if _, err := keep.Get("/x").Send(br.Context()); err != nil {
				t.Fatal(err)
			}
		}
	}
	runtime.KeepAlive(keep)
	after := heap()
	// 200,000 scoped clients kept alive would be well over 10 MB.
	if after > before && after-before > 2<<20 {
		t.Errorf("heap grew by %d bytes over %d derivations", after-before, n)
	}
}

// Sends through scoped clients, shared or not, cancelled or not, leave no
// goroutine behind (the flight call, the request-context watcher).
func TestNoGoroutineLeft(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	release := make(chan struct{})
	d := newDownstream(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/wait" {
			select {
			case <-release:
			case <-r.Context().Done():
			}
		}
	})
	tr := &http.Transport{}
	api := client.New(client.Options{BaseURL: d.URL, HTTPClient: &http.Client{Transport: tr}})
	defer func() {
		d.Close()
		tr.CloseIdleConnections()
	}()
	var wg sync.WaitGroup
	for i := range 20 {
		reqCtx, hangUp := context.WithCancel(context.Background())
		c := api.WithRequest(incoming(t, reqCtx))
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx := context.Background() // unrelated: the request context is watched
			if i%2 == 0 {
				_, _ = c.Get("/wait").Send(ctx) // shared, then abandoned
			} else {
				_, _ = c.Get("/fast").Share(false).Send(ctx)
			}
		}()
		if i%4 == 0 {
			hangUp()
		} else {
			defer hangUp()
		}
	}
	close(release)
	wg.Wait()
}

// uncomparableCtx is a context type that == cannot compare (it panics).
type uncomparableCtx struct {
	context.Context
	m map[string]int
}

func TestUncomparableContexts(t *testing.T) {
	t.Parallel()
	d := newDownstream(t, nil)
	api := client.New(client.Options{BaseURL: d.URL})
	reqCtx := uncomparableCtx{testCtx(t), map[string]int{}}
	r := incoming(t, reqCtx)
	c := api.WithRequest(r)
	if got := client.FromContext(client.NewContext(uncomparableCtx{reqCtx.Context, nil}, c)); got != c {
		t.Errorf("FromContext(NewContext(...)) = %p, want %p", got, c)
	}
	if _, err := c.Get("/x").Send(uncomparableCtx{testCtx(t), nil}); err != nil {
		t.Errorf("Send: %v", err)
	}
}
