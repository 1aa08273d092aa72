package main

import (
	"bytes"
	"encoding/json"
	"net/http"

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
// error's text (details go to the log), marked Cache-Control: no-store. The
// message is written as is: "<ADMIN_TOKEN>", not "\u003cADMIN_TOKEN\u003e"
// (a JSON answer marked nosniff is never read as HTML).
func writeError(w http.ResponseWriter, status int, code string) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(struct {
		Error middleware.Error `json:"error"`
	}{middleware.Error{Code: code, Message: errorMessages[code]}})
	h := w.Header()
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Type", "application/json")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = w.Write(b.Bytes())
}
