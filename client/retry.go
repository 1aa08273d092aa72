package client

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/alovago/alova/lock"
	"github.com/alovago/alova/ratelimit"
	"github.com/sethvargo/go-retry"
)

// Retry defaults, used where a [RetryOptions] field is left zero.
const (
	// DefaultRetries is how many times a failed send is retried.
	DefaultRetries = 3
	// DefaultRetryDelay is the wait before the first retry.
	DefaultRetryDelay = time.Second
	// DefaultMaxRetryAfter is the longest Retry-After that Retry waits for
	// when MaxDelay is not set.
	DefaultMaxRetryAfter = time.Minute
)

// RetryOptions configures [Retry]. The zero value is alova's default: up to
// 3 retries, 1 s apart, no jitter.
type RetryOptions struct {
	// Retries is how many times a failed send is retried after the first
	// try, for the errors [Retryable] accepts. Default 3 (so up to 4 sends).
	Retries int
	// NoRetry turns retrying off: every Send sends once. It wins over
	// Retries and ShouldRetry. Default false.
	NoRetry bool
	// ShouldRetry, when set, replaces both Retries and [Retryable]: it is
	// called with the error of the attempt that just failed and that
	// attempt's number (1 for the first try), and a retry follows when it
	// returns true. It decides the budget too: return attempt <= 5 && … to
	// cap it. Whatever it says, a send whose ctx has ended is not retried.
	ShouldRetry func(err error, attempt int) bool

	// Delay is the wait before the first retry; retry n waits
	// Delay × Multiplier^(n−1) (alova's formula). Default 1 s.
	Delay time.Duration
	// Multiplier grows the delay after each retry. Default 1: a constant
	// delay; 2 doubles it each time. Values between 0 and 1 shrink it.
	Multiplier float64
	// StartQuiver and EndQuiver add alova's jitter: when either is set, each
	// wait grows by a random d × (s + rand × (e − s)), where d is the
	// computed delay, s is StartQuiver (default 0) and e is EndQuiver
	// (default 1). Both zero (the default): no jitter. Retry panics when
	// s > e once the defaults are filled in.
	StartQuiver, EndQuiver float64
	// MaxDelay caps each wait (after jitter). It also bounds Retry-After: a
	// server asking for a longer wait than MaxDelay (or DefaultMaxRetryAfter,
	// 1 minute, when MaxDelay is zero) is not retried, as a shorter wait
	// would only be refused again; its error is returned at once. Default 0:
	// no cap on the computed delay.
	MaxDelay time.Duration
	// NewBackoff, when set, makes a fresh go-retry backoff for every Send
	// and uses its waits instead of Delay, Multiplier and the quivers (which
	// must then be zero; alova too replaces its whole backoff). A backoff
	// that says stop ends the retries. MaxDelay and Retry-After still apply.
	// It is a factory because go-retry's backoffs count their attempts: one
	// shared by all sends would spend its budget across them.
	NewBackoff func() retry.Backoff

	// OnRetry, when set, is called before each wait with the attempt that
	// just failed (Attempt 1 is the first try), its error and the wait that
	// follows. It runs on the sending goroutine: keep it short.
	OnRetry func(RetryEvent)
	// OnFail, when set, is called once when Send is about to return an
	// error: the retries are spent, the error is not retryable, or ctx ended.
	// Attempt is the number of sends made, Err the error returned, Delay 0.
	OnFail func(RetryEvent)
}

// RetryEvent is what [RetryOptions].OnRetry and OnFail are told.
type RetryEvent struct {
	// Attempt is the number of the attempt that failed; 1 is the first try.
	Attempt int
	// Delay is the wait before the next attempt (0 in OnFail).
	Delay time.Duration
	// Err is the attempt's error (in OnFail, the error Send returns).
	Err error
}

