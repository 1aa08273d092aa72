// Package captcha sends and verifies one-time codes (SMS or e-mail
// verification codes): the server side of alova's createCaptchaProvider,
// with the holes closed.
//
//	codes := captcha.NewProvider(captcha.NewRedisStore(rdb, captcha.RedisOptions{}), captcha.Options{})
//
//	res, err := codes.Send(ctx, phone, func(ctx context.Context, code, key string) error {
//		return sms.Send(ctx, key, "Your code is "+code) // code first, then key
//	})
//	… // give res.Challenge to the caller who asked, and only to them
//	err = codes.Verify(ctx, phone, res.Challenge, submitted) // nil: right (and now used up)
//
// The package needs a [Store] and a delivery function; it knows nothing of
// HTTP. A handler maps its errors to statuses (see Errors below).
//
// # Sending
//
// [Provider.Send] reserves the key in the store atomically, calls the
// [DeliverFunc], then commits or rolls back:
//
//   - At most one send per key per ResendInterval (default 60 s) and
//     MaxSendsPerDay (default 10) per day, enforced in the store, so two
//     processes racing for one key deliver once. A refusal is a
//     [*ResendTooSoonError] carrying the wait (alova gives none).
//   - A code becomes valid only after its delivery succeeded. A failed (or
//     panicking) delivery is rolled back: nothing is stored, the key may ask
//     again at once, and the code it made can never be verified.
//   - Each delivered code is a challenge of its own, identified by the
//     random id Send returns ([SendResult].Challenge). A new send does not
//     cancel the key's earlier challenges: each stays valid until its
//     expiry (TTL, default 5 minutes), its use, or its burning.
//   - Without [Options.ReuseCode] (the default), each send makes a new code.
//     With it, a resend delivers the code of the key's latest challenge
//     while it is valid (alova's resendFormStore), so a late SMS still works.
//   - Codes are Length (default 6) characters of Charset (default digits),
//     drawn from crypto/rand without modulo bias (alova uses Math.random), or
//     come from [Options.Generator].
//
// Send returns only after the delivery, so a retrying deliver function —
// typically a client method wrapped in client.Retry — composes as alova's
// docs intend retry(sendCaptcha(...)) to.
//
// # Verifying
//
// [Provider.Verify] takes the key, the challenge and the code. It returns nil
// for the right code and ends every challenge of the key: a code verifies
// once. Each wrong code counts against its challenge; the MaxAttempts-th
// (default 5) burns that challenge. An unknown key or challenge, an
// expired, used or burned code and a wrong code all return the same
// [ErrInvalidCode].
//
// A guess only ever counts against the challenge it names, and a challenge
// id is known only to whoever asked for that code. So a third party cannot
// burn someone's code by guessing on their phone number: its guesses burn
// only challenges it asked for itself (alova, and versions of this package
// without challenges, let five anonymous guesses burn the code a user was
// about to type).
//
// # Guessing
//
// At the defaults a key falls to guessing with a chance of at most 0.01% per
// day (the target is 0.1%), however many addresses the guesser sends from,
// because every limit is per key:
//
//	N = 10^6                 codes: 6 digits (DefaultLength)
//	A = 5                    guesses per challenge (DefaultMaxAttempts)
//	S = 10                   challenges per key per day window (DefaultMaxSendsPerDay)
//	any 24 h overlap at most 2 day windows: at most 2·S = 20 challenges, 2·S·A = 100 guesses
//	P(break a key in a day) ≤ 2·S·A / N = 100 / 10^6 = 0.01%
//
// Each challenge's code is drawn anew and uniformly, so A distinct guesses
// hit it with probability A/N, and the union bound adds the challenges up.
// The failure budget lowers the bound further: once a key collected
// MaxFailuresPerDay (default 10) wrong codes, it gets no new challenge until
// its window ends. The price is that anyone can spend a key's day budget and
// so deny it new codes for up to 24 hours; a per-client rate limit in front
// (see package handlers) makes that cost more.
//
// This departs from alova's defaults: alova draws 4 digits and limits
// neither the guesses per code nor the codes per day, and even with this
// package's limits 4 digits would give 2·10·5/10^4 = 1% per day. Shorter
// codes or higher limits change the bound in the same formula: keep
// 2·MaxSendsPerDay·MaxAttempts / len(Charset)^Length ≤ 0.001.
//
// # Stores
//
// [NewRedisStore] keeps one hash per key, prefix+key (prefix default
// "alova:captcha:"), and runs each operation as one Lua script on that
// single key: atomic, and safe on Redis Cluster. Every Redis call ends
// within [RedisOptions].Timeout (default 200 ms), even on a client with
// go-redis's default options and a hung server. Round trips: Send 2
// (reserve; commit or rollback), a refused Send 1, Verify 1. [NewMemoryStore]
// is for a single process; it starts no goroutine. Other stores implement
// the four methods of [Store].
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
// also compares with crypto/subtle). A digest does not hide a 6-digit code
// from someone who can read the store (there are only a million), and with
// ReuseCode the code itself is stored: protect the store like a session
// store. Each purpose (login, password reset) needs its own store prefix, or
// a code sent for one would verify for the other. Timestamps come from the
// application's clock; keep the servers' clocks in sync.
package captcha
