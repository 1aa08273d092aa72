package middleware_test

import (
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/alovago/alova/internal/testlog"

	"github.com/go-chi/chi/v5"
	chimw "github.com/go-chi/chi/v5/middleware"
	"github.com/redis/go-redis/v9"

	"github.com/alovago/alova/internal/testredis"
	"github.com/alovago/alova/middleware"
	"github.com/alovago/alova/ratelimit"
)

// limiterCase is one store the rate-limit tests run against.
type limiterCase struct {
	name string
	// newStore returns a store for the test.
	newStore func(t *testing.T) ratelimit.Store
}

// limiterCases are memory, miniredis and the real Redis of REDIS_URL (that
// case skips when it is unset).
var limiterCases = []limiterCase{
	{"memory", func(t *testing.T) ratelimit.Store { return ratelimit.NewMemoryStore() }},
	{"miniredis", func(t *testing.T) ratelimit.Store {
		_, rdb := testredis.Mini(t)
		return redisStore(t, rdb)
	}},
	{"redis", func(t *testing.T) ratelimit.Store { return redisStore(t, testredis.Real(t)) }},
}

// redisStore returns a store on rdb under a fresh prefix, with a timeout
// generous enough for a busy machine.
func redisStore(t *testing.T, rdb redis.UniversalClient) ratelimit.Store {
	t.Helper()
	return ratelimit.NewRedisStore(rdb, ratelimit.RedisOptions{KeyPrefix: testredis.Prefix(t, rdb), Timeout: 10 * time.Second})
}

// newLimiter returns a limiter of points per minute.
func newLimiter(t *testing.T, store ratelimit.Store, points int) *ratelimit.Limiter {
	t.Helper()
	return ratelimit.New(store, ratelimit.Options{Points: points, Duration: time.Minute})
}

// okHandler answers 200 and counts its calls.
type okHandler struct{ calls int }

func (h *okHandler) ServeHTTP(w http.ResponseWriter, _ *http.Request) {
	h.calls++
	w.WriteHeader(http.StatusOK)
}

// from returns a GET request from addr (the TCP peer).
func from(addr string) *http.Request {
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	r.RemoteAddr = addr
	return r
}

func headerInt(t *testing.T, h http.Header, name string) int {
	t.Helper()
	n, err := strconv.Atoi(h.Get(name))
	if err != nil {
		t.Fatalf("%s = %q, want a number", name, h.Get(name))
	}
	return n
}

func TestRateLimit(t *testing.T) {
	t.Parallel()
	for _, sc := range limiterCases {
		t.Run(sc.name, func(t *testing.T) {
			t.Parallel()
			store := sc.newStore(t)
			lim := newLimiter(t, store, 2)
			next := &okHandler{}
			h := middleware.RateLimit(lim, middleware.RateLimitOptions{})(next)

			for i, wantRemaining := range []int{1, 0} {
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, from("203.0.113.7:1234"))
				if rec.Code != http.StatusOK {
					t.Fatalf("request %d: status %d, want 200", i+1, rec.Code)
				}
				if got := headerInt(t, rec.Header(), "X-RateLimit-Limit"); got != 2 {
					t.Errorf("request %d: X-RateLimit-Limit = %d, want 2", i+1, got)
				}
				if got := headerInt(t, rec.Header(), "X-RateLimit-Remaining"); got != wantRemaining {
					t.Errorf("request %d: X-RateLimit-Remaining = %d, want %d", i+1, got, wantRemaining)
				}
				if got := headerInt(t, rec.Header(), "X-RateLimit-Reset"); got < 1 || got > 60 {
					t.Errorf("request %d: X-RateLimit-Reset = %d, want 1..60 seconds", i+1, got)
				}
				if rec.Header().Get("Retry-After") != "" {
					t.Errorf("request %d: Retry-After on an allowed request", i+1)
				}
			}

			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, from("203.0.113.7:9999")) // same IP, other port
			if rec.Code != http.StatusTooManyRequests {
				t.Fatalf("third request: status %d, want 429", rec.Code)
			}
			if code := decodeError(t, rec); code != middleware.CodeRateLimited {
				t.Errorf("error code = %q, want %q", code, middleware.CodeRateLimited)
			}
			if ra := headerInt(t, rec.Header(), "Retry-After"); ra < 1 || ra > 60 {
				t.Errorf("Retry-After = %d, want 1..60", ra)
			}
			if got := headerInt(t, rec.Header(), "X-RateLimit-Remaining"); got != 0 {
				t.Errorf("X-RateLimit-Remaining = %d on 429, want 0", got)
			}
			if next.calls != 2 {
				t.Errorf("next called %d times, want 2 (not for the limited request)", next.calls)
			}

			// Another client has its own count.
			rec = httptest.NewRecorder()
			h.ServeHTTP(rec, from("198.51.100.1:1"))
			if rec.Code != http.StatusOK {
				t.Errorf("another IP: status %d, want 200", rec.Code)
			}
		})
	}
}

