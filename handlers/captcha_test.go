package handlers_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/alovago/alova/internal/testlog"

	"github.com/go-chi/chi/v5"
	chimw "github.com/go-chi/chi/v5/middleware"

	"github.com/alovago/alova/captcha"
	"github.com/alovago/alova/client"
	"github.com/alovago/alova/handlers"
	"github.com/alovago/alova/middleware"
	"github.com/alovago/alova/ratelimit"
)

const phone = "+15550100000"

// TestCaptchaFlow walks the whole life of codes through HTTP: send, resend
// too soon, resend after the interval, five wrong codes burn it, a fresh
// send, verify, and a second verify fails.
func TestCaptchaFlow(t *testing.T) {
	t.Parallel()
	for _, reuse := range []bool{false, true} {
		name := "new code on resend"
		if reuse {
			name = "ReuseCode"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			forEachBackend(t, func(t *testing.T, b backend) {
				store, _ := b.open(t)
				s := newServer(t, store, captcha.Options{ReuseCode: reuse}, handlers.CaptchaOptions{})

				a := s.post(t, "/captcha/send", keyBody(phone))
				a.want(t, 200, "")
				if a.body != `{"expires_in":300,"resend_in":60}`+"\n" {
					t.Errorf("send body %q", a.body)
				}
				first, to := s.gw.last(t)
				if to != phone {
					t.Errorf("delivered to %q, want %q", to, phone)
				}

				a = s.post(t, "/captcha/send", keyBody(phone))
				a.want(t, 429, handlers.CodeResendTooSoon)
				if a.retryAfter != 60 {
					t.Errorf("resend too soon: retry_after %d, want 60", a.retryAfter)
				}
				if n := s.gw.delivered(); n != 1 {
					t.Errorf("%d deliveries after a refused resend, want 1", n)
				}

				s.clock.Advance(61 * time.Second)
				s.post(t, "/captcha/send", keyBody(phone)).want(t, 200, "")
				second, _ := s.gw.last(t)
				if reuse && second != first {
					t.Errorf("ReuseCode: resend delivered %q, want the same code %q", second, first)
				}
				if !reuse && second == first {
					t.Errorf("resend delivered the same code %q, want a new one", second)
				}

				var failBody string
				for i := range 5 {
					a := s.post(t, "/captcha/verify", verifyBody(phone, "0000"))
					a.want(t, 422, handlers.CodeInvalidCode)
					if i == 0 {
						failBody = a.body
					} else if a.body != failBody {
						t.Errorf("wrong code #%d answered %q, want the same body as #1 %q", i+1, a.body, failBody)
					}
				}
				a = s.post(t, "/captcha/verify", verifyBody(phone, second))
				a.want(t, 422, handlers.CodeInvalidCode)
				if a.body != failBody {
					t.Errorf("burned code answered %q, want %q", a.body, failBody)
				}

				s.clock.Advance(61 * time.Second)
				s.post(t, "/captcha/send", keyBody(phone)).want(t, 200, "")
				fresh, _ := s.gw.last(t)
				s.post(t, "/captcha/verify", verifyBody(phone, fresh)).want(t, 200, "")
				a = s.post(t, "/captcha/verify", verifyBody(phone, fresh))
				a.want(t, 422, handlers.CodeInvalidCode)
				if a.body != failBody {
					t.Errorf("used code answered %q, want %q", a.body, failBody)
				}
			})
		})
	}
}

