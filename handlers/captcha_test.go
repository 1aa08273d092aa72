package handlers_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alovago/alova/internal/testlog"

	"github.com/go-chi/chi/v5"
	chimw "github.com/go-chi/chi/v5/middleware"

	"github.com/alovago/alova/captcha"
	"github.com/alovago/alova/client"
	"github.com/alovago/alova/handlers"
	"github.com/alovago/alova/internal/testredis"
	"github.com/alovago/alova/middleware"
	"github.com/alovago/alova/ratelimit"
)

const phone = "+15550100000"

// TestCaptchaFlow walks the whole life of codes through HTTP, in a synctest
// bubble: send, resend too soon, resend after the interval, five wrong codes
// burn the second challenge, the first still verifies, once.
// The documented defaults of CaptchaOptions (its field docs state them).
const (
	defaultRateLimit    = 20
	defaultMaxBodyBytes = 1 << 10
)

func TestCaptchaFlow(t *testing.T) {
	t.Parallel()
	for _, reuse := range []bool{false, true} {
		t.Run(fmt.Sprintf("reuse=%v", reuse), func(t *testing.T) {
			t.Parallel()
			bubble(t, func(t *testing.T) {
				s := newServer(t, nil, captcha.Options{ReuseCode: reuse}, handlers.CaptchaOptions{})
				a, ch1 := s.send(t, phone)
				a.want(t, 200, "")
				if want := `{"challenge":"` + ch1 + `","expires_in":300,"resend_in":60}` + "\n"; a.body != want {
					t.Errorf("send body %q, want %q", a.body, want)
				}
				first, to := s.gw.last(t)
				if to != phone {
					t.Errorf("delivered to %q, want %q", to, phone)
				}

				a, _ = s.send(t, phone)
				a.want(t, 429, handlers.CodeResendTooSoon)
				if a.retryAfter != 60 {
					t.Errorf("resend too soon: retry_after %d, want 60", a.retryAfter)
				}

				time.Sleep(61 * time.Second)
				ch2, second := s.mustSend(t, phone)
				if reuse != (second == first) {
					t.Errorf("reuse=%v: resend delivered %q after %q", reuse, second, first)
				}

				var failBody string
				for i := range 5 {
					a := s.verify(t, phone, ch2, "0000")
					a.want(t, 422, handlers.CodeInvalidCode)
					if i == 0 {
						failBody = a.body
					} else if a.body != failBody {
						t.Errorf("wrong code #%d answered %q, want the same body as #1 %q", i+1, a.body, failBody)
					}
				}
				if a := s.verify(t, phone, ch2, second); a.status != 422 || a.body != failBody {
					t.Errorf("burned challenge answered %d %q, want 422 %q", a.status, a.body, failBody)
				}
				s.verify(t, phone, ch1, first).want(t, 200, "")
				s.verify(t, phone, ch1, first).want(t, 200, "") // the one retry of a lost reply
				if a := s.verify(t, phone, ch1, first); a.status != 422 || a.body != failBody {
					t.Errorf("used code answered %d %q, want 422 %q", a.status, a.body, failBody)
				}
			})
		})
	}
}

// TestCaptchaOnRedis runs send, verify and the resend interval on the
// Redis stores, on the real clock.
func TestCaptchaOnRedis(t *testing.T) {
	t.Parallel()
	for _, b := range redisBackends {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			store, _ := b.open(t)
			s := newServer(t, store, captcha.Options{}, handlers.CaptchaOptions{})
			ch, code := s.mustSend(t, phone)
			a, _ := s.send(t, phone)
			a.want(t, 429, handlers.CodeResendTooSoon)
			s.verify(t, phone, ch, "0000").want(t, 422, handlers.CodeInvalidCode)
			s.verify(t, phone, ch, code).want(t, 200, "")
			s.verify(t, phone, ch, code).want(t, 200, "") // the one retry of a lost reply
			s.verify(t, phone, ch, code).want(t, 422, handlers.CodeInvalidCode)
		})
	}
}

