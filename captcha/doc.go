// Package captcha sends and verifies one-time codes (SMS or e-mail
// verification codes): the server side of alova's createCaptchaProvider,
// with the holes closed.
//
//	codes := captcha.NewProvider(captcha.NewRedisStore(rdb, "captcha:"), captcha.Options{})
//
//	res, err := codes.Send(ctx, phone, func(ctx context.Context, code, key string) error {
//		return sms.Send(ctx, key, "Your code is "+code) // code first, then key
//	})
//	…
//	err = codes.Verify(ctx, phone, submitted) // nil: the code was right (and is now used up)
//
// The package needs a [Store] and a delivery function; it knows nothing of
// HTTP. A handler maps its errors to statuses (see Errors below).
//
// # Sending
//
// [Provider.Send] reserves the key in the store atomically, calls the
// [DeliverFunc], then commits or rolls back:
//
//   - At most one send per key per ResendInterval (default 60 s), enforced in
//     the store, so two processes racing for one key deliver once. A refusal
//     is a [*ResendTooSoonError] carrying the wait (alova gives none).
//   - A code becomes valid only after its delivery succeeded. A failed (or
//     panicking) delivery is rolled back: nothing is stored, the key may ask
//     again at once, and the code it made can never be verified. A code
//     delivered earlier stays valid until its own expiry.
//   - Without [Options.ReuseCode] (the default), each send makes a new code
//     and the previous one stops working once the new one is delivered. With
//     it, a resend delivers the stored code while it is valid (alova's
//     resendFormStore), extending its expiry, so a late SMS still works.
//   - Codes are Length (default 4) characters of Charset (default digits),
//     drawn from crypto/rand without modulo bias (alova uses Math.random), or
//     come from [Options.Generator].
//
// Send returns only after the delivery, so a retrying deliver function —
// typically a client method wrapped in client.Retry — composes as alova's
// docs intend retry(sendCaptcha(...)) to.
//
// # Verifying
//
// [Provider.Verify] returns nil for the right code and deletes it: a code
// verifies once. Each wrong code counts; the MaxAttempts-th (default 5) burns
// the code, so a guesser gets at most 5 tries per delivered 4-digit code
// (1 in 2,000). An unknown key, an expired, used or burned code and a wrong
// code all return the same [ErrInvalidCode]. Codes expire after TTL (default
// 5 minutes).
//
// # Stores
//
// [NewRedisStore] keeps one hash per key, prefix+key, and runs each operation
// as one Lua script on that single key: atomic, and safe on Redis Cluster.
// Round trips: Send 2 (reserve; commit or rollback), a refused Send 1,
// Verify 1. [NewMemoryStore] is for a single process; it starts no goroutine.
// Other stores implement the four methods of [Store].
//
// # Errors
//
// Switch on the sentinels with [errors.Is], in this order; each maps to one
// HTTP status:
//
//	ErrInvalidKey      422  empty key
//	ErrResendTooSoon   429  with Retry-After: (*ResendTooSoonError).RetryAfterSeconds()
//	ErrDelivery        502  deliver failed (after its own retries); rolled back
//	ErrStore           503  the store failed; no code was sent or accepted
//	ErrInvalidCode     4xx  every verify failure, one body for all
//
// A store failure is never success: Verify never returns nil unless the
// store confirmed the code. Keep err.Error() out of responses: it may hold
// the downstream's error text.
//
// # Security
//
// The store compares SHA-256 digests of key and code, so how long a
// comparison takes never depends on how close a guess was ([MemoryStore]
// also compares with crypto/subtle). A digest does not hide a 4-digit code
// from someone who can read the store (there are only 10,000), and with
// ReuseCode the code itself is stored: protect the store like a session
// store. Each purpose (login, password reset) needs its own store prefix, or
// a code sent for one would verify for the other. Timestamps come from the
// application's clock ([Options.Now]); keep the servers' clocks in sync.
package captcha