// Retry returns a Sender that sends next and, when that fails with a
// retryable error, sends it again after a wait (alova's retry, on
// sethvargo/go-retry). Wrapping is the caller's explicit choice, so any
// method is retried, POST included: make sure the downstream call is
// idempotent or deduplicated. A method whose body is an io.Reader can be sent
// only once and is not worth retrying.
//
// Every Send has a budget of its own (alova's retry keeps one budget per
// wrapper, spent forever after the first failures). What is retried is
// decided by RetryOptions.ShouldRetry or, by default, by [Retryable] with up
// to RetryOptions.Retries retries. An answer with status 429 or 503 and a
// Retry-After header (seconds or an HTTP date), or a [ratelimit.LimitedError]
// from a [RateLimit] hook inside, is retried no sooner than it asks, and not
// at all when it asks for more than MaxDelay (1 minute when unset).
//
// Send returns the first success, or the last error unchanged (errors.As to
// [*HTTPError] works), or, when ctx ends during a wait, ctx's error at once
// (the timer is stopped). A send that fails because ctx ended is never
// retried.
//
// Retry panics if next is nil or an option is negative or inconsistent. The
// returned Sender is safe for concurrent use.
func Retry(next Sender, opts RetryOptions) Sender {
	if next == nil {
		panic("client: Retry of a nil Sender")
	}
	o := opts
	if o.Retries < 0 || o.Delay < 0 || o.Multiplier < 0 || o.MaxDelay < 0 || o.StartQuiver < 0 || o.EndQuiver < 0 {
		panic(fmt.Sprintf("client: Retry with a negative option in %+v", opts))
	}
	if o.NewBackoff != nil && (o.Delay != 0 || o.Multiplier != 0 || o.StartQuiver != 0 || o.EndQuiver != 0) {
		panic("client: Retry with NewBackoff and Delay, Multiplier or a quiver: NewBackoff replaces them")
	}
	if o.Retries == 0 {
		o.Retries = DefaultRetries
	}
	if o.Delay == 0 {
		o.Delay = DefaultRetryDelay
	}
	if o.Multiplier == 0 {
		o.Multiplier = 1
	}
	r := &retrier{next: next, o: o, maxWait: o.MaxDelay}
	if r.maxWait == 0 {
		r.maxWait = DefaultMaxRetryAfter
	}
	if o.StartQuiver != 0 || o.EndQuiver != 0 {
		r.jitter = true
		if o.EndQuiver == 0 {
			r.o.EndQuiver = 1
		}
		if r.o.StartQuiver > r.o.EndQuiver {
			panic(fmt.Sprintf("client: Retry with StartQuiver %v > EndQuiver %v", r.o.StartQuiver, r.o.EndQuiver))
		}
	}
	return r
}

type retrier struct {
	next    Sender
	o       RetryOptions // defaults filled in
	jitter  bool
	maxWait time.Duration // the longest Retry-After waited for
}

// Send implements [Sender].
func (r *retrier) Send(ctx context.Context) (*Response, error) {
	var (
		attempt int
		last    error
		custom  retry.Backoff
	)
	if r.o.NewBackoff != nil {
		custom = r.o.NewBackoff()
	}
	// Every error goes back to go-retry as retryable; the backoff, which
	// sees the error, decides whether to stop. go-retry then returns the
	// error unwrapped, as it came.
	next := retry.BackoffFunc(func() (time.Duration, bool) {
		if r.o.NoRetry || ctx.Err() != nil || !r.shouldRetry(last, attempt) {
			return 0, true
		}
		d, ok := r.wait(custom, attempt, last)
		if !ok {
			return 0, true
		}
		if r.o.OnRetry != nil {
			r.o.OnRetry(RetryEvent{Attempt: attempt, Delay: d, Err: last})
		}
		return d, false
	})
	resp, err := retry.DoValue(ctx, next, func(ctx context.Context) (*Response, error) {
		attempt++
		resp, err := r.next.Send(ctx)
		if err != nil {
			last = err
			return nil, retry.RetryableError(err)
		}
		return resp, nil
	})
	if err != nil && r.o.OnFail != nil {
		r.o.OnFail(RetryEvent{Attempt: attempt, Err: err})
	}
	return resp, err
}

