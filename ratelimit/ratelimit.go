package ratelimit

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// alova's defaults, used where an [Options] field is left zero.
const (
	defaultPoints   = 4
	defaultDuration = 4 * time.Second
)

// ErrLimited is the sentinel every refusal matches: errors.Is(err,
// ErrLimited) reports whether err is a [*LimitedError], however wrapped.
var ErrLimited = errors.New("ratelimit: limit exceeded")

// LimitedError is the error for a refused call. It carries what a caller
// needs to answer 429 Too Many Requests; it unwraps to [ErrLimited]. The key
// is left out on purpose: keys often hold an IP address or a login name.
type LimitedError struct {
	// Limit is the limiter's Points.
	Limit int
	// RetryAfter is how long before the key's window resets (or its block
	// ends) and a point can be granted again.
	RetryAfter time.Duration
}

// Error reports the limit and the time to wait.
func (e *LimitedError) Error() string {
	return fmt.Sprintf("ratelimit: limit of %d exceeded, retry after %s", e.Limit, e.RetryAfter)
}

// Unwrap returns [ErrLimited].
func (e *LimitedError) Unwrap() error { return ErrLimited }

// Options configures a [Limiter]. The zero value is alova's default: 4 points
// per 4 seconds, no block.
type Options struct {
	// Points is how many points a key may consume per window. Default 4.
	Points int
	// Duration is the length of a key's window, counted from the first point
	// it consumes. Default 4 s. Redis keeps it in whole milliseconds.
	Duration time.Duration
	// BlockDuration, when positive, blocks a key for that long from the call
	// that first takes it over its limit, instead of letting the window run
	// out: a login lockout. Default 0: no block, the window resets as usual.
	BlockDuration time.Duration

	// OnConsume, when set, is told the outcome of every Allow and Consume
	// whose points are valid, after the store answered: r.Allowed says
	// whether the points were granted; err is the store's failure (r is
	// then zero). It runs on the calling goroutine with the call's context:
	// keep it short. The key is not passed: it often names a client (an IP,
	// a phone number). It is how alovaotel counts allows and refusals.
	// Default nil.
	OnConsume func(ctx context.Context, r Result, err error)
}

// Result is the state of a key after a call. It holds what the
// X-RateLimit-Limit, X-RateLimit-Remaining, X-RateLimit-Reset and Retry-After
// headers need.
type Result struct {
	// Allowed reports whether the key is within its limit after the call
	// (Consumed <= Limit). For Allow and Consume it says whether the points
	// were granted.
	Allowed bool
	// Limit is the limiter's Points.
	Limit int
	// Consumed is the number of points counted in the key's current window.
	Consumed int
	// Remaining is how many points the key may still consume in this window
	// (never negative).
	Remaining int
	// ResetAfter is how long before the key's window (or block) ends; 0 for
	// a key with no window.
	ResetAfter time.Duration
	// RetryAfter is how long before a call of one point can be granted: 0
	// while Remaining > 0, ResetAfter otherwise.
	RetryAfter time.Duration
	// FirstInWindow reports whether this call started the key's window: the
	// key had no live window before it (alova's isFirstInDuration). Only
	// Allow, Consume, Penalty and Reward can start a window; Get and Block
	// report false.
	FirstInWindow bool
}

// Err returns nil when r is allowed, and a [*LimitedError] otherwise.
func (r Result) Err() error {
	if r.Allowed {
		return nil
	}
	return &LimitedError{Limit: r.Limit, RetryAfter: r.RetryAfter}
}

// Limiter is a fixed-window rate limiter over a [Store]. It is safe for
// concurrent use; create one per limit and share it.
type Limiter struct {
	store  Store
	points int
	window time.Duration
	block  time.Duration
	onUse  func(context.Context, Result, error)
}

