package captcha

import (
	"context"
	"fmt"
	"time"
	"unicode"
)

// Defaults for the zero [Options] that callers and tests size things by.
// The other defaults are stated on each field of [Options].
const (
	// DefaultLength is the number of characters in a generated code: 6
	// digits, where alova's default is 4 (see "Guessing" in the package doc).
	DefaultLength = 6
	// DefaultMaxAttempts is how many wrong codes burn one challenge.
	DefaultMaxAttempts = 5
)

// The defaults of the other fields of [Options].
const (
	defaultCharset         = "0123456789"
	defaultTTL             = 5 * time.Minute
	defaultResendInterval  = 60 * time.Second
	defaultBurst           = 5
	defaultRefill          = 15 * time.Minute
	defaultDeliveryTimeout = 30 * time.Second
)

// maxTTL caps Options.TTL.
const maxTTL = 24 * time.Hour

// Options configures a [Provider]. The zero value works: 6-digit codes valid
// for 5 minutes, one send per key per minute, 5 codes in a row and then one
// per 15 minutes (less the attempts a verified code left unused), each
// challenge burned after 5 wrong codes. Negative values, or a TTL over 24
// hours, make [NewProvider] panic.
type Options struct {
	// Length is the number of characters of a generated code. Default 6.
	// Ignored when Generator is set.
	Length int

	// Charset holds the characters a code is drawn from, each with the same
	// probability (crypto/rand, no modulo bias). It needs at least two
	// distinct characters; any Unicode is allowed. Default "0123456789".
	// Ignored when Generator is set.
	Charset string

	// Generator, when set, makes the codes instead of Length and Charset
	// (alova's codeSet function). It must be safe for concurrent use, draw
	// from a cryptographically secure source, and never return "". The
	// guessing bound in the package doc then depends on how many codes it
	// can make. Default nil.
	Generator func() string

	// TTL is how long a delivered code stays valid, counted from the end of
	// its delivery (alova's expireTime). Default 5 minutes; at most 24 hours.
	TTL time.Duration

	// ResendInterval is the least time between two sends for one key, counted
	// from the end of the last successful delivery (alova's resetTime).
	// Default 60 seconds. A failed delivery does not start it.
	ResendInterval time.Duration

	// MaxAttempts is how many wrong codes a challenge takes: the
	// MaxAttempts-th wrong code burns it, after which even the right code is
	// refused for that challenge. Default 5. Other challenges of the key are
	// not affected, so a caller guessing on a challenge of its own never
	// burns the code someone else asked for.
	MaxAttempts int

	// Burst and Refill are the key's budget of codes, which bounds guessing
	// (see "Guessing" in the package doc) without a day-long lockout. A key
	// may get Burst codes in a row (each ResendInterval apart); after that
	// it earns one code back per Refill. A code verified with attempts to
	// spare gives them back (a code verified at the first try costs
	// nothing), so a user who types their code never waits for Refill. When
	// the budget is spent, Send refuses with a [*ResendTooSoonError] whose
	// wait is at most Refill: that is the longest anyone, with any number
	// of addresses, can keep a key from getting a new code at a time.
	// Defaults 5 and 15 minutes.
	Burst  int
	Refill time.Duration

	// ReuseCode, when true, makes a resend deliver the code of the key's
	// latest challenge while it is still valid (alova's resendFormStore),
	// under a new challenge, so an SMS that arrives late still works. When
	// false (the default), every send makes a new code. With ReuseCode the
	// code itself is kept in the store (it has to be sent again); otherwise
	// the store holds only a digest of it.
	ReuseCode bool

	// CaseInsensitive, when true, accepts a code whatever the case of its
	// letters ("ab12" for "AB12"). Default false. It panics in NewProvider
	// when Charset holds both cases of a letter, as that would silently
	// shrink the code space.
	CaseInsensitive bool

	// DeliveryTimeout bounds each call of the deliver function (its ctx gets
	// this deadline, on top of the caller's). While a delivery runs, the key
	// is reserved so no other process can send for it; the reservation lasts
	// DeliveryTimeout plus 5 s, so a process that dies while delivering
	// blocks the key at most that long. Default 30 seconds.
	DeliveryTimeout time.Duration

	// OnSend and OnVerify, when set, are told the outcome of every
	// [Provider.Send] and [Provider.Verify] as it returns: err is nil or
	// the error the caller gets, to be classified with errors.Is
	// (ErrInvalidKey, ErrResendTooSoon, ErrDelivery, ErrStore,
	// ErrInvalidCode). They run on the calling goroutine with the call's
	// context: keep them short. Neither the key nor the code is passed.
	// They are how alovaotel counts sends, verifies and failures by
	// reason. Default nil.
	OnSend, OnVerify func(ctx context.Context, err error)
}

// leaseGrace is added to DeliveryTimeout for the reservation's lease, so the
// commit that follows a delivery still finds its reservation.
const leaseGrace = 5 * time.Second

// withDefaults validates o and fills in the defaults. It panics on
// programmer errors.
func (o Options) withDefaults() Options {
	if o.Length < 0 || o.TTL < 0 || o.ResendInterval < 0 || o.MaxAttempts < 0 || o.DeliveryTimeout < 0 ||
		o.Burst < 0 || o.Refill < 0 {
		panic("captcha: negative value in Options")
	}
	if o.TTL > maxTTL {
		panic("captcha: Options.TTL over 24 hours")
	}
	defaults := []struct {
		v *int
		d int
	}{{&o.Length, DefaultLength}, {&o.MaxAttempts, DefaultMaxAttempts}, {&o.Burst, defaultBurst}}
	for _, f := range defaults {
		if *f.v == 0 {
			*f.v = f.d
		}
	}
	if o.Charset == "" {
		o.Charset = defaultCharset
	}
	if o.TTL == 0 {
		o.TTL = defaultTTL
	}
	if o.ResendInterval == 0 {
		o.ResendInterval = defaultResendInterval
	}
	if o.DeliveryTimeout == 0 {
		o.DeliveryTimeout = defaultDeliveryTimeout
	}
	if o.Refill == 0 {
		o.Refill = defaultRefill
	}
	if o.Generator == nil {
		checkCharset(o.Charset, o.CaseInsensitive)
	}
	return o
}

// checkCharset panics unless cs has at least two characters, all distinct
// (after case folding when caseInsensitive).
func checkCharset(cs string, caseInsensitive bool) {
	seen := make(map[rune]bool)
	for _, r := range cs {
		if r == unicode.ReplacementChar {
			panic("captcha: Charset is not valid UTF-8")
		}
		if caseInsensitive {
			r = unicode.ToLower(r)
		}
		if seen[r] {
			if caseInsensitive {
				panic(fmt.Sprintf("captcha: Charset holds %q twice once case is ignored (CaseInsensitive)", r))
			}
			panic(fmt.Sprintf("captcha: Charset holds %q twice", r))
		}
		seen[r] = true
	}
	if len(seen) < 2 {
		panic("captcha: Charset needs at least two distinct characters")
	}
}
