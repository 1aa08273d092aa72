package lock

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"slices"
	"sync/atomic"
	"time"
)

// alova's defaults, used where an [Options] field is left zero.
const (
	defaultTimeout  = 5 * time.Second
	defaultInterval = 100 * time.Millisecond
	defaultTTL      = 5 * time.Second
)

// ErrTimeout is returned, wrapped with the timeout and the name still held,
// when [Acquire] cannot take every lock within its Timeout:
// "lock: failed to acquire lock within 5s: \"orders\" is held".
var ErrTimeout = errors.New("lock: failed to acquire lock")

// ErrNotHeld is returned by [Lease.Release] when a lock was no longer held
// under the lease's token: its TTL ran out (renewal off, or Redis
// unreachable for a whole TTL) and someone else may have taken it.
var ErrNotHeld = errors.New("lock: lock no longer held")

// Store holds named locks, each under a token and for a TTL: the primitive
// that [Acquire] builds on. [NewMemoryStore] and [NewRedisStore] return one.
// Implementations are safe for concurrent use and never wait for a lock.
type Store interface {
	// TryLock takes the lock called name under token for ttl if no one holds
	// it, and reports whether it did.
	TryLock(ctx context.Context, name, token string, ttl time.Duration) (bool, error)
	// Extend makes the lock called name expire ttl from now if it is still
	// held under token, and reports whether it was.
	Extend(ctx context.Context, name, token string, ttl time.Duration) (bool, error)
	// Unlock releases the lock called name if it is still held under token,
	// and reports whether it was. A lock held under another token is left
	// alone.
	Unlock(ctx context.Context, name, token string) (bool, error)
}

// Options says how [Acquire] waits and how long its locks live. The zero
// value is alova's: wait up to 5 s, retrying every 100 ms, locks of 5 s.
type Options struct {
	// Timeout is how long Acquire waits for every lock before failing with
	// ErrTimeout. Default 5 s. The ctx deadline, when earlier, wins.
	Timeout time.Duration
	// Interval is the pause between two tries of a lock that is held.
	// Default 100 ms.
	Interval time.Duration
	// TTL is how long a lock lives unless renewed: the longest a crashed
	// holder can block the others. Default 5 s. Redis keeps whole
	// milliseconds.
	TTL time.Duration
	// NoRenew turns renewal off. By default the locks are extended to a
	// full TTL every TTL/3 while held (and while Acquire waits for the next
	// name), so a send longer than TTL keeps its lock; with NoRenew a lock
	// held longer than TTL expires and may be taken by another caller.
	NoRenew bool

	// OnAcquire, when set, is told of every Acquire as it returns, with how
	// long it took (the waits for held locks included) and its error: nil,
	// one wrapping ErrTimeout, the ctx's, or the store's. It runs on the
	// calling goroutine with Acquire's context: keep it short. The lock
	// names are not passed. It is how alovaotel measures lock waits.
	// Default nil: Acquire reads no extra clock.
	OnAcquire func(ctx context.Context, waited time.Duration, err error)
}

func (o Options) withDefaults() (Options, error) {
	if o.Timeout < 0 || o.Interval < 0 || o.TTL < 0 {
		return o, fmt.Errorf("lock: negative option in %+v", o)
	}
	if o.Timeout == 0 {
		o.Timeout = defaultTimeout
	}
	if o.Interval == 0 {
		o.Interval = defaultInterval
	}
	if o.TTL == 0 {
		o.TTL = defaultTTL
	}
	return o, nil
}

// Lease is a set of locks taken by [Acquire]. Call Release exactly when done;
// it is safe to call more than once and from any goroutine.
type Lease struct {
	store Store
	token string
	ttl   time.Duration
	names []string // held, in the order taken

	released atomic.Bool
	stop     context.CancelFunc // called by Release to end the renewal and its call in flight
	done     chan struct{}      // closed when the renewal has ended; nil without one
}

// Acquire takes the locks called names (sorted, duplicates dropped) in
// order in s, holding each while it waits for the next. A name that is held
// is tried again every opts.Interval until opts.Timeout has passed since the
// call; then every lock taken so far is released and the error wraps
// [ErrTimeout]. When ctx ends first, the locks taken are released and the
// ctx error is returned. Acquire returns an error for no names or a negative
// option.
//
// A store error ends the wait at once and is returned without waiting for
// the clean-up: the locks taken so far, and the one whose reply was lost
// (Redis may have applied it), are released by a goroutine that ends within
// the TTL. So a hung Redis costs Acquire one store call, not two. (When the
// error comes from ctx ending, the locks are released before Acquire
// returns, as on the other paths.)
func Acquire(ctx context.Context, s Store, names []string, opts Options) (*Lease, error) {
	if opts.OnAcquire == nil {
		return acquire(ctx, s, names, opts)
	}
	start := time.Now()
	l, err := acquire(ctx, s, names, opts)
	opts.OnAcquire(ctx, time.Since(start), err)
	return l, err
}

