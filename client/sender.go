package client

import (
	"context"
	"fmt"
	"slices"

	"github.com/alovago/alova/lock"
	"github.com/alovago/alova/ratelimit"
)

// Sender is anything that sends like a method: a [*Method], or a server hook
// wrapped around one ([Retry], [RateLimit], [Atomize]). Hooks take a Sender and
// return a Sender, so they compose in any order and to any depth:
//
//	client.Retry(client.RateLimit(client.Atomize(m, locks, lock.Options{}), limiter, "user:42"), client.RetryOptions{})
//
// Send must be safe to call concurrently and more than once; each call is an
// independent send.
type Sender interface {
	Send(ctx context.Context) (*Response, error)
}

// held returns the Sender a server hook keeps of next: a copy of a
// [*Method], so that a setter called on the method after it was wrapped
// changes nothing the hook sends.
func held(next Sender) Sender {
	if m, ok := next.(*Method); ok && m != nil {
		return &Method{f: m.snapshot()}
	}
	return next
}

// SenderFunc adapts an ordinary function to the [Sender] interface.
type SenderFunc func(ctx context.Context) (*Response, error)

// Send calls f(ctx).
func (f SenderFunc) Send(ctx context.Context) (*Response, error) { return f(ctx) }

// RateLimit returns a Sender that consumes one point of key in l before each
// send of next (alova's rateLimit). Over the limit it never waits and never
// sends: it returns at once a [*ratelimit.LimitedError] (errors.Is(err,
// ratelimit.ErrLimited)) whose RetryAfter says when a point is free again.
// Wrapped in [Retry], a limited send is retried after that wait.
//
// Methods are cheap to build, so wrap one per request to limit per user or
// per client IP:
//
//	s := client.RateLimit(c.Get("/quote"), perUser, "user:"+userID)
//
// When the limiter's store fails, the send is refused with that error (fail
// closed): a limit that protects a paid or fragile downstream should not
// vanish with Redis. Like [Retry], it keeps a copy of a [*Method] next.
// RateLimit panics if next or l is nil. The returned
// Sender is safe for concurrent use.
func RateLimit(next Sender, l *ratelimit.Limiter, key string) Sender {
	if next == nil || l == nil {
		panic("client: RateLimit with a nil Sender or Limiter")
	}
	next = held(next)
	return SenderFunc(func(ctx context.Context) (*Response, error) {
		res, err := l.Allow(ctx, key)
		if err != nil {
			return nil, fmt.Errorf("client: rate limit: %w", err)
		}
		if err := res.Err(); err != nil {
			return nil, err
		}
		return next.Send(ctx)
	})
}

// Atomize returns a Sender that holds the locks called channels in s while
// it sends next (alova's atomize): with a [lock.NewRedisStore] store, one
// send at a time across every process; with [lock.NewMemoryStore], within
// this process. With no channels it takes the single channel "default", so
// every Atomize on the same store without channels excludes every other.
// Channels are taken in sorted order, so hooks naming the same channels in
// any order cannot deadlock.
//
// opts says how long to wait (alova's defaults: up to 5 s, trying every
// 100 ms) and how long a lock lives (5 s, renewed while the send runs); see
// [lock.Options]. The locks are released on every path — success, error,
// panic, ctx ended — with a context that outlives ctx. A release that fails
// is not reported (the send has happened and its answer is returned); the
// lock then ends with its TTL.
//
// When the locks cannot be taken within opts.Timeout, Send returns an error
// wrapping [lock.ErrTimeout] without sending; when ctx ends first, ctx's
// error; when the store fails, its error, at once. Like [Retry], it keeps a
// copy of a [*Method] next. Atomize panics if next or
// s is nil or an option is negative. The returned Sender is safe for
// concurrent use.
func Atomize(next Sender, s lock.Store, opts lock.Options, channels ...string) Sender {
	if next == nil || s == nil {
		panic("client: Atomize with a nil Sender or lock.Store")
	}
	if opts.Timeout < 0 || opts.Interval < 0 || opts.TTL < 0 {
		panic(fmt.Sprintf("client: Atomize with a negative option in %+v", opts))
	}
	next, channels = held(next), slices.Clone(channels)
	if len(channels) == 0 {
		channels = []string{"default"}
	}
	return SenderFunc(func(ctx context.Context) (*Response, error) {
		lease, err := lock.Acquire(ctx, s, channels, opts)
		if err != nil {
			return nil, err
		}
		defer func() { _ = lease.Release(context.WithoutCancel(ctx)) }()
		return next.Send(ctx)
	})
}
