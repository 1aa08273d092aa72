package captcha

import (
	"context"
	"time"
)

// Store keeps one record per key: its challenges (each a digest of a
// delivered code, and the code itself only with ReuseCode, with its expiry
// and wrong-attempt count), when the key may send again, its budget of
// codes, and the reservation of a send in progress. Each method is one
// atomic step; a Send is Reserve, then deliver, then Commit or Rollback, and
// a Verify is one Verify.
//
// Every method must be safe to repeat: a caller that lost a reply (a
// timeout while the store did the work) calls it again with the same
// arguments and must get the answer the first call would have given, with
// no second effect (Commit and Rollback), or, for Verify, one more success
// at most.
//
// Implementations must be safe for concurrent use, also by several processes
// when they share state ([RedisStore]), and must return errors that match
// [ErrStore] for any failure (the Provider wraps those that do not). Times
// are taken by the Provider's clock and passed in, so a store needs no clock
// of its own for its logic.
type Store interface {
	// Reserve claims the key for one send and returns the code to deliver
	// again (args.Reuse only: the code of the key's latest challenge while
	// it is valid and unused; "" otherwise). It claims nothing and returns
	// wait > 0 when another reservation is still within its lease (the wait
	// is then at least args.Interval), when the resend interval has not
	// passed, or when the key's budget of codes is spent (see
	// [Options].Burst); wait is then the longest of those. Otherwise it
	// records args.Challenge as the pending reservation until
	// args.Now+args.Lease.
	//
	// The budget is a time g per key, empty meaning "long past": a send
	// needs g ≤ Now + (Burst-1)·Refill, and the wait for a refused one is
	// g - Now - (Burst-1)·Refill.
	Reserve(ctx context.Context, key string, args ReserveArgs) (code string, wait time.Duration, err error)

	// Commit turns the reservation args.Challenge into a challenge of that
	// id holding the delivered code, valid for args.TTL; it spends one code
	// of the key's budget (g = max(g, Now) + Refill), starts the resend
	// interval and releases the reservation. Other challenges of the key
	// stay as they are. When the challenge already holds args.Digest (a
	// repeated Commit) it returns nil and changes nothing. It returns an
	// error matching [ErrStore] (releasing the reservation, storing nothing)
	// when args.Challenge is not the pending reservation, or when
	// args.Reused and the key's latest challenge no longer holds args.Digest
	// or has expired.
	Commit(ctx context.Context, key string, args CommitArgs) error

	// Rollback releases the reservation challenge after a failed or
	// unconfirmed step, leaving everything else as it was. It does nothing
	// when challenge is not the pending reservation.
	Rollback(ctx context.Context, key, challenge string) error

	// Verify checks a digest against the challenge args.Challenge of key.
	// On a match it deletes every other challenge of the key, gives back the
	// budget of the attempts this challenge did not use ((MaxAttempts -
	// wrong attempts) · Refill / MaxAttempts, g never below Now), and keeps
	// the challenge as verified until the earlier of its expiry and
	// Now+args.Grace; it returns true. A verified challenge answers true once
	// more for the same digest, and is then deleted (the retry of a verify
	// whose reply was lost). On a mismatch it counts a wrong attempt on that
	// challenge and deletes it at args.MaxAttempts (a verified one at once).
	// For an unknown or expired challenge it returns false, nil and counts
	// nothing. The comparison must not leak through its timing how much of
	// the digest matched.
	Verify(ctx context.Context, key string, args VerifyArgs) (bool, error)
}

// ReserveArgs are the arguments of [Store.Reserve].
type ReserveArgs struct {
	// Now is the Provider's clock.
	Now time.Time
	// Challenge identifies this send's reservation, and the challenge it
	// becomes once committed; random and unique.
	Challenge string
	// Lease is how long the reservation blocks other sends unless committed
	// or rolled back first.
	Lease time.Duration
	// Interval is the resend interval, reported as the wait to a send that
	// finds another one in progress.
	Interval time.Duration
	// Burst and Refill are the key's budget of codes ([Options].Burst).
	Burst  int
	Refill time.Duration
	// Reuse asks for the code of the key's latest challenge when it is still
	// valid.
	Reuse bool
}

// CommitArgs are the arguments of [Store.Commit].
type CommitArgs struct {
	// Now is the Provider's clock at the end of the delivery.
	Now time.Time
	// Challenge is the reservation being committed.
	Challenge string
	// Digest is the digest of the delivered code.
	Digest string
	// Code is the delivered code, kept for a later reuse; "" keeps none.
	Code string
	// Reused says the delivered code is the one of the key's latest
	// challenge, which must still be valid.
	Reused bool
	// TTL is how long the code stays valid from Now.
	TTL time.Duration
	// Interval is the resend interval from Now.
	Interval time.Duration
	// Refill is what one code costs the key's budget ([Options].Refill).
	Refill time.Duration
}

// VerifyArgs are the arguments of [Store.Verify].
type VerifyArgs struct {
	// Now is the Provider's clock.
	Now time.Time
	// Challenge is the challenge the code answers.
	Challenge string
	// Digest is the digest of the submitted code.
	Digest string
	// MaxAttempts is the wrong-attempt count that burns the challenge.
	MaxAttempts int
	// Refill is what one code costs the key's budget; a match gives back
	// the share of it the unused attempts paid for.
	Refill time.Duration
	// Grace is how long a verified challenge still answers one retry.
	Grace time.Duration
}
