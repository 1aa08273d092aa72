// Package redisop bounds the Redis calls of alova-go's stores. Every store
// (cache, captcha, ratelimit, lock) takes a [redis.UniversalClient] that the
// user configured, often on go-redis's defaults, where a command to a frozen
// server waits for the client's ReadTimeout (3 s) and then retries. A store
// call must instead end within the store's own timeout, so each one runs
// through a [Bound].
package redisop

import (
	"context"
	"fmt"
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
	return Bound{timeout: timeout, watch: !HonoursDeadlines(rdb)}
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

// Do runs fn with a context that ends after b's timeout (or with ctx) and
// returns what fn returned. When the client ignores context deadlines, fn
// runs in a goroutine of its own and Do stops waiting for it at the timeout:
// it then returns an error wrapping context.DeadlineExceeded (or ctx's own
// error when ctx ended first), and the abandoned call ends by itself at the
// client's ReadTimeout, its result dropped. fn must therefore not write
// anything the caller reads: its result comes back as its return values.
func Do[T any](ctx context.Context, b Bound, fn func(context.Context) (T, error)) (T, error) {
	ctx, cancel := context.WithTimeout(ctx, b.timeout)
	defer cancel()
	if !b.watch {
		return fn(ctx)
	}
	done := make(chan result[T], 1)
	go func() {
		v, err := fn(ctx)
		done <- result[T]{v, err}
	}()
	select {
	case r := <-done:
		return r.v, r.err
	case <-ctx.Done():
		var zero T
		return zero, fmt.Errorf("redis call abandoned after %v: %w", b.timeout, context.Cause(ctx))
	}
}

// Err is [Do] for a call that returns only an error.
func Err(ctx context.Context, b Bound, fn func(context.Context) error) error {
	_, err := Do(ctx, b, func(ctx context.Context) (struct{}, error) { return struct{}{}, fn(ctx) })
	return err
}
