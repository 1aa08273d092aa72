package middleware

import (
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"time"

	chimw "github.com/go-chi/chi/v5/middleware"

	"github.com/alovago/alova/ratelimit"
)

// RateLimitOptions configures [RateLimit]. The zero value limits by client IP
// (see [KeyByIP]), answers 503 when the limiter's store fails, and logs to
// slog.Default().
type RateLimitOptions struct {
	// Key returns the key a request is counted under. A request for which it
	// returns "" is not limited (health checks, trusted callers). It must be
	// safe for concurrent use. Default [KeyByIP]: one key per client IP
	// address, IPv6 by /64.
	Key func(r *http.Request) string

	// FailOpen lets requests through when the limiter's store fails (Redis
	// down or timing out); each such request is logged at level Error, so the
	// outage is never silent. Default false: fail closed, answering 503
	// {"error":{"code":"rate_limit_unavailable",…}}. Closed is the safe
	// default for what a limit usually guards (logins, codes sent by SMS,
	// paid downstreams); open suits a limit that only smooths load.
	FailOpen bool

	// Logger receives store failures, with the request's context.
	// Default slog.Default().
	Logger *slog.Logger
}

// rateLimiter is the state of one RateLimit middleware.
type rateLimiter struct {
	lim      *ratelimit.Limiter
	key      func(*http.Request) string
	failOpen bool
	log      *slog.Logger
	limit    string // lim.Limit() formatted once
}

// RateLimit returns a middleware that consumes one point of l for each
// request, under the key opts.Key returns (the client IP by default):
//
//	r.Use(chimw.ClientIPFromRemoteAddr, middleware.RateLimit(lim, middleware.RateLimitOptions{}))
//
// Every counted request's answer, allowed or refused, carries
//
//	X-RateLimit-Limit      the limiter's points per window
//	X-RateLimit-Remaining  points left in the key's window
//	X-RateLimit-Reset      seconds until the window (or block) ends, rounded up
//
// Reset is a number of seconds from now (as in the IETF RateLimit-Reset
// field), not a Unix time, so it does not depend on the clocks of the server
// and the client agreeing. Over the limit the next handler is not called:
// the answer is 429 Too Many Requests with Retry-After (seconds, at least 1)
// and the JSON body {"error":{"code":"rate_limited",…,"retry_after":…}} (see
// [Error]).
//
// When the limiter's store fails, the answer is 503 with the code
// "rate_limit_unavailable" and Retry-After: 1, and the error is logged (its text never reaches
// the client), unless opts.FailOpen lets the request through, still logging
// it. Either way the failure is visible.
//
// The limiter can count in memory (ratelimit.NewMemoryStore, per process) or
// in Redis (ratelimit.NewRedisStore, shared by every process). RateLimit
// panics if l is nil. The middleware is safe for concurrent use.
func RateLimit(l *ratelimit.Limiter, opts RateLimitOptions) func(http.Handler) http.Handler {
	if l == nil {
		panic("middleware: RateLimit with a nil *ratelimit.Limiter")
	}
	rl := &rateLimiter{lim: l, key: opts.Key, failOpen: opts.FailOpen, log: opts.Logger,
		limit: strconv.Itoa(l.Limit())}
	if rl.key == nil {
		rl.key = KeyByIP
	}
	if rl.log == nil {
		rl.log = slog.Default()
	}
	return rl.Handler
}

// Handler is the middleware: it limits the requests to next.
func (rl *rateLimiter) Handler(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		key := rl.key(r)
		if key == "" {
			next.ServeHTTP(w, r)
			return
		}
		res, err := rl.lim.Allow(r.Context(), key)
		if err != nil {
			rl.log.ErrorContext(r.Context(), "middleware: rate limiter store failed",
				slog.Bool("fail_open", rl.failOpen), slog.Any("err", err))
			if rl.failOpen {
				next.ServeHTTP(w, r)
				return
			}
			WriteError(w, http.StatusServiceUnavailable, Error{Code: CodeRateLimitUnavailable,
				Message: "the rate limiter is unavailable; retry later", RetryAfter: 1})
			return
		}
		h := w.Header()
		h.Set("X-RateLimit-Limit", rl.limit)
		h.Set("X-RateLimit-Remaining", strconv.Itoa(res.Remaining))
		h.Set("X-RateLimit-Reset", strconv.Itoa(ceilSeconds(res.ResetAfter, 0)))
		if !res.Allowed {
			WriteError(w, http.StatusTooManyRequests, Error{Code: CodeRateLimited,
				Message: "too many requests; retry later", RetryAfter: ceilSeconds(res.RetryAfter, 1)})
			return
		}
		next.ServeHTTP(w, r)
	})
}

// ceilSeconds returns d in whole seconds, rounded up, and at least least.
func ceilSeconds(d time.Duration, least int) int {
	s := int((d + time.Second - 1) / time.Second)
	return max(s, least)
}

// ClientIP returns the address of the client that sent r, as a string: the
// one chi's ClientIPFrom* middlewares put in the context
// (chimw.GetClientIPAddr), else the host of r.RemoteAddr, the TCP peer.
// It returns "" when neither holds an IP address (a Unix socket).
//
// ClientIP never reads X-Forwarded-For, X-Real-IP or any other header itself:
// anyone can send them. Behind a proxy, let chi's ClientIPFromXFF (with the
// proxies' prefixes) or ClientIPFromHeader (with the header your proxy sets)
// decide which address to believe.
func ClientIP(r *http.Request) string {
	if ip := peerAddr(r); ip.IsValid() {
		return ip.String()
	}
	return ""
}

// KeyByIP is the default key of [RateLimit]: the client's IP address
// ([ClientIP]), with an IPv6 address reduced to its /64 network (written
// "2001:db8:1:2::/64"), since one host or customer usually holds a whole /64
// and could otherwise get a fresh key with every address. IPv4-mapped IPv6
// addresses count as IPv4. A request with no IP address at all (a Unix
// socket) is counted under "unknown": limited together rather than not at all.
func KeyByIP(r *http.Request) string {
	ip := peerAddr(r)
	switch {
	case !ip.IsValid():
		return "unknown"
	case ip.Is4():
		return ip.String()
	}
	p, err := ip.Prefix(64)
	if err != nil { // unreachable for a valid IPv6 address
		return ip.String()
	}
	return p.String()
}

// peerAddr returns the client address from chi's context value, else from
// r.RemoteAddr; invalid when neither has one. IPv4-mapped addresses are
// unmapped and zones dropped.
func peerAddr(r *http.Request) netip.Addr {
	if ip := chimw.GetClientIPAddr(r.Context()); ip.IsValid() {
		return ip.Unmap().WithZone("")
	}
	if ap, err := netip.ParseAddrPort(r.RemoteAddr); err == nil {
		return ap.Addr().Unmap().WithZone("")
	}
	host := r.RemoteAddr
	if h, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		host = h
	}
	if ip, err := netip.ParseAddr(host); err == nil {
		return ip.Unmap().WithZone("")
	}
	return netip.Addr{}
}
