package main

import (
	"fmt"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// uniqueEmail returns an address no other test (or earlier run on a shared
// real Redis) has used.
func uniqueEmail() string { return fmt.Sprintf("user-%s@example.com", uniqueID()) }

func sendCode(t *testing.T, srv *httptest.Server, key string) (int, string) {
	t.Helper()
	st, _, body := call(t, srv, "POST", "/captcha/send", "application/json", fmt.Sprintf(`{"key":%q}`, key))
	return st, body
}

func verifyCode(t *testing.T, srv *httptest.Server, key, code string) (int, string) {
	t.Helper()
	st, _, body := call(t, srv, "POST", "/captcha/verify", "application/json", fmt.Sprintf(`{"key":%q,"code":%q}`, key, code))
	return st, body
}

// outbox reads the last code the demo gateway delivered to key.
func outbox(t *testing.T, srv *httptest.Server, key string) string {
	t.Helper()
	st, _, body := call(t, srv, "GET", "/demo/outbox?key="+key, "", "")
	if st != 200 {
		t.Fatalf("GET /demo/outbox?key=%s = %d %s, want 200", key, st, body)
	}
	return field(t, body, "code").(string)
}

func TestCaptchaFlow(t *testing.T) {
	t.Parallel()
	a, srv := newTestApp(t, testConfig(t, "-resend-interval", "30s", "-code-ttl", "2m"))
	key := uniqueEmail()

	st, body := sendCode(t, srv, key)
	if st != 200 || field(t, body, "expires_in") != 120.0 || field(t, body, "resend_in") != 30.0 {
		t.Fatalf("send = %d %s, want 200 expires_in 120 resend_in 30", st, body)
	}
	code := outbox(t, srv, key)
	if st, _, body := call(t, srv, "POST", "/captcha/send", "application/json", fmt.Sprintf(`{"key":%q}`, key)); st != 429 ||
		errCode(t, body) != "resend_too_soon" {
		t.Fatalf("second send = %d %s, want 429 resend_too_soon", st, body)
	}
	if st, body := verifyCode(t, srv, key, "wrong"); st != 422 || errCode(t, body) != "invalid_code" {
		t.Fatalf("verify wrong code = %d %s, want 422 invalid_code", st, body)
	}
	// Keys are normalized: another spelling of the address is the same key.
	if st, body := verifyCode(t, srv, strings.ToUpper(key), code); st != 200 || field(t, body, "verified") != true {
		t.Fatalf("verify right code = %d %s, want 200 verified", st, body)
	}
	if st, body := verifyCode(t, srv, key, code); st != 422 || errCode(t, body) != "invalid_code" {
		t.Fatalf("verify used code = %d %s, want 422 invalid_code", st, body)
	}
	if got := a.demo.deliveries.Load(); got != 1 {
		t.Errorf("deliveries = %d, want 1", got)
	}
}

func TestCaptchaBadInput(t *testing.T) {
	t.Parallel()
	_, srv := newTestApp(t, testConfig(t, "-ip-limit", "1000"))
	tests := []struct {
		name, method, path, ctype, body string
		status                          int
		code                            string
	}{
		{"not JSON", "POST", "/captcha/send", "text/plain", `{"key":"a@example.com"}`, 415, "unsupported_media_type"},
		{"malformed", "POST", "/captcha/send", "application/json", `{"key":`, 400, "invalid_json"},
		{"missing key", "POST", "/captcha/send", "application/json", `{}`, 400, "missing_field"},
		{"unknown field", "POST", "/captcha/send", "application/json", `{"key":"a@example.com","x":1}`, 400, "unknown_field"},
		{"not an address", "POST", "/captcha/send", "application/json", `{"key":"not an address"}`, 422, "invalid_key"},
		{"too large", "POST", "/captcha/send", "application/json", `{"key":"` + strings.Repeat("a", 2000) + `"}`, 413, "body_too_large"},
		{"verify missing code", "POST", "/captcha/verify", "application/json", `{"key":"a@example.com"}`, 400, "missing_field"},
		{"verify unknown key", "POST", "/captcha/verify", "application/json", `{"key":"+15550100000","code":"1234"}`, 422, "invalid_code"},
		{"GET send", "GET", "/captcha/send", "", "", 405, "method_not_allowed"},
		{"unknown endpoint", "POST", "/captcha/nope", "application/json", `{}`, 404, "not_found"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st, h, body := call(t, srv, tc.method, tc.path, tc.ctype, tc.body)
			if st != tc.status || errCode(t, body) != tc.code || !strings.HasPrefix(h.Get("Content-Type"), "application/json") {
				t.Errorf("%s %s %.40q = %d %s, want %d %s", tc.method, tc.path, tc.body, st, body, tc.status, tc.code)
			}
		})
	}
}

