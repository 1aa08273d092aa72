package captcha

import (
	"context"
	"time"
)

// Store keeps one record per key: the digest of the valid code (and the code
// itself only with ReuseCode), its expiry and wrong-attempt count, when the
// key may send again, and the reservation of a send in progress. Each method
// is one atomic step; a Send is Reserve, then deliver, then Commit or
// Rollback, and a Verify is one Verify.
//
// Implementations must be safe for concurrent use, also by several processes
// when they share state ([RedisStore]), and must return errors that match
// [ErrStore] for any failure (the Provider wraps those that do not). Times
// are taken by the Provider's clock and passed in, so a store needs no clock
// of its own for its logic.
type Store interface {
	// Reserve claims the key for one send. If a send is too recent (its
	// resend interval has not passed) or another reservation is still within
	// its lease, it claims nothing and returns a Reservation with RetryAfter
	// > 0. Otherwise it records args.Token as the pending reservation until
	// args.Now+args.Lease; with args.Reuse it returns the stored code if it
	// is still valid. A valid code stays valid while the reservation is held.
	Reserve(ctx context.Context, key string, args ReserveArgs) (Reservation, error)

	// Commit makes the delivered code the key's valid code, starts the resend
	// interval and releases the reservation. It returns an error matching
	// [ErrReservationLost] (releasing the reservation, storing nothing) when
	// args.Token is not the pending reservation, or when args.Reused and the
	// stored code is no longer args.Digest or has expired.
	Commit(ctx context.Context, key string, args CommitArgs) error

	// Rollback releases the reservation args.Token after a failed delivery,
	// leaving the valid code (if any) and the resend interval as they were.
	// It does nothing when token is not the pending reservation.
	Rollback(ctx context.Context, key, token string) error

	// Verify checks a digest against the key's valid code. On a match it
	// deletes the code (single use) and returns true. On a mismatch it counts
	// a wrong attempt and deletes the code at args.MaxAttempts. It returns
	// false, nil for an unknown key or an expired code. The comparison must
	// not leak through its timing how much of the digest matched.
	Verify(ctx context.Context, key string, args VerifyArgs) (bool, error)
}

// ReserveArgs are the arguments of [Store.Reserve].
type ReserveArgs struct {
	// Now is the Provider's clock.
	Now time.Time
	// Token identifies this send's reservation; random and unique.
	Token string
	// Lease is how long the reservation blocks other sends unless committed
	// or rolled back first.
	Lease time.Duration
	// Interval is the resend interval, reported as the wait to a send that
	// finds another one in progress.
	Interval time.Duration
	// Reuse asks for the stored code when it is still valid.
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
	// Token is the reservation being committed.
	Token string
	// Digest is the digest of the delivered code.
	Digest string
	// Code is the delivered code, kept for a later reuse; "" keeps none.
	Code string
	// Reused says the delivered code is the stored one: its expiry is
	// extended and its wrong-attempt count kept.
	Reused bool
	// TTL is how long the code stays valid from Now.
	TTL time.Duration
	// Interval is the resend interval from Now.
	Interval time.Duration
}

// VerifyArgs are the arguments of [Store.Verify].
type VerifyArgs struct {
	// Now is the Provider's clock.
	Now time.Time
	// Digest is the digest of the submitted code.
	Digest string
	// MaxAttempts is the wrong-attempt count that burns the code.
	MaxAttempts int
}