// TestVerifyFailuresLookAlike checks that an unknown key, a wrong code, an
// empty code, a wrong challenge and an expired code get byte-identical
// answers.
func TestVerifyFailuresLookAlike(t *testing.T) {
	t.Parallel()
	bubble(t, func(t *testing.T) {
		s := newServer(t, nil, captcha.Options{}, handlers.CaptchaOptions{})
		ch1, _ := s.mustSend(t, "+15550100001")
		ch2, expired := s.mustSend(t, "+15550100002")

		bodies := map[string]string{}
		bodies["unknown key"] = s.verify(t, "+15550109999", ch1, "1234").body
		bodies["wrong code"] = s.verify(t, "+15550100001", ch1, "9999").body
		bodies["empty code"] = s.verify(t, "+15550100001", ch1, "").body
		bodies["another key's challenge"] = s.verify(t, "+15550100001", ch2, expired).body
		bodies["malformed challenge"] = s.verify(t, "+15550100001", "x", "1234").body
		time.Sleep(5*time.Minute + time.Second)
		bodies["expired code"] = s.verify(t, "+15550100002", ch2, expired).body
		for name, body := range bodies {
			if body != bodies["unknown key"] {
				t.Errorf("%s answered %q, unknown key %q: they must not differ", name, body, bodies["unknown key"])
			}
		}
	})
}

// TestThirdPartyCannotBurn (issue 12, item 2): anonymous guesses on a
// victim's number, without the victim's challenge, never burn the code the
// victim is about to type; nor do a third party's own send and guesses.
func TestThirdPartyCannotBurn(t *testing.T) {
	t.Parallel()
	bubble(t, func(t *testing.T) {
		s := newServer(t, nil, captcha.Options{}, handlers.CaptchaOptions{NoRateLimit: true})
		victim, code := s.mustSend(t, phone)
		for _, ch := range []string{"", "0", strings.Repeat("0", 32), strings.Repeat("f", 32), strings.ToUpper(victim)} {
			for range 10 {
				s.verify(t, phone, ch, "0000").want(t, 422, handlers.CodeInvalidCode)
			}
		}
		s.post(t, "/captcha/verify", `{"key":"`+phone+`","code":"0000"}`).want(t, 400, handlers.CodeMissingField)

		time.Sleep(time.Minute) // the third party asks for a code for the victim's number
		own, _ := s.mustSend(t, phone)
		for range 10 {
			s.verify(t, phone, own, "0000").want(t, 422, handlers.CodeInvalidCode)
		}
		s.verify(t, phone, victim, code).want(t, 200, "")
	})
}

// TestDefaultRateLimit (issue 12, item 9): the endpoints limit each client
// IP by default, over both endpoints; NoRateLimit turns that off.
func TestDefaultRateLimit(t *testing.T) {
	t.Parallel()
	t.Run("on by default", func(t *testing.T) {
		t.Parallel()
		bubble(t, func(t *testing.T) {
			s := newServer(t, nil, captcha.Options{}, handlers.CaptchaOptions{})
			for i := range defaultRateLimit {
				path, body := "/captcha/send", keyBody(fmt.Sprint("+1555010", 1000+i))
				if i%2 == 1 {
					path, body = "/captcha/verify", verifyBody(phone, strings.Repeat("0", 32), "1")
				}
				if a := s.post(t, path, body); a.status == 429 {
					t.Fatalf("request %d answered 429 %s, want the first %d through", i+1, a.body, defaultRateLimit)
				}
			}
			a := s.post(t, "/captcha/send", keyBody("+15550109999"))
			a.want(t, 429, middleware.CodeRateLimited)
			if a.retryAfter < 1 || a.retryAfter > 60 || a.header.Get("X-RateLimit-Limit") != strconv.Itoa(defaultRateLimit) {
				t.Errorf("429 with retry_after %d, X-RateLimit-Limit %q", a.retryAfter, a.header.Get("X-RateLimit-Limit"))
			}
			if n := s.gw.delivered(); n != defaultRateLimit/2 {
				t.Errorf("%d texts sent, want %d", n, defaultRateLimit/2)
			}
			time.Sleep(time.Minute)
			s.post(t, "/captcha/send", keyBody("+15550109999")).want(t, 200, "")
		})
	})
	t.Run("NoRateLimit", func(t *testing.T) {
		t.Parallel()
		bubble(t, func(t *testing.T) {
			s := newServer(t, nil, captcha.Options{}, handlers.CaptchaOptions{NoRateLimit: true})
			for i := range 5 * defaultRateLimit {
				s.post(t, "/captcha/send", keyBody(fmt.Sprint("+1555010", 1000+i))).want(t, 200, "")
			}
		})
	})
}

