package main

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"
)

func get(t *testing.T, url string) (int, http.Header, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, string(b)
}

func TestFloorCachesTheDownstreamAnswer(t *testing.T) {
	t.Parallel()
	down := httptest.NewServer(downstreamHandler(0))
	defer down.Close()
	srv := httptest.NewServer(floorHandler(down.URL, nil))
	defer srv.Close()

	_, _, want := get(t, down.URL+"/products/42")
	for i, source := range []string{"MISS", "L1"} {
		status, h, body := get(t, srv.URL+"/api/products/42")
		if status != http.StatusOK || body != want || h.Get("X-Cache") != source {
			t.Errorf("GET #%d = %d %q X-Cache %q, want 200 %q X-Cache %q", i+1, status, body, h.Get("X-Cache"), want, source)
		}
	}
	if status, _, _ := get(t, srv.URL+"/api/products/missing-1"); status != http.StatusNotFound {
		t.Errorf("GET missing-1 = %d, want 404", status)
	}
	if status, _, _ := get(t, srv.URL+"/api/products/a.b"); status != http.StatusBadRequest {
		t.Errorf("GET a.b = %d, want 400", status)
	}
}

func TestCeilingAnswersOneProduct(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(ceilingHandler())
	defer srv.Close()
	status, h, body := get(t, srv.URL+"/api/products/7")
	if status != http.StatusOK || body != string(ceilingBody) || h.Get("Content-Type") != "application/json" {
		t.Errorf("GET = %d %q %q, want 200 %q application/json", status, body, h.Get("Content-Type"), ceilingBody)
	}
}

// exampleLine is a line of the example server's access log, copied from
// the log of go build ./example/server (its default text format).
const exampleLine = "time=2026-12-06T04:53:53.426Z level=INFO msg=request method=GET path=/api/products/42 status=200 duration=190.701µs ip=127.0.0.1 request_id=vm/ZxS3x6GNnJ-000002\n"

// fields splits an access log line (the plain kind: no quoted values) into
// its keys, in order, and their values.
func fields(t *testing.T, line string) ([]string, map[string]string) {
	t.Helper()
	if !strings.HasSuffix(line, "\n") || strings.Count(line, "\n") != 1 {
		t.Fatalf("%q is not one line", line)
	}
	var keys []string
	vals := map[string]string{}
	for _, kv := range strings.Fields(line) {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			t.Fatalf("%q: %q is no key=value", line, kv)
		}
		keys = append(keys, k)
		vals[k] = v
	}
	return keys, vals
}

// TestFloorlogLogsTheExamplesLine sends requests to floorlog and checks its
// access log: one line per request, with the fields of the example's line
// in its order, each value of the same form.
func TestFloorlogLogsTheExamplesLine(t *testing.T) {
	t.Parallel()
	down := httptest.NewServer(downstreamHandler(0))
	defer down.Close()
	var buf bytes.Buffer
	log := newAccessLog(&buf)
	srv := httptest.NewServer(floorHandler(down.URL, log))
	paths := []string{"/api/products/42", "/api/products/42", "/api/products/missing-1", "/api/products/a.b"}
	for _, p := range paths {
		get(t, srv.URL+p)
	}
	srv.Close()
	if err := log.Close(); err != nil {
		t.Fatal(err)
	}

	wantKeys, ex := fields(t, exampleLine)
	lines := strings.SplitAfter(buf.String(), "\n")
	if len(lines) != len(paths)+1 || lines[len(paths)] != "" {
		t.Fatalf("access log %q: want %d lines", buf.String(), len(paths))
	}
	reqID := regexp.MustCompile(`^[^/ ]+/[A-Za-z0-9]{10}-[0-9]{6}$`)
	for i, status := range []string{"200", "200", "404", "400"} {
		keys, got := fields(t, lines[i])
		if strings.Join(keys, " ") != strings.Join(wantKeys, " ") {
			t.Errorf("line %d %q: keys %q, want the example's %q", i+1, lines[i], keys, wantKeys)
			continue
		}
		for k, want := range map[string]string{"level": ex["level"], "msg": ex["msg"], "method": ex["method"],
			"path": paths[i], "status": status, "ip": ex["ip"]} {
			if got[k] != want {
				t.Errorf("line %d: %s=%s, want %s", i+1, k, got[k], want)
			}
		}
		const layout = "2006-01-02T15:04:05.000Z07:00" // slog's text time
		for _, v := range []string{got["time"], ex["time"]} {
			if tm, err := time.Parse(layout, v); err != nil || tm.Format(layout) != v {
				t.Errorf("line %d: time=%s is not of the form %s: %v", i+1, v, layout, err)
			}
		}
		for _, v := range []string{got["duration"], ex["duration"]} {
			if d, err := time.ParseDuration(v); err != nil || d.String() != v {
				t.Errorf("line %d: duration=%s is no time.Duration.String: %v", i+1, v, err)
			}
		}
		for _, v := range []string{got["request_id"], ex["request_id"]} {
			if !reqID.MatchString(v) {
				t.Errorf("line %d: request_id=%s is not chi's RequestID", i+1, v)
			}
		}
	}
	// And byte for byte: the example's line, as floorlog writes it.
	tm, _ := time.Parse("2006-01-02T15:04:05.000Z07:00", ex["time"])
	d, _ := time.ParseDuration(ex["duration"])
	if got := accessLine(tm, ex["method"], ex["path"], 200, d, ex["ip"], ex["request_id"]); got != exampleLine {
		t.Errorf("the example's request logs %q, want the example's %q", got, exampleLine)
	}
}

