package handlers_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/go-chi/chi/v5"
	chimw "github.com/go-chi/chi/v5/middleware"
	"github.com/redis/go-redis/v9"

	"github.com/alovago/alova/captcha"
	"github.com/alovago/alova/client"
	"github.com/alovago/alova/handlers"
	"github.com/alovago/alova/internal/testredis"
	"github.com/alovago/alova/middleware"
)

// gateway is a fake SMS gateway served in-process (no socket, so tests can
// run it in a synctest bubble): it records each delivery, and fails the
// next failN calls (or every call while failAll is set) with 500.
type gateway struct {
	URL       string
	client    *http.Client
	mu        sync.Mutex
	codes     []string
	keys      []string
	requestID []string
	failN     int
	failAll   bool
	calls     atomic.Int64
}

// roundTrip serves a request with h, in the caller's goroutine.
type roundTrip struct{ h http.Handler }

func (rt roundTrip) RoundTrip(r *http.Request) (*http.Response, error) {
	rec := httptest.NewRecorder()
	rt.h.ServeHTTP(rec, r)
	return rec.Result(), nil
}

func newGateway(t testing.TB) *gateway {
	t.Helper()
	g := &gateway{URL: "http://sms-gateway.test"}
	g.client = &http.Client{Transport: roundTrip{http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		g.calls.Add(1)
		var body struct{ To, Code string }
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
			http.Error(w, "bad body", http.StatusBadRequest)
			return
		}
		g.mu.Lock()
		defer g.mu.Unlock()
		if g.failAll || g.failN > 0 {
			if g.failN > 0 {
				g.failN--
			}
			http.Error(w, "gateway exploded: secret-internal-detail", http.StatusInternalServerError)
			return
		}
		g.codes = append(g.codes, body.Code)
		g.keys = append(g.keys, body.To)
		g.requestID = append(g.requestID, r.Header.Get("X-Request-Id"))
		w.WriteHeader(http.StatusNoContent)
	})}}
	return g
}

// api returns a client on the gateway.
func (g *gateway) api() *client.Client {
	return client.New(client.Options{BaseURL: g.URL, HTTPClient: g.client})
}

// last returns the last delivered code and its key.
func (g *gateway) last(t testing.TB) (code, key string) {
	t.Helper()
	g.mu.Lock()
	defer g.mu.Unlock()
	if len(g.codes) == 0 {
		t.Fatal("nothing was delivered")
	}
	return g.codes[len(g.codes)-1], g.keys[len(g.keys)-1]
}

func (g *gateway) delivered() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.codes)
}

func (g *gateway) setFail(all bool, n int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.failAll, g.failN = all, n
}

// deliverSMS is the Deliver of the tests: a POST to the gateway.
func deliverSMS(c *client.Client, code, key string) client.Sender {
	return c.Post("/sms", map[string]string{"to": key, "code": code})
}

// seqGen returns a generator of distinct codes "1001", "1002", ….
func seqGen() func() string {
	var n atomic.Int64
	n.Store(1000)
	return func() string { return strconv.FormatInt(n.Add(1), 10) }
}

// redisBackends are miniredis and the real Redis of REDIS_URL (skipped when
// unset). They use real sockets, so their tests run outside synctest
// bubbles, on the real clock. open returns a store and, for miniredis, a
// function that takes the server down (nil otherwise).
var redisBackends = []struct {
	name string
	open func(t *testing.T) (store captcha.Store, down func())
}{
	{"miniredis", func(t *testing.T) (captcha.Store, func()) {
		mr := miniredis.RunT(t)
		// A client that gives up at once when the server is down.
		rdb := redis.NewClient(&redis.Options{Addr: mr.Addr(), MaxRetries: -1, DialerRetries: 1})
		t.Cleanup(func() { _ = rdb.Close() })
		return captcha.NewRedisStore(rdb, captcha.RedisOptions{KeyPrefix: testredis.Prefix(t, nil), Timeout: 5 * time.Second}), mr.Close
	}},
	{"redis", func(t *testing.T) (captcha.Store, func()) {
		rdb := testredis.Real(t)
		return captcha.NewRedisStore(rdb, captcha.RedisOptions{KeyPrefix: testredis.Prefix(t, rdb), Timeout: 5 * time.Second}), nil
	}},
}

// bubble runs f in a synctest bubble: time.Sleep there moves the bubble's
// clock at once, and client.Retry's 1 s waits take no real time.
func bubble(t *testing.T, f func(t *testing.T)) {
	t.Helper()
	synctest.Test(t, f)
}

// server is a chi router as an application builds it: request id, client IP,
// request-scoped client, and the captcha endpoints under /captcha.
type server struct {
	h  http.Handler
	gw *gateway
}

// newServer mounts handlers.Captcha on a provider over store (memory when
// nil). popts and hopts are completed with the code generator and the
// gateway delivery where they are zero.
func newServer(t *testing.T, store captcha.Store, popts captcha.Options, hopts handlers.CaptchaOptions) *server {
	t.Helper()
	s := &server{gw: newGateway(t)}
	if store == nil {
		store = captcha.NewMemoryStore()
	}
	if popts.Generator == nil {
		popts.Generator = seqGen()
	}
	if hopts.Deliver == nil {
		hopts.Deliver = deliverSMS
	}
	r := chi.NewRouter()
	r.Use(chimw.RequestID, chimw.ClientIPFromRemoteAddr, middleware.Client(s.gw.api()))
	r.Mount("/captcha", handlers.Captcha(captcha.NewProvider(store, popts), hopts))
	s.h = r
	return s
}

