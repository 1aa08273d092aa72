package main

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// slogLine is what slog's own handler, as newLogger builds it, writes for e.
func slogLine(t testing.TB, format string, e accessEntry) string {
	t.Helper()
	var buf bytes.Buffer
	r := slog.NewRecord(e.time, slog.LevelInfo, "request", 0)
	r.AddAttrs(slog.String("method", e.method), slog.String("path", e.path),
		slog.Int("status", e.status), slog.Duration("duration", e.duration),
		slog.String("ip", e.ip), slog.String("request_id", e.requestID))
	if err := newLogger(format, &buf).Handler().Handle(context.Background(), r); err != nil {
		t.Fatal(err)
	}
	return buf.String()
}

func accessLine(format string, e accessEntry) string {
	var buf bytes.Buffer
	newAccessLog(format, &buf).write(context.Background(), e)
	return buf.String()
}

func TestAccessLogMatchesSlog(t *testing.T) {
	t.Parallel()
	base := accessEntry{time: time.Date(2026, 11, 30, 2, 39, 35, 120_000_000, time.UTC), method: "GET",
		path: "/api/products/42", status: 200, duration: 12345 * time.Nanosecond, ip: "127.0.0.1",
		requestID: "host-abcdefghij/abcdefghij-000123"}
	for _, tc := range []struct {
		name string
		edit func(e *accessEntry)
	}{
		{"plain", func(*accessEntry) {}},
		{"whole second", func(e *accessEntry) { e.time = e.time.Truncate(time.Second) }},
		{"nanoseconds", func(e *accessEntry) { e.time = e.time.Add(999_999) }},
		{"time zone", func(e *accessEntry) { e.time = e.time.In(time.FixedZone("X", 5*3600+1800)) }},
		{"year 10000", func(e *accessEntry) { e.time = e.time.AddDate(8000, 0, 0) }},
		{"zero status and duration", func(e *accessEntry) { e.status, e.duration = 0, 0 }},
		{"long duration", func(e *accessEntry) { e.duration = 3*time.Minute + 7*time.Millisecond }},
		{"space in path", func(e *accessEntry) { e.path = "/api/products/a b" }},
		{"newline in path", func(e *accessEntry) { e.path = "/x\nlevel=ERROR msg=forged" }},
		{"quote in path", func(e *accessEntry) { e.path = `/x"y` }},
		{"equals in path", func(e *accessEntry) { e.path = "/x=y" }},
		{"backslash in path", func(e *accessEntry) { e.path = `/x\y` }},
		{"html in path", func(e *accessEntry) { e.path = "/<script>&amp;" }},
		{"non-ASCII path", func(e *accessEntry) { e.path = "/produits/été" }},
		{"invalid UTF-8", func(e *accessEntry) { e.path = "/\xff" }},
		{"line separator", func(e *accessEntry) { e.path = "/\u2028" }},
		{"DEL", func(e *accessEntry) { e.path = "/\x7f" }},
		{"empty request id", func(e *accessEntry) { e.requestID = "" }},
		{"IPv6", func(e *accessEntry) { e.ip = "::1" }},
		{"odd method", func(e *accessEntry) { e.method = "M-SEARCH" }},
	} {
		for _, format := range []string{"text", "json"} {
			t.Run(tc.name+"/"+format, func(t *testing.T) {
				t.Parallel()
				e := base
				tc.edit(&e)
				if got, want := accessLine(format, e), slogLine(t, format, e); got != want {
					t.Errorf("line = %q, want slog's %q", got, want)
				}
			})
		}
	}
}

// One access log writes many lines a second: those of one second share its
// formatted date, and a line of another second, or of the same second in
// another zone, formats its own. Each line is slog's.
func TestAccessLogReusesSecond(t *testing.T) {
	t.Parallel()
	start := time.Date(2026, 11, 30, 23, 59, 58, 0, time.UTC)
	india := time.FixedZone("IST", 5*3600+1800)
	times := []time.Time{start, start.Add(1), start.Add(999 * time.Millisecond), start.Add(time.Second),
		start.Add(time.Second).In(india), start.Add(1500 * time.Millisecond), start.Add(2 * time.Second),
		start.Add(2*time.Second + 10*time.Microsecond)}
	for _, format := range []string{"text", "json"} {
		var buf bytes.Buffer
		l := newAccessLog(format, &buf)
		for _, tm := range times {
			e := accessEntry{time: tm, method: "GET", path: "/api/products/1", status: 200, duration: time.Millisecond,
				ip: "127.0.0.1", requestID: "h/r-000001"}
			buf.Reset()
			l.write(context.Background(), e)
			if want := slogLine(t, format, e); buf.String() != want {
				t.Errorf("%s line at %v = %q, want slog's %q", format, tm, buf.String(), want)
			}
		}
	}
}

