package captcha

import (
	"errors"
	"fmt"
	"time"
)

// Errors returned by [Provider.Send] and [Provider.Verify]. Match them with
// [errors.Is]; they survive any number of %w wraps. Each maps to one HTTP
// answer, so a handler can switch on them in this order:
//
//	ErrInvalidKey    → 422 (the key is empty; validate keys before calling)
//	ErrResendTooSoon   → 429 with Retry-After from [*ResendTooSoonError]
//	ErrDelivery        → 502 (deliver failed; the send was rolled back)
//	ErrSendUnconfirmed → 503 (the code went out; the store did not confirm it)
//	ErrStore           → 503 (the store failed; no code went out or was accepted)
//	ErrInvalidCode   → 4xx, one body for every verify failure
//
// An error from Send may match both ErrDelivery and ErrStore (delivery failed
// and then the rollback failed too); test ErrDelivery first.
var (
	// ErrInvalidKey is returned by Send for an empty key.
	ErrInvalidKey = errors.New("captcha: invalid key")

	// ErrResendTooSoon is matched by the error Send returns when the key may
	// not get a code yet: it had one less than ResendInterval ago, another
	// send for it is still delivering, or it spent its budget of codes
	// (Options.Burst and Options.Refill). The error is a [*ResendTooSoonError] carrying the
	// wait.
	ErrResendTooSoon = errors.New("captcha: resend too soon")

	// ErrDelivery is matched by the error Send returns when the deliver
	// function failed. The error also matches the deliver function's own error
	// (errors.Is / errors.As reach it). The store was rolled back: the key may
	// send again at once and the undelivered code can never be verified.
	ErrDelivery = errors.New("captcha: delivery failed")

	// ErrStore is matched by every error that comes from the [Store]: Redis
	// down or timing out, replicas that did not acknowledge in time
	// ([RedisOptions].WaitReplicas), a cancelled context, or a reservation
	// lost while delivering. A store error is never a success. From Send
	// without [ErrSendUnconfirmed], no code that can be verified went out and
	// the key's budget is as it was (a reservation whose reply was lost is
	// released). From
	// Verify, the code may or may not have been accepted: retry the same
	// challenge and code, which succeeds if the lost call did (once).
	ErrStore = errors.New("captcha: store unavailable")

	// ErrSendUnconfirmed is matched, together with [ErrStore], by the error
	// Send returns when the code was delivered but the store did not confirm
	// that it recorded it (the commit's reply was lost, also on its retries).
	// The code may be valid: Send then also returns the [SendResult] of the
	// code, so its challenge can still be verified, and the key's resend
	// interval may have started. A handler should say "a code may be on its
	// way" rather than "nothing happened", and not offer an immediate
	// resend.
	ErrSendUnconfirmed = errors.New("captcha: send unconfirmed")

	// ErrInvalidCode is the one error Verify returns for every rejected code:
	// unknown key or challenge, expired code, burned challenge (too many
	// wrong attempts), code already used, or a wrong code. The cases are
	// deliberately indistinguishable, so a caller cannot probe which keys
	// hold a code.
	ErrInvalidCode = errors.New("captcha: invalid code")
)

// errReservationLost is returned by the stores' Commit when the send's
// reservation is no longer the pending one (its lease ran out and another
// send took over, or the record was evicted), or when a reused code was
// used, burned or expired while it was being delivered again. The
// reservation is released. It matches [ErrStore]: the caller should simply
// send again.
var errReservationLost = fmt.Errorf("%w: reservation lost", ErrStore)

// ResendTooSoonError is the error Send returns when a key asks for a code
// again too early. It matches [ErrResendTooSoon] through [errors.Is]; read the
// wait with [errors.As]:
//
//	var tooSoon *captcha.ResendTooSoonError
//	if errors.As(err, &tooSoon) {
//		w.Header().Set("Retry-After", strconv.Itoa(tooSoon.RetryAfterSeconds()))
//	}
type ResendTooSoonError struct {
	// RetryAfter is how long the key must wait before Send can succeed. While
	// another send for the key is still delivering, it is the resend interval
	// that send will start (the likely wait), not a promise.
	RetryAfter time.Duration
}

// Error reports the wait, e.g. "captcha: resend too soon: retry in 42s".
func (e *ResendTooSoonError) Error() string {
	return fmt.Sprintf("%s: retry in %ds", ErrResendTooSoon.Error(), e.RetryAfterSeconds())
}

// Unwrap returns [ErrResendTooSoon].
func (e *ResendTooSoonError) Unwrap() error { return ErrResendTooSoon }

// RetryAfterSeconds returns RetryAfter in whole seconds, rounded up and at
// least 1: the value for an HTTP Retry-After header.
func (e *ResendTooSoonError) RetryAfterSeconds() int {
	s := int((e.RetryAfter + time.Second - 1) / time.Second)
	return max(s, 1)
}

// storeError makes sure an error from a Store matches ErrStore: errors that
// already do (the stores of this package wrap their own) pass unchanged.
func storeError(op string, err error) error {
	if errors.Is(err, ErrStore) {
		return err
	}
	return fmt.Errorf("%w: %s: %w", ErrStore, op, err)
}
