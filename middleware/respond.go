package middleware

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strconv"
)

// Error codes written by this package. They are part of the API: clients
// switch on them, so they never change meaning.
const (
	// CodeRateLimited answers 429: the key spent its points for this window.
	CodeRateLimited = "rate_limited"
	// CodeRateLimitUnavailable answers 503: the limiter's store failed and
	// the middleware fails closed (see [RateLimitOptions.FailOpen]).
	CodeRateLimitUnavailable = "rate_limit_unavailable"
)

// Error is the machine-readable part of every error answer written by this
// package and by package handlers. On the wire it is wrapped in an object
// under "error":
//
//	{"error":{"code":"rate_limited","message":"too many requests; retry later"}}
//
// Code is stable and meant for programs; Message is a short English sentence
// for people, chosen by the server: it never holds the text of an internal
// error (those go to the log).
type Error struct {
	// Code is a stable snake_case identifier such as "rate_limited".
	Code string `json:"code"`
	// Message explains the code to a person.
	Message string `json:"message"`
	// RetryAfter, when positive, is the number of seconds to wait before
	// asking again (429 and 503 answers). [WriteError] also sends it as the
	// Retry-After header; it is repeated in the body because browsers hide
	// that header from cross-origin scripts unless the server exposes it,
	// and a countdown ("resend in 42 s") needs it. Omitted when zero.
	RetryAfter int `json:"retry_after,omitempty"`
}

// errorBody is the wire envelope of an Error.
type errorBody struct {
	Error Error `json:"error"`
}

// WriteError writes e as the JSON error answer {"error":{"code":…,…}} with
// the given status (see [Error]), marked Cache-Control: no-store (an error
// is about one request at one moment: no browser or CDN may keep it, even if
// the handler set another Cache-Control first). When e.RetryAfter is
// positive it also sets the Retry-After header to it, so header and body
// always agree. Other headers set on w before the call (Allow,
// X-RateLimit-*) are kept.
func WriteError(w http.ResponseWriter, status int, e Error) {
	h := w.Header()
	if e.RetryAfter > 0 {
		h.Set("Retry-After", strconv.Itoa(e.RetryAfter))
	}
	h.Set("Cache-Control", "no-store")
	WriteJSON(w, status, errorBody{e})
}

// WriteJSON writes v as the JSON body of an answer with the given status,
// with Content-Type application/json and X-Content-Type-Options nosniff. It
// sets no Cache-Control: a product answer may be cached by browsers and
// CDNs as the handler decides (set the header before calling). An answer
// that is per user or secret (a session, a one-time code) must set
// Cache-Control: no-store itself; package handlers does. A v that cannot be
// encoded is a programming error: WriteJSON then answers an empty JSON
// object rather than a broken body, as the status is already chosen.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	// The answer is JSON with nosniff, never HTML: "<" stays "<" rather than
	// json.Marshal's \u003c, so a message reads as written.
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		buf.Reset()
		buf.WriteString("{}\n")
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}
