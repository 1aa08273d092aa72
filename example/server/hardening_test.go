package main

import (
	"context"
	"github.com/alovago/alova/internal/reqid"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestLogRedactsSecrets runs the whole server with a downstream URL holding
// a password and an ADMIN_TOKEN, makes a request that fails and retries
// downstream (so errors quoting the URL are logged), and greps every log
// line, the access log included: neither secret shows, and the startup line
// names the downstream with its password as xxxxx. A client's malformed
// X-Request-Id is neither logged nor forwarded; a well-formed one is both.
func TestLogRedactsSecrets(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var forwarded []string
	down := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		forwarded = append(forwarded, r.Header.Get("X-Request-Id"))
		mu.Unlock()
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	defer down.Close()
	const password, token = "S3CRET-pa55", "adm1n-T0KEN-0123456789"
	downstream := strings.Replace(down.URL, "http://", "http://apiuser:"+password+"@", 1)

	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	var logs syncBuffer
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"-addr", "127.0.0.1:0", "-downstream", downstream, "-retries", "1", "-retry-delay", "1ms"},
			func(k string) string { return map[string]string{"ADMIN_TOKEN": token}[k] }, &logs)
	}()
	listening := regexp.MustCompile(`msg=listening addr=(\S+)`)
	var base string
	for deadline := time.Now().Add(10 * time.Second); base == ""; time.Sleep(5 * time.Millisecond) {
		if m := listening.FindStringSubmatch(logs.String()); m != nil {
			base = "http://" + m[1]
		} else if time.Now().After(deadline) {
			t.Fatalf("no listening line in the log:\n%s", logs.String())
		}
	}

	bad := []string{strings.Repeat("a", 65), `quote"and space`, "semi;colon"}
	const good = "req-42.ok:/+="
	for _, id := range append(bad, good) {
		req, _ := http.NewRequest(http.MethodGet, base+"/api/products/1", nil)
		req.Header.Set("X-Request-Id", id)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("GET /api/products/1: %v", err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	stop()
	if err := <-done; err != nil {
		t.Fatalf("run = %v", err)
	}

	log := logs.String()
	for _, secret := range []string{password, token} {
		if strings.Contains(log, secret) {
			t.Errorf("the log holds the secret %q:\n%s", secret, log)
		}
	}
	if !strings.Contains(log, "apiuser:xxxxx@") {
		t.Errorf("the startup line does not name the downstream redacted (apiuser:xxxxx@…):\n%s", log)
	}
	mu.Lock()
	defer mu.Unlock()
	for _, id := range bad {
		if strings.Contains(log, id) {
			t.Errorf("the malformed X-Request-Id %q was logged", id)
		}
		for _, f := range forwarded {
			if f == id {
				t.Errorf("the malformed X-Request-Id %q was forwarded downstream", id)
			}
		}
	}
	for _, f := range forwarded {
		if !reqid.Valid(f) {
			t.Errorf("forwarded X-Request-Id %q, want a well-formed id", f)
		}
	}
	if !strings.Contains(log, good) || !strings.Contains(strings.Join(forwarded, " "), good) {
		t.Errorf("the well-formed X-Request-Id %q was not logged and forwarded (forwarded %q)", good, forwarded)
	}
}

func TestValidRequestID(t *testing.T) {
	t.Parallel()
	tests := []struct {
		id   string
		want bool
	}{
		{"", false},
		{"abc-DEF_123.4:5/6+7=", true},
		{strings.Repeat("x", 64), true},
		{strings.Repeat("x", 65), false},
		{"a b", false},
		{"a\"b", false},
		{"é", false},
		{"a\x00b", false},
	}
	for _, tc := range tests {
		if got := reqid.Valid(tc.id); got != tc.want {
			t.Errorf("reqid.Valid(%q) = %v, want %v", tc.id, got, tc.want)
		}
	}
}

// TestAnswersAreNosniff: successes carry X-Content-Type-Options: nosniff
// like errors do, whoever writes them (the library, the profiler).
func TestAnswersAreNosniff(t *testing.T) {
	t.Parallel()
	_, srv := newTestApp(t, testConfig(t))
	for _, c := range []struct{ method, path, ctype, body string }{
		{"GET", "/healthz", "", ""},
		{"GET", "/api/products/1", "", ""},
		{"POST", "/captcha/send", "application/json", `{"key":"nosniff@example.com"}`},
		{"GET", "/debug/cache", "", ""},
		{"GET", "/debug/pprof/", "", ""},
		{"GET", "/nope", "", ""},
	} {
		st, h, _ := call(t, srv, c.method, c.path, c.ctype, c.body)
		if got := h.Get("X-Content-Type-Options"); got != "nosniff" {
			t.Errorf("%s %s: %d with X-Content-Type-Options %q, want nosniff", c.method, c.path, st, got)
		}
	}
}

// TestAdmin401IsPlainJSON: the 401 of an admin route names the header as
// "<ADMIN_TOKEN>", not "\u003cADMIN_TOKEN\u003e".
func TestAdmin401IsPlainJSON(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t)
	cfg.AdminToken = "0123456789abcdef0123"
	_, srv := newTestApp(t, cfg)
	st, h, body := call(t, srv, "GET", "/debug/cache", "", "")
	if st != http.StatusUnauthorized || !strings.Contains(body, "Bearer <ADMIN_TOKEN>") || strings.Contains(body, `\u003c`) {
		t.Errorf("GET /debug/cache without the token = %d %q, want 401 naming Bearer <ADMIN_TOKEN> unescaped", st, body)
	}
	if h.Get("Content-Type") != "application/json" || h.Get("Cache-Control") != "no-store" || h.Get("X-Content-Type-Options") != "nosniff" {
		t.Errorf("401 headers %v, want application/json, no-store, nosniff", h)
	}
	if got := errCode(t, body); got != "unauthorized" {
		t.Errorf("401 code %q, want unauthorized", got)
	}
}