// TestOnVerified (issue 12, item 8): the hook writes the answer of a
// successful verify, with the normalized key, and only then.
func TestOnVerified(t *testing.T) {
	t.Parallel()
	bubble(t, func(t *testing.T) {
		var calls []string
		s := newServer(t, nil, captcha.Options{}, handlers.CaptchaOptions{
			ValidateKey: handlers.PhoneKey,
			OnVerified: func(w http.ResponseWriter, r *http.Request, key string) {
				calls = append(calls, key)
				http.SetCookie(w, &http.Cookie{Name: "session", Value: "s-" + key, HttpOnly: true, Secure: true})
				middleware.WriteJSON(w, http.StatusOK, map[string]string{"token": "t-" + key})
			},
		})
		ch, code := s.mustSend(t, "+1 555 010 0000")
		s.verify(t, "+15550100000", ch, "0000").want(t, 422, handlers.CodeInvalidCode)
		if len(calls) != 0 {
			t.Fatalf("OnVerified ran on a wrong code: %v", calls)
		}
		req := httptest.NewRequest(http.MethodPost, "/captcha/verify", strings.NewReader(verifyBody("+1 (555) 010-0000", ch, code)))
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		s.h.ServeHTTP(rec, req)
		if rec.Code != 200 || rec.Body.String() != `{"token":"t-+15550100000"}`+"\n" {
			t.Fatalf("verify answered %d %q, want the hook's answer", rec.Code, rec.Body.String())
		}
		if cc := rec.Header().Get("Cache-Control"); cc != "no-store" {
			t.Errorf("Cache-Control %q, want no-store", cc)
		}
		if c := rec.Result().Cookies(); len(c) != 1 || c[0].Value != "s-+15550100000" {
			t.Errorf("cookies %v, want the session", c)
		}
		if len(calls) != 1 || calls[0] != "+15550100000" {
			t.Errorf("OnVerified got %v, want [+15550100000]", calls)
		}
	})
}

func TestDeliveryFailsRollsBack(t *testing.T) {
	t.Parallel()
	bubble(t, func(t *testing.T) {
		logger, logs := testlog.Buffer()
		s := newServer(t, nil, captcha.Options{}, handlers.CaptchaOptions{Logger: logger})

		s.gw.setFail(true, 0)
		a, _ := s.send(t, phone)
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

		// Rolled back: the key may ask again at once, without waiting.
		s.gw.setFail(false, 2) // two failures, then the retry gets through
		ch, code := s.mustSend(t, phone)
		if code == "1001" {
			t.Fatal("the code of the failed send was delivered again")
		}
		s.verify(t, phone, ch, "1001").want(t, 422, handlers.CodeInvalidCode)
		s.verify(t, phone, ch, code).want(t, 200, "")
	})
}

func TestStoreDown(t *testing.T) {
	t.Parallel()
	store, down := redisBackends[0].open(t) // miniredis: it can be taken down
	s := newServer(t, store, captcha.Options{ResendInterval: time.Millisecond},
		handlers.CaptchaOptions{Logger: slog.New(slog.DiscardHandler)})
	ch, code := s.mustSend(t, phone)
	down()

	for i := range 3 {
		a := s.verify(t, phone, ch, code)
		a.want(t, 503, handlers.CodeStoreUnavailable)
		if a.retryAfter < 1 {
			t.Errorf("verify #%d: 503 without Retry-After", i+1)
		}
	}
	a, _ := s.send(t, phone)
	a.want(t, 503, handlers.CodeStoreUnavailable)
	if n := s.gw.delivered(); n != 1 {
		t.Errorf("%d deliveries, want 1: nothing is delivered while the store is down", n)
	}
}