func TestCaptchaPerIPLimit(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		args []string
		xff  [2]string // X-Forwarded-For of the two sends
		want int       // status of the second send
	}{
		{"same client", []string{"-ip-limit", "1"}, [2]string{"", ""}, 429},
		{"forged XFF is ignored", []string{"-ip-limit", "1"}, [2]string{"203.0.113.1", "203.0.113.2"}, 429},
		{"XFF from a trusted proxy counts", []string{"-ip-limit", "1", "-trusted-proxies", "127.0.0.1/32,::1/128"},
			[2]string{"203.0.113.1", "203.0.113.2"}, 200},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, srv := newTestApp(t, testConfig(t, tc.args...))
			var last int
			for _, xff := range tc.xff {
				req := httptest.NewRequest("POST", srv.URL+"/captcha/send", strings.NewReader(fmt.Sprintf(`{"key":%q}`, uniqueEmail())))
				req.RequestURI = ""
				req.Header.Set("Content-Type", "application/json")
				if xff != "" {
					req.Header.Set("X-Forwarded-For", xff)
				}
				resp, err := srv.Client().Do(req)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				last = resp.StatusCode
				if resp.StatusCode == 429 && resp.Header.Get("Retry-After") == "" {
					t.Error("429 without Retry-After")
				}
			}
			if last != tc.want {
				t.Errorf("second send (XFF %q) = %d, want %d", tc.xff, last, tc.want)
			}
		})
	}
	t.Run("endpoints count apart", func(t *testing.T) {
		t.Parallel()
		_, srv := newTestApp(t, testConfig(t, "-ip-limit", "1"))
		if st, body := sendCode(t, srv, uniqueEmail()); st != 200 {
			t.Fatalf("send = %d %s, want 200", st, body)
		}
		if st, body := verifyCode(t, srv, uniqueEmail(), "1234"); st != 422 {
			t.Fatalf("verify after a send, limit 1 = %d %s, want 422 (not limited by the send)", st, body)
		}
		if st, body := verifyCode(t, srv, uniqueEmail(), "1234"); st != 429 || errCode(t, body) != "rate_limited" {
			t.Fatalf("second verify, limit 1 = %d %s, want 429 rate_limited", st, body)
		}
	})
}

func TestCaptchaFailures(t *testing.T) {
	t.Parallel()
	t.Run("redis down", func(t *testing.T) {
		t.Parallel()
		a, srv := newTestApp(t, testConfig(t))
		key := uniqueEmail()
		if st, body := sendCode(t, srv, key); st != 200 {
			t.Fatalf("send = %d %s", st, body)
		}
		code := outbox(t, srv, key)
		a.redis.mini.Close()
		if st, body := verifyCode(t, srv, key, code); st != 503 {
			t.Fatalf("Redis down: verify the right code = %d %s, want 503", st, body)
		}
		if st, body := sendCode(t, srv, uniqueEmail()); st != 503 {
			t.Fatalf("Redis down: send = %d %s, want 503", st, body)
		}
	})
	t.Run("gateway down", func(t *testing.T) {
		t.Parallel()
		_, srv := newTestApp(t, testConfig(t, "-downstream", "http://127.0.0.1:1", "-retries", "1"))
		if st, body := sendCode(t, srv, uniqueEmail()); st != 502 || errCode(t, body) != "delivery_failed" {
			t.Fatalf("gateway down: send = %d %s, want 502 delivery_failed", st, body)
		}
	})
	t.Run("flaky gateway", func(t *testing.T) {
		t.Parallel()
		a, srv := newTestApp(t, testConfig(t, "-demo-fail-rate", "0.5"))
		for range 5 {
			key := uniqueEmail()
			if st, body := sendCode(t, srv, key); st != 200 {
				t.Fatalf("half the deliveries failing: send = %d %s, want 200 through retries", st, body)
			}
			if st, body := verifyCode(t, srv, key, outbox(t, srv, key)); st != 200 {
				t.Fatalf("verify = %d %s, want 200", st, body)
			}
		}
		if got := a.demo.deliveries.Load(); got != 5 {
			t.Errorf("deliveries = %d, want 5", got)
		}
	})
}

// TestCaptchaAcrossInstances sends through one app and verifies through
// another on the same Redis, and races 50 sends for one key over both: on
// miniredis, and on the real Redis named by REDIS_URL.
func TestCaptchaAcrossInstances(t *testing.T) {
	t.Parallel()
	for name, backend := range redisBackends {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			cfg := isolated(t, testConfig(t, "-ip-limit", "1000"))
			cfg.RedisURL = backend(t)
			a, srvA := newTestApp(t, cfg)
			b, srvB := newTestApp(t, cfg)

			key := uniqueEmail()
			if st, body := sendCode(t, srvA, key); st != 200 {
				t.Fatalf("send on A = %d %s", st, body)
			}
			if st, body := verifyCode(t, srvB, key, outbox(t, srvA, key)); st != 200 {
				t.Fatalf("verify on B of A's code = %d %s, want 200", st, body)
			}

			key = uniqueEmail()
			statuses := make(chan int, 50)
			var wg sync.WaitGroup
			for i := range 50 {
				srv := srvA
				if i%2 == 1 {
					srv = srvB
				}
				wg.Add(1)
				go func() {
					defer wg.Done()
					// Not sendCode: t.Fatal must not run off the test goroutine.
					resp, err := srv.Client().Post(srv.URL+"/captcha/send", "application/json",
						strings.NewReader(fmt.Sprintf(`{"key":%q}`, key)))
					if err != nil {
						t.Errorf("send: %v", err)
						return
					}
					resp.Body.Close()
					statuses <- resp.StatusCode
				}()
			}
			wg.Wait()
			close(statuses)
			count := map[int]int{}
			for st := range statuses {
				count[st]++
			}
			if count[200] != 1 || count[429] != 49 {
				t.Errorf("50 racing sends answered %v, want one 200 and 49 429", count)
			}
			if got := a.demo.deliveries.Load() + b.demo.deliveries.Load(); got != 2 {
				t.Errorf("deliveries over A and B = %d, want 2 (one per key)", got)
			}
		})
	}
}