// TestVerifyFailuresLookAlike checks that an unknown key, an expired code,
// a wrong code and an empty code get byte-identical answers.
func TestVerifyFailuresLookAlike(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, b backend) {
		store, _ := b.open(t)
		s := newServer(t, store, captcha.Options{}, handlers.CaptchaOptions{})
		s.post(t, "/captcha/send", keyBody("+15550100001")).want(t, 200, "")
		s.post(t, "/captcha/send", keyBody("+15550100002")).want(t, 200, "")
		expired, _ := s.gw.last(t)

		bodies := map[string]string{}
		bodies["unknown key"] = s.post(t, "/captcha/verify", verifyBody("+15550109999", "1234")).body
		bodies["wrong code"] = s.post(t, "/captcha/verify", verifyBody("+15550100001", "9999")).body
		bodies["empty code"] = s.post(t, "/captcha/verify", verifyBody("+15550100001", "")).body
		s.clock.Advance(5*time.Minute + time.Second)
		bodies["expired code"] = s.post(t, "/captcha/verify", verifyBody("+15550100002", expired)).body
		for name, body := range bodies {
			if body != bodies["unknown key"] {
				t.Errorf("%s answered %q, unknown key %q: they must not differ", name, body, bodies["unknown key"])
			}
		}
	})
}

func TestDeliveryFailsRollsBack(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, b backend) {
		store, _ := b.open(t)
		logger, logs := testlog.Buffer()
		s := newServer(t, store, captcha.Options{}, handlers.CaptchaOptions{Logger: logger})

		s.gw.setFail(true, 0)
		a := s.post(t, "/captcha/send", keyBody(phone))
		a.want(t, 502, handlers.CodeDeliveryFailed)
		if n := s.gw.calls.Load(); n != 4 {
			t.Errorf("gateway called %d times, want 4 (1 + 3 retries)", n)
		}
		if strings.Contains(a.body, "secret-internal-detail") || strings.Contains(a.body, "500") ||
			strings.Contains(a.body, s.gw.URL) {
			t.Errorf("the 502 leaks the downstream error: %s", a.body)
		}
		if l := logs(); !strings.Contains(l, "delivery failed") || !strings.Contains(l, "500") {
			t.Errorf("the delivery failure was not logged with its cause: %s", l)
		}
		// The code the generator made for the failed send was "1001": it must
		// never verify.
		s.post(t, "/captcha/verify", verifyBody(phone, "1001")).want(t, 422, handlers.CodeInvalidCode)

		// Rolled back: the key may ask again at once, without waiting.
		s.gw.setFail(false, 2) // two failures, then the retry gets through
		s.post(t, "/captcha/send", keyBody(phone)).want(t, 200, "")
		code, _ := s.gw.last(t)
		s.post(t, "/captcha/verify", verifyBody(phone, code)).want(t, 200, "")
	})
}

func TestStoreDown(t *testing.T) {
	t.Parallel()
	b := backends[1] // miniredis: it can be taken down
	store, down := b.open(t)
	s := newServer(t, store, captcha.Options{}, handlers.CaptchaOptions{Logger: slog.New(slog.DiscardHandler)})
	s.post(t, "/captcha/send", keyBody(phone)).want(t, 200, "")
	code, _ := s.gw.last(t)
	down()

	for i := range 3 {
		a := s.post(t, "/captcha/verify", verifyBody(phone, code))
		a.want(t, 503, handlers.CodeStoreUnavailable)
		if a.retryAfter < 1 {
			t.Errorf("verify #%d: 503 without Retry-After", i+1)
		}
	}
	s.clock.Advance(2 * time.Minute)
	s.post(t, "/captcha/send", keyBody(phone)).want(t, 503, handlers.CodeStoreUnavailable)
	if n := s.gw.delivered(); n != 1 {
		t.Errorf("%d deliveries, want 1: nothing is delivered while the store is down", n)
	}
}

// failingStore is a captcha.Store whose every call fails.
type failingStore struct{}

var errDown = errors.New("dial tcp 10.0.0.1:6379: connection refused")

func (failingStore) Reserve(context.Context, string, captcha.ReserveArgs) (captcha.Reservation, error) {
	return captcha.Reservation{}, errDown
}
func (failingStore) Commit(context.Context, string, captcha.CommitArgs) error { return errDown }
func (failingStore) Rollback(context.Context, string, string) error           { return errDown }
func (failingStore) Verify(context.Context, string, captcha.VerifyArgs) (bool, error) {
	return false, errDown
}

