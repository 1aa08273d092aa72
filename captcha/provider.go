package captcha

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// finishTimeout bounds the commit or rollback that follows a delivery,
// counted from its start. It runs even when the caller's context is done: a
// delivered code must become valid, and a failed send must release its
// reservation.
const finishTimeout = 5 * time.Second

// commitTries is how many times Send tries a commit whose reply was lost
// (a commit is safe to repeat) before it answers [ErrSendUnconfirmed].
const commitTries = 3

// verifiedGrace is how long a verified challenge answers one retry of its
// verify (see [Provider.Verify]).
const verifiedGrace = time.Minute

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
	// Challenge identifies the delivered code: 32 random hex characters
	// (128 bits), to give to the caller who asked for the code and only to
	// them. [Provider.Verify] takes it back with the code, so a guess can
	// only ever count against a challenge the guesser asked for.
	Challenge string
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

// Send makes a code for key, delivers it with deliver (alova's sendCaptcha)
// and returns the challenge that identifies it, in three steps:
//
//  1. Reserve the key in the store, atomically. If the last delivery for key
//     was less than ResendInterval ago, another send for key (in any
//     process) is still delivering, or the key spent its budget of codes
//     (Burst, Refill), Send returns a [*ResendTooSoonError] (matching
//     [ErrResendTooSoon]) with the wait, and deliver is not called. When the
//     reservation's reply is lost, Send releases it before it returns, so
//     a retry is not refused because of it.
//  2. Call deliver(ctx, code, key) with a new code, or with ReuseCode the
//     code of the key's latest challenge while it is valid.
//  3. If deliver succeeded, commit: the code becomes a new challenge, valid
//     for TTL, and the key may send again after ResendInterval. The key's
//     earlier challenges stay valid until their own expiry, so a third party
//     asking for a code for someone's key cannot cancel theirs. If deliver
//     failed (or panicked), roll back: the undelivered code is never stored,
//     the key may send again at once and nothing counts against its budget.
//     The error matches [ErrDelivery] and deliver's error.
//
// Store failures return an error matching [ErrStore]; a code is then never
// reported as sent. A commit whose reply is lost is tried again (up to 3
// times: a repeated commit changes nothing); when none is confirmed, the
// error also matches [ErrSendUnconfirmed] and Send returns the SendResult
// too, as the code went out and may be valid. The commit or rollback runs
// even if ctx is cancelled during the delivery, bounded by 5 s. An empty key
// returns [ErrInvalidKey]. Send panics if deliver is nil.
func (p *Provider) Send(ctx context.Context, key string, deliver DeliverFunc) (SendResult, error) {
	r, err := p.send(ctx, key, deliver)
	if p.opts.OnSend != nil {
		p.opts.OnSend(ctx, err)
	}
	return r, err
}

