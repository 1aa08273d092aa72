package captcha

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// finishTimeout bounds the commit or rollback that follows a delivery. It
// runs even when the caller's context is done: a delivered code must become
// valid, and a failed send must release its reservation.
const finishTimeout = 5 * time.Second

// DeliverFunc sends code to the user identified by key (an SMS to a phone
// number, a mail to an address). Note the order: code first, then key, as in
// alova's sendCaptcha handler. It is typically a downstream call wrapped in
// retries:
//
//	func(ctx context.Context, code, key string) error {
//		_, err := client.Retry(api.Post("/sms/send", body(key, code)), client.RetryOptions{}).Send(ctx)
//		return err
//	}
//
// ctx carries the caller's context with [Options.DeliveryTimeout] on top. A
// nil error means delivered: the code becomes valid. Any error means not
// delivered: the code is discarded and the key may send again at once.
type DeliverFunc func(ctx context.Context, code, key string) error

// SendResult describes a successful [Provider.Send].
type SendResult struct {
	// ExpiresIn is how long the delivered code stays valid.
	ExpiresIn time.Duration
	// ResendIn is how long the key must wait before the next send.
	ResendIn time.Duration
}

// Provider sends and verifies one-time codes: alova's createCaptchaProvider
// with atomic resend limits, rollback of failed deliveries, attempt limits
// and constant-time checks. It is safe for concurrent use; create one per
// purpose at start-up and share it.
type Provider struct {
	store Store
	opts  Options
	gen   func() string
}

// NewProvider returns a Provider keeping its records in store (for example
// [NewRedisStore] or [NewMemoryStore]). It copies opts and fills in the
// defaults documented on [Options]. It panics if store is nil or opts is
// invalid (negative values, a Charset with fewer than two distinct
// characters or with repeats).
func NewProvider(store Store, opts Options) *Provider {
	if store == nil {
		panic("captcha: NewProvider with a nil Store")
	}
	o := opts.withDefaults()
	p := &Provider{store: store, opts: o, gen: o.Generator}
	if p.gen == nil {
		p.gen = charsetGenerator(o.Charset, o.Length)
	}
	return p
}

// Send makes a code for key and delivers it with deliver (alova's
// sendCaptcha), in three steps:
//
//  1. Reserve the key in the store, atomically. If the last delivery for key
//     was less than ResendInterval ago, or another send for key (in any
//     process) is still delivering, Send returns a [*ResendTooSoonError]
//     (matching [ErrResendTooSoon]) and deliver is not called.
//  2. Call deliver(ctx, code, key) with a new code, or with ReuseCode the
//     stored one while it is valid. The key's previous code, if any, stays
//     valid meanwhile.
//  3. If deliver succeeded, commit: the code is valid for TTL and the key may
//     send again after ResendInterval; the previous code (if different) stops
//     working. If deliver failed (or panicked), roll back: the undelivered
//     code is never stored, the key may send again at once, and a previous
//     code that was delivered earlier stays valid until its own expiry. The
//     error matches [ErrDelivery] and deliver's error.
//
// Store failures return an error matching [ErrStore]; a code is then never
// reported as sent. The commit or rollback runs even if ctx is cancelled
// during the delivery, bounded by 5 s. An empty key returns [ErrInvalidKey].
// Send panics if deliver is nil.
func (p *Provider) Send(ctx context.Context, key string, deliver DeliverFunc) (SendResult, error) {
	if deliver == nil {
		panic("captcha: Send with a nil DeliverFunc")
	}
	if key == "" {
		return SendResult{}, ErrInvalidKey
	}
	o := &p.opts
	token := newToken()
	res, err := p.store.Reserve(ctx, key, ReserveArgs{
		Now:      o.Now(),
		Token:    token,
		Lease:    o.DeliveryTimeout + leaseGrace,
		Interval: o.ResendInterval,
		Reuse:    o.ReuseCode,
	})
	if err != nil {
		return SendResult{}, storeError("reserve", err)
	}
	if res.RetryAfter > 0 {
		return SendResult{}, &ResendTooSoonError{RetryAfter: res.RetryAfter}
	}

	// From here on the reservation must be committed or rolled back, even if
	// ctx is done or deliver panics.
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), finishTimeout)
	defer cancel()
	finished := false
	defer func() {
		if !finished { // deliver or the generator panicked
			_ = p.store.Rollback(fctx, key, token)
		}
	}()

	code, reused := res.Code, res.Code != ""
	if !reused {
		code = p.gen()
		if code == "" {
			finished = true
			if rerr := p.store.Rollback(fctx, key, token); rerr != nil {
				return SendResult{}, storeError("rollback", rerr)
			}
			return SendResult{}, errors.New("captcha: Generator returned an empty code")
		}
	}

	dctx, dcancel := context.WithTimeout(ctx, o.DeliveryTimeout)
	derr := deliver(dctx, code, key)
	dcancel()
	finished = true
	if derr != nil {
		err := fmt.Errorf("%w: %w", ErrDelivery, derr)
		if rerr := p.store.Rollback(fctx, key, token); rerr != nil {
			err = errors.Join(err, storeError("rollback", rerr))
		}
		return SendResult{}, err
	}

	keep := ""
	if o.ReuseCode {
		keep = code
	}
	err = p.store.Commit(fctx, key, CommitArgs{
		Now:      o.Now(),
		Token:    token,
		Digest:   digest(key, code, o.CaseInsensitive),
		Code:     keep,
		Reused:   reused,
		TTL:      o.TTL,
		Interval: o.ResendInterval,
	})
	if err != nil {
		return SendResult{}, storeError("commit", err)
	}
	return SendResult{ExpiresIn: o.TTL, ResendIn: o.ResendInterval}, nil
}

// Verify checks code for key (alova's verifyCaptcha). It returns nil when the
// code is the key's valid code, and deletes it: a code verifies once. Every
// other code returns [ErrInvalidCode], and counts as a wrong attempt; the
// MaxAttempts-th wrong attempt burns the code, so brute force gets at most
// MaxAttempts guesses per delivered code. An unknown key, an expired, used
// or burned code and a wrong code all return the same ErrInvalidCode.
//
// The store compares SHA-256 digests of key and code, never the codes, so
// the time a check takes does not depend on how close a guess was. With
// CaseInsensitive the code's letters are compared without case. A store
// failure returns an error matching [ErrStore] — never nil.
func (p *Provider) Verify(ctx context.Context, key, code string) error {
	if key == "" || code == "" {
		return ErrInvalidCode
	}
	ok, err := p.store.Verify(ctx, key, VerifyArgs{
		Now:         p.opts.Now(),
		Digest:      digest(key, code, p.opts.CaseInsensitive),
		MaxAttempts: p.opts.MaxAttempts,
	})
	if err != nil {
		return storeError("verify", err)
	}
	if !ok {
		return ErrInvalidCode
	}
	return nil
}