// send posts to /captcha/send for key, and returns the answer and its
// challenge ("" unless 200).
func (s *server) send(t testing.TB, key string) (answer, string) {
	t.Helper()
	a := s.post(t, "/captcha/send", keyBody(key))
	var res struct{ Challenge string }
	if a.status == http.StatusOK {
		if err := json.Unmarshal([]byte(a.body), &res); err != nil || len(res.Challenge) != 32 {
			t.Fatalf("send answered %s: no challenge (%v)", a.body, err)
		}
	}
	return a, res.Challenge
}

// mustSend sends for key, fails t unless it succeeds, and returns the
// challenge and the code the gateway got.
func (s *server) mustSend(t testing.TB, key string) (challenge, code string) {
	t.Helper()
	a, ch := s.send(t, key)
	a.want(t, 200, "")
	code, _ = s.gw.last(t)
	return ch, code
}

func (s *server) verify(t testing.TB, key, challenge, code string) answer {
	t.Helper()
	return s.post(t, "/captcha/verify", verifyBody(key, challenge, code))
}

// answer is a decoded answer.
type answer struct {
	status int
	header http.Header
	body   string
	// For errors:
	code       string
	retryAfter int
}

// do sends a request with a JSON body and decodes the answer, failing the
// test if the answer is not JSON of the documented shapes.
func (s *server) do(t testing.TB, method, path, contentType, body string) answer {
	t.Helper()
	return serve(t, s.h, method, path, contentType, body)
}

func (s *server) post(t testing.TB, path, body string) answer {
	t.Helper()
	return s.do(t, http.MethodPost, path, "application/json", body)
}

func serve(t testing.TB, h http.Handler, method, path, contentType, body string) answer {
	t.Helper()
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	req.RemoteAddr = "203.0.113.7:40000"
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	a := answer{status: rec.Code, header: rec.Header(), body: rec.Body.String()}
	if err := checkJSON(rec.Code, rec.Header(), rec.Body.Bytes(), &a); err != nil {
		t.Fatalf("%s %s %q: %v", method, path, body, err)
	}
	return a
}

// checkJSON checks an answer is JSON of the documented shapes, filling a's
// code and retryAfter for an error.
func checkJSON(status int, h http.Header, body []byte, a *answer) error {
	if status == http.StatusInternalServerError || status < 200 || status > 599 {
		return fmt.Errorf("status %d", status)
	}
	if ct := h.Get("Content-Type"); ct != "application/json" {
		return fmt.Errorf("status %d: Content-Type %q, want application/json (body %q)", status, ct, body)
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if status == http.StatusOK {
		var ok struct {
			Challenge *string `json:"challenge"`
			ExpiresIn *int    `json:"expires_in"`
			ResendIn  *int    `json:"resend_in"`
			Verified  *bool   `json:"verified"`
		}
		if err := dec.Decode(&ok); err != nil || (ok.Verified == nil) == (ok.ExpiresIn == nil || ok.ResendIn == nil || ok.Challenge == nil) {
			return fmt.Errorf("200 with body %q (err %v)", body, err)
		}
		if cc := h.Get("Cache-Control"); cc != "no-store" {
			return fmt.Errorf("200 with Cache-Control %q, want no-store", cc)
		}
		return nil
	}
	if cc := h.Get("Cache-Control"); cc != "no-store" {
		return fmt.Errorf("status %d with Cache-Control %q, want no-store", status, cc)
	}
	var e struct {
		Error *struct {
			Code       string `json:"code"`
			Message    string `json:"message"`
			RetryAfter int    `json:"retry_after"`
		} `json:"error"`
		Challenge string `json:"challenge"` // send_unconfirmed only
	}
	if err := dec.Decode(&e); err != nil || e.Error == nil || e.Error.Code == "" || e.Error.Message == "" {
		return fmt.Errorf("status %d with body %q: not a JSON error (err %v)", status, body, err)
	}
	if ra := h.Get("Retry-After"); ra != "" || e.Error.RetryAfter != 0 {
		if ra != strconv.Itoa(e.Error.RetryAfter) || e.Error.RetryAfter < 1 {
			return fmt.Errorf("Retry-After %q with retry_after %d", ra, e.Error.RetryAfter)
		}
	}
	if want, ok := statusOf[e.Error.Code]; !ok || want != status {
		return fmt.Errorf("code %q with status %d, want status %d", e.Error.Code, status, want)
	}
	if a != nil {
		a.code, a.retryAfter = e.Error.Code, e.Error.RetryAfter
	}
	return nil
}

// statusOf is the documented status of every error code.
var statusOf = map[string]int{
	handlers.CodeInvalidJSON:            400,
	handlers.CodeUnknownField:           400,
	handlers.CodeMissingField:           400,
	"not_found":                         404,
	"method_not_allowed":                405,
	handlers.CodeBodyTooLarge:           413,
	handlers.CodeUnsupportedMediaType:   415,
	handlers.CodeInvalidKey:             422,
	handlers.CodeInvalidCode:            422,
	handlers.CodeResendTooSoon:          429,
	middleware.CodeRateLimited:          429,
	handlers.CodeDeliveryFailed:         502,
	handlers.CodeStoreUnavailable:       503,
	handlers.CodeSendUnconfirmed:        503,
	middleware.CodeRateLimitUnavailable: 503,
}

// want checks an answer's status and error code ("" for a success).
func (a answer) want(t testing.TB, status int, code string) {
	t.Helper()
	if a.status != status || a.code != code {
		t.Fatalf("answer %d %q (body %s), want %d %q", a.status, a.code, a.body, status, code)
	}
}

func keyBody(key string) string {
	b, _ := json.Marshal(map[string]string{"key": key})
	return string(b)
}

func verifyBody(key, challenge, code string) string {
	b, _ := json.Marshal(map[string]string{"key": key, "challenge": challenge, "code": code})
	return string(b)
}
