package handlers_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/go-chi/chi/v5"
	chimw "github.com/go-chi/chi/v5/middleware"

	"github.com/alovago/alova/captcha"
	"github.com/alovago/alova/client"
	"github.com/alovago/alova/handlers"
	"github.com/alovago/alova/middleware"
)

// Mount the captcha endpoints on a chi router. The codes go out through an
// SMS gateway (a test server here); a user sends, then verifies with the
// challenge /send gave them, and OnVerified starts their session.
func ExampleCaptcha() {
	var sms struct{ To, Code string }
	gateway := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = json.NewDecoder(r.Body).Decode(&sms)
		w.WriteHeader(http.StatusAccepted)
	}))
	defer gateway.Close()
	api := client.New(client.Options{BaseURL: gateway.URL})

	codes := captcha.NewProvider(captcha.NewMemoryStore(), captcha.Options{}) // NewRedisStore for many processes

	r := chi.NewRouter()
	r.Use(chimw.RequestID, chimw.ClientIPFromRemoteAddr, middleware.Client(api))
	r.Mount("/captcha", handlers.Captcha(codes, handlers.CaptchaOptions{
		Deliver: func(c *client.Client, code, key string) client.Sender {
			return c.Post("/sms/send", map[string]string{"to": key, "code": code})
		},
		ValidateKey: handlers.PhoneKey,
		OnVerified: func(w http.ResponseWriter, r *http.Request, phone string) {
			// The caller proved they hold phone: start a session (a cookie
			// here; a token works the same).
			http.SetCookie(w, &http.Cookie{Name: "session", Value: "s-for-" + phone, HttpOnly: true, Secure: true})
			middleware.WriteJSON(w, http.StatusOK, map[string]string{"user": phone})
		},
		// A per-client limit is on by default (20 a minute per IP); set
		// Limiter for one on Redis.
	}))

	post := func(path string, body any) map[string]any {
		b, _ := json.Marshal(body)
		req := httptest.NewRequest(http.MethodPost, path, bytes.NewReader(b))
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		r.ServeHTTP(rec, req)
		var out map[string]any
		_ = json.Unmarshal(rec.Body.Bytes(), &out)
		fmt.Println(strings.TrimSpace(fmt.Sprintf("%s %d %s", path, rec.Code, rec.Header().Get("Set-Cookie"))))
		return out
	}
	sent := post("/captcha/send", map[string]string{"key": "+1 555 010 0000"})
	fmt.Println("sms to", sms.To, "expires_in", sent["expires_in"])
	challenge, _ := sent["challenge"].(string)
	post("/captcha/verify", map[string]string{"key": "+15550100000", "challenge": "someone-else's", "code": sms.Code})
	post("/captcha/verify", map[string]string{"key": "+15550100000", "challenge": challenge, "code": sms.Code})
	post("/captcha/verify", map[string]string{"key": "+15550100000", "challenge": challenge, "code": sms.Code}) // a retry: let in once more
	post("/captcha/verify", map[string]string{"key": "+15550100000", "challenge": challenge, "code": sms.Code})
	// Output:
	// /captcha/send 200
	// sms to +15550100000 expires_in 300
	// /captcha/verify 422
	// /captcha/verify 200 session=s-for-+15550100000; HttpOnly; Secure
	// /captcha/verify 200 session=s-for-+15550100000; HttpOnly; Secure
	// /captcha/verify 422
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
