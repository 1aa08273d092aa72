// Package handlers turns alova's server-side features into ready HTTP
// endpoints. Today it has one: the captcha (verification code) endpoints of
// a [captcha.Provider], mounted on a chi router.
//
//	codes := captcha.NewProvider(captcha.NewRedisStore(rdb, "captcha:login:"), captcha.Options{})
//
//	r := chi.NewRouter()
//	r.Use(chimw.RequestID, chimw.ClientIPFromRemoteAddr, middleware.Client(api))
//	r.Mount("/captcha", handlers.Captcha(codes, handlers.CaptchaOptions{
//		Deliver: func(c *client.Client, code, key string) client.Sender {
//			return c.Post("/sms/send", map[string]string{"to": key, "code": code})
//		},
//		ValidateKey: handlers.PhoneKey,
//		Limiter:     perIP, // a *ratelimit.Limiter
//	}))
//
// # Endpoints
//
// POST /send {"key":"+15550100000"} makes a code for the key, delivers it
// through Deliver (on the request-scoped client, wrapped in client.Retry) and
// answers {"expires_in":300,"resend_in":60}. POST /verify
// {"key":"+15550100000","code":"1234"} answers {"verified":true} once per
// delivered code.
//
// # Answers
//
// Every answer is JSON. An error is {"error":{"code":…,"message":…}} (see
// middleware.Error), plus "retry_after" seconds, also sent as Retry-After,
// on 429 and 503:
//
//	status  code                     when
//	400     invalid_json             not one JSON object of string fields (syntax, type, empty, trailing data)
//	400     unknown_field            a field the endpoint does not take
//	400     missing_field            "key" (or on /verify "code") absent or null
//	404     not_found                no such endpoint
//	405     method_not_allowed       not POST (with Allow: POST)
//	413     body_too_large           body over MaxBodyBytes (1 KiB)
//	415     unsupported_media_type   Content-Type not application/json (or */*+json), or not UTF-8
//	422     invalid_key              ValidateKey refused the key
//	422     invalid_code             /verify: wrong, empty, expired, used or burned code, or unknown key
//	429     resend_too_soon          /send: the key had a code less than the resend interval ago
//	429     rate_limited             the per-client Limiter is spent (with X-RateLimit-* headers)
//	502     delivery_failed          /send: Deliver failed after its retries; rolled back
//	503     store_unavailable        the captcha store (Redis) failed
//	503     rate_limit_unavailable   the Limiter's store failed (unless it fails open)
//
// A failed verify is the same answer, byte for byte, whatever the reason, so
// it tells a guesser nothing about a key. No input makes a handler panic or
// answer 500; the text of internal errors is logged, never sent.
//
// # Security
//
// The provider limits each key: one send per resend interval, five wrong
// codes per delivered code. The optional Limiter limits each client across
// keys (a bot texting many numbers, or guessing across many keys); the client
// IP comes from chi's ClientIPFrom* middlewares or the TCP peer, never from a
// raw X-Forwarded-For. Normalizing keys ([EmailKey], [PhoneKey]) keeps one
// key per mailbox or number, so spelling variants cannot multiply the sends.
package handlers
