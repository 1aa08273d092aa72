package handlers_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"
	chimw "github.com/go-chi/chi/v5/middleware"

	"github.com/alovago/alova/captcha"
	"github.com/alovago/alova/client"
	"github.com/alovago/alova/handlers"
	"github.com/alovago/alova/middleware"
	"github.com/alovago/alova/ratelimit"
)

// Mount the captcha endpoints on a chi router. The codes go out through an
// SMS gateway (a test server here); a user sends, then verifies.
func ExampleCaptcha() {
	var sms struct{ To, Code string }
	gateway := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = json.NewDecoder(r.Body).Decode(&sms)
		w.WriteHeader(http.StatusAccepted)
	}))
	defer gateway.Close()
	api := client.New(client.Options{BaseURL: gateway.URL})

	codes := captcha.NewProvider(captcha.NewMemoryStore(), captcha.Options{}) // NewRedisStore for many processes
	perIP := ratelimit.New(ratelimit.NewMemoryStore(), ratelimit.Options{Points: 10, Duration: time.Minute})

	r := chi.NewRouter()
	r.Use(chimw.RequestID, chimw.ClientIPFromRemoteAddr, middleware.Client(api))
	r.Mount("/captcha", handlers.Captcha(codes, handlers.CaptchaOptions{
		Deliver: func(c *client.Client, code, key string) client.Sender {
			return c.Post("/sms/send", map[string]string{"to": key, "code": code})
		},
		ValidateKey: handlers.PhoneKey,
		Limiter:     perIP,
	}))

	post := func(path, body string) {
		req := httptest.NewRequest(http.MethodPost, path, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		r.ServeHTTP(rec, req)
		fmt.Print(path, " ", rec.Code, " ", rec.Body.String())
	}
	post("/captcha/send", `{"key":"+1 555 010 0000"}`)
	fmt.Println("sms to", sms.To)
	post("/captcha/send", `{"key":"+15550100000"}`)
	post("/captcha/verify", `{"key":"+15550100000","code":"`+sms.Code+`"}`)
	post("/captcha/verify", `{"key":"+15550100000","code":"`+sms.Code+`"}`)
	// Output:
	// /captcha/send 200 {"expires_in":300,"resend_in":60}
	// sms to +15550100000
	// /captcha/send 429 {"error":{"code":"resend_too_soon","message":"a code was sent to this key recently; wait before asking again","retry_after":60}}
	// /captcha/verify 200 {"verified":true}
	// /captcha/verify 422 {"error":{"code":"invalid_code","message":"the code is wrong, expired or already used"}}
}

func ExampleEmailKey() {
	for _, in := range []string{"Ann.Smith@Example.com", "Ann <ann@example.com>", "ann@localhost"} {
		key, ok := handlers.EmailKey(in)
		fmt.Printf("%q → %q %v\n", in, key, ok)
	}
	// Output:
	// "Ann.Smith@Example.com" → "ann.smith@example.com" true
	// "Ann <ann@example.com>" → "" false
	// "ann@localhost" → "" false
}