// New returns a limiter counting in store. It panics if store is nil or an
// option is negative. Limiters sharing a store share the counts of equal
// keys: give each limit its own store (or Redis key prefix).
func New(store Store, opts Options) *Limiter {
	if store == nil {
		panic("ratelimit: New with a nil Store")
	}
	if opts.Points < 0 || opts.Duration < 0 || opts.BlockDuration < 0 {
		panic(fmt.Sprintf("ratelimit: negative option in %+v", opts))
	}
	l := &Limiter{store: store, points: opts.Points, window: opts.Duration, block: opts.BlockDuration, onUse: opts.OnConsume}
	if l.points == 0 {
		l.points = defaultPoints
	}
	if l.window == 0 {
		l.window = defaultDuration
	}
	return l
}

// Limit returns the limiter's Points.
func (l *Limiter) Limit() int { return l.points }

// Allow consumes one point of key: Consume(ctx, key, 1).
func (l *Limiter) Allow(ctx context.Context, key string) (Result, error) {
	return l.Consume(ctx, key, 1)
}

// Consume consumes points of key and reports whether they were granted. A
// refused call still counts its points (as alova's limiter does), so a client
// that keeps hammering stays refused until the window ends. The first call
// that takes the key over its limit starts the block when BlockDuration is
// set. The error is non-nil only when the store fails or points < 1.
func (l *Limiter) Consume(ctx context.Context, key string, points int) (Result, error) {
	if points < 1 {
		return Result{}, fmt.Errorf("ratelimit: Consume of %d points, want at least 1", points)
	}
	r, err := l.add(ctx, key, points, l.block)
	if l.onUse != nil {
		l.onUse(ctx, r, err)
	}
	return r, err
}

// Penalty adds points to key's count without asking for them: a failed
// login costs more than one try. It never starts a block.
func (l *Limiter) Penalty(ctx context.Context, key string, points int) (Result, error) {
	if points < 0 {
		return Result{}, fmt.Errorf("ratelimit: Penalty of %d points, want at least 0", points)
	}
	return l.add(ctx, key, points, 0)
}

// Reward gives points back to key: its count goes down by points, never
// below zero. The window (or block) keeps its end time.
func (l *Limiter) Reward(ctx context.Context, key string, points int) (Result, error) {
	if points < 0 {
		return Result{}, fmt.Errorf("ratelimit: Reward of %d points, want at least 0", points)
	}
	return l.add(ctx, key, -points, 0)
}

// Block refuses key for d from now, whatever its count: its count becomes
// Points + 1 for d. It returns an error for d <= 0.
func (l *Limiter) Block(ctx context.Context, key string, d time.Duration) (Result, error) {
	if d <= 0 {
		return Result{}, fmt.Errorf("ratelimit: Block for %s, want a positive duration", d)
	}
	if err := l.store.Set(ctx, key, l.points+1, d); err != nil {
		return Result{}, fmt.Errorf("ratelimit: block: %w", err)
	}
	return l.result(l.points+1, d), nil
}

// Get returns the state of key without changing it. A key with no window
// reads as nothing consumed.
func (l *Limiter) Get(ctx context.Context, key string) (Result, error) {
	n, ttl, err := l.store.Get(ctx, key)
	if err != nil {
		return Result{}, fmt.Errorf("ratelimit: get: %w", err)
	}
	return l.result(n, ttl), nil
}

// Delete forgets key: its window, count and block.
func (l *Limiter) Delete(ctx context.Context, key string) error {
	if err := l.store.Delete(ctx, key); err != nil {
		return fmt.Errorf("ratelimit: delete: %w", err)
	}
	return nil
}

func (l *Limiter) add(ctx context.Context, key string, n int, block time.Duration) (Result, error) {
	count, ttl, started, err := l.store.Add(ctx, key, n, l.window, l.points, block)
	if err != nil {
		return Result{}, fmt.Errorf("ratelimit: %w", err)
	}
	r := l.result(count, ttl)
	r.FirstInWindow = started
	return r, nil
}

func (l *Limiter) result(consumed int, ttl time.Duration) Result {
	r := Result{
		Allowed:    consumed <= l.points,
		Limit:      l.points,
		Consumed:   consumed,
		Remaining:  max(l.points-consumed, 0),
		ResetAfter: max(ttl, 0),
	}
	if r.Remaining == 0 {
		r.RetryAfter = r.ResetAfter
	}
	return r
}
