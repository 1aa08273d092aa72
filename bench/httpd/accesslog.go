package main

import (
	"bufio"
	"context"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"time"

	chimw "github.com/go-chi/chi/v5/middleware"
)

// accessLog is floorlog's access log: the example server's access log
// (example/server/accesslog.go and logbuf.go, in its package main, so not
// importable here) cut down to what bench/http.sh runs it with, its default
// text format. For every request it writes the example's line, the bytes
// slog's text handler writes for
//
//	log.LogAttrs(ctx, slog.LevelInfo, "request", slog.String("method", …),
//		slog.String("path", …), slog.Int("status", …), slog.Duration("duration", …),
//		slog.String("ip", …), slog.String("request_id", …))
//
// formatted by hand for a request whose strings slog writes unquoted (every
// request wrk makes), with the date and time of each second formatted once
// for all its lines, and by slog's handler for any other. Like the example's
// log it writes into a 64 KiB bufio.Writer behind a mutex, which reaches the
// underlying writer when full, every 100 ms and on Close. Unlike the example,
// it formats a line under that mutex, into one buffer: as cheap as the
// example's or cheaper (BenchmarkAccessLog here and in example/server).
//
// A nil *accessLog logs nothing.
type accessLog struct {
	mu   sync.Mutex
	w    *bufio.Writer
	slog slog.Handler // writes through l.Write

	// Under mu: the line being formatted, and the second of the last line
	// ("2006-01-02T15:04:05Z07:00") with its Unix time and zone.
	line    []byte
	sec     []byte
	secUnix int64
	secLoc  *time.Location
	stop    chan struct{}
	done    chan struct{}
	once    sync.Once
}

// flushEvery is how often the buffered log reaches its writer, as the
// example's logFlushEvery.
const flushEvery = 100 * time.Millisecond

// newAccessLog starts an access log writing to w; Close it to write out the
// rest.
func newAccessLog(w io.Writer) *accessLog {
	l := &accessLog{w: bufio.NewWriterSize(w, 64<<10), stop: make(chan struct{}), done: make(chan struct{})}
	l.slog = slog.NewTextHandler(l, nil)
	go func() {
		defer close(l.done)
		t := time.NewTicker(flushEvery)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				_ = l.Flush()
			case <-l.stop:
				return
			}
		}
	}()
	return l
}

// Write appends p to the buffer (or writes through when it is full).
func (l *accessLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// Flush writes out what the buffer holds.
func (l *accessLog) Flush() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Flush()
}

// Close stops the flushing and writes out the rest.
func (l *accessLog) Close() error {
	if l == nil {
		return nil
	}
	l.once.Do(func() {
		close(l.stop)
		<-l.done
	})
	return l.Flush()
}

// Handler is the access log's middleware, placed where the example places
// its own: it logs every request when its handler returns.
func (l *accessLog) Handler(next http.Handler) http.Handler {
	if l == nil {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ww := chimw.NewWrapResponseWriter(w, r.ProtoMajor)
		start := time.Now()
		defer func() {
			now := time.Now()
			l.write(now, r.Method, r.URL.Path, ww.Status(), now.Sub(start),
				chimw.GetClientIP(r.Context()), chimw.GetReqID(r.Context()))
		}()
		next.ServeHTTP(ww, r)
	})
}

// write writes one request's line.
func (l *accessLog) write(t time.Time, method, path string, status int, d time.Duration, ip, requestID string) {
	if y := t.Year(); y < 0 || y >= 10000 || !plain(method) || !plain(path) || !plain(ip) || !plain(requestID) {
		r := slog.NewRecord(t, slog.LevelInfo, "request", 0)
		r.AddAttrs(slog.String("method", method), slog.String("path", path), slog.Int("status", status),
			slog.Duration("duration", d), slog.String("ip", ip), slog.String("request_id", requestID))
		_ = l.slog.Handle(context.Background(), r)
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	b := append(l.line[:0], "time="...)
	b = l.appendTime(b, t)
	b = append(b, " level=INFO msg=request method="...)
	b = append(b, method...)
	b = append(b, " path="...)
	b = append(b, path...)
	b = append(b, " status="...)
	b = strconv.AppendInt(b, int64(status), 10)
	b = append(b, " duration="...)
	b = append(b, d.String()...)
	b = append(b, " ip="...)
	b = append(b, ip...)
	b = append(b, " request_id="...)
	b = append(b, requestID...)
	b = append(b, '\n')
	l.line = b
	_, _ = l.w.Write(b)
}

// appendTime appends t as slog's text handler writes it,
// 2006-01-02T15:04:05.000Z07:00, formatting its second only when it is not
// the last line's. l.mu must be held.
func (l *accessLog) appendTime(b []byte, t time.Time) []byte {
	if l.sec == nil || t.Unix() != l.secUnix || t.Location() != l.secLoc {
		l.sec = t.Truncate(time.Second).AppendFormat(l.sec[:0], time.RFC3339)
		l.secUnix, l.secLoc = t.Unix(), t.Location()
	}
	const n = len("2006-01-02T15:04:05")
	b = append(b, l.sec[:n]...)
	ms := t.Nanosecond() / 1e6
	b = append(b, '.', byte('0'+ms/100), byte('0'+ms/10%10), byte('0'+ms%10))
	return append(b, l.sec[n:]...)
}

// plain reports whether s is non-empty printable ASCII without a space, '"',
// '\' or '=': what slog's text handler writes unquoted.
func plain(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c >= 0x7f || c == '"' || c == '\\' || c == '=' {
			return false
		}
	}
	return true
}
