package client

import (
	"net/http"
	"strings"
)

// IgnoreCacheControl returns a copy of p that caches answers whatever their
// Cache-Control header says. By default an answer marked Cache-Control:
// no-store or private is not cached: the downstream says it belongs to one
// caller. Opt out only when the cache key already tells callers apart (a
// forwarded Authorization header is in the key) or the downstream marks
// answers private by mistake.
func (p Policy) IgnoreCacheControl() Policy {
	p.anyCC = true
	return p
}

// storable reports whether resp, an answer to the request of this method,
// may be cached for other callers: not when its Cache-Control says no-store
// or private (unless the policy ignores it), and not when it varies on a
// request header that differs on every request and stays out of the key (the
// tracing headers) or on everything (Vary: *). A Vary on a header the key
// holds (the method's headers, forwarded headers such as Authorization) or
// on one this client never sends is harmless.
func storable(resp *Response, pol Policy) bool {
	if !pol.anyCC {
		for _, v := range resp.header.Values("Cache-Control") {
			if hasToken(v, "no-store") || hasToken(v, "private") {
				return false
			}
		}
	}
	for _, v := range resp.header.Values("Vary") {
		for _, name := range strings.Split(v, ",") {
			name = strings.TrimSpace(name)
			if name == "*" || traceHeaders[http.CanonicalHeaderKey(name)] {
				return false
			}
		}
	}
	return true
}

// hasToken reports whether the comma-separated header value v holds token
// (case-insensitive), alone or with an argument (private="Set-Cookie").
func hasToken(v, token string) bool {
	for _, part := range strings.Split(v, ",") {
		part = strings.TrimSpace(part)
		if i := strings.IndexByte(part, '='); i >= 0 {
			part = part[:i]
		}
		if strings.EqualFold(part, token) {
			return true
		}
	}
	return false
}