func TestRateLimitStoreDown(t *testing.T) {
	t.Parallel()
	for _, failOpen := range []bool{false, true} {
		t.Run("FailOpen="+strconv.FormatBool(failOpen), func(t *testing.T) {
			t.Parallel()
			mr, rdb := testredis.Mini(t)
			lim := newLimiter(t, redisStore(t, rdb), 5)
			logger, logs := testlog.Buffer()
			next := &okHandler{}
			h := middleware.RateLimit(lim, middleware.RateLimitOptions{FailOpen: failOpen, Logger: logger})(next)
			mr.Close()

			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, from("203.0.113.7:1234"))
			if failOpen {
				if rec.Code != http.StatusOK || next.calls != 1 {
					t.Errorf("fail open: status %d, next called %d times; want 200 and 1", rec.Code, next.calls)
				}
			} else {
				if rec.Code != http.StatusServiceUnavailable {
					t.Fatalf("status %d, want 503", rec.Code)
				}
				if code := decodeError(t, rec); code != middleware.CodeRateLimitUnavailable {
					t.Errorf("error code = %q, want %q", code, middleware.CodeRateLimitUnavailable)
				}
				if next.calls != 0 {
					t.Errorf("next called %d times while failing closed", next.calls)
				}
				if strings.Contains(rec.Body.String(), "dial") || strings.Contains(rec.Body.String(), "ratelimit:") {
					t.Errorf("the answer leaks the internal error: %s", rec.Body.String())
				}
			}
			if l := logs(); !strings.Contains(l, "rate limiter store failed") || !strings.Contains(l, `"level":"ERROR"`) {
				t.Errorf("the store failure was not logged at ERROR: %q", l)
			}
		})
	}
}

func TestRateLimitKeys(t *testing.T) {
	t.Parallel()
	t.Run("custom key, empty skips", func(t *testing.T) {
		t.Parallel()
		lim := newLimiter(t, ratelimit.NewMemoryStore(), 1)
		next := &okHandler{}
		h := middleware.RateLimit(lim, middleware.RateLimitOptions{Key: func(r *http.Request) string {
			return r.Header.Get("X-User")
		}})(next)
		codes := func(user string, n int) []int {
			var got []int
			for range n {
				r := from("203.0.113.7:1")
				if user != "" {
					r.Header.Set("X-User", user)
				}
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, r)
				got = append(got, rec.Code)
			}
			return got
		}
		if got := codes("ann", 2); got[0] != 200 || got[1] != 429 {
			t.Errorf("ann: %v, want [200 429]", got)
		}
		if got := codes("bob", 1); got[0] != 200 {
			t.Errorf("bob: %v, want [200]: keys are separate", got)
		}
		if got := codes("", 3); got[0] != 200 || got[1] != 200 || got[2] != 200 {
			t.Errorf("no key: %v, want never limited", got)
		}
	})

	t.Run("forged X-Forwarded-For does not escape the limit", func(t *testing.T) {
		t.Parallel()
		lim := newLimiter(t, ratelimit.NewMemoryStore(), 1)
		h := middleware.RateLimit(lim, middleware.RateLimitOptions{})(&okHandler{})
		for i, want := range []int{200, 429, 429} {
			r := from("203.0.113.7:1")
			r.Header.Set("X-Forwarded-For", "10.0.0."+strconv.Itoa(i))
			r.Header.Set("X-Real-IP", "10.1.0."+strconv.Itoa(i))
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, r)
			if rec.Code != want {
				t.Errorf("request %d: status %d, want %d", i+1, rec.Code, want)
			}
		}
	})

	t.Run("chi ClientIPFromXFF decides", func(t *testing.T) {
		t.Parallel()
		lim := newLimiter(t, ratelimit.NewMemoryStore(), 1)
		r := chi.NewRouter()
		r.Use(chimw.ClientIPFromXFF("10.0.0.0/8"), middleware.RateLimit(lim, middleware.RateLimitOptions{}))
		r.Get("/", func(w http.ResponseWriter, _ *http.Request) {})
		// Two users behind one trusted proxy get one count each.
		for i, tc := range []struct {
			xff  string
			want int
		}{{"198.51.100.1", 200}, {"198.51.100.2", 200}, {"198.51.100.1", 429}} {
			req := from("10.1.2.3:5555")
			req.Header.Set("X-Forwarded-For", tc.xff)
			rec := httptest.NewRecorder()
			r.ServeHTTP(rec, req)
			if rec.Code != tc.want {
				t.Errorf("request %d from %s: status %d, want %d", i+1, tc.xff, rec.Code, tc.want)
			}
		}
	})
}

