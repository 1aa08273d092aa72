package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// testConfig is the configuration the app tests start from: the defaults,
// with fast retries.
func testConfig(t *testing.T, args ...string) config {
	t.Helper()
	// Redis calls get 10 s: 50 racing sends, each a few Lua scripts, queue
	// on miniredis's one lock; under -race with both cores busy they took
	// more than 2 s (and the production 200 ms is for a real Redis).
	cfg, err := parseConfig(append([]string{"-retry-delay", "1ms", "-demo-latency", "0s", "-redis-timeout", "10s"}, args...),
		func(string) string { return "" }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// newTestApp builds the app on an embedded Redis and serves it with httptest.
func newTestApp(t *testing.T, cfg config) (*app, *httptest.Server) {
	t.Helper()
	a, err := newApp(cfg, discardLog)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(a.Handler())
	t.Cleanup(func() {
		srv.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := a.Close(ctx); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return a, srv
}

// call sends one request to srv and returns the status, headers and body.
func call(t *testing.T, srv *httptest.Server, method, path, contentType, body string) (int, http.Header, string) {
	t.Helper()
	req, err := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, string(b)
}

// field decodes a JSON object body and returns one of its fields.
func field(t *testing.T, body, name string) any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(body), &m); err != nil {
		t.Fatalf("body %q is not a JSON object: %v", body, err)
	}
	return m[name]
}

func TestHealthz(t *testing.T) {
	t.Parallel()
	a, srv := newTestApp(t, testConfig(t))
	if st, _, body := call(t, srv, "GET", "/healthz", "", ""); st != 200 || body != `{"redis":"embedded","status":"ok"}`+"\n" {
		t.Fatalf("GET /healthz = %d %s, want 200 ok embedded", st, body)
	}
	a.redis.mini.Close()
	if st, _, body := call(t, srv, "GET", "/healthz", "", ""); st != 503 || field(t, body, "status") != "unavailable" {
		t.Fatalf("Redis down: GET /healthz = %d %s, want 503 unavailable", st, body)
	}
	if err := a.redis.mini.Restart(); err != nil {
		t.Fatal(err)
	}
	if st, _, body := call(t, srv, "GET", "/healthz", "", ""); st != 200 {
		t.Fatalf("Redis back: GET /healthz = %d %s, want 200", st, body)
	}
}

func TestUnknownRoutesAnswerJSON(t *testing.T) {
	t.Parallel()
	_, srv := newTestApp(t, testConfig(t))
	tests := []struct {
		method, path string
		status       int
		code         string
	}{
		{"GET", "/nope", 404, "not_found"},
		{"POST", "/healthz", 405, "method_not_allowed"},
		{"PUT", "/api/products/1", 405, "method_not_allowed"},
	}
	for _, tc := range tests {
		st, h, body := call(t, srv, tc.method, tc.path, "", "")
		if st != tc.status || errCode(t, body) != tc.code || h.Get("Content-Type") != "application/json" {
			t.Errorf("%s %s = %d %s %s, want %d {error: %s}", tc.method, tc.path, st, h.Get("Content-Type"), body, tc.status, tc.code)
		}
	}
}

func TestDemoRoutesOnlyWithTheDemo(t *testing.T) {
	t.Parallel()
	_, srv := newTestApp(t, testConfig(t, "-downstream", "http://127.0.0.1:1"))
	for _, path := range []string{"/demo/stats", "/demo/outbox?key=a"} {
		if st, _, _ := call(t, srv, "GET", path, "", ""); st != 404 {
			t.Errorf("with -downstream: GET %s = %d, want 404", path, st)
		}
	}
}

// errCode returns the code of a JSON error answer {"error":{"code":…}}.
func errCode(t *testing.T, body string) string {
	t.Helper()
	var e struct {
		Error struct{ Code, Message string }
	}
	if err := json.Unmarshal([]byte(body), &e); err != nil || e.Error.Code == "" || e.Error.Message == "" {
		t.Fatalf("body %q is not a JSON error with a code and a message (%v)", body, err)
	}
	return e.Error.Code
}
