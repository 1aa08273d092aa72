package handlers_test

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/alovago/alova/captcha"
	"github.com/alovago/alova/client"
	"github.com/alovago/alova/handlers"
	"github.com/alovago/alova/ratelimit"
)

// fuzzHandler returns the endpoints on a memory store, with a delivery that
// fails for keys containing "fail" and panics for keys containing "panic",
// behind a per-client limit. Each input gets a fresh one, so an input's
// answer never depends on the inputs before it.
func fuzzHandler() http.Handler {
	p := captcha.NewProvider(captcha.NewMemoryStore(), captcha.Options{})
	return handlers.Captcha(p, handlers.CaptchaOptions{
		Logger:  slog.New(slog.DiscardHandler),
		Limiter: ratelimit.New(ratelimit.NewMemoryStore(), ratelimit.Options{Points: 50, Duration: time.Minute}),
		Deliver: func(_ *client.Client, code, key string) client.Sender {
			return client.SenderFunc(func(context.Context) (*client.Response, error) {
				switch {
				case strings.Contains(key, "panic"):
					panic("deliver panicked for " + key)
				case strings.Contains(key, "fail"):
					return nil, errors.New("gateway refused " + key)
				}
				return client.NewResponse(http.StatusNoContent, nil, nil), nil
			})
		},
	})
}

// fuzzOne posts body with contentType to path and checks the answer: no
// panic (a panic fails the fuzz run), no 500, always JSON of the documented
// shape with a code whose status matches. It runs in a synctest bubble, so
// the retries of a failing delivery (client.Retry's defaults) take no time.
func fuzzOne(t *testing.T, method, path, contentType string, body []byte) {
	synctest.Test(t, func(t *testing.T) { fuzzOneInBubble(t, fuzzHandler(), method, path, contentType, body) })
}

func fuzzOneInBubble(t *testing.T, h http.Handler, method, path, contentType string, body []byte) {
	req := httptest.NewRequest(method, path, strings.NewReader(string(body)))
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if err := checkJSON(rec.Code, rec.Header(), rec.Body.Bytes(), nil); err != nil {
		t.Fatalf("%s %s (%q) %q: %v", method, path, contentType, body, err)
	}
}

func addSeeds(f *testing.F, bodies ...string) {
	cts := []string{"application/json", "application/json; charset=utf-8", "text/plain", "", "application/x+json", "application/json; charset"}
	for i, b := range bodies {
		f.Add(http.MethodPost, cts[i%len(cts)], []byte(b))
		f.Add(http.MethodPost, "application/json", []byte(b))
	}
	f.Add(http.MethodGet, "", []byte(nil))
	f.Add("BREW", "application/json", []byte(`{}`))
}

var commonSeeds = []string{
	``, `{`, `}`, `null`, `[]`, `""`, `0`, `{}`, `{"key":null}`, `{"key":1}`, `{"key":""}`,
	`{"key":"a"} x`, `{"key":"a"}{"key":"b"}`, `{"key":"\u0000"}`, `{"key":"\ud800"}`,
	`{"key":"` + strings.Repeat("k", 300) + `"}`, `{"key":"` + strings.Repeat("x", 2000) + `"}`,
	`{"key":"fail-me"}`, `{"key":"panic-now"}`, `{"key":"ann","extra":true}`, `{"KEY":"ann"}`,
	"{\"key\":\"ann\"}\n\t ", "\xef\xbb\xbf{\"key\":\"bom\"}", `{"key":"a","key":"b"}`,
}

func FuzzCaptchaSend(f *testing.F) {
	addSeeds(f, append(commonSeeds, `{"key":"ann"}`, `{"key":"+15550100000"}`)...)
	f.Fuzz(func(t *testing.T, method, contentType string, body []byte) {
		if !validMethod(method) {
			return
		}
		fuzzOne(t, method, "/send", contentType, body)
	})
}

func FuzzCaptchaVerify(f *testing.F) {
	addSeeds(f, append(commonSeeds, `{"key":"ann","challenge":"00000000000000000000000000000000","code":"123456"}`,
		`{"key":"ann","challenge":"c","code":""}`, `{"key":"ann","challenge":"c","code":1234}`, `{"key":"ann"}`,
		`{"code":"1234"}`, "{\"key\":\"ann\",\"challenge\":\"c\xff\",\"code\":\"1\"}",
		`{"key":"ann","challenge":"c","code":"`+strings.Repeat("9", 900)+`"}`)...)
	f.Fuzz(func(t *testing.T, method, contentType string, body []byte) {
		if !validMethod(method) {
			return
		}
		fuzzOne(t, method, "/verify", contentType, body)
	})
}

// validMethod reports whether httptest.NewRequest accepts method (a token):
// the server would refuse anything else before any handler runs.
func validMethod(m string) bool {
	if m == "" {
		return false
	}
	for _, c := range m {
		if c <= ' ' || c >= 0x7f || strings.ContainsRune(`"(),/:;<=>?@[\]{}`, c) {
			return false
		}
	}
	return true
}
