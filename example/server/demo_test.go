package main

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"
)

var discardLog = slog.New(slog.DiscardHandler)

func TestDemoFailSpreadsFailuresEvenly(t *testing.T) {
	t.Parallel()
	tests := []struct {
		rate float64
		want string // one char per call: x fails, . succeeds
	}{
		{0, "........"},
		{0.5, ".x.x.x.x"},
		{0.25, "...x...x"},
		{0.75, ".xxx.xxx"},
	}
	for _, tc := range tests {
		d := newDemo(0, tc.rate, discardLog)
		var got strings.Builder
		for range len(tc.want) {
			if d.fail("products") {
				got.WriteByte('x')
			} else {
				got.WriteByte('.')
			}
		}
		if got.String() != tc.want {
			t.Errorf("fail pattern at rate %v = %s, want %s", tc.rate, got.String(), tc.want)
		}
		if d.fail("sms") {
			t.Errorf("rate %v: the first sms call failed; endpoints must count separately", tc.rate)
		}
	}
}

func TestDemoDownstream(t *testing.T) {
	t.Parallel()
	d := newDemo(0, 0, discardLog)
	srv := httptest.NewServer(d.routes())
	defer srv.Close()

	tests := []struct {
		method, path, body string
		wantStatus         int
		wantBody           string
	}{
		{"GET", "/products/42", "", 200, `"id":"42"`},
		{"GET", "/products/missing-1", "", 404, `"code":"not_found"`},
		{"POST", "/sms/send", `{"to":"a@example.com","code":"123456"}`, 200, `"delivered":true`},
		{"POST", "/sms/send", `{"to":"a@example.com","code":"987654"}`, 200, `"delivered":true`},
		{"POST", "/sms/send", `{"to":"a@example.com"}`, 400, `"code":"bad_request"`},
		{"POST", "/sms/send", `not json`, 400, `"code":"bad_request"`},
	}
	for _, tc := range tests {
		req, _ := http.NewRequest(tc.method, srv.URL+tc.path, strings.NewReader(tc.body))
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.wantStatus || !strings.Contains(string(b), tc.wantBody) {
			t.Errorf("%s %s %s = %d %s, want %d %s", tc.method, tc.path, tc.body, resp.StatusCode, b, tc.wantStatus, tc.wantBody)
		}
	}
	if code, ok := d.lastCode("a@example.com"); !ok || code != "987654" {
		t.Errorf("lastCode = %q, %v, want the last one delivered, 987654", code, ok)
	}
	if got := d.products.Load(); got != 2 {
		t.Errorf("products = %d, want 2", got)
	}
	if got := d.deliveries.Load(); got != 2 {
		t.Errorf("deliveries = %d, want 2 (bad requests are no delivery)", got)
	}
}

func TestDemoCountsCancelledCalls(t *testing.T) {
	t.Parallel()
	d := newDemo(time.Minute, 0, discardLog)
	srv := httptest.NewServer(d.routes())
	defer srv.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL+"/products/1", nil)
	if resp, err := srv.Client().Do(req); err == nil {
		resp.Body.Close()
		t.Fatal("a product call with a minute of latency answered within 50 ms")
	}
	deadline := time.Now().Add(5 * time.Second)
	for d.cancelled.Load() != 1 {
		if time.Now().After(deadline) {
			t.Fatalf("cancelled = %d after the caller hung up, want 1", d.cancelled.Load())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestDemoRoutesOnMainServer(t *testing.T) {
	t.Parallel()
	d := newDemo(0, 0, discardLog)
	d.outbox["k@example.com"] = "654321"
	d.products.Store(3)
	d.deliveries.Store(1)

	tests := []struct {
		name    string
		handler http.HandlerFunc
		target  string
		status  int
		want    map[string]any
	}{
		{"outbox hit", d.handleOutbox, "/demo/outbox?key=k@example.com", 200, map[string]any{"key": "k@example.com", "code": "654321"}},
		{"outbox miss", d.handleOutbox, "/demo/outbox?key=nobody", 404, map[string]any{"error": map[string]any{"code": "not_found", "message": errorMessages["not_found"]}}},
		{"outbox no key", d.handleOutbox, "/demo/outbox", 400, map[string]any{"error": map[string]any{"code": "missing_key", "message": errorMessages["missing_key"]}}},
		{"stats", d.handleStats, "/demo/stats", 200, map[string]any{"products": 3.0, "deliveries": 1.0, "cancelled": 0.0}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			tc.handler(rec, httptest.NewRequest("GET", tc.target, nil))
			var got map[string]any
			if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil || rec.Code != tc.status {
				t.Fatalf("GET %s = %d %s, want %d JSON", tc.target, rec.Code, rec.Body, tc.status)
			}
			if cc := rec.Header().Get("Cache-Control"); strings.HasPrefix(tc.target, "/demo/outbox") && cc != "no-store" {
				t.Errorf("GET %s: Cache-Control = %q, want no-store (the outbox reveals codes)", tc.target, cc)
			}
			for k, v := range tc.want {
				if !reflect.DeepEqual(got[k], v) {
					t.Errorf("GET %s: %s = %v, want %v", tc.target, k, got[k], v)
				}
			}
		})
	}
}
