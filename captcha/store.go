package captcha

import (
	"context"
	"time"
)

// Store keeps one record per key: its challenges (each a digest of a
// delivered code, and the code itself only with ReuseCode, with its expiry
// and wrong-attempt count), when the key may send again, its sends and
// wrong codes in the current day window, and the reservation of a send in
// progress. Each method is one atomic step; a Send is Reserve, then deliver,
// then Commit or Rollback, and a Verify is one Verify.
//
// Implementations must be safe for concurrent use, also by several processes
// when they share state ([RedisStore]), and must return errors that match
// [ErrStore] for any failure (the Provider wraps those that do not). Times
// are taken by the Provider's clock and passed in, so a store needs no clock
// of its own for its logic.
type Store interface {
	// Reserve claims the key for one send. It claims nothing and returns a
	// Reservation with RetryAfter > 0 when another reservation is still
	// within its lease (the wait is then at least args.Interval), when the
	// resend interval has not passed, or when the key's day window holds
	// args.MaxSends sends or args.MaxFailures wrong codes (the wait runs to
	// the window's end). Otherwise it records args.Challenge as the pending
	// reservation until args.Now+args.Lease; with args.Reuse it returns the
	// code of the key's latest challenge if that is still valid.
	Reserve(ctx context.Context, key string, args ReserveArgs) (Reservation, error)

	// Commit turns the reservation args.Challenge into a challenge of that
	// id holding the delivered code, valid for args.TTL; it counts a send in
	// the key's day window (starting a window of args.Window when none is
	// running), starts the resend interval and releases the reservation.
	// Other challenges of the key stay as they are. It returns an error
	// matching [ErrReservationLost] (releasing the reservation, storing
	// nothing) when args.Challenge is not the pending reservation, or when
	// args.Reused and the key's latest challenge no longer holds args.Digest
	// or has expired.
	Commit(ctx context.Context, key string, args CommitArgs) error

	// Rollback releases the reservation challenge after a failed delivery,
	// leaving everything else as it was. It does nothing when challenge is
	// not the pending reservation.
	Rollback(ctx context.Context, key, challenge string) error

	// Verify checks a digest against the challenge args.Challenge of key. On
	// a match it deletes every challenge of the key (a code verifies once)
	// and returns true. On a mismatch it counts a wrong attempt on that
	// challenge and in the key's day window, and deletes the challenge at
	// args.MaxAttempts. For an unknown or expired challenge it returns
	// false, nil and counts nothing. The comparison must not leak through
	// its timing how much of the digest matched.
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
	// MaxSends and MaxFailures are the key's day budget of sends and of
	// wrong codes.
	MaxSends, MaxFailures int
	// Reuse asks for the code of the key's latest challenge when it is still
	// valid.
	Reuse bool
}

// Reservation is the result of [Store.Reserve].
type Reservation struct {
	// RetryAfter > 0 means the send is refused and nothing was reserved: the
	// key may send again after this wait.
	RetryAfter time.Duration
	// Code is the still-valid stored code to deliver again (Reuse only), or
	// "" when the Provider must make a new code.
	Code string
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
	// Window is the length of a day window started by this send (24 h).
	Window time.Duration
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
}