func TestKeyByIPAndClientIP(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		remoteAddr string
		ctxIP      string // set as chi's ClientIPFrom* would
		wantKey    string
		wantIP     string
	}{
		{"ipv4 peer", "203.0.113.7:1234", "", "203.0.113.7", "203.0.113.7"},
		{"ipv4 without port", "203.0.113.7", "", "203.0.113.7", "203.0.113.7"},
		{"ipv6 peer by /64", "[2001:db8:1:2:3:4:5:6]:443", "", "2001:db8:1:2::/64", "2001:db8:1:2:3:4:5:6"},
		{"ipv6 same /64", "[2001:db8:1:2:ffff::1]:443", "", "2001:db8:1:2::/64", "2001:db8:1:2:ffff::1"},
		{"ipv6 zone dropped", "[fe80::1%eth0]:80", "", "fe80::/64", "fe80::1"},
		{"ipv4-mapped", "[::ffff:203.0.113.7]:80", "", "203.0.113.7", "203.0.113.7"},
		{"chi context wins", "10.0.0.1:80", "198.51.100.9", "198.51.100.9", "198.51.100.9"},
		{"unix socket", "@", "", "unknown", ""},
		{"empty", "", "", "unknown", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := from(tc.remoteAddr)
			if tc.ctxIP != "" {
				// chi's key is unexported: go through its middleware.
				h := chimw.ClientIPFromHeader("X-Test-IP")(http.HandlerFunc(func(_ http.ResponseWriter, rr *http.Request) { r = rr }))
				r.Header.Set("X-Test-IP", tc.ctxIP)
				h.ServeHTTP(httptest.NewRecorder(), r)
				if chimw.GetClientIPAddr(r.Context()) != netip.MustParseAddr(tc.ctxIP) {
					t.Fatal("chi did not set the client IP")
				}
			}
			if got := middleware.KeyByIP(r); got != tc.wantKey {
				t.Errorf("KeyByIP(%q) = %q, want %q", tc.remoteAddr, got, tc.wantKey)
			}
			if got := middleware.ClientIP(r); got != tc.wantIP {
				t.Errorf("ClientIP(%q) = %q, want %q", tc.remoteAddr, got, tc.wantIP)
			}
		})
	}
}

func TestRateLimitNilPanics(t *testing.T) {
	t.Parallel()
	defer func() {
		if recover() == nil {
			t.Error("RateLimit(nil) did not panic")
		}
	}()
	middleware.RateLimit(nil, middleware.RateLimitOptions{})
}

func TestWriteError(t *testing.T) {
	t.Parallel()
	rec := httptest.NewRecorder()
	rec.Header().Set("Allow", "POST")
	middleware.WriteError(rec, http.StatusTooManyRequests, middleware.Error{Code: "some_code", Message: "a message", RetryAfter: 3})
	if rec.Code != http.StatusTooManyRequests {
		t.Errorf("status %d, want 429", rec.Code)
	}
	if got := decodeError(t, rec); got != "some_code" {
		t.Errorf("code %q, want some_code", got)
	}
	for k, want := range map[string]string{"Retry-After": "3", "Allow": "POST", "Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"} {
		if got := rec.Header().Get(k); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
	if got, want := rec.Body.String(), `{"error":{"code":"some_code","message":"a message","retry_after":3}}`+"\n"; got != want {
		t.Errorf("body %q, want %q", got, want)
	}

	rec = httptest.NewRecorder()
	middleware.WriteError(rec, http.StatusBadRequest, middleware.Error{Code: "c", Message: "m"})
	if rec.Header().Get("Retry-After") != "" || strings.Contains(rec.Body.String(), "retry_after") {
		t.Errorf("RetryAfter 0 wrote a wait: %q %q", rec.Header().Get("Retry-After"), rec.Body.String())
	}

	rec = httptest.NewRecorder()
	middleware.WriteJSON(rec, http.StatusOK, map[string]any{"bad": func() {}})
	if rec.Body.String() != "{}\n" {
		t.Errorf("unencodable value: body %q, want {}", rec.Body.String())
	}
}
