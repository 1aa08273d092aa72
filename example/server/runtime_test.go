package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestDebugRuntime(t *testing.T) {
	t.Parallel()
	a, _ := newTestApp(t, testConfig(t))
	h := a.Handler()
	for _, tc := range []struct {
		remote string
		status int
	}{
		{"127.0.0.1:5000", http.StatusOK},
		{"192.0.2.10:5000", http.StatusForbidden}, // an admin route
	} {
		r := httptest.NewRequest("GET", "/debug/runtime", nil)
		r.RemoteAddr = tc.remote
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != tc.status {
			t.Fatalf("GET /debug/runtime from %s = %d %s, want %d", tc.remote, w.Code, w.Body, tc.status)
		}
		if tc.status != http.StatusOK {
			continue
		}
		var s runtimeStats
		if err := json.Unmarshal(w.Body.Bytes(), &s); err != nil {
			t.Fatalf("body %s: %v", w.Body, err)
		}
		if s.Goroutines == 0 || s.HeapObjects == 0 || s.Total < s.HeapObjects {
			t.Errorf("GET /debug/runtime = %+v, want goroutines and a heap inside the runtime's total", s)
		}
	}
}