// TestFrozenRedis (issue 9, item 5): with Redis frozen by SIGSTOP and a
// go-redis client on its default options, /verify answers 503 within the
// store's default Timeout (200 ms) plus 50 ms, and /send within twice that
// (its reserve, then the release of a reservation whose reply was lost).
func TestFrozenRedis(t *testing.T) {
	srv := testredis.Server(t)
	store := captcha.NewRedisStore(srv.Client(), captcha.RedisOptions{})
	s := newServer(t, store, captcha.Options{}, handlers.CaptchaOptions{Logger: slog.New(slog.DiscardHandler)})
	ch, code := s.mustSend(t, phone)
	srv.Freeze()
	for _, c := range []struct {
		path, body string
		limit      time.Duration
	}{
		{"/captcha/send", keyBody("+15550100009"), 450 * time.Millisecond},
		{"/captcha/verify", verifyBody(phone, ch, code), 250 * time.Millisecond},
	} {
		start := time.Now()
		a := s.post(t, c.path, c.body)
		took := time.Since(start)
		a.want(t, 503, handlers.CodeStoreUnavailable)
		if took > c.limit {
			t.Errorf("%s on a frozen Redis answered after %v, want at most %v", c.path, took, c.limit)
		}
		t.Logf("%s on a frozen Redis: %d after %v", c.path, a.status, took)
	}
}

// lostCommitStore is a memory store whose commits are applied but whose
// replies are lost: every Commit returns a timeout after doing its work.
type lostCommitStore struct{ *captcha.MemoryStore }

func (s lostCommitStore) Commit(ctx context.Context, key string, a captcha.CommitArgs) error {
	if err := s.MemoryStore.Commit(ctx, key, a); err != nil {
		return err
	}
	return context.DeadlineExceeded
}

// TestSendUnconfirmed: a send whose code went out but whose commit was never
// confirmed answers 503 send_unconfirmed with the challenge and Retry-After,
// not a plain store_unavailable ("nothing happened"); the delivered code
// verifies with that challenge.
func TestSendUnconfirmed(t *testing.T) {
	s := newServer(t, lostCommitStore{captcha.NewMemoryStore()}, captcha.Options{},
		handlers.CaptchaOptions{Logger: slog.New(slog.DiscardHandler)})
	a, _ := s.send(t, phone)
	a.want(t, 503, handlers.CodeSendUnconfirmed)
	if got := a.header.Get("Retry-After"); got != "60" {
		t.Errorf("Retry-After = %q, want 60 (the resend interval)", got)
	}
	var body struct {
		Challenge string `json:"challenge"`
	}
	if err := json.Unmarshal([]byte(a.body), &body); err != nil || len(body.Challenge) != 32 {
		t.Fatalf("body %q: challenge %q (%v), want one", a.body, body.Challenge, err)
	}
	code, _ := s.gw.last(t)
	s.verify(t, phone, body.Challenge, code).want(t, 200, "")
}

// failingStore is a captcha.Store whose every call fails.
type failingStore struct{}

var errDown = errors.New("dial tcp 10.0.0.1:6379: connection refused")