func (r *retrier) shouldRetry(err error, attempt int) bool {
	if r.o.ShouldRetry != nil {
		return r.o.ShouldRetry(err, attempt)
	}
	return attempt <= r.o.Retries && Retryable(err)
}

// wait returns the wait after the failed attempt n, or false to give up (the
// custom backoff said stop, or the server asks for more than maxWait).
func (r *retrier) wait(custom retry.Backoff, n int, err error) (time.Duration, bool) {
	var d time.Duration
	if custom != nil {
		var stop bool
		if d, stop = custom.Next(); stop {
			return 0, false
		}
	} else {
		f := float64(r.o.Delay) * math.Pow(r.o.Multiplier, float64(n-1))
		if r.jitter {
			s, e := r.o.StartQuiver, r.o.EndQuiver
			f += f * (s + rand.Float64()*(e-s))
		}
		d = math.MaxInt64
		if f < math.MaxInt64 {
			d = time.Duration(f)
		}
	}
	if r.o.MaxDelay > 0 {
		d = min(d, r.o.MaxDelay)
	}
	if ra, ok := retryAfter(err); ok {
		if ra > r.maxWait {
			return 0, false
		}
		d = max(d, ra)
	}
	return d, true
}

// Retryable reports whether [Retry] retries err by default: yes for a
// [*HTTPError] with status 5xx or 429, a [*ratelimit.LimitedError], a
// [lock.ErrTimeout], and any other error — transport errors, timeouts of the
// attempt, errors of custom senders and hooks; no for other 4xx answers,
// [ErrRefused], [ErrBodyTooLarge], [ErrEncodeBody], context.Canceled, and nil. (Whether the
// caller's own ctx has ended is checked apart: such a send is never retried.)
// Use it to build a RetryOptions.ShouldRetry that narrows or widens it.
func Retryable(err error) bool {
	if err == nil {
		return false
	}
	var he *HTTPError
	if errors.As(err, &he) {
		return he.StatusCode >= 500 || he.StatusCode == http.StatusTooManyRequests
	}
	if errors.Is(err, ratelimit.ErrLimited) || errors.Is(err, lock.ErrTimeout) {
		return true
	}
	return !errors.Is(err, ErrRefused) && !errors.Is(err, ErrBodyTooLarge) && !errors.Is(err, ErrEncodeBody) && !errors.Is(err, context.Canceled)
}

// retryAfter returns the wait err asks for: a [ratelimit.LimitedError]'s
// RetryAfter, or the Retry-After header of a 429 or 503 answer (delay in
// seconds, or an HTTP date). ok is false when err asks for nothing.
func retryAfter(err error) (time.Duration, bool) {
	var le *ratelimit.LimitedError
	if errors.As(err, &le) {
		return le.RetryAfter, true
	}
	var he *HTTPError
	if !errors.As(err, &he) || (he.StatusCode != http.StatusTooManyRequests && he.StatusCode != http.StatusServiceUnavailable) {
		return 0, false
	}
	return parseRetryAfter(he.Header.Get("Retry-After"), time.Now())
}

// parseRetryAfter reads a Retry-After value (RFC 9110 §10.2.3): a number of
// seconds or an HTTP date, which is turned into the time left from now (0 for
// a date past). ok is false for an absent or unreadable value.
func parseRetryAfter(v string, now time.Time) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if secs, err := strconv.ParseUint(v, 10, 63); err == nil {
		if secs > uint64(math.MaxInt64/int64(time.Second)) {
			return math.MaxInt64, true
		}
		return time.Duration(secs) * time.Second, true
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(t.Sub(now), 0), true
	}
	return 0, false
}
