package captcha

import (
	"fmt"
	"time"
	"unicode"
)

// Defaults for the zero [Options].
const (
	// DefaultLength is the number of characters in a generated code.
	DefaultLength = 4
	// DefaultCharset holds the characters a generated code is drawn from.
	DefaultCharset = "0123456789"
	// DefaultTTL is how long a delivered code stays valid.
	DefaultTTL = 5 * time.Minute
	// DefaultResendInterval is how long a key waits between two sends.
	DefaultResendInterval = 60 * time.Second
	// DefaultMaxAttempts is how many wrong codes burn the current code.
	DefaultMaxAttempts = 5
	// DefaultDeliveryTimeout bounds one call of the deliver function.
	DefaultDeliveryTimeout = 30 * time.Second
)

// Options configures a [Provider]. The zero value works: 4-digit codes valid
// for 5 minutes, one send per key per minute, burned after 5 wrong attempts.
// Negative durations or counts make [NewProvider] panic.
type Options struct {
	// Length is the number of characters of a generated code. Default 4.
	// Ignored when Generator is set.
	Length int

	// Charset holds the characters a code is drawn from, each with the same
	// probability (crypto/rand, no modulo bias). It needs at least two
	// distinct characters; any Unicode is allowed. Default "0123456789".
	// Ignored when Generator is set.
	Charset string

	// Generator, when set, makes the codes instead of Length and Charset
	// (alova's codeSet function). It must be safe for concurrent use, draw
	// from a cryptographically secure source, and never return "". Default
	// nil.
	Generator func() string

	// TTL is how long a delivered code stays valid, counted from the end of
	// its delivery (alova's expireTime). Default 5 minutes.
	TTL time.Duration

	// ResendInterval is the least time between two sends for one key, counted
	// from the end of the last successful delivery (alova's resetTime).
	// Default 60 seconds. A failed delivery does not start it.
	ResendInterval time.Duration

	// MaxAttempts is how many wrong codes a key may submit against one code:
	// the MaxAttempts-th wrong attempt burns the code, after which even the
	// right code is refused until a new one is sent. Default 5. Resending the
	// same code (ReuseCode) keeps its count; a new code starts from zero.
	MaxAttempts int

	// ReuseCode, when true, makes a resend deliver the code already stored
	// for the key while it is still valid (alova's resendFormStore), so an
	// SMS that arrives late still works; its expiry is extended by TTL and its
	// wrong-attempt count is kept. When false (the default), every send
	// makes a new code and the previous one stops working once the new one is
	// delivered. With ReuseCode the code itself is kept in the store (it has
	// to be sent again); otherwise the store holds only a digest of it.
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

	// Now is the clock. Default time.Now. Tests set it to move time; every
	// process sharing a store should see about the same time (the store
	// compares timestamps taken by different processes).
	Now func() time.Time
}

// leaseGrace is added to DeliveryTimeout for the reservation's lease, so the
// commit that follows a delivery still finds its reservation.
const leaseGrace = 5 * time.Second

// withDefaults validates o and fills in the defaults. It panics on
// programmer errors.
func (o Options) withDefaults() Options {
	if o.Length < 0 || o.TTL < 0 || o.ResendInterval < 0 || o.MaxAttempts < 0 || o.DeliveryTimeout < 0 {
		panic("captcha: negative value in Options")
	}
	if o.Length == 0 {
		o.Length = DefaultLength
	}
	if o.Charset == "" {
		o.Charset = DefaultCharset
	}
	if o.TTL == 0 {
		o.TTL = DefaultTTL
	}
	if o.ResendInterval == 0 {
		o.ResendInterval = DefaultResendInterval
	}
	if o.MaxAttempts == 0 {
		o.MaxAttempts = DefaultMaxAttempts
	}
	if o.DeliveryTimeout == 0 {
		o.DeliveryTimeout = DefaultDeliveryTimeout
	}
	if o.Now == nil {
		o.Now = time.Now
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
