package client

import (
	"context"
	"fmt"
	"slices"

	"github.com/alovago/alova/lock"
)

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
// error; when the store fails, its error, at once. Atomize panics if next or
// s is nil or an option is negative. The returned Sender is safe for
// concurrent use.
func Atomize(next Sender, s lock.Store, opts lock.Options, channels ...string) Sender {
	if next == nil || s == nil {
		panic("client: Atomize with a nil Sender or lock.Store")
	}
	if opts.Timeout < 0 || opts.Interval < 0 || opts.TTL < 0 {
		panic(fmt.Sprintf("client: Atomize with a negative option in %+v", opts))
	}
	channels = slices.Clone(channels)
	if len(channels) == 0 {
		channels = []string{"default"}
	}
	return SenderFunc(func(ctx context.Context) (*Response, error) {
		lease, err := lock.Acquire(ctx, s, channels, opts)
		if err != nil {
			return nil, err
		}
		defer func() { _ = lease.Release(context.WithoutCancel(ctx)) }()
		return sendHeld(ctx, next)
	})
}
