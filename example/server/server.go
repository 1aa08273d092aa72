package main

import (
	"io"
	"log/slog"
	"net/http"
	"sync"
	"time"
)

// Bounds of every connection that are not flags.
const (
	// headerTimeout is the time a client has to send its request line and
	// headers.
	headerTimeout = 5 * time.Second
	// maxHeaderBytes caps the request line and headers (net/http allows 4 KiB
	// more); past it the answer is 431. Enough for large cookies.
	maxHeaderBytes = 16 << 10
)

// newHTTPServer returns the server for h with the bounds that keep slow or
// idle clients from holding connections: headerTimeout for the headers,
// cfg.BodyTimeout for the body ([bodyDeadline]), cfg.IdleTimeout between two
// requests on a keep-alive connection, and maxHeaderBytes.
//
// It sets no ReadTimeout: when that expires while a handler still works (a
// slow downstream, retries), net/http cancels the request's context.
func newHTTPServer(cfg config, h http.Handler, log *slog.Logger) *http.Server {
	return &http.Server{
		Handler:           bodyDeadline(cfg.BodyTimeout, h),
		ReadHeaderTimeout: headerTimeout,
		IdleTimeout:       cfg.IdleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
}

// bodyDeadline gives a request with a body d, from the start of its handler,
// to deliver it: past that, reading the body fails (the handler sees an
// error) and the server closes the connection, also when the handler did not
// read the body (net/http drains it under the same deadline). The deadline
// is lifted as soon as the body has been read whole, so it never cuts a
// handler that is still working.
func bodyDeadline(d time.Duration, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Body == nil || r.Body == http.NoBody {
			next.ServeHTTP(w, r)
			return
		}
		rc := http.NewResponseController(w)
		if err := rc.SetReadDeadline(time.Now().Add(d)); err != nil {
			next.ServeHTTP(w, r) // a connection without deadlines
			return
		}
		r.Body = &deadlineBody{ReadCloser: r.Body, lift: func() { _ = rc.SetReadDeadline(time.Time{}) }}
		next.ServeHTTP(w, r)
	})
}

// deadlineBody calls lift once, when its body has been read to the end.
type deadlineBody struct {
	io.ReadCloser
	lift func()
	once sync.Once
}

func (b *deadlineBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err == io.EOF {
		b.once.Do(b.lift)
	}
	return n, err
}
