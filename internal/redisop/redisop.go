// Package redisop bounds the Redis calls of alova-go's stores. Every store
// (cache, captcha, ratelimit, lock) takes a [redis.UniversalClient] that the
// user configured, often on go-redis's defaults, where a command to a frozen
// server waits for the client's ReadTimeout (3 s) and then retries. A store
// call must instead end within the store's own timeout, so each one runs
// through a [Bound].
//
// # Cluster failover
//
// go-redis's ClusterClient learns that a slot has a new master only from a
// MOVED reply or when its slot map is older than ClusterStateReloadInterval
// (60 s by default since go-redis v9.22). A master that was killed sends no
// MOVED: its connections are refused, and the client keeps sending that
// slot's commands to it long after its replica took over
// (redis/go-redis#3979). A [Bound] on a ClusterClient therefore asks the
// client to reload its slot map (ReloadState: one CLUSTER SLOTS in the
// background, coalesced by go-redis) whenever a call fails without an
// answer from Redis: a refused or broken connection, or no reply within the
// bound. Stores then follow a failover within one reload of the new master
// being elected.
package redisop

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/redis/go-redis/v9"
)

// DefaultTimeout is the per-call timeout of every store when its
// RedisOptions.Timeout is zero.
const DefaultTimeout = 200 * time.Millisecond

// Bound runs Redis calls within a timeout. The zero value is not usable;
// build one with [New].
type Bound struct {
	timeout time.Duration
	// watch is set when the client does not bound its I/O by context
	// deadlines (go-redis without ContextTimeoutEnabled): the call then runs
	// in a goroutine that the caller stops waiting for at the timeout.
	watch bool
	// reload, set on a ClusterClient, asks it to reload its slot map.
	reload func()
}

// New returns a Bound for calls on rdb that end within timeout
// (DefaultTimeout when zero). It panics if timeout is negative.
func New(rdb redis.UniversalClient, timeout time.Duration) Bound {
	if timeout < 0 {
		panic(fmt.Sprintf("negative Redis timeout %v", timeout))
	}
	if timeout == 0 {
		timeout = DefaultTimeout
	}
	b := Bound{timeout: timeout, watch: !HonoursDeadlines(rdb)}
	if cc, ok := rdb.(interface{ ReloadState(context.Context) }); ok { // *redis.ClusterClient
		b.reload = func() { cc.ReloadState(context.Background()) }
	}
	return b
}

// Timeout returns the bound.
func (b Bound) Timeout() time.Duration { return b.timeout }

// HonoursDeadlines reports whether rdb's options say it bounds socket reads
// and writes by the context's deadline (ContextTimeoutEnabled). Unknown
// client types are assumed not to.
func HonoursDeadlines(rdb redis.UniversalClient) bool {
	switch c := rdb.(type) {
	case *redis.Client:
		return c.Options().ContextTimeoutEnabled
	case *redis.ClusterClient:
		return c.Options().ContextTimeoutEnabled
	case *redis.Ring:
		return c.Options().ContextTimeoutEnabled
	}
	return false
}

type result[T any] struct {
	v   T
	err error
}

// Do runs fn with a context that ends after b's timeout, or at ctx's own
// deadline when that comes first, and returns what fn returned. When the
// client ignores context deadlines, fn runs in a goroutine of its own and Do
// stops waiting for it when that context ends: it then returns an error
// wrapping context.DeadlineExceeded (or ctx's own error when ctx was
// cancelled), and the abandoned call ends by itself at the client's
// ReadTimeout, its result dropped. fn must therefore not write anything the
// caller reads: its result comes back as its return values.
//
// On a ClusterClient, a call that fails without an answer from Redis while
// ctx is still live makes the client reload its slot map (see the package
// doc).
func Do[T any](ctx context.Context, b Bound, fn func(context.Context) (T, error)) (T, error) {
	return doReload(ctx, b, op[struct{}, T]{plain: fn})
}

// DoWith is [Do] for an fn that takes its argument a explicitly. A call whose
// fn captures nothing (a plain function) allocates no closure, which
// matters on hot paths such as a cache's GET; with Do the closure that
// carries the call's arguments escapes to the heap, since it may run in
// another goroutine.
func DoWith[A, T any](ctx context.Context, b Bound, a A, fn func(context.Context, A) (T, error)) (T, error) {
	return doReload(ctx, b, op[A, T]{a: a, fn: fn})
}

// op is one call of Do (plain) or DoWith (fn with a). It is a value, not a
// closure, so that neither form costs an allocation of its own.
type op[A, T any] struct {
	plain func(context.Context) (T, error)
	fn    func(context.Context, A) (T, error)
	a     A
}

func (o op[A, T]) call(ctx context.Context) (T, error) {
	if o.plain != nil {
		return o.plain(ctx)
	}
	return o.fn(ctx, o.a)
}

// doReload is do, then the slot map reload of a ClusterClient.
func doReload[A, T any](ctx context.Context, b Bound, o op[A, T]) (T, error) {
	v, err := do(ctx, b, o)
	if err != nil && b.reload != nil && ctx.Err() == nil && unanswered(err) {
		b.reload()
	}
	return v, err
}

// do runs o within b.
func do[A, T any](ctx context.Context, b Bound, o op[A, T]) (T, error) {
	bctx, cancel := b.bounded(ctx)
	if cancel != nil {
		defer cancel()
	}
	if !b.watch {
		return o.call(bctx)
	}
	return watched(bctx, b, o)
}

// watched runs o in a goroutine of its own and waits for it until ctx ends.
// The result channel is unbuffered (one allocation; a buffer of a type with
// pointers would be a second): the goroutine hands its result over or, once
// ctx has ended and the caller may have left, drops it.
func watched[A, T any](ctx context.Context, b Bound, o op[A, T]) (T, error) {
	done := make(chan result[T])
	go func() {
		v, err := o.call(ctx)
		select {
		case done <- result[T]{v, err}:
		case <-ctx.Done():
		}
	}()
	select {
	case r := <-done:
		return r.v, r.err
	case <-ctx.Done():
		var zero T
		return zero, fmt.Errorf("redis call abandoned at its deadline (bound %v): %w", b.timeout, context.Cause(ctx))
	}
}

// bounded returns ctx with b's timeout, and its cancel. When ctx's own
// deadline comes no later than the timeout, ctx already bounds the call: it
// is returned as it is, with a nil cancel, which saves a context and its
// timer.
func (b Bound) bounded(ctx context.Context) (context.Context, context.CancelFunc) {
	if d, ok := ctx.Deadline(); ok && time.Until(d) <= b.timeout {
		return ctx, nil
	}
	return context.WithTimeout(ctx, b.timeout)
}

// unanswered reports whether err says that Redis gave no answer: the
// connection was refused, broken or timed out, no connection was free, or
// the bound ran out. Replies from Redis (redis.Nil, WRONGTYPE, CLUSTERDOWN,
// …) are answers.
func unanswered(err error) bool {
	var netErr net.Error
	return errors.Is(err, context.DeadlineExceeded) || errors.Is(err, io.EOF) ||
		errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, redis.ErrPoolTimeout) || errors.As(err, &netErr)
}

// Err is [Do] for a call that returns only an error.
func Err(ctx context.Context, b Bound, fn func(context.Context) error) error {
	_, err := Do(ctx, b, func(ctx context.Context) (struct{}, error) { return struct{}{}, fn(ctx) })
	return err
}
