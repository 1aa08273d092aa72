package main

import (
	"net/http"

	"github.com/alovago/alova/internal/reqid"
)

// nosniff marks every answer X-Content-Type-Options: nosniff, successes and
// errors, the library's and the profiler's alike, so that no browser reads
// a body as another type than the one it is sent as.
func nosniff(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Content-Type-Options", "nosniff")
		next.ServeHTTP(w, r)
	})
}

// checkRequestID drops a client's X-Request-Id unless it is 1 to 64 of the
// characters A-Z a-z 0-9 and - _ . : / + =, so that what is logged and
// forwarded downstream is an id, not any bytes a header may hold. chi's
// RequestID, after it, then makes a fresh id, which the log and the
// downstream calls carry instead.
func checkRequestID(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if v, ok := r.Header["X-Request-Id"]; ok && (len(v) != 1 || !reqid.Valid(v[0])) {
			r.Header.Del("X-Request-Id")
		}
		next.ServeHTTP(w, r)
	})
}
