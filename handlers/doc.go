// Package handlers turns alova's server-side features into ready HTTP
// endpoints. Today it has one: the captcha (verification code) endpoints of
// a [captcha.Provider], mounted on a chi router.
//
//	codes := captcha.NewProvider(captcha.NewRedisStore(rdb, captcha.RedisOptions{KeyPrefix: "alova:captcha:login:"}), captcha.Options{})
//
//	r := chi.NewRouter()
//	r.Use(chimw.RequestID, chimw.ClientIPFromRemoteAddr, middleware.Client(api))
//	r.Mount("/captcha", handlers.Captcha(codes, handlers.CaptchaOptions{
//		Deliver: func(c *client.Client, code, key string) client.Sender {
//			return c.Post("/sms/send", map[string]string{"to": key, "code": code})
//		},
//		ValidateKey: handlers.PhoneKey,
//		OnVerified:  startSession, // func(w, r, key): write the login's answer
//	}))
//
// # Endpoints
//
// POST /send {"key":"+15550100000"} makes a code for the key, delivers it
// through Deliver (on the request-scoped client, wrapped in client.Retry) and
// answers {"challenge":"…","expires_in":300,"resend_in":60}. POST /verify
// {"key":"+15550100000","challenge":"…","code":"123456"} answers through
// OnVerified, by default {"verified":true}, once per delivered code.
//
// # Answers
//
// Every answer is JSON. An error is {"error":{"code":…,"message":…}} (see
// middleware.Error), plus "retry_after" seconds, also sent as Retry-After,
// on 429 and 503:
//
//	status  code                     when
//	400     invalid_json             not one JSON object of string fields (syntax, type, empty, trailing data),
//	                                 not valid UTF-8, or a string holding U+FFFD
//	400     unknown_field            a field the endpoint does not take
//	400     missing_field            "key" (or on /verify "challenge" or "code") absent or null
//	404     not_found                no such endpoint
//	405     method_not_allowed       not POST (with Allow: POST)
//	413     body_too_large           body over MaxBodyBytes (1 KiB)
//	415     unsupported_media_type   Content-Type not application/json (or */*+json), or not UTF-8
//	422     invalid_key              ValidateKey refused the key
//	422     invalid_code             /verify: wrong, empty, expired, used or burned code, another challenge, or unknown key
//	429     resend_too_soon          /send: the key had a code less than the resend interval ago, or spent its budget of codes
//	429     rate_limited             the per-client limit is spent (with X-RateLimit-* headers)
//	502     delivery_failed          /send: Deliver failed after its retries; rolled back
//	503     store_unavailable        the captcha store (Redis) failed; a /verify may be retried with the same code
//	503     send_unconfirmed         /send: the code went out, the store did not confirm it; the answer holds the challenge
//	503     rate_limit_unavailable   the Limiter's store failed (unless it fails open)
//
// A failed verify is the same answer, byte for byte, whatever the reason, so
// it tells a guesser nothing about a key. No input makes a handler panic or
// answer 500; the text of internal errors is logged, never sent. Every
// answer of the endpoints is marked Cache-Control: no-store.
//
// # Security
//
// The provider limits each key: one send per resend interval, five codes in
// a row and then one per 15 minutes, five wrong codes per challenge (see
// package captcha for the guessing bound, and why no stranger can keep a key
// from new codes for more than 15 minutes at a time). A guess counts only against the challenge it names, which
// only the caller who asked for that code was given, so nobody can burn a
// code someone else is about to type. The per-client limit, on by default
// (20 requests a minute per client IP, in memory per
// process), limits each client across keys (a bot texting many numbers, or
// guessing across many keys); the client IP comes from chi's ClientIPFrom*
// middlewares or the TCP peer, never from a raw X-Forwarded-For.
// Normalizing keys ([EmailKey], [PhoneKey]) keeps one key per mailbox or
// number, so spelling variants cannot multiply the sends.
package handlers