var _ captcha.Store = failingStore{}

// failingLimiterStore is a ratelimit.Store whose every call fails.
type failingLimiterStore struct{}

func (failingLimiterStore) Add(context.Context, string, int, time.Duration, int, time.Duration) (int, time.Duration, bool, error) {
	return 0, 0, false, errDown
}
func (failingLimiterStore) Set(context.Context, string, int, time.Duration) error { return errDown }
func (failingLimiterStore) Get(context.Context, string) (int, time.Duration, error) {
	return 0, 0, errDown
}
func (failingLimiterStore) Delete(context.Context, string) error { return errDown }

var _ ratelimit.Store = failingLimiterStore{}

// TestStatuses covers every status and error code of the endpoints.
func TestStatuses(t *testing.T) {
	t.Parallel()
	quiet := slog.New(slog.DiscardHandler)
	type step struct {
		method, path, ct, body string
		status                 int
		code                   string
	}
	post := func(path, body string, status int, code string) step {
		return step{http.MethodPost, path, "application/json", body, status, code}
	}
	big := `{"key":"` + strings.Repeat("a", 2000) + `"}`
	tests := []struct {
		name  string
		store captcha.Store // default: memory
		hopts handlers.CaptchaOptions
		steps []step
	}{
		{"200 send and verify", nil, handlers.CaptchaOptions{}, []step{
			post("/captcha/send", `{"key":"ann"}`, 200, ""),
			post("/captcha/verify", `{"key":"ann","code":"1001"}`, 200, ""),
		}},
		{"200 with JSON variants", nil, handlers.CaptchaOptions{}, []step{
			{"POST", "/captcha/send", "application/json; charset=UTF-8", ` {"key":"a"} ` + "\n", 200, ""},
			{"POST", "/captcha/send", "application/vnd.api+json", `{"key":"b"}`, 200, ""},
		}},
		{"400 invalid_json", nil, handlers.CaptchaOptions{}, []step{
			post("/captcha/send", `{`, 400, handlers.CodeInvalidJSON),
			post("/captcha/send", ``, 400, handlers.CodeInvalidJSON),
			post("/captcha/send", `[]`, 400, handlers.CodeInvalidJSON),
			post("/captcha/send", `"ann"`, 400, handlers.CodeInvalidJSON),
			post("/captcha/send", `{"key":1}`, 400, handlers.CodeInvalidJSON),
			post("/captcha/send", `{"key":"a"} x`, 400, handlers.CodeInvalidJSON),
			post("/captcha/send", `{"key":"a"}{"key":"b"}`, 400, handlers.CodeInvalidJSON),
			post("/captcha/send", `{"key":"a"}]`, 400, handlers.CodeInvalidJSON),
			post("/captcha/verify", `{"key":"a","code":1234}`, 400, handlers.CodeInvalidJSON),
		}},
		{"400 unknown_field", nil, handlers.CaptchaOptions{}, []step{
			post("/captcha/send", `{"key":"a","code":"1"}`, 400, handlers.CodeUnknownField),
			post("/captcha/verify", `{"key":"a","code":"1","x":0}`, 400, handlers.CodeUnknownField),
		}},
		{"400 missing_field", nil, handlers.CaptchaOptions{}, []step{
			post("/captcha/send", `{}`, 400, handlers.CodeMissingField),
			post("/captcha/send", `null`, 400, handlers.CodeMissingField),
			post("/captcha/send", `{"key":null}`, 400, handlers.CodeMissingField),
			post("/captcha/verify", `{"key":"a"}`, 400, handlers.CodeMissingField),
			post("/captcha/verify", `{"code":"1"}`, 400, handlers.CodeMissingField),
		}},
		{"404 not_found", nil, handlers.CaptchaOptions{}, []step{
			post("/captcha/nope", `{}`, 404, handlers.CodeNotFound),
			post("/captcha/", `{}`, 404, handlers.CodeNotFound),
		}},
		{"405 method_not_allowed", nil, handlers.CaptchaOptions{}, []step{
			{"GET", "/captcha/send", "", "", 405, handlers.CodeMethodNotAllowed},
			{"PUT", "/captcha/verify", "application/json", `{}`, 405, handlers.CodeMethodNotAllowed},
		}},
		{"413 body_too_large", nil, handlers.CaptchaOptions{}, []step{
			post("/captcha/send", big, 413, handlers.CodeBodyTooLarge),
			post("/captcha/send", `{"key":"a"}`+strings.Repeat(" ", 1100), 413, handlers.CodeBodyTooLarge),
		}},
		{"413 with a custom limit", nil, handlers.CaptchaOptions{MaxBodyBytes: 10}, []step{
			post("/captcha/send", `{"key":"abc"}`, 413, handlers.CodeBodyTooLarge),
		}},
		{"415 unsupported_media_type", nil, handlers.CaptchaOptions{}, []step{
			{"POST", "/captcha/send", "", `{"key":"a"}`, 415, handlers.CodeUnsupportedMediaType},
			{"POST", "/captcha/send", "text/plain", `{"key":"a"}`, 415, handlers.CodeUnsupportedMediaType},
			{"POST", "/captcha/send", "application/x-www-form-urlencoded", `key=a`, 415, handlers.CodeUnsupportedMediaType},
			{"POST", "/captcha/verify", "application/json; charset=latin1", `{}`, 415, handlers.CodeUnsupportedMediaType},
			{"POST", "/captcha/verify", "application/json;;", `{}`, 415, handlers.CodeUnsupportedMediaType},
		}},
		{"422 invalid_key", nil, handlers.CaptchaOptions{}, []step{
			post("/captcha/send", `{"key":""}`, 422, handlers.CodeInvalidKey),
			post("/captcha/send", `{"key":"a\u0000b"}`, 422, handlers.CodeInvalidKey),
			post("/captcha/send", `{"key":"a\u202eb"}`, 422, handlers.CodeInvalidKey),
			post("/captcha/send", `{"key":" a"}`, 422, handlers.CodeInvalidKey),
			post("/captcha/send", keyBody(strings.Repeat("k", 255)), 422, handlers.CodeInvalidKey),
			post("/captcha/verify", `{"key":"","code":"1"}`, 422, handlers.CodeInvalidKey),
		}},
		{"422 invalid_key with PhoneKey", nil, handlers.CaptchaOptions{ValidateKey: handlers.PhoneKey}, []step{
			post("/captcha/send", `{"key":"5550100000"}`, 422, handlers.CodeInvalidKey),
			post("/captcha/send", `{"key":"+1 (555) 010-0000"}`, 200, ""),
			post("/captcha/verify", `{"key":"+15550100000","code":"1001"}`, 200, ""),
		}},
		{"422 invalid_code", nil, handlers.CaptchaOptions{}, []step{
			post("/captcha/verify", `{"key":"nobody","code":"1234"}`, 422, handlers.CodeInvalidCode),
		}},
		{"429 resend_too_soon", nil, handlers.CaptchaOptions{}, []step{
			post("/captcha/send", `{"key":"a"}`, 200, ""),
			post("/captcha/send", `{"key":"a"}`, 429, handlers.CodeResendTooSoon),
		}},
		{"429 rate_limited on both endpoints", nil, handlers.CaptchaOptions{
			Limiter: ratelimit.New(ratelimit.NewMemoryStore(), ratelimit.Options{Points: 3, Duration: time.Minute}),
		}, []step{
			post("/captcha/send", `{"key":"a"}`, 200, ""),
			post("/captcha/verify", `{"key":"a","code":"0"}`, 422, handlers.CodeInvalidCode),
			post("/captcha/send", `{"key":"b"}`, 200, ""),
			post("/captcha/send", `{"key":"c"}`, 429, middleware.CodeRateLimited),
			post("/captcha/verify", `{"key":"a","code":"1001"}`, 429, middleware.CodeRateLimited),
			{"GET", "/captcha/send", "", "", 405, handlers.CodeMethodNotAllowed},
		}},
		{"502 delivery_failed (Deliver returns nil)", nil, handlers.CaptchaOptions{
			Deliver: func(*client.Client, string, string) client.Sender { return nil },
		}, []step{
			post("/captcha/send", `{"key":"a"}`, 502, handlers.CodeDeliveryFailed),
			post("/captcha/verify", `{"key":"a","code":"1001"}`, 422, handlers.CodeInvalidCode),
		}},
		{"502 delivery_failed (Deliver panics), rolled back", nil, handlers.CaptchaOptions{
			Deliver: func(c *client.Client, code, key string) client.Sender {
				if key == "boom" {
					panic("a bug in Deliver")
				}
				return deliverSMS(c, code, key)
			},
		}, []step{
			post("/captcha/send", `{"key":"boom"}`, 502, handlers.CodeDeliveryFailed),
			post("/captcha/verify", `{"key":"boom","code":"1001"}`, 422, handlers.CodeInvalidCode),
			post("/captcha/send", `{"key":"ok"}`, 200, ""),
		}},
		{"502 delivery_failed (the send panics)", nil, handlers.CaptchaOptions{
			Deliver: func(*client.Client, string, string) client.Sender {
				return client.SenderFunc(func(context.Context) (*client.Response, error) { panic("in Send") })
			},
		}, []step{
			post("/captcha/send", `{"key":"a"}`, 502, handlers.CodeDeliveryFailed),
		}},
		{"503 store_unavailable", failingStore{}, handlers.CaptchaOptions{}, []step{
			post("/captcha/send", `{"key":"a"}`, 503, handlers.CodeStoreUnavailable),
			post("/captcha/verify", `{"key":"a","code":"1001"}`, 503, handlers.CodeStoreUnavailable),
		}},
		{"503 rate_limit_unavailable", nil, handlers.CaptchaOptions{
			Limiter: ratelimit.New(failingLimiterStore{}, ratelimit.Options{}),
		}, []step{
			post("/captcha/send", `{"key":"a"}`, 503, middleware.CodeRateLimitUnavailable),
			post("/captcha/verify", `{"key":"a","code":"1"}`, 503, middleware.CodeRateLimitUnavailable),
		}},
		{"limiter fails open", nil, handlers.CaptchaOptions{
			Limiter:   ratelimit.New(failingLimiterStore{}, ratelimit.Options{}),
			RateLimit: middleware.RateLimitOptions{FailOpen: true},
		}, []step{
			post("/captcha/send", `{"key":"a"}`, 200, ""),
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			store := tc.store
			if store == nil {
				store = captcha.NewMemoryStore()
			}
			tc.hopts.Logger = quiet
			s := newServer(t, store, captcha.Options{}, tc.hopts)
			for i, st := range tc.steps {
				a := s.do(t, st.method, st.path, st.ct, st.body)
				if a.status != st.status || a.code != st.code {
					t.Fatalf("step %d: %s %s %q: answer %d %q (%s), want %d %q",
						i+1, st.method, st.path, st.body, a.status, a.code, a.body, st.status, st.code)
				}
				if a.status == 405 && a.header.Get("Allow") != "POST" {
					t.Errorf("step %d: 405 with Allow %q, want POST", i+1, a.header.Get("Allow"))
				}
				if a.status == 429 && a.code == middleware.CodeRateLimited && a.header.Get("X-RateLimit-Limit") == "" {
					t.Errorf("step %d: 429 rate_limited without X-RateLimit-Limit", i+1)
				}
				if strings.Contains(a.body, errDown.Error()) || strings.Contains(a.body, "panic") {
					t.Errorf("step %d: the answer leaks an internal error: %s", i+1, a.body)
				}
			}
		})
	}
}

