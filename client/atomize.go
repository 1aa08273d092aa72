package client

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/alovago/alova/lock"
)

// AtomizeOptions configures [Atomize]. The zero value is alova's: the
// channel "default", a 5 s wait retried every 100 ms, locks of 5 s renewed
// while held.
type AtomizeOptions struct {
	// Channels names the locks taken around each send; they are taken in
	// sorted order, so hooks naming the same channels in any order cannot
	// deadlock. Default ["default"]: every Atomize on the same Locker with
	// no channels excludes every other.
	Channels []string
	// Timeout is how long a send waits for its locks before failing with an
	// error wrapping [lock.ErrTimeout]. Default 5 s.
	Timeout time.Duration
	// Interval is the pause between two tries of a held lock. Default 100 ms.
	Interval time.Duration
	// TTL is how long a lock lives unless renewed: the longest a crashed
	// holder can block the others. Default 5 s.
	TTL time.Duration
	// NoRenew stops the renewal of the locks while the send runs, so a send
	// longer than TTL loses its lock. Default false: renewed every TTL/3.
	NoRenew bool
}

// Atomize returns a Sender that holds the locks of opts.Channels in l while it
// sends next (alova's atomize): with a [lock.NewRedis] locker, one send at a
// time across every process; with [lock.NewMemory], within this process.
// The locks are released on every path — success, error, panic, ctx ended —
// with a context that outlives ctx. A release that fails is not reported (the
// send has happened and its answer is returned); the lock then ends with its
// TTL.
//
// When the locks cannot be taken within the timeout, Send returns an error
// wrapping [lock.ErrTimeout] without sending; when ctx ends first, ctx's
// error. Atomize panics if next or l is nil or an option is negative. The
// returned Sender is safe for concurrent use.
func Atomize(next Sender, l lock.Locker, opts AtomizeOptions) Sender {
	if next == nil || l == nil {
		panic("client: Atomize with a nil Sender or Locker")
	}
	if opts.Timeout < 0 || opts.Interval < 0 || opts.TTL < 0 {
		panic(fmt.Sprintf("client: Atomize with a negative option in %+v", opts))
	}
	channels := slices.Clone(opts.Channels)
	if len(channels) == 0 {
		channels = []string{"default"}
	}
	lo := lock.Options{Timeout: opts.Timeout, Interval: opts.Interval, TTL: opts.TTL, NoRenew: opts.NoRenew}
	release := opts.TTL
	if release == 0 {
		release = lock.DefaultTTL
	}
	return SenderFunc(func(ctx context.Context) (*Response, error) {
		lease, err := lock.Acquire(ctx, l, channels, lo)
		if err != nil {
			return nil, err
		}
		defer func() {
			rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), release)
			defer cancel()
			_ = lease.Release(rctx)
		}()
		return next.Send(ctx)
	})
}