// send is Send without the OnSend hook.
func (p *Provider) send(ctx context.Context, key string, deliver DeliverFunc) (SendResult, error) {
	if deliver == nil {
		panic("captcha: Send with a nil DeliverFunc")
	}
	if key == "" {
		return SendResult{}, ErrInvalidKey
	}
	o := &p.opts
	token := newToken()
	// From the reservation on, it must be committed or rolled back, even if
	// ctx is done or deliver panics. finishCtx bounds that last step from
	// when it starts, whatever the delivery took.
	finishCtx := func() (context.Context, context.CancelFunc) {
		return context.WithTimeout(context.WithoutCancel(ctx), finishTimeout)
	}
	rollback := func() error {
		fctx, cancel := finishCtx()
		defer cancel()
		return p.store.Rollback(fctx, key, token)
	}
	reused, wait, err := p.store.Reserve(ctx, key, ReserveArgs{
		Now:       time.Now(),
		Challenge: token,
		Lease:     o.DeliveryTimeout + leaseGrace,
		Interval:  o.ResendInterval,
		Burst:     o.Burst,
		Refill:    o.Refill,
		Reuse:     o.ReuseCode,
	})
	if err != nil {
		// The store may have reserved the key and lost only its reply:
		// release it (a no-op if it did not), or the lease would refuse the
		// caller's retry.
		if rerr := rollback(); rerr != nil {
			err = errors.Join(err, rerr)
		}
		return SendResult{}, storeError("reserve", err)
	}
	if wait > 0 {
		return SendResult{}, &ResendTooSoonError{RetryAfter: wait}
	}

	finished := false
	defer func() {
		if !finished { // deliver or the generator panicked
			_ = rollback()
		}
	}()

	code := reused
	if code == "" {
		code = p.gen()
		if code == "" {
			finished = true
			if rerr := rollback(); rerr != nil {
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
		if rerr := rollback(); rerr != nil {
			err = errors.Join(err, storeError("rollback", rerr))
		}
		return SendResult{}, err
	}

	keep := ""
	if o.ReuseCode {
		keep = code
	}
	fctx, cancel := finishCtx()
	defer cancel()
	args := CommitArgs{
		Now:       time.Now(),
		Challenge: token,
		Digest:    digest(key, code, o.CaseInsensitive),
		Code:      keep,
		Reused:    reused != "",
		TTL:       o.TTL,
		Interval:  o.ResendInterval,
		Refill:    o.Refill,
	}
	result := SendResult{Challenge: token, ExpiresIn: o.TTL, ResendIn: o.ResendInterval}
	for try := 1; ; try++ {
		err = p.store.Commit(fctx, key, args)
		switch {
		case err == nil:
			return result, nil
		case errors.Is(err, errReservationLost):
			return SendResult{}, storeError("commit", err) // definite: nothing stored
		case try == commitTries || fctx.Err() != nil:
			// The commit may have been applied: say so, and hand over the
			// challenge the delivered code may verify under.
			return result, fmt.Errorf("%w: %w", ErrSendUnconfirmed, storeError("commit", err))
		}
	}
}

// Verify checks code for the challenge of key that [Provider.Send] returned
// (alova's verifyCaptcha, plus the challenge). It returns nil when code is the
// challenge's valid code, and then ends every other challenge of the key.
// A code verifies once, with one exception that makes Verify safe to retry:
// for a minute after it succeeded (never past the code's expiry), the same
// challenge and code succeed exactly once more, so a caller whose reply was
// lost (a timeout, [ErrStore]) and who tries again is let in rather than
// told the code is used. Whoever holds both the challenge and the code can
// thus be let in twice within that minute; a login it starts twice is the
// same user's. A verified code gives back to the key's budget the attempts
// it did not use. Every other code returns [ErrInvalidCode] and counts as a
// wrong attempt on that challenge; the MaxAttempts-th wrong attempt burns
// the challenge.
// An unknown, malformed or expired challenge, a used or burned code and a
// wrong code all return the same ErrInvalidCode; a challenge that is not one
// of key's counts nothing, so nobody can burn a code they did not ask for.
//
// The store compares SHA-256 digests of key and code, never the codes, so
// the time a check takes does not depend on how close a guess was. With
// CaseInsensitive the code's letters are compared without case. A store
// failure returns an error matching [ErrStore] — never nil.
func (p *Provider) Verify(ctx context.Context, key, challenge, code string) error {
	err := p.verify(ctx, key, challenge, code)
	if p.opts.OnVerify != nil {
		p.opts.OnVerify(ctx, err)
	}
	return err
}

// verify is Verify without the OnVerify hook.
func (p *Provider) verify(ctx context.Context, key, challenge, code string) error {
	if key == "" || code == "" || !validChallenge(challenge) {
		return ErrInvalidCode
	}
	ok, err := p.store.Verify(ctx, key, VerifyArgs{
		Now:         time.Now(),
		Challenge:   challenge,
		Digest:      digest(key, code, p.opts.CaseInsensitive),
		MaxAttempts: p.opts.MaxAttempts,
		Refill:      p.opts.Refill,
		Grace:       verifiedGrace,
	})
	if err != nil {
		return storeError("verify", err)
	}
	if !ok {
		return ErrInvalidCode
	}
	return nil
}