// TestUnknownMethod sends a method chi does not know to the handler itself:
// mounted, the parent router answers such methods before the mount.
func TestUnknownMethod(t *testing.T) {
	t.Parallel()
	h := handlers.Captcha(captcha.NewProvider(captcha.NewMemoryStore(), captcha.Options{}),
		handlers.CaptchaOptions{Deliver: deliverSMS})
	for _, m := range []string{"BREW", http.MethodGet, http.MethodDelete} {
		a := serve(t, h, m, "/send", "", "")
		a.want(t, 405, handlers.CodeMethodNotAllowed)
		if a.header.Get("Allow") != "POST" {
			t.Errorf("%s: Allow %q, want POST", m, a.header.Get("Allow"))
		}
	}
}

func TestStreamedBodyTooLarge(t *testing.T) {
	t.Parallel()
	s := newServer(t, captcha.NewMemoryStore(), captcha.Options{}, handlers.CaptchaOptions{})
	req := httptest.NewRequest(http.MethodPost, "/captcha/send",
		bytes.NewReader([]byte(`{"key":"`+strings.Repeat("a", 5000)+`"}`)))
	req.ContentLength = -1 // chunked: the limit is found while reading
	req.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	s.h.ServeHTTP(rec, req)
	var a answer
	if err := checkJSON(rec.Code, rec.Header(), rec.Body.Bytes(), &a); err != nil {
		t.Fatal(err)
	}
	if rec.Code != 413 || a.code != handlers.CodeBodyTooLarge {
		t.Errorf("answer %d %q, want 413 %q", rec.Code, a.code, handlers.CodeBodyTooLarge)
	}
}