// acquire is Acquire without the OnAcquire hook.
func acquire(ctx context.Context, s Store, names []string, opts Options) (*Lease, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	if len(names) == 0 {
		return nil, errors.New("lock: Acquire with no names")
	}
	sorted := slices.Clone(names)
	slices.Sort(sorted)
	sorted = slices.Compact(sorted)

	lease := &Lease{store: s, token: rand.Text(), ttl: opts.TTL, names: make([]string, 0, len(sorted))}
	deadline := time.Now().Add(opts.Timeout)
	extended := time.Now()
	var timer *time.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	// release frees what was taken, with a ctx of its own: the caller's may
	// be why we fail. Past the TTL the locks have expired anyway.
	release := func() {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), opts.TTL)
		defer cancel()
		_ = lease.unlockAll(rctx)
	}
	fail := func(err error) (*Lease, error) {
		release()
		return nil, err
	}
	for _, name := range sorted {
		for {
			ok, err := s.TryLock(ctx, name, lease.token, opts.TTL)
			if err != nil {
				// The lock may have been taken though the reply was lost (a
				// client timeout): release it too, under our token.
				lease.names = append(lease.names, name)
				err = fmt.Errorf("lock: %q: %w", name, err)
				if ctx.Err() != nil {
					return fail(err) // the caller left: the store is not at fault
				}
				// The store is failing: don't make the caller wait for the
				// clean-up too.
				go release()
				return nil, err
			}
			if ok {
				lease.names = append(lease.names, name)
				break
			}
			left := time.Until(deadline)
			if left <= 0 {
				return fail(fmt.Errorf("%w within %s: %q is held", ErrTimeout, opts.Timeout, name))
			}
			wait := min(opts.Interval, left)
			if timer == nil {
				timer = time.NewTimer(wait)
			} else {
				timer.Reset(wait)
			}
			select {
			case <-ctx.Done():
				return fail(context.Cause(ctx))
			case <-timer.C:
			}
			if !opts.NoRenew && len(lease.names) > 0 && time.Since(extended) >= opts.TTL/3 {
				lease.extend(ctx)
				extended = time.Now()
			}
		}
	}
	if !opts.NoRenew {
		var rctx context.Context
		rctx, lease.stop = context.WithCancel(context.WithoutCancel(ctx))
		lease.done = make(chan struct{})
		go lease.renew(rctx)
	}
	return lease, nil
}

// renew extends the held locks every TTL/3 until Release cancels ctx.
func (l *Lease) renew(ctx context.Context) {
	defer close(l.done)
	t := time.NewTicker(max(l.ttl/3, time.Millisecond))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			ectx, cancel := context.WithTimeout(ctx, l.ttl/3+time.Millisecond)
			l.extend(ectx)
			cancel()
		}
	}
}

// extend extends every held lock. Failures are left alone: a store error
// may pass by the next round, and a lock lost to its TTL shows in Release.
// Acquire calls it before the renewal starts, never at the same time.
func (l *Lease) extend(ctx context.Context) {
	for _, name := range l.names {
		_, _ = l.store.Extend(ctx, name, l.token, l.ttl)
	}
}

// Release stops the renewal (cancelling an extension in flight) and releases
// every lock of the lease, the last taken first. It gives up after the
// lease's TTL, when the locks have expired anyway. It returns an error
// wrapping [ErrNotHeld] when a lock had expired (and was left alone, as it
// may be someone else's now), and the store's errors; the locks it could not
// release expire with their TTL. Calls after the first return nil.
func (l *Lease) Release(ctx context.Context) error {
	if l.released.Swap(true) {
		return nil
	}
	if l.stop != nil {
		l.stop()
		<-l.done
	}
	ctx, cancel := context.WithTimeout(ctx, l.ttl)
	defer cancel()
	return l.unlockAll(ctx)
}

func (l *Lease) unlockAll(ctx context.Context) error {
	var errs []error
	for _, name := range slices.Backward(l.names) {
		ok, err := l.store.Unlock(ctx, name, l.token)
		switch {
		case err != nil:
			errs = append(errs, fmt.Errorf("lock: release %q: %w", name, err))
		case !ok:
			errs = append(errs, fmt.Errorf("%w: %q", ErrNotHeld, name))
		}
	}
	return errors.Join(errs...)
}
