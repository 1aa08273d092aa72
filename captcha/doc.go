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
//   - At most one send per key per ResendInterval (default 60 s), and a
//     budget of codes per key: Burst (default 5) in a row, then one per
//     Refill (default 15 minutes), enforced in the store, so two processes
//     racing for one key deliver once. A refusal is a [*ResendTooSoonError]
//     carrying the wait (alova gives none).
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
// At the defaults a key falls to guessing with a chance of at most 0.051%
// per day (the target is 0.1%), however many addresses the guesser sends
// from, because every limit is per key, and no stranger can keep a key from
// getting a new code for more than 15 minutes at a time.
//
// Every guess needs a challenge, and every challenge spends one code of the
// key's budget: a time g that each delivered code pushes Refill further
// (from now when g has passed), and that may run at most Burst·Refill ahead
// of the clock. A challenge takes at most A wrong guesses. Within any span
// of length d, the challenges that can be guessed were sent in the span or
// up to TTL before it, so:
//
//	N = 10^6                      codes: 6 digits (DefaultLength)
//	A = 5                         guesses per challenge (DefaultMaxAttempts)
//	B = 5, R = 15 min, TTL = 5 min
//	challenges guessable in 24 h ≤ B + (24 h + TTL)/R = 5 + 96 = 101
//	guesses in 24 h ≤ 101·A = 505
//	P(break a key in a day) ≤ 505 / 10^6 ≈ 0.051%
//
// Each challenge's code is drawn anew and uniformly, so A distinct guesses
// hit it with probability A/N, and the union bound adds the challenges up.
// A verified code gives back the share of its code's cost its unused
// attempts paid for (all of it when right at the first try), so a user who
// types their code is not held back by the budget. Only a right code gives
// anything back, so the refunds never buy a guesser more guesses: before
// the first right guess, there were none.
//
// # Lockout
//
// Per-key limits are shared by everyone who can name the key, the user and
// any stranger alike: a stranger can always spend the key's budget. What
// this package bounds is how long that holds the user back. A refused send
// waits for the latest of: the resend interval (60 s), a delivery in
// progress (its lease, at most DeliveryTimeout + 5 s), and the budget (at
// most R, as the budget never runs more than B·R ahead and a send needs
// it at most (B-1)·R ahead). So at the defaults a stranger with any number
// of addresses makes a key wait at most 15 minutes at a time; a stranger
// who keeps at it, racing the user for each code as it frees up, can
// repeat that. Wrong codes cost the key nothing beyond the sends that made
// their challenges, so guessing does not lock the user out either: a
// day-long stop after a number of wrong codes would let one address lock a
// key out for a day with a dozen requests. A shorter longest wait than R
// needs a cheaper code, and the bound above grows with it (B + 24 h/R codes
// a day). The per-client rate limit of package handlers makes a stranger
// pay per address, and bounds the codes one address can have sent; a key
// gets at most B + 24 h/R ≈ 101 codes a day at the defaults.
//
// This departs from alova's defaults: alova draws 4 digits and limits
// neither the guesses per code nor the codes per key, and even with this
// package's limits 4 digits would give 505/10^4 ≈ 5% per day. Shorter codes
// or other limits change the bound in the same formula: keep
// (Burst + (24 h + TTL)/Refill)·MaxAttempts / len(Charset)^Length ≤ 0.001.
//
// # Lost replies
//
// Every store operation is safe to repeat, so a reply lost to a timeout
// (the store did the work, the caller never heard) does no harm:
//
//   - Verify: a verified challenge answers the same code once more for a
//     minute, so the caller's retry is let in, exactly once more.
//   - Send, reserve: Send releases a reservation whose reply it lost, so
//     the retry is not refused because of it.
//   - Send, commit: Send repeats the commit (a repeat changes nothing) up to
//     3 times; when none is confirmed, it answers [ErrSendUnconfirmed] with
//     the challenge, since the delivered code may verify.
//
// With [RedisOptions].WaitReplicas, a verify is only reported after Redis
// replicas acknowledged it, so that a failover does not undo it.
//
// # Stores
//
// [NewRedisStore] keeps one hash per key, prefix+key (prefix default
// "alova:captcha:"), and runs each operation as one Lua script on that
// single key: atomic, and safe on Redis Cluster. Every Redis call ends
// within [RedisOptions].Timeout (default 200 ms), even on a client with
// go-redis's default options and a hung server (a Send that finds the store
// hung takes two: its reserve and the release of that reservation). Round trips: Send 2
// (reserve; commit or rollback), a refused Send 1, Verify 1. [NewMemoryStore]
// is for a single process; it starts no goroutine. Other stores implement
// the four methods of [Store].
//
// # Errors
//
// Switch on the sentinels with [errors.Is], in this order; each maps to one
// HTTP status:
//
//	ErrInvalidKey        422  empty key
//	ErrResendTooSoon     429  with Retry-After: (*ResendTooSoonError).RetryAfterSeconds()
//	ErrDelivery          502  deliver failed (after its own retries); rolled back
//	ErrSendUnconfirmed   503  the code went out; the store did not confirm it
//	ErrStore             503  the store failed; no usable code was sent; a verify may be retried
//	ErrInvalidCode       4xx  every verify failure, one body for all
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