// TestDeliverGetsTheRequestClient checks that Deliver builds on the
// request-scoped client (the request id reaches the gateway), or on the
// fallback client bound to the request when no middleware put one there.
func TestDeliverGetsTheRequestClient(t *testing.T) {
	t.Parallel()
	t.Run("middleware.Client", func(t *testing.T) {
		t.Parallel()
		s := newServer(t, captcha.NewMemoryStore(), captcha.Options{}, handlers.CaptchaOptions{})
		req := httptest.NewRequest(http.MethodPost, "/captcha/send", strings.NewReader(`{"key":"a"}`))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-Request-Id", "req-42")
		s.h.ServeHTTP(httptest.NewRecorder(), req)
		if s.gw.delivered() != 1 || s.gw.requestID[0] != "req-42" {
			t.Errorf("gateway saw request ids %q, want [req-42]", s.gw.requestID)
		}
	})
	t.Run("fallback client", func(t *testing.T) {
		t.Parallel()
		gw := newGateway(t)
		p := captcha.NewProvider(captcha.NewMemoryStore(), captcha.Options{})
		r := chi.NewRouter()
		r.Use(chimw.RequestID) // no middleware.Client
		var reqID string
		r.Use(func(next http.Handler) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				reqID = chimw.GetReqID(r.Context())
				next.ServeHTTP(w, r)
			})
		})
		r.Mount("/captcha", handlers.Captcha(p, handlers.CaptchaOptions{
			Deliver: deliverSMS, Retry: fastRetry, Client: client.New(client.Options{BaseURL: gw.URL}),
		}))
		serve(t, r, http.MethodPost, "/captcha/send", "application/json", `{"key":"a"}`).want(t, 200, "")
		if gw.delivered() != 1 || reqID == "" || gw.requestID[0] != reqID {
			t.Errorf("gateway saw request ids %q, want [%s] (chi's generated id)", gw.requestID, reqID)
		}
	})
}