// accessLine is the line an access log writes.
func accessLine(t time.Time, method, path string, status int, d time.Duration, ip, requestID string) string {
	var buf bytes.Buffer
	l := newAccessLog(&buf)
	l.write(t, method, path, status, d, ip, requestID)
	_ = l.Close()
	return buf.String()
}

// TestAccessLogLineIsSlogs holds floorlog's line to the bytes slog's text
// handler writes, as the example server's tests hold the example's
// (TestAccessLogMatchesSlog and TestAccessLogReusesSecond in
// example/server): for the usual line and for those it leaves to slog, each
// from a new log and one after the other from one log (which formats a
// second once for its lines).
func TestAccessLogLineIsSlogs(t *testing.T) {
	t.Parallel()
	base := time.Date(2026, 11, 30, 23, 59, 58, 120_000_000, time.UTC)
	india := time.FixedZone("IST", 5*3600+1800)
	var shared bytes.Buffer
	l := newAccessLog(&shared)
	defer l.Close()
	for _, tc := range []struct {
		name string
		t    time.Time
		path string
		id   string
	}{
		{"plain", base, "/api/products/42", "host/abcdefghij-000123"},
		{"same second", base.Add(1), "/api/products/42", "h/r-1"},
		{"same second, 999 ms", base.Add(879 * time.Millisecond), "/api/products/42", "h/r-1"},
		{"next second", base.Add(time.Second), "/api/products/42", "h/r-1"},
		{"next second, other zone", base.Add(time.Second).In(india), "/api/products/42", "h/r-1"},
		{"next second, back to UTC", base.Add(time.Second + time.Millisecond), "/api/products/42", "h/r-1"},
		{"whole second", base.Truncate(time.Second), "/api/products/42", "h/r-1"},
		{"nanoseconds", base.Add(999_999), "/api/products/42", "h/r-1"},
		{"local", base.Local(), "/api/products/42", "h/r-1"},
		{"year 10000", base.AddDate(8000, 0, 0), "/api/products/42", "h/r-1"},
		{"space in path", base, "/api/products/a b", "h/r-1"},
		{"newline in path", base, "/x\nlevel=ERROR msg=forged", "h/r-1"},
		{"quote in path", base, `/x"y`, "h/r-1"},
		{"non-ASCII path", base, "/produits/été", "h/r-1"},
		{"empty request id", base, "/api/products/42", ""},
	} {
		var want bytes.Buffer
		r := slog.NewRecord(tc.t, slog.LevelInfo, "request", 0)
		r.AddAttrs(slog.String("method", "GET"), slog.String("path", tc.path), slog.Int("status", 200),
			slog.Duration("duration", 12345*time.Nanosecond), slog.String("ip", "127.0.0.1"),
			slog.String("request_id", tc.id))
		if err := slog.NewTextHandler(&want, nil).Handle(context.Background(), r); err != nil {
			t.Fatal(err)
		}
		if got := accessLine(tc.t, "GET", tc.path, 200, 12345*time.Nanosecond, "127.0.0.1", tc.id); got != want.String() {
			t.Errorf("%s: line = %q, want slog's %q", tc.name, got, want.String())
		}
		shared.Reset()
		l.write(tc.t, "GET", tc.path, 200, 12345*time.Nanosecond, "127.0.0.1", tc.id)
		if err := l.Flush(); err != nil {
			t.Fatal(err)
		}
		if shared.String() != want.String() {
			t.Errorf("%s: line after others = %q, want slog's %q", tc.name, shared.String(), want.String())
		}
	}
}

// BenchmarkAccessLog is the cost of one line of the usual kind, to compare
// with the example's (go test -bench AccessLog ./example/server).
func BenchmarkAccessLog(b *testing.B) {
	l := newAccessLog(io.Discard)
	defer l.Close()
	b.ReportAllocs()
	for b.Loop() {
		l.write(time.Now(), "GET", "/api/products/42", 200, 12345*time.Nanosecond, "127.0.0.1",
			"host-abcdefghij/abcdefghij-000123")
	}
}
