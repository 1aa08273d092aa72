package main

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
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
// handler, and formats the date and time of each second once for all its
// lines: a sixth of slog's cost (BenchmarkAccessLog). Any other request (a
// path with a space, a quote, a control or non-ASCII character) is formatted
// by slog itself. TestAccessLogMatchesSlog, TestAccessLogReusesSecond and
// FuzzAccessLog hold the two to the same bytes.
//
// It is safe for concurrent use: each line is one Write to w. A nil
// *accessLog logs nothing.
type accessLog struct {
	w    io.Writer
	json bool
	slog slog.Handler // formats the lines the fast path leaves
	bufs sync.Pool    // *[]byte
	sec  atomic.Pointer[formattedSecond]
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
		b = e.appendJSON(b, l.second(e.time))
	} else {
		b = e.appendText(b, l.second(e.time))
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

// formattedSecond is one second of a time zone as RFC 3339 writes it: the
// date and time up to the seconds, and the zone's suffix ("Z", "+05:30").
// Lines of the same second (dozens at a busy server's rate) format their
// time from it, not from scratch.
type formattedSecond struct {
	unix   int64
	loc    *time.Location
	prefix []byte // "2006-01-02T15:04:05"
	zone   []byte // "Z" or "-07:00"
}

// second returns t's second, formatted; the last one is kept for the lines
// that follow.
func (l *accessLog) second(t time.Time) *formattedSecond {
	if f := l.sec.Load(); f != nil && f.unix == t.Unix() && f.loc == t.Location() {
		return f
	}
	s := t.Truncate(time.Second)
	full := s.AppendFormat(nil, time.RFC3339) // "2006-01-02T15:04:05Z07:00"
	const n = len("2006-01-02T15:04:05")
	f := &formattedSecond{unix: t.Unix(), loc: t.Location(), prefix: full[:n:n], zone: full[n:]}
	l.sec.Store(f)
	return f
}

// appendText appends e as slog's text handler writes it, its time of second
// sec.
func (e *accessEntry) appendText(b []byte, sec *formattedSecond) []byte {
	b = append(b, "time="...)
	b = append(b, sec.prefix...)
	b = append(b, '.')
	ms := e.time.Nanosecond() / 1e6
	b = append(b, byte('0'+ms/100), byte('0'+ms/10%10), byte('0'+ms%10))
	b = append(b, sec.zone...)
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

// appendJSON appends e as slog's JSON handler writes it, its time of second
// sec.
func (e *accessEntry) appendJSON(b []byte, sec *formattedSecond) []byte {
	b = append(b, `{"time":"`...)
	b = append(b, sec.prefix...)
	// RFC3339Nano's fraction: up to nine digits, trailing zeros trimmed,
	// none at all for a whole second.
	if ns := e.time.Nanosecond(); ns != 0 {
		var frac [10]byte
		frac[0] = '.'
		for i := 9; i >= 1; i-- {
			frac[i] = byte('0' + ns%10)
			ns /= 10
		}
		n := 10
		for frac[n-1] == '0' {
			n--
		}
		b = append(b, frac[:n]...)
	}
	b = append(b, sec.zone...)
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