func TestCaptchaPanics(t *testing.T) {
	t.Parallel()
	p := captcha.NewProvider(captcha.NewMemoryStore(), captcha.Options{})
	for name, f := range map[string]func(){
		"nil provider": func() { handlers.Captcha(nil, handlers.CaptchaOptions{Deliver: deliverSMS}) },
		"nil Deliver":  func() { handlers.Captcha(p, handlers.CaptchaOptions{}) },
		"bad retry": func() {
			handlers.Captcha(p, handlers.CaptchaOptions{Deliver: deliverSMS, Retry: client.RetryOptions{Attempts: -1}})
		},
		"negative body limit": func() {
			handlers.Captcha(p, handlers.CaptchaOptions{Deliver: deliverSMS, MaxBodyBytes: -1})
		},
	} {
		t.Run(name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Errorf("Captcha with %s did not panic", name)
				}
			}()
			f()
		})
	}
}

// TestDefaultRetry checks that zero Retry options mean client.Retry's
// defaults here too: 3 retries with constant waits (1 ms each with a Delay of
// 1 ms; the default Delay is 1 s).
func TestDefaultRetry(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var calls int
	var waits []time.Duration
	p := captcha.NewProvider(captcha.NewMemoryStore(), captcha.Options{})
	h := handlers.Captcha(p, handlers.CaptchaOptions{
		Logger: slog.New(slog.DiscardHandler),
		Retry: client.RetryOptions{Delay: time.Millisecond, OnRetry: func(e client.RetryEvent) {
			mu.Lock()
			defer mu.Unlock()
			waits = append(waits, e.Delay)
		}},
		Deliver: func(*client.Client, string, string) client.Sender {
			return client.SenderFunc(func(context.Context) (*client.Response, error) {
				mu.Lock()
				defer mu.Unlock()
				calls++
				return nil, errors.New("gateway down")
			})
		},
	})
	serve(t, h, http.MethodPost, "/send", "application/json", `{"key":"a"}`).want(t, 502, handlers.CodeDeliveryFailed)
	mu.Lock()
	defer mu.Unlock()
	if calls != 4 {
		t.Errorf("%d sends, want 4 (1 + 3 retries)", calls)
	}
	want := []time.Duration{time.Millisecond, time.Millisecond, time.Millisecond}
	if len(waits) != len(want) {
		t.Fatalf("waits %v, want %v", waits, want)
	}
	for i := range want {
		if waits[i] != want[i] {
			t.Errorf("wait %d = %s, want %s", i+1, waits[i], want[i])
		}
	}
}

