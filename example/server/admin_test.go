package main

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestAdminGuard(t *testing.T) {
	t.Parallel()
	const token = "0123456789abcdef-admin"
	tests := []struct {
		name    string
		token   string // ADMIN_TOKEN
		remote  string
		headers map[string]string
		status  int
		code    string
	}{
		{"loopback v4", "", "127.0.0.1:5000", nil, 200, ""},
		{"loopback v6", "", "[::1]:5000", nil, 200, ""},
		{"loopback v4 in v6", "", "[::ffff:127.0.0.1]:5000", nil, 200, ""},
		{"remote", "", "192.0.2.10:5000", nil, 403, "forbidden"},
		{"remote v6", "", "[2001:db8::1]:5000", nil, 403, "forbidden"},
		{"remote with a bearer but no ADMIN_TOKEN", "", "192.0.2.10:5000", map[string]string{"Authorization": "Bearer " + token}, 403, "forbidden"},
		{"loopback through a proxy (X-Forwarded-For)", "", "127.0.0.1:5000", map[string]string{"X-Forwarded-For": "203.0.113.9"}, 403, "forbidden"},
		{"loopback through a proxy (X-Forwarded-For: 127.0.0.1)", "", "127.0.0.1:5000", map[string]string{"X-Forwarded-For": "127.0.0.1"}, 403, "forbidden"},
		{"loopback through a proxy (Forwarded)", "", "127.0.0.1:5000", map[string]string{"Forwarded": "for=203.0.113.9"}, 403, "forbidden"},
		{"loopback through a proxy (X-Real-IP)", "", "127.0.0.1:5000", map[string]string{"X-Real-IP": "203.0.113.9"}, 403, "forbidden"},
		{"garbage RemoteAddr", "", "nonsense", nil, 403, "forbidden"},

		{"token from remote", token, "192.0.2.10:5000", map[string]string{"Authorization": "Bearer " + token}, 200, ""},
		{"token, lower-case scheme", token, "192.0.2.10:5000", map[string]string{"Authorization": "bearer " + token}, 200, ""},
		{"token through a proxy", token, "127.0.0.1:5000", map[string]string{"Authorization": "Bearer " + token, "X-Forwarded-For": "203.0.113.9"}, 200, ""},
		{"no token from loopback", token, "127.0.0.1:5000", nil, 401, "unauthorized"},
		{"wrong token", token, "192.0.2.10:5000", map[string]string{"Authorization": "Bearer nope"}, 401, "unauthorized"},
		{"token prefix", token, "192.0.2.10:5000", map[string]string{"Authorization": "Bearer " + token[:len(token)-1]}, 401, "unauthorized"},
		{"token plus a byte", token, "192.0.2.10:5000", map[string]string{"Authorization": "Bearer " + token + "x"}, 401, "unauthorized"},
		{"basic scheme", token, "192.0.2.10:5000", map[string]string{"Authorization": "Basic " + token}, 401, "unauthorized"},
		{"bare token", token, "192.0.2.10:5000", map[string]string{"Authorization": token}, 401, "unauthorized"},
		{"empty bearer", token, "192.0.2.10:5000", map[string]string{"Authorization": "Bearer "}, 401, "unauthorized"},
	}
	ok := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) })
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := httptest.NewRequest("DELETE", "/api/products/1/cache", nil)
			r.RemoteAddr = tc.remote
			for k, v := range tc.headers {
				r.Header.Set(k, v)
			}
			w := httptest.NewRecorder()
			adminGuard(tc.token)(ok).ServeHTTP(w, r)
			if w.Code != tc.status {
				t.Fatalf("status = %d %s, want %d", w.Code, w.Body, tc.status)
			}
			if tc.code != "" {
				if got := errCode(t, w.Body.String()); got != tc.code {
					t.Errorf("error code = %q, want %q", got, tc.code)
				}
			}
			if tc.status == 401 && w.Header().Get("WWW-Authenticate") == "" {
				t.Error("401 without WWW-Authenticate")
			}
		})
	}
}

// TestAdminRoutesAreGuarded checks which routes the guard covers, through
// the app's router: everything that purges or reveals, nothing else.
func TestAdminRoutesAreGuarded(t *testing.T) {
	t.Parallel()
	a, _ := newTestApp(t, testConfig(t))
	h := a.Handler()
	for _, tc := range []struct {
		method, path string
		admin        bool
	}{
		{"DELETE", "/api/products/1/cache", true},
		{"GET", "/debug/cache", true},
		{"GET", "/metrics", true},
		{"GET", "/debug/pprof/", true},
		{"GET", "/debug/pprof/heap", true},
		{"GET", "/debug/pprof/profile?seconds=1", true},
		{"GET", "/demo/outbox?key=a@example.com", true},
		{"GET", "/demo/stats", true},
		{"GET", "/api/products/1", false},
		{"GET", "/healthz", false},
		{"POST", "/captcha/send", false},
	} {
		r := httptest.NewRequest(tc.method, tc.path, nil)
		r.RemoteAddr = "192.0.2.10:5000"
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if got := w.Code == http.StatusForbidden; got != tc.admin {
			t.Errorf("%s %s from a remote address = %d, admin route: %v", tc.method, tc.path, w.Code, tc.admin)
		}
	}
}
