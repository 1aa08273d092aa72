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

	"github.com/alovago/alova/internal/retryctx"
	"github.com/alovago/alova/lock"
	"github.com/alovago/alova/ratelimit"
	"github.com/sethvargo/go-retry"
)

// Retry's defaults, alova's where it has one.
const (
	defaultAttempts = 4 // alova's 3 retries after the first try
	defaultDelay    = time.Second
	// maxRetryAfter is the longest Retry-After that Retry waits for when
	// MaxDelay is not set.
	maxRetryAfter = time.Minute
)

// RetryOptions configures [Retry]. The zero value is alova's default: up to
// 3 retries (4 attempts), 1 s apart, no jitter, for the errors [Retryable]
// accepts.
type RetryOptions struct {
	// Attempts is the most sends one Send makes, the first try included.
	// Default 4: alova's 3 retries. 1 turns retrying off. (A count of
	// attempts rather than retries, so that its zero value can mean the
	// default and "no retries" still needs no second field.)
	Attempts int
	// ShouldRetry reports whether an attempt that failed with err is worth
	// another (alova's retry predicate). Default [Retryable]. Whatever it
	// answers, Attempts still bounds the sends, and a send whose ctx has
	// ended is not retried.
	ShouldRetry func(err error) bool

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
	// server asking for a longer wait than MaxDelay (1 minute when MaxDelay
	// is zero) is not retried, as a shorter wait would only be refused
	// again; its error is returned at once. Default 0: no cap on the
	// computed delay.
	MaxDelay time.Duration

	// OnRetry, when set, is called before each wait with the attempt that
	// just failed (Attempt 1 is the first try), its error and the wait that
	// follows. It runs on the sending goroutine: keep it short.
	OnRetry func(RetryEvent)
	// OnFail, when set, is called once when Send is about to return an
	// error: the attempts are spent, the error is not retried, or ctx ended.
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

// Retry returns a Sender that sends next and, when that fails with an error
// that RetryOptions.ShouldRetry ([Retryable] by default) accepts, sends it
// again after a wait (alova's retry, built from sethvargo/go-retry's
// backoffs). Wrapping is the caller's explicit choice, so any method is
// retried, POST included: make sure the downstream call is idempotent or
// deduplicated. A method whose body is an io.Reader can be sent only once and
// is not worth retrying.
//
// Every Send has a budget of its own (alova's retry keeps one budget per
// wrapper, spent forever after the first failures): up to
// RetryOptions.Attempts sends. An answer with status 429 or 503 and a
// Retry-After header (seconds or an HTTP date), or a
// [*ratelimit.LimitedError] from a [RateLimit] hook inside, is retried no
// sooner than it asks, and not at all when it asks for more than MaxDelay
// (1 minute when unset).
//
// Send returns the first success, or the last error unchanged (errors.As to
// [*HTTPError] works), or, when ctx ends during a wait, ctx's error at once
// (the timer is stopped). A send that fails because ctx ended is never
// retried.
//
// Every attempt sends the same request: a [*Method] next is copied when
// Retry wraps it, so a setter called on it later changes nothing Retry
// sends. Retry panics if next is nil or an option is negative or
// inconsistent. The returned Sender is safe for concurrent use.
func Retry(next Sender, opts RetryOptions) Sender {
	if next == nil {
		panic("client: Retry of a nil Sender")
	}
	o := opts
	if o.Attempts < 0 || o.Delay < 0 || o.Multiplier < 0 || o.MaxDelay < 0 || o.StartQuiver < 0 || o.EndQuiver < 0 {
		panic(fmt.Sprintf("client: Retry with a negative option in %+v", opts))
	}
	if o.Attempts == 0 {
		o.Attempts = defaultAttempts
	}
	if o.ShouldRetry == nil {
		o.ShouldRetry = Retryable
	}
	if o.Delay == 0 {
		o.Delay = defaultDelay
	}
	if o.Multiplier == 0 {
		o.Multiplier = 1
	}
	r := &retrier{next: next, o: o, maxWait: o.MaxDelay}
	if m, ok := next.(*Method); ok && m != nil {
		// The copy lives in the retrier: one allocation for both.
		r.held.f = m.snapshot()
		r.next = &r.held
	}
	if r.maxWait == 0 {
		r.maxWait = maxRetryAfter
	}
	if o.StartQuiver != 0 || o.EndQuiver != 0 {
		r.quiver = true
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
	held    Method       // the copy of a *Method next, which next then points to (see held)
	o       RetryOptions // defaults filled in
	quiver  bool
	maxWait time.Duration // the longest Retry-After waited for
}

// backoff returns a fresh go-retry backoff for one Send: go-retry's
// backoffs count their attempts, so one shared by all sends would spend its
// budget across them.
func (r *retrier) backoff() retry.Backoff {
	var b retry.Backoff
	switch r.o.Multiplier {
	case 1:
		b = retry.NewConstant(r.o.Delay)
	case 2:
		b = retry.NewExponential(r.o.Delay)
	default:
		b = geometric(r.o.Delay, r.o.Multiplier)
	}
	if r.quiver {
		b = withQuiver(r.o.StartQuiver, r.o.EndQuiver, b)
	}
	if r.o.MaxDelay > 0 {
		b = retry.WithCappedDuration(r.o.MaxDelay, b)
	}
	return retry.WithMaxRetries(uint64(r.o.Attempts-1), b)
}

// Send implements [Sender].
func (r *retrier) Send(ctx context.Context) (*Response, error) {
	// The first attempt needs none of the retry machinery (backoffs,
	// closures): most sends succeed, or are cache hits.
	if err := context.Cause(ctx); err != nil {
		return nil, err
	}
	resp, err := r.next.Send(ctx)
	if err == nil {
		return resp, nil
	}
	if ctx.Err() != nil || !r.o.ShouldRetry(err) {
		if r.o.OnFail != nil {
			r.o.OnFail(RetryEvent{Attempt: 1, Err: err})
		}
		return nil, err
	}
	return r.retry(ctx, err)
}

// retry makes the attempts after a first one that failed with first, a
// retryable error.
func (r *retrier) retry(ctx context.Context, first error) (*Response, error) {
	var (
		attempt  = 1
		last     = first       // the error of the attempt that just failed
		delay    time.Duration // the wait after it
		replayed bool
	)
	b := r.backoff()
	// The wait also depends on the error (Retry-After), which go-retry's
	// backoffs never see: this last decorator reads it from the attempt.
	wait := retry.BackoffFunc(func() (time.Duration, bool) {
		d, stop := b.Next()
		if stop {
			return 0, true
		}
		if ra, ok := retryAfter(last); ok {
			if ra > r.maxWait {
				return 0, true
			}
			d = max(d, ra)
		}
		if r.o.OnRetry != nil {
			r.o.OnRetry(RetryEvent{Attempt: attempt, Delay: d, Err: last})
		}
		delay = d
		return d, false
	})
	resp, err := retry.DoValue(ctx, wait, func(ctx context.Context) (*Response, error) {
		if !replayed {
			// go-retry calls first, then waits: hand it the first
			// attempt's failure, so that its first wait comes next.
			replayed = true
			return nil, retry.RetryableError(first)
		}
		attempt++
		resp, err := r.next.Send(retryctx.With(ctx, retryctx.Failed{N: attempt - 1, Delay: delay, Err: last}))
		if err == nil {
			return resp, nil
		}
		if ctx.Err() != nil || !r.o.ShouldRetry(err) {
			return nil, err // go-retry returns it as it is, at once
		}
		last = err
		return nil, retry.RetryableError(err)
	})
	if err != nil && r.o.OnFail != nil {
		r.o.OnFail(RetryEvent{Attempt: attempt, Err: err})
	}
	return resp, err
}

// geometric is alova's Delay × Multiplier^(n−1) for a multiplier that
// go-retry's NewConstant (1) and NewExponential (2) do not cover. It is not
// safe for concurrent use: each Send has its own.
func geometric(delay time.Duration, multiplier float64) retry.Backoff {
	next := float64(delay)
	return retry.BackoffFunc(func() (time.Duration, bool) {
		d := duration(next)
		next *= multiplier
		return d, false
	})
}

// withQuiver adds alova's jitter to next's waits: d + d × (s + rand × (e − s)).
// go-retry's WithJitter spreads a wait both ways (±j); alova only adds.
func withQuiver(s, e float64, next retry.Backoff) retry.Backoff {
	return retry.BackoffFunc(func() (time.Duration, bool) {
		d, stop := next.Next()
		if stop {
			return 0, true
		}
		f := float64(d)
		return duration(f + f*(s+rand.Float64()*(e-s))), false
	})
}

// duration converts f nanoseconds to a Duration, saturating at the largest.
func duration(f float64) time.Duration {
	if f >= math.MaxInt64 {
		return math.MaxInt64
	}
	return time.Duration(f)
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
