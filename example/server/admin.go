package main

import (
	"crypto/sha256"
	"crypto/subtle"
	"net/http"
	"net/netip"
	"strings"
)

// adminGuard returns the middleware of the admin routes (cache purges, cache
// counters, the demo's outbox and stats): no one but the operator may call
// them.
//
// With token empty (ADMIN_TOKEN unset), it lets through only requests that
// come straight from this host (see [fromLoopback]) and answers 403
// "forbidden" to everyone else, whatever credentials they send.
//
// With a token, it lets through any request whose Authorization header is
// "Bearer <token>" (the scheme in any case), from any address, and answers
// 401 "unauthorized" with WWW-Authenticate to everything else, loopback
// included. The comparison is in constant time, of SHA-256 sums so that the
// token's length does not show either.
func adminGuard(token string) func(http.Handler) http.Handler {
	if token == "" {
		return localOnly
	}
	want := sha256.Sum256([]byte(token))
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			got, ok := bearer(r.Header.Get("Authorization"))
			sum := sha256.Sum256([]byte(got))
			if subtle.ConstantTimeCompare(sum[:], want[:]) != 1 || !ok {
				w.Header().Set("WWW-Authenticate", `Bearer realm="admin"`)
				writeError(w, http.StatusUnauthorized, "unauthorized")
				return
			}
			next.ServeHTTP(w, r)
		})
	}
}

// localOnly answers 403 to requests that do not come straight from this host.
func localOnly(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !fromLoopback(r) {
			writeError(w, http.StatusForbidden, "forbidden")
			return
		}
		next.ServeHTTP(w, r)
	})
}

// proxyHeaders are the headers a reverse proxy adds to say whom it forwards.
var proxyHeaders = []string{"Forwarded", "X-Forwarded-For", "X-Real-Ip"}

// fromLoopback reports whether r comes straight from this host: its TCP peer
// is a loopback address and it carries none of the proxy headers. A reverse
// proxy on this host connects from loopback for every client it forwards;
// the header tells such a request apart. (A proxy that adds none of them
// makes everyone local: behind one, set ADMIN_TOKEN.) -trusted-proxies does
// not widen this: an admin call through a proxy needs the token.
func fromLoopback(r *http.Request) bool {
	for _, h := range proxyHeaders {
		if _, ok := r.Header[h]; ok {
			return false
		}
	}
	peer, err := netip.ParseAddrPort(r.RemoteAddr)
	return err == nil && peer.Addr().Unmap().IsLoopback()
}

// bearer returns the token of an "Authorization: Bearer <token>" header.
func bearer(h string) (string, bool) {
	scheme, token, ok := strings.Cut(h, " ")
	token = strings.TrimSpace(token)
	return token, ok && strings.EqualFold(scheme, "Bearer") && token != ""
}
