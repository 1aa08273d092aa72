package main

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"time"

	chimw "github.com/go-chi/chi/v5/middleware"
)

// accessLog is the server's access log: one line per request, message
// "request" with its method, path, status, duration, client IP and request
// id, in the log's format (-log-format) and through the log's writer.
//
// Its lines are the bytes slog's handler writes for
//
//	log.LogAttrs(ctx, slog.LevelInfo, "request", slog.String("method", …), …)
//
// For the usual request, whose every string is plain ASCII that neither
// format quotes or escapes, it formats them itself, without slog's generic
// handler: a third of the cost (BenchmarkAccessLog). Any other request (a
// path with a space, a quote, a control or non-ASCII character) is formatted
// by slog itself. TestAccessLogMatchesSlog and FuzzAccessLog hold the two
// to the same bytes.
//
// It is safe for concurrent use: each line is one Write to w. A nil
// *accessLog logs nothing.
type accessLog struct {
	w    io.Writer
	json bool
	slog slog.Handler // formats the lines the fast path leaves
	bufs sync.Pool    // *[]byte
}

// newAccessLog returns the access log writing to w in format ("text" or
// "json", as -log-format).
func newAccessLog(format string, w io.Writer) *accessLog {
	return &accessLog{w: w, json: format == "json", slog: newLogger(format, w).Handler()}
}

// accessEntry is one line of the access log.
type accessEntry struct {
	time          time.Time // when the request ended
	method, path  string
	status        int
	duration      time.Duration
	ip, requestID string
}

// Handler is the access log's middleware: it logs every request when its
// handler returns, panics included (with the status written so far; a
// Recoverer further in writes 500 first).
func (l *accessLog) Handler(next http.Handler) http.Handler {
	if l == nil {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ww := chimw.NewWrapResponseWriter(w, r.ProtoMajor)
		start := time.Now()
		defer func() {
			now := time.Now()
			l.write(r.Context(), accessEntry{time: now, method: r.Method, path: r.URL.Path,
				status: ww.Status(), duration: now.Sub(start),
				ip: chimw.GetClientIP(r.Context()), requestID: chimw.GetReqID(r.Context())})
		}()
		next.ServeHTTP(ww, r)
	})
}

// write writes e's line.
func (l *accessLog) write(ctx context.Context, e accessEntry) {
	if y := e.time.Year(); y < 0 || y >= 10000 || !plain(e.method) || !plain(e.path) || !plain(e.ip) || !plain(e.requestID) {
		r := slog.NewRecord(e.time, slog.LevelInfo, "request", 0)
		r.AddAttrs(slog.String("method", e.method), slog.String("path", e.path),
			slog.Int("status", e.status), slog.Duration("duration", e.duration),
			slog.String("ip", e.ip), slog.String("request_id", e.requestID))
		_ = l.slog.Handle(ctx, r)
		return
	}
	bp, _ := l.bufs.Get().(*[]byte)
	if bp == nil {
		bp = new([]byte)
	}
	b := (*bp)[:0]
	if l.json {
		b = e.appendJSON(b)
	} else {
		b = e.appendText(b)
	}
	_, _ = l.w.Write(b)
	*bp = b
	l.bufs.Put(bp)
}

// plain reports whether s is non-empty printable ASCII without a space, '"',
// '\' or '=': what slog's text handler writes unquoted and its JSON handler
// unescaped.
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

// appendText appends e as slog's text handler writes it.
func (e *accessEntry) appendText(b []byte) []byte {
	b = append(b, "time="...)
	b = appendRFC3339Millis(b, e.time)
	b = append(b, " level=INFO msg=request method="...)
	b = append(b, e.method...)
	b = append(b, " path="...)
	b = append(b, e.path...)
	b = append(b, " status="...)
	b = strconv.AppendInt(b, int64(e.status), 10)
	b = append(b, " duration="...)
	b = append(b, e.duration.String()...)
	b = append(b, " ip="...)
	b = append(b, e.ip...)
	b = append(b, " request_id="...)
	b = append(b, e.requestID...)
	return append(b, '\n')
}

// appendJSON appends e as slog's JSON handler writes it.
func (e *accessEntry) appendJSON(b []byte) []byte {
	b = append(b, `{"time":"`...)
	b = e.time.AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","level":"INFO","msg":"request","method":"`...)
	b = append(b, e.method...)
	b = append(b, `","path":"`...)
	b = append(b, e.path...)
	b = append(b, `","status":`...)
	b = strconv.AppendInt(b, int64(e.status), 10)
	b = append(b, `,"duration":`...)
	b = strconv.AppendInt(b, int64(e.duration), 10)
	b = append(b, `,"ip":"`...)
	b = append(b, e.ip...)
	b = append(b, `","request_id":"`...)
	b = append(b, e.requestID...)
	return append(b, "\"}\n"...)
}

// appendRFC3339Millis appends t as slog's text handler does: RFC 3339 with
// exactly three digits of milliseconds. (RFC3339Nano trims trailing zeros,
// so format with a tenth of a millisecond added and drop the fourth digit.)
func appendRFC3339Millis(b []byte, t time.Time) []byte {
	const prefixLen = len("2006-01-02T15:04:05.000")
	n := len(b)
	t = t.Truncate(time.Millisecond).Add(time.Millisecond / 10)
	b = t.AppendFormat(b, time.RFC3339Nano)
	return append(b[:n+prefixLen], b[n+prefixLen+1:]...)
}