func (failingStore) Reserve(context.Context, string, captcha.ReserveArgs) (string, time.Duration, error) {
	return "", 0, errDown
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
			post("/captcha/verify", `{"key":"ann","challenge":"$ch","code":"1001"}`, 200, ""),
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
			post("/captcha/verify", `{"key":"a","challenge":"c","code":1234}`, 400, handlers.CodeInvalidJSON),
		}},
		{"400 invalid_json: invalid UTF-8 and lone surrogates (issue 12, item 6)", nil, handlers.CaptchaOptions{}, []step{
			post("/captcha/send", "{\"key\":\"ann\xff\"}", 400, handlers.CodeInvalidJSON),
			post("/captcha/send", "{\"key\":\"ann\xc3\"}", 400, handlers.CodeInvalidJSON),
			post("/captcha/send", "{\"key\":\"ann\xed\xa0\x80\"}", 400, handlers.CodeInvalidJSON),
			post("/captcha/send", `{"key":"ann\ud800"}`, 400, handlers.CodeInvalidJSON),
			post("/captcha/send", `{"key":"ann\ufffd"}`, 400, handlers.CodeInvalidJSON),
			post("/captcha/send", "{\"key\":\"ann\"}\xff", 400, handlers.CodeInvalidJSON),
			post("/captcha/send", `{"key":"ann"}`, 200, ""),
			post("/captcha/verify", "{\"key\":\"ann\",\"challenge\":\"$ch\",\"code\":\"1001\xff\"}", 400, handlers.CodeInvalidJSON),
			post("/captcha/verify", "{\"key\":\"ann\",\"challenge\":\"$ch\xfe\",\"code\":\"1001\"}", 400, handlers.CodeInvalidJSON),
			post("/captcha/verify", `{"key":"ann","challenge":"$ch","code":"1001"}`, 200, ""),
		}},
		{"400 unknown_field", nil, handlers.CaptchaOptions{}, []step{
			post("/captcha/send", `{"key":"a","code":"1"}`, 400, handlers.CodeUnknownField),
			post("/captcha/verify", `{"key":"a","challenge":"c","code":"1","x":0}`, 400, handlers.CodeUnknownField),
		}},
		{"400 missing_field", nil, handlers.CaptchaOptions{}, []step{
			post("/captcha/send", `{}`, 400, handlers.CodeMissingField),
			post("/captcha/send", `null`, 400, handlers.CodeMissingField),
			post("/captcha/send", `{"key":null}`, 400, handlers.CodeMissingField),
			post("/captcha/verify", `{"key":"a","challenge":"c"}`, 400, handlers.CodeMissingField),
			post("/captcha/verify", `{"key":"a","code":"1"}`, 400, handlers.CodeMissingField),
			post("/captcha/verify", `{"challenge":"c","code":"1"}`, 400, handlers.CodeMissingField),
		}},
		{"404 not_found", nil, handlers.CaptchaOptions{}, []step{
			post("/captcha/nope", `{}`, 404, "not_found"),
			post("/captcha/", `{}`, 404, "not_found"),
		}},
		{"405 method_not_allowed", nil, handlers.CaptchaOptions{}, []step{
			{"GET", "/captcha/send", "", "", 405, "method_not_allowed"},
			{"PUT", "/captcha/verify", "application/json", `{}`, 405, "method_not_allowed"},
		}},
		{"413 body_too_large", nil, handlers.CaptchaOptions{}, []step{
			post("/captcha/send", big, 413, handlers.CodeBodyTooLarge),
			post("/captcha/send", `{"key":"a"}`+strings.Repeat(" ", defaultMaxBodyBytes), 413, handlers.CodeBodyTooLarge),
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
			post("/captcha/verify", `{"key":"","challenge":"c","code":"1"}`, 422, handlers.CodeInvalidKey),
		}},
		{"422 invalid_key with PhoneKey", nil, handlers.CaptchaOptions{ValidateKey: handlers.PhoneKey}, []step{
			post("/captcha/send", `{"key":"5550100000"}`, 422, handlers.CodeInvalidKey),
			post("/captcha/send", `{"key":"+1 (555) 010-0000"}`, 200, ""),
			post("/captcha/verify", `{"key":"+15550100000","challenge":"$ch","code":"1001"}`, 200, ""),
		}},
		{"422 invalid_code", nil, handlers.CaptchaOptions{}, []step{
			post("/captcha/verify", `{"key":"nobody","challenge":"c","code":"1234"}`, 422, handlers.CodeInvalidCode),
		}},
		{"429 resend_too_soon", nil, handlers.CaptchaOptions{}, []step{
			post("/captcha/send", `{"key":"a"}`, 200, ""),
			post("/captcha/send", `{"key":"a"}`, 429, handlers.CodeResendTooSoon),
		}},
		{"429 rate_limited on both endpoints", nil, handlers.CaptchaOptions{
			Limiter: ratelimit.New(ratelimit.NewMemoryStore(), ratelimit.Options{Points: 3, Duration: time.Minute}),
		}, []step{
			post("/captcha/send", `{"key":"a"}`, 200, ""),
			post("/captcha/verify", `{"key":"a","challenge":"$ch","code":"0"}`, 422, handlers.CodeInvalidCode),
			post("/captcha/send", `{"key":"b"}`, 200, ""),
			post("/captcha/send", `{"key":"c"}`, 429, middleware.CodeRateLimited),
			post("/captcha/verify", `{"key":"a","challenge":"$ch","code":"1001"}`, 429, middleware.CodeRateLimited),
			{"GET", "/captcha/send", "", "", 405, "method_not_allowed"},
		}},
		{"502 delivery_failed (Deliver returns nil)", nil, handlers.CaptchaOptions{
			Deliver: func(*client.Client, string, string) client.Sender { return nil },
		}, []step{
			post("/captcha/send", `{"key":"a"}`, 502, handlers.CodeDeliveryFailed),
			post("/captcha/verify", `{"key":"a","challenge":"c","code":"1001"}`, 422, handlers.CodeInvalidCode),
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
			post("/captcha/verify", `{"key":"boom","challenge":"c","code":"1001"}`, 422, handlers.CodeInvalidCode),
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
			post("/captcha/verify", `{"key":"a","challenge":"`+strings.Repeat("a", 32)+`","code":"1001"}`, 503, handlers.CodeStoreUnavailable),
		}},
		{"503 rate_limit_unavailable", nil, handlers.CaptchaOptions{
			Limiter: ratelimit.New(failingLimiterStore{}, ratelimit.Options{}),
		}, []step{
			post("/captcha/send", `{"key":"a"}`, 503, middleware.CodeRateLimitUnavailable),
			post("/captcha/verify", `{"key":"a","challenge":"c","code":"1"}`, 503, middleware.CodeRateLimitUnavailable),
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
			bubble(t, func(t *testing.T) {
				tc.hopts.Logger = quiet
				s := newServer(t, tc.store, captcha.Options{}, tc.hopts)
				var challenge string // of the last successful send: "$ch" in bodies
				for i, st := range tc.steps {
					a := s.do(t, st.method, st.path, st.ct, strings.ReplaceAll(st.body, "$ch", challenge))
					if a.status != st.status || a.code != st.code {
						t.Fatalf("step %d: %s %s %q: answer %d %q (%s), want %d %q",
							i+1, st.method, st.path, st.body, a.status, a.code, a.body, st.status, st.code)
					}
					if a.status == 200 && st.path == "/captcha/send" {
						var res struct{ Challenge string }
						_ = json.Unmarshal([]byte(a.body), &res)
						challenge = res.Challenge
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
		a.want(t, 405, "method_not_allowed")
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
		s := newServer(t, nil, captcha.Options{}, handlers.CaptchaOptions{})
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
		r.Mount("/captcha", handlers.Captcha(p, handlers.CaptchaOptions{Deliver: deliverSMS, Client: gw.api()}))
		serve(t, r, http.MethodPost, "/captcha/send", "application/json", `{"key":"a"}`).want(t, 200, "")
		if gw.delivered() != 1 || reqID == "" || gw.requestID[0] != reqID {
			t.Errorf("gateway saw request ids %q, want [%s] (chi's generated id)", gw.requestID, reqID)
		}
	})
	t.Run("neither: a plain client of the handler's", func(t *testing.T) {
		t.Parallel()
		var got atomic.Int64
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { got.Add(1) }))
		defer srv.Close()
		p := captcha.NewProvider(captcha.NewMemoryStore(), captcha.Options{})
		h := handlers.Captcha(p, handlers.CaptchaOptions{Deliver: func(c *client.Client, code, key string) client.Sender {
			return c.Post(srv.URL+"/sms", map[string]string{"to": key, "code": code}) // absolute: no base URL
		}})
		serve(t, h, http.MethodPost, "/send", "application/json", `{"key":"a"}`).want(t, 200, "")
		if got.Load() != 1 {
			t.Errorf("the gateway got %d deliveries, want 1", got.Load())
		}
	})
}

func TestCaptchaPanics(t *testing.T) {
	t.Parallel()
	p := captcha.NewProvider(captcha.NewMemoryStore(), captcha.Options{})
	lim := ratelimit.New(ratelimit.NewMemoryStore(), ratelimit.Options{})
	for name, f := range map[string]func(){
		"nil provider": func() { handlers.Captcha(nil, handlers.CaptchaOptions{Deliver: deliverSMS}) },
		"nil Deliver":  func() { handlers.Captcha(p, handlers.CaptchaOptions{}) },
		"bad retry": func() {
			handlers.Captcha(p, handlers.CaptchaOptions{Deliver: deliverSMS, Retry: client.RetryOptions{Attempts: -1}})
		},
		"negative body limit": func() {
			handlers.Captcha(p, handlers.CaptchaOptions{Deliver: deliverSMS, MaxBodyBytes: -1})
		},
		"Limiter and NoRateLimit": func() {
			handlers.Captcha(p, handlers.CaptchaOptions{Deliver: deliverSMS, Limiter: lim, NoRateLimit: true})
		},
	} {
		t.Run(name, func(t *testing.T) {
			defer func() {
				if r := recover(); !strings.HasPrefix(fmt.Sprint(r), "handlers: ") {
					t.Errorf("Captcha with %s panicked with %v, want a \"handlers: \" message", name, r)
				}
			}()
			f()
		})
	}
}

// TestDefaultRetry checks that zero Retry options mean client.Retry's
// defaults here too: 3 retries, 1 s apart (on the bubble's clock).
func TestDefaultRetry(t *testing.T) {
	t.Parallel()
	bubble(t, func(t *testing.T) {
		var mu sync.Mutex
		var at []time.Duration
		start := time.Now()
		p := captcha.NewProvider(captcha.NewMemoryStore(), captcha.Options{})
		h := handlers.Captcha(p, handlers.CaptchaOptions{
			Logger: slog.New(slog.DiscardHandler),
			Deliver: func(*client.Client, string, string) client.Sender {
				return client.SenderFunc(func(context.Context) (*client.Response, error) {
					mu.Lock()
					defer mu.Unlock()
					at = append(at, time.Since(start))
					return nil, errors.New("gateway down")
				})
			},
		})
		serve(t, h, http.MethodPost, "/send", "application/json", `{"key":"a"}`).want(t, 502, handlers.CodeDeliveryFailed)
		mu.Lock()
		defer mu.Unlock()
		want := []time.Duration{0, time.Second, 2 * time.Second, 3 * time.Second}
		if fmt.Sprint(at) != fmt.Sprint(want) {
			t.Errorf("sends at %v, want %v (1 + 3 retries, 1 s apart)", at, want)
		}
	})
}

// TestUnexpectedErrors checks that an error the captcha package does not
// document (here a Generator returning "") answers 503, never 500 nor 200,
// and that a panicking Deliver is logged with its stack.
func TestUnexpectedErrors(t *testing.T) {
	t.Parallel()
	logger, logs := testlog.Buffer()
	s := newServer(t, nil, captcha.Options{Generator: func() string { return "" }},
		handlers.CaptchaOptions{Logger: logger})
	s.post(t, "/captcha/send", keyBody("a")).want(t, 503, handlers.CodeStoreUnavailable)
	if !strings.Contains(logs(), "captcha failed unexpectedly") {
		t.Errorf("the unexpected error was not logged: %s", logs())
	}

	logger, logs = testlog.Buffer()
	s = newServer(t, nil, captcha.Options{}, handlers.CaptchaOptions{Logger: logger,
		Deliver: func(*client.Client, string, string) client.Sender { panic("bug 7") }})
	s.post(t, "/captcha/send", keyBody("a")).want(t, 502, handlers.CodeDeliveryFailed)
	if l := logs(); !strings.Contains(l, "Deliver panicked") || !strings.Contains(l, "bug 7") ||
		!strings.Contains(l, "goroutine") {
		t.Errorf("the panic was not logged with its stack: %s", l)
	}
}
