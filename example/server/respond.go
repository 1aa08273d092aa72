package main

import (
	"log/slog"
	"net/http"
	"time"

	chimw "github.com/go-chi/chi/v5/middleware"

	"github.com/alovago/alova/middleware"
)

// errorMessages holds the error codes this server writes itself (the captcha
// handlers and the rate limiter have their own), with the sentence sent
// along. Codes are stable; clients switch on them.
var errorMessages = map[string]string{
	"not_found":              "no such resource",
	"method_not_allowed":     "method not allowed on this resource",
	"invalid_id":             "the id must be 1 to 64 letters, digits, '-' or '_'",
	"missing_key":            "the key query parameter is required",
	"bad_request":            "malformed request",
	"downstream_unavailable": "the product service failed; try again later",
	"downstream_timeout":     "the product service did not answer in time",
	"cancelled":              "the request was cancelled",
	"cache_unavailable":      "the shared cache is unavailable; nothing was invalidated on other instances",
	"demo_failure":           "demo downstream: simulated failure",
	"unauthorized":           "this admin route needs the header Authorization: Bearer <ADMIN_TOKEN>",
	"forbidden":              "admin routes answer loopback clients only; set ADMIN_TOKEN on the server to call them with a bearer token",
}

// writeError writes the JSON error answer {"error":{"code":…,"message":…}}
// shared with the library's middleware and handlers: a stable code, never an
// error's text (details go to the log).
func writeError(w http.ResponseWriter, status int, code string) {
	middleware.WriteError(w, status, middleware.Error{Code: code, Message: errorMessages[code]})
}

// requestLog logs one line per request with slog: method, path, status,
// duration, client IP and request id.
func requestLog(log *slog.Logger) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			ww := chimw.NewWrapResponseWriter(w, r.ProtoMajor)
			start := time.Now()
			defer func() {
				log.LogAttrs(r.Context(), slog.LevelInfo, "request",
					slog.String("method", r.Method), slog.String("path", r.URL.Path),
					slog.Int("status", ww.Status()), slog.Duration("duration", time.Since(start)),
					slog.String("ip", chimw.GetClientIP(r.Context())),
					slog.String("request_id", chimw.GetReqID(r.Context())))
			}()
			next.ServeHTTP(ww, r)
		})
	}
}
