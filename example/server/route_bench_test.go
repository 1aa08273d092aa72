package main

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
)

// BenchmarkProductRoute is the CPU one warm GET /api/products/{id} costs the
// server's handler (all middleware, the access log, the library's L1 hit),
// cycling over 1,000 warm ids as bench/http.sh does, without the network:
// what the server spends on top of net/http's reading and writing.
// "access-log" is the server as shipped: the text log through the buffered
// writer (to io.Discard here); "no-log" has no access log, to show what the
// log costs.
func BenchmarkProductRoute(b *testing.B) {
	for _, bc := range []struct {
		name string
		log  bool
	}{
		{"access-log", true},
		{"no-log", false},
	} {
		b.Run(bc.name, func(b *testing.B) {
			cfg, err := parseConfig([]string{"-demo-latency", "0s"}, func(string) string { return "" }, io.Discard)
			if err != nil {
				b.Fatal(err)
			}
			buf := newLogBuffer(io.Discard)
			defer buf.Close()
			log := newLogger("text", buf)
			a, err := newApp(cfg, log)
			if err != nil {
				b.Fatal(err)
			}
			defer func() { _ = a.Close(b.Context()) }()
			if bc.log {
				a.access = newAccessLog("text", buf)
			}
			h := newHTTPServer(cfg, a.Handler(), log).Handler
			const ids = 1000
			reqs := make([]*http.Request, ids)
			for i := range reqs {
				reqs[i] = httptest.NewRequest(http.MethodGet, fmt.Sprintf("/api/products/%d", i+1), nil)
				reqs[i].RemoteAddr = "127.0.0.1:40000"
				w := httptest.NewRecorder()
				h.ServeHTTP(w, reqs[i])
				if w.Code != http.StatusOK {
					b.Fatalf("warm-up GET %s = %d %s", reqs[i].URL.Path, w.Code, w.Body)
				}
			}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, reqs[0])
			if got := w.Header().Get("X-Cache"); got != "L1" {
				b.Fatalf("warm GET X-Cache = %q, want L1", got)
			}
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				w := httptest.NewRecorder()
				h.ServeHTTP(w, reqs[i%ids])
				i++
			}
		})
	}
}
