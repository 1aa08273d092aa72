// Package flight deduplicates concurrent calls that share a key, like
// golang.org/x/sync/singleflight, with one difference that matters for a
// server: the shared call belongs to all of its callers together. A caller
// whose context ends leaves at once with its own ctx.Err(); the call goes on for
// the others and is cancelled only when every caller has left.
package flight

import (
	"context"
	"fmt"
	"runtime/debug"
	"sync"
)

// Group runs at most one call per key at a time. The zero value is ready to
// use. A Group is safe for concurrent use and must not be copied after first
// use.
type Group[V any] struct {
	mu    sync.Mutex
	calls map[string]*call[V]
}

type call[V any] struct {
	// done is closed when fn has returned. A call started by DoHere makes
	// it only when a second caller joins (under Group.mu): a call nobody
	// joins, the usual one, costs no channel.
	done   chan struct{}
	val    V
	err    error
	cancel context.CancelFunc
	// waiters is the number of callers still waiting; guarded by Group.mu.
	waiters int
}

// PanicError is the error every caller of a call gets when fn panicked. The
// panic is recovered because fn runs in a goroutine of its own, where an
// unrecovered panic would end the process.
type PanicError struct {
	Value any    // the value passed to panic
	Stack []byte // the stack of the goroutine that panicked
}

// Error reports the panic value.
func (p *PanicError) Error() string { return fmt.Sprintf("flight: call panicked: %v", p.Value) }

// Do calls fn once for all the callers that ask for key while a call for key is
// in flight, and returns its result to each of them. fn runs in a goroutine of
// its own (on the first caller's, when that caller's ctx can never end) with a
// context that carries the first caller's values but not its cancellation: it
// is cancelled when every caller has left (each caller leaves when its ctx
// ends) or when fn returns. fn bounds its own running time; the
// callers' deadlines do not apply to it.
//
// A caller whose ctx ends before fn returns gets the zero V and ctx.Err() at
// once. Once every caller has left, the key is free again: the next caller
// starts a fresh call. shared reports whether this caller joined a call that
// another caller started.
func (g *Group[V]) Do(ctx context.Context, key string, fn func(ctx context.Context) (V, error)) (v V, err error, shared bool) {
	return g.do(ctx, key, fn)
}

// DoHere is [Group.Do], except that the caller that starts a call runs fn on
// its own goroutine and waits for it whatever happens to its ctx: it cannot
// leave early, and fn's context is never cancelled. Callers that join may
// still leave at once. It saves the hand-off to another goroutine, and suits
// an fn whose running time is bounded by other means (a read with its own
// timeout).
//
// fn does not escape: a closure passed here may live on its caller's stack.
func (g *Group[V]) DoHere(ctx context.Context, key string, fn func(ctx context.Context) (V, error)) (v V, err error, shared bool) {
	if err := ctx.Err(); err != nil {
		return v, err, false
	}
	g.mu.Lock()
	if c := g.join(key); c != nil {
		g.mu.Unlock()
		return g.wait(ctx, key, c, true)
	}
	return g.runHere(ctx, key, fn)
}

// join counts one more waiter on the call in flight for key and returns it,
// making its done channel if it has none yet; nil when there is none. The
// caller holds g.mu.
func (g *Group[V]) join(key string) *call[V] {
	c, ok := g.calls[key]
	if !ok {
		return nil
	}
	c.waiters++
	if c.done == nil {
		c.done = make(chan struct{})
	}
	return c
}

// runHere starts the call for key and runs fn on the caller's goroutine: the
// caller does not leave early (it may not, or its ctx can never end), so the
// call lives at least as long as it waits, and a goroutine hand-off is
// saved. Its waiter count never drops to zero, so fn's context needs no
// cancel of its own; it drops the caller's cancellation, which is not the
// joiners'. The caller holds g.mu; runHere releases it.
func (g *Group[V]) runHere(ctx context.Context, key string, fn func(ctx context.Context) (V, error)) (V, error, bool) {
	if g.calls == nil {
		g.calls = make(map[string]*call[V])
	}
	c := &call[V]{cancel: noCancel, waiters: 1}
	g.calls[key] = c
	g.mu.Unlock()
	if ctx.Done() != nil {
		ctx = context.WithoutCancel(ctx)
	}
	g.run(ctx, key, c, fn)
	return c.val, c.err, false
}

func (g *Group[V]) do(ctx context.Context, key string, fn func(ctx context.Context) (V, error)) (v V, err error, shared bool) {
	if err := ctx.Err(); err != nil {
		return v, err, false
	}
	g.mu.Lock()
	if c := g.join(key); c != nil {
		g.mu.Unlock()
		return g.wait(ctx, key, c, true)
	}
	if ctx.Done() == nil {
		return g.runHere(ctx, key, fn)
	}
	if g.calls == nil {
		g.calls = make(map[string]*call[V])
	}
	fctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	c := &call[V]{done: make(chan struct{}), cancel: cancel, waiters: 1}
	g.calls[key] = c
	g.mu.Unlock()
	go g.run(fctx, key, c, fn)
	return g.wait(ctx, key, c, false)
}

func noCancel() {}

// InFlight reports how many keys have a call in flight.
func (g *Group[V]) InFlight() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.calls)
}

func (g *Group[V]) run(ctx context.Context, key string, c *call[V], fn func(context.Context) (V, error)) {
	defer func() {
		if r := recover(); r != nil {
			var zero V
			c.val, c.err = zero, &PanicError{Value: r, Stack: debug.Stack()}
		}
		g.mu.Lock()
		g.forget(key, c)
		done := c.done // nil when nobody joined a DoHere call: nobody waits
		g.mu.Unlock()
		c.cancel()
		if done != nil {
			close(done)
		}
	}()
	c.val, c.err = fn(ctx)
}

func (g *Group[V]) wait(ctx context.Context, key string, c *call[V], shared bool) (V, error, bool) {
	select {
	case <-c.done:
		return c.val, c.err, shared
	case <-ctx.Done():
		g.mu.Lock()
		c.waiters--
		last := c.waiters == 0
		if last {
			g.forget(key, c)
		}
		g.mu.Unlock()
		if last {
			c.cancel()
		}
		var zero V
		return zero, ctx.Err(), shared
	}
}

// forget removes c from the map if it is still the call for key.
// The caller holds g.mu.
func (g *Group[V]) forget(key string, c *call[V]) {
	if g.calls[key] == c {
		delete(g.calls, key)
	}
}