// TestUnexpectedErrors checks that an error the captcha package does not
// document (here a Generator returning "") answers 503, never 500 nor 200,
// and that a panicking Deliver is logged with its stack.
func TestUnexpectedErrors(t *testing.T) {
	t.Parallel()
	logger, logs := testlog.Buffer()
	s := newServer(t, captcha.NewMemoryStore(), captcha.Options{Generator: func() string { return "" }},
		handlers.CaptchaOptions{Logger: logger})
	s.post(t, "/captcha/send", keyBody("a")).want(t, 503, handlers.CodeStoreUnavailable)
	if !strings.Contains(logs(), "captcha failed unexpectedly") {
		t.Errorf("the unexpected error was not logged: %s", logs())
	}

	logger, logs = testlog.Buffer()
	s = newServer(t, captcha.NewMemoryStore(), captcha.Options{}, handlers.CaptchaOptions{Logger: logger,
		Deliver: func(*client.Client, string, string) client.Sender { panic("bug 7") }})
	s.post(t, "/captcha/send", keyBody("a")).want(t, 502, handlers.CodeDeliveryFailed)
	if l := logs(); !strings.Contains(l, "Deliver panicked") || !strings.Contains(l, "bug 7") ||
		!strings.Contains(l, "goroutine") {
		t.Errorf("the panic was not logged with its stack: %s", l)
	}
}