func FuzzAccessLog(f *testing.F) {
	for _, s := range []string{"/api/products/1", "/a b", "/\n", `/"`, "/été", "/\xff", ""} {
		f.Add(s, "GET", int64(1234), int64(1_764_470_375_123_456_789))
	}
	logs := map[string]*accessLog{}
	var buf bytes.Buffer
	for _, format := range []string{"text", "json"} {
		logs[format] = newAccessLog(format, &buf)
	}
	f.Fuzz(func(t *testing.T, path, method string, d, unixNano int64) {
		e := accessEntry{time: time.Unix(0, unixNano).UTC(), method: method, path: path, status: 200,
			duration: time.Duration(d), ip: "127.0.0.1", requestID: "h/r-000001"}
		for _, format := range []string{"text", "json"} {
			if got, want := accessLine(format, e), slogLine(t, format, e); got != want {
				t.Errorf("%s line = %q, want slog's %q", format, got, want)
			}
			// The same line from a log that has formatted other seconds.
			buf.Reset()
			logs[format].write(context.Background(), e)
			if want := slogLine(t, format, e); buf.String() != want {
				t.Errorf("%s line after others = %q, want slog's %q", format, buf.String(), want)
			}
		}
	})
}

// TestAccessLogMiddleware checks the line of one request through the app's
// router: its status, path and request id, and that a nil access log
// passes requests through.
func TestAccessLogMiddleware(t *testing.T) {
	t.Parallel()
	a, _ := newTestApp(t, testConfig(t))
	var buf bytes.Buffer
	a.access = newAccessLog("text", &buf)
	h := a.Handler()
	r := httptest.NewRequest(http.MethodGet, "/api/products/bad.id", nil)
	r.RemoteAddr = "192.0.2.7:5000"
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	line := buf.String()
	for _, want := range []string{" level=INFO msg=request method=GET path=/api/products/bad.id status=400 duration=", " ip=192.0.2.7 request_id="} {
		if !strings.Contains(line, want) {
			t.Errorf("access log %q lacks %q", line, want)
		}
	}
	if n := strings.Count(line, "\n"); n != 1 {
		t.Errorf("access log has %d lines, want 1", n)
	}

	var nilLog *accessLog
	w = httptest.NewRecorder()
	nilLog.Handler(http.NotFoundHandler()).ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/", nil))
	if w.Code != http.StatusNotFound {
		t.Errorf("through a nil access log: %d, want 404", w.Code)
	}
}

// BenchmarkAccessLog compares the access log's line with slog's handler
// writing the same record (what the server did before), both into
// io.Discard.
func BenchmarkAccessLog(b *testing.B) {
	e := accessEntry{time: time.Now(), method: "GET", path: "/api/products/123", status: 200,
		duration: 12345 * time.Nanosecond, ip: "127.0.0.1", requestID: "host-abcdefghij/abcdefghij-000123"}
	ctx := context.Background()
	for _, format := range []string{"text", "json"} {
		b.Run("accessLog/"+format, func(b *testing.B) {
			l := newAccessLog(format, io.Discard)
			b.ReportAllocs()
			for b.Loop() {
				e.time = time.Now()
				l.write(ctx, e)
			}
		})
		b.Run("slog/"+format, func(b *testing.B) {
			log := newLogger(format, io.Discard)
			b.ReportAllocs()
			for b.Loop() {
				log.LogAttrs(ctx, slog.LevelInfo, "request", slog.String("method", e.method), slog.String("path", e.path),
					slog.Int("status", e.status), slog.Duration("duration", e.duration),
					slog.String("ip", e.ip), slog.String("request_id", e.requestID))
			}
		})
	}
}
