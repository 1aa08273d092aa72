package main

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// FuzzRoutes sends arbitrary methods, paths and bodies to the whole server:
// no input may make it panic or answer 500, and every answer is JSON (or an
// empty 204). The seed corpus runs with every go test.
func FuzzRoutes(f *testing.F) {
	seeds := []struct {
		method uint8
		path   string
		ctype  string
		body   string
	}{
		{0, "/healthz", "", ""},
		{0, "/api/products/42", "", ""},
		{0, "/api/products/missing-1", "", ""},
		{0, "/api/products/%00", "", ""},
		{0, "/api/products/a%2Fb", "", ""},
		{0, "/api/products/" + strings.Repeat("9", 100), "", ""},
		{3, "/api/products/42/cache", "", ""},
		{3, "/api/products/../cache", "", ""},
		{1, "/captcha/send", "application/json", `{"key":"a@example.com"}`},
		{1, "/captcha/send", "application/json", `{"key":"+1 (555) 010-0000"}`},
		{1, "/captcha/send", "application/json", `{"key":null}`},
		{1, "/captcha/send", "application/json", `[]`},
		{1, "/captcha/verify", "application/json", `{"key":"a@example.com","challenge":"` + strings.Repeat("0", 32) + `","code":"000000"}`},
		{1, "/captcha/verify", "application/json", `{"key":"a@example.com","code":"000000"}`}, // an old client: no challenge
		{1, "/captcha/verify", "application/json; charset=utf-16", `{"key":"a@example.com","code":1}`},
		{1, "/captcha/verify", "text/plain", `x`},
		{0, "/demo/outbox?key=a@example.com", "", ""},
		{0, "/demo/outbox?key=%ff", "", ""},
		{0, "/demo/stats", "", ""},
		{0, "/debug/cache", "", ""},
		{2, "/", "", ""},
	}
	for _, s := range seeds {
		f.Add(s.method, s.path, s.ctype, s.body)
	}
	methods := []string{"GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"}

	a, err := newApp(fuzzConfig(f), discardLog)
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { _ = a.Close(f.Context()) })
	h := a.Handler()

	f.Fuzz(func(t *testing.T, method uint8, path, ctype, body string) {
		req, err := http.NewRequest(methods[int(method)%len(methods)], "http://example.test"+path, strings.NewReader(body))
		if err != nil || !strings.HasPrefix(req.URL.Path, "/") {
			t.Skip()
		}
		if ctype != "" {
			req.Header.Set("Content-Type", ctype)
		}
		req.RemoteAddr = "192.0.2.1:1234"
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		// Redis (embedded) and the demo downstream never fail here: any 5xx
		// is the server's fault.
		if rec.Code >= 500 {
			t.Fatalf("%s %q = %d %s", req.Method, path, rec.Code, rec.Body)
		}
		if rec.Code != http.StatusNoContent && req.Method != "HEAD" &&
			!strings.HasPrefix(rec.Header().Get("Content-Type"), "application/json") {
			t.Fatalf("%s %q = %d with Content-Type %q, want JSON", req.Method, path, rec.Code, rec.Header().Get("Content-Type"))
		}
	})
}

func fuzzConfig(f *testing.F) config {
	f.Helper()
	cfg, err := parseConfig([]string{"-demo-latency", "0s", "-ip-limit", "1000000", "-retries", "0"},
		func(string) string { return "" }, io.Discard)
	if err != nil {
		f.Fatal(err)
	}
	return cfg
}
