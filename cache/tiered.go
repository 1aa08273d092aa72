package cache

import (
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/alovago/alova/internal/flight"
	"github.com/redis/go-redis/v9"
)

// Defaults of [TieredOptions].
const (
	DefaultJitter     = 0.1
	DefaultL2Timeout  = 200 * time.Millisecond
	DefaultL2Failures = 3
	DefaultL2Cooldown = 5 * time.Second

	DefaultInvalidationCheck = time.Second
)

// invalidationBuffer is how many invalidation messages may wait for the
// subscriber goroutine before go-redis blocks reading more.
const invalidationBuffer = 256

// TieredOptions configures a [Tiered]. The zero value is ready to use; every
// field states its default.
type TieredOptions struct {
	// L1MaxTTL caps how long an entry stays in L1, so that L1 can keep an
	// entry for less time than L2 (and so bound how stale an L1 copy can be
	// if an invalidation message is lost). Zero means no cap: L1 keeps an
	// entry as long as L2.
	L1MaxTTL time.Duration

	// Jitter shortens every TTL written (and the L1 cap) by a random
	// fraction in [0, Jitter), so that keys written together do not all
	// expire together. Zero means DefaultJitter (0.1: up to 10% shorter);
	// NoJitter turns it off. NewTiered panics unless 0 <= Jitter < 1.
	Jitter float64
	// NoJitter writes every TTL exactly as given.
	NoJitter bool

	// NegativeTTL, with IsNegative, turns on negative caching: a loader
	// error for which IsNegative reports true is kept in L1 (only; each
	// process keeps its own) for NegativeTTL, and reads of the key within
	// that time return the same error from L1 without calling the loader.
	// Zero (or a nil IsNegative) means loader errors are never cached.
	NegativeTTL time.Duration
	// IsNegative reports whether a loader error may be cached (for example
	// a "not found" from the origin). Nil means none may.
	IsNegative func(error) bool

	// L2Timeout bounds every call to L2, so that a hung Redis cannot stall
	// a read: past it the call counts as failed and the read goes on to the
	// origin. Zero means DefaultL2Timeout (200 ms).
	//
	// The bound holds even when the Redis client ignores context deadlines
	// (go-redis's default): each L2 call then runs in a goroutine of its own
	// that the read stops waiting for, which costs a goroutine hand-off per
	// call. Set ContextTimeoutEnabled in the client's options to let the
	// client enforce the deadline itself and skip that hand-off.
	L2Timeout time.Duration
	// L2Failures is the number of consecutive L2 failures after which L2
	// is skipped for L2Cooldown. Zero means DefaultL2Failures (3).
	L2Failures int
	// L2Cooldown is how long L2 is skipped after L2Failures consecutive
	// failures; then one call probes it, and a success brings it back.
	// Zero means DefaultL2Cooldown (5 s).
	L2Cooldown time.Duration

	// NoInvalidation turns off cross-instance L1 invalidation: no message
	// is published on a Set, Delete or DeleteTags, and no subscriber
	// goroutine is started. By default a Tiered with both tiers subscribes,
	// and a Tiered with an L2 publishes.
	NoInvalidation bool
	// InvalidationCheck is how often the subscriber verifies that Redis
	// still delivers to it (one PUBLISH to a channel of its own, answered
	// with the number of receivers); a subscription found lost by two checks
	// in a row is replaced, and L1 purged. Zero means
	// DefaultInvalidationCheck (1 s).
	InvalidationCheck time.Duration

	// Logger receives L2 errors (Warn), L2 being skipped (Error) and coming
	// back (Info), and invalidation channel events. Logged records never
	// contain cache keys or values (keys may hold URLs with secrets). Nil
	// means slog.Default() at the time NewTiered is called.
	Logger *slog.Logger
}

// LoadOptions tunes one [Tiered.GetOrLoad].
type LoadOptions struct {
	// Mode selects the tiers; the zero value, ModeAll, uses both.
	Mode Mode
	// Force skips both reads: the loader is called (once among concurrent
	// forced callers) and its answer overwrites the tiers, and other
	// instances drop their L1 copy, as with [Tiered.Set].
	Force bool
}

// Tiered is the read path of the seed's chart: L1 (an [LRU]) → L2 (a
// [Redis]) → origin (a [Loader]), with stampede protection, graceful
// degradation when Redis fails, tags, and cross-instance L1 invalidation
// through Redis pub/sub. See the package documentation for the flow.
//
// A Tiered is safe for concurrent use. Create one per process and share it;
// it owns one goroutine (the invalidation subscriber), stopped by Close.
type Tiered struct {
	l1   *LRU
	l2   *Redis
	opts TieredOptions
	log  *slog.Logger
	id   string // this instance, in the invalidation messages it sends
	// announce is set when Set/Delete/DeleteTags publish invalidations.
	announce bool

	flight   flight.Group[loaded]  // loads
	l2flight flight.Group[l2Value] // L2 reads
	brk      breaker
	stats    counters

	// The invalidation subscriber (nil stopListen when there is none). ps
	// is the current subscription, owned by the listen goroutine.
	ps         atomic.Pointer[redis.PubSub]
	stopListen context.CancelFunc
	listenDone chan struct{}
	subscribed atomic.Int64 // subscription confirmations received
	renewed    atomic.Int64 // subscriptions replaced after a failed check
	closeOnce  sync.Once
}

// loaded is what one flight of GetOrLoad hands to all its callers. value is
// shared between them: each caller gets its own copy.
type loaded struct {
	value []byte
	tier  Tier
}

// NewTiered returns the tiers l1 → l2 → origin. Either tier may be nil: with
// l1 nil every read goes to Redis; with l2 nil the cache is in-process only.
//
// When both tiers are present and opts.NoInvalidation is false, NewTiered
// starts a goroutine subscribed to the invalidation channel of l2 (it does
// not wait for the subscription: an instance receives invalidations from the
// moment Redis confirms it, milliseconds later). Every time the subscription
// is re-established (or first established late, Redis being down at
// NewTiered) L1 is purged, because invalidations sent while it was down are
// lost. Close stops it.
//
// NewTiered panics if an option is out of range (see [TieredOptions]).
func NewTiered(l1 *LRU, l2 *Redis, opts TieredOptions) *Tiered {
	switch {
	case opts.Jitter < 0 || opts.Jitter >= 1:
		panic("cache: NewTiered: Jitter must be in [0, 1)")
	case opts.L1MaxTTL < 0, opts.NegativeTTL < 0, opts.L2Timeout < 0, opts.L2Cooldown < 0, opts.L2Failures < 0,
		opts.InvalidationCheck < 0:
		panic("cache: NewTiered: negative duration or count in TieredOptions")
	}
	if opts.Jitter == 0 {
		opts.Jitter = DefaultJitter
	}
	if opts.NoJitter {
		opts.Jitter = 0
	}
	if opts.L2Timeout == 0 {
		opts.L2Timeout = DefaultL2Timeout
	}
	if opts.L2Failures == 0 {
		opts.L2Failures = DefaultL2Failures
	}
	if opts.L2Cooldown == 0 {
		opts.L2Cooldown = DefaultL2Cooldown
	}
	if opts.InvalidationCheck == 0 {
		opts.InvalidationCheck = DefaultInvalidationCheck
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	var id [8]byte
	_, _ = crand.Read(id[:]) // never fails (crypto/rand)
	t := &Tiered{
		l1:       l1,
		l2:       l2,
		opts:     opts,
		log:      opts.Logger,
		id:       hex.EncodeToString(id[:]),
		announce: l2 != nil && !opts.NoInvalidation,
		brk:      breaker{threshold: int32(min(opts.L2Failures, 1<<30)), cooldown: int64(opts.L2Cooldown)},
	}
	if l1 != nil && l2 != nil && !opts.NoInvalidation {
		ctx, cancel := context.WithCancel(context.Background())
		t.stopListen = cancel
		t.listenDone = make(chan struct{})
		go t.listen(ctx)
	}
	return t
}

// L1 returns the in-process tier, or nil.
func (t *Tiered) L1() *LRU { return t.l1 }

// L2 returns the Redis tier, or nil.
func (t *Tiered) L2() *Redis { return t.l2 }

// GetOrLoad returns the value of key, following the seed's chart: L1; on a
// miss L2, whose hit fills L1 for the entry's remaining TTL (capped by
// L1MaxTTL); on a miss the loader, whose answer is written to L2, then L1,
// then returned. The Tier says where the answer came from (TierOrigin for a
// load). opts.Mode == ModeL1 never reads or writes L2 entries.
//
// Concurrent callers missing the same key share one L2 read (run on the
// goroutine of the caller that started it, bounded by L2Timeout), then, with
// the same Mode and Force, one loader call: it runs with a context carrying
// the first caller's values that is cancelled only when every waiting caller
// has left, and a caller whose ctx ends gets ctx.Err() at once. The loader
// bounds its own running time.
//
// A loader error is returned (with TierOrigin) to every waiter and is not
// cached, unless TieredOptions.NegativeTTL says so. An entry whose TTL is
// <= 0 is returned but not cached. L2 failures are never returned: they
// count as L2 misses (see [TieredOptions.L2Timeout]).
//
// The returned slice belongs to the caller. GetOrLoad panics if load is nil.
func (t *Tiered) GetOrLoad(ctx context.Context, key string, load Loader, opts LoadOptions) ([]byte, Tier, error) {
	if load == nil {
		panic("cache: GetOrLoad: nil loader")
	}
	if !opts.Force {
		if t.l1 != nil {
			if v, err, ok := t.l1Get(key); ok {
				return v, TierL1, err
			}
		}
		if t.l2 != nil && opts.Mode == ModeAll {
			if v, err := t.readL2(ctx, key); err == nil {
				return v, TierL2, nil
			} else if ctx.Err() != nil {
				return nil, TierNone, ctx.Err()
			}
		}
	}
	res, err, shared := t.flight.Do(ctx, flightKey(key, opts), func(fctx context.Context) (loaded, error) {
		return t.fill(fctx, key, load, opts)
	})
	if shared {
		t.stats.sharedLoads.Add(1)
	}
	if err != nil {
		return nil, res.tier, err
	}
	return clone(res.value), res.tier, nil
}

// flightKey separates the flights of one key that must not share an answer:
// a ModeL1 load must not be answered by L2, nor a forced one by a cache.
func flightKey(key string, opts LoadOptions) string {
	var b byte = '0' + byte(opts.Mode)
	if opts.Force {
		b += 'a' - '0'
	}
	return string(b) + key
}

// l1Get looks key up in L1, counting the hit or miss. ok reports a hit; err
// is the cached loader error of a negative entry.
func (t *Tiered) l1Get(key string) (v []byte, err error, ok bool) {
	e, _, ok := t.l1.lookup(key)
	if !ok {
		t.stats.l1Misses.Add(1)
		return nil, nil, false
	}
	t.stats.l1Hits.Add(1)
	if e.err != nil {
		t.stats.negativeHits.Add(1)
		return nil, e.err, true
	}
	return clone(e.value), nil, true
}

// fill is the body of one GetOrLoad flight, run once for all its callers.
func (t *Tiered) fill(ctx context.Context, key string, load Loader, opts LoadOptions) (loaded, error) {
	if !opts.Force {
		// A flight that ended between this caller's misses and the start of
		// this one has filled the tiers: don't fetch again. L1 tells when
		// there is one; an L2-only Tiered asks L2 once more.
		if t.l1 != nil {
			if e, _, ok := t.l1.lookup(key); ok {
				return loaded{value: e.value, tier: TierL1}, e.err
			}
		} else if t.l2 != nil && opts.Mode == ModeAll {
			if v, _, err := t.l2Get(ctx, key); err == nil {
				return loaded{value: v, tier: TierL2}, nil
			}
		}
	}
	t.stats.loads.Add(1)
	e, err := load(ctx)
	if err != nil {
		t.stats.loadErrors.Add(1)
		if t.l1 != nil && t.opts.NegativeTTL > 0 && t.opts.IsNegative != nil && t.opts.IsNegative(err) {
			t.l1.store(key, l1Entry{err: err}, t.opts.NegativeTTL)
		}
		return loaded{tier: TierOrigin}, err
	}
	if e.TTL > 0 || opts.Force {
		// A forced load overwrites (or, uncacheable, deletes) what the
		// tiers held, and tells the other instances. Its L2 errors are
		// counted and logged by write; the read does not fail on them.
		_ = t.write(ctx, key, e, opts.Mode, opts.Force)
	}
	return loaded{value: e.Value, tier: TierOrigin}, nil
}

// Get returns the value of key from L1 or (with ModeAll) L2, without loading
// it: ErrMiss when neither has it. An L2 hit fills L1 as in GetOrLoad. L2
// failures count as misses. A negative entry returns its cached error with
// TierL1. The returned slice belongs to the caller.
func (t *Tiered) Get(ctx context.Context, key string, mode Mode) ([]byte, Tier, error) {
	if t.l1 != nil {
		if v, err, ok := t.l1Get(key); ok {
			return v, TierL1, err
		}
	}
	if t.l2 != nil && mode == ModeAll {
		if v, err := t.readL2(ctx, key); err == nil {
			return v, TierL2, nil
		} else if ctx.Err() != nil {
			return nil, TierNone, ctx.Err()
		}
	}
	return nil, TierNone, ErrMiss
}

// readL2 reads key from L2 and fills L1 on a hit; the value it returns is
// the caller's own. Concurrent readers of a key share one L2 read, which
// runs on the goroutine of the reader that started it (bounded by
// L2Timeout): a hit costs one round trip and no hand-off to another
// goroutine. Any error means "not from L2".
func (t *Tiered) readL2(ctx context.Context, key string) ([]byte, error) {
	r, err, _ := t.l2flight.DoHere(ctx, key, func(fctx context.Context) (l2Value, error) {
		v, ttl, err := t.l2Get(fctx, key)
		if err == nil && t.l1 != nil {
			t.fillL1(key, clone(v), ttl)
		}
		return l2Value{v, ttl}, err
	})
	if err != nil {
		return nil, err
	}
	return clone(r.v), nil
}

// Set writes e under key: to L2 (with ModeAll), then to L1, and tells the
// other instances to drop their L1 copy (in either mode, unless
// NoInvalidation). An entry with TTL <= 0 is deleted instead. L1 is written
// even when L2 fails; the error then wraps [ErrUnavailable].
func (t *Tiered) Set(ctx context.Context, key string, e Entry, mode Mode) error {
	return t.write(ctx, key, e, mode, true)
}

// write is Set; publish says whether to announce the overwrite.
func (t *Tiered) write(ctx context.Context, key string, e Entry, mode Mode, publish bool) error {
	if e.TTL <= 0 {
		err := t.l2Delete(ctx, []string{key}, mode == ModeAll, publish)
		if t.l1 != nil {
			t.l1.store(key, l1Entry{}, 0)
		}
		return err
	}
	ttl := t.jitter(e.TTL)
	var err error
	writeL2 := t.l2 != nil && mode == ModeAll
	publish = publish && t.announce
	if writeL2 || publish {
		_, err = l2call(t, ctx, "set", func(ctx context.Context) ([]redis.Cmder, error) {
			return t.l2.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
				if writeL2 {
					t.l2.queueSet(ctx, p, key, e.Value, ttl, e.Tags)
				}
				if publish {
					t.queuePublish(ctx, p, []string{key}, nil)
				}
				return nil
			})
		})
	}
	if t.l1 != nil {
		t.l1.store(key, l1Entry{value: clone(e.Value), tags: slices.Clone(e.Tags)}, t.l1TTL(ttl))
	}
	return unavailable(ctx, "set", err)
}

// Delete removes the keys from L2, then from L1, and tells the other
// instances to drop them from their L1 (unless NoInvalidation). Absent keys
// are not an error. When L2 fails, L1 is still cleared and the error wraps
// [ErrUnavailable]: the L2 copies may live until their TTL ends.
func (t *Tiered) Delete(ctx context.Context, keys ...string) error {
	if len(keys) == 0 {
		return nil
	}
	err := t.l2Delete(ctx, keys, true, true)
	if t.l1 != nil {
		_ = t.l1.Delete(ctx, keys...)
	}
	return err
}

// l2Delete deletes keys from L2 (if del) and announces it (if publish and
// invalidation is on), in one round trip.
func (t *Tiered) l2Delete(ctx context.Context, keys []string, del, publish bool) error {
	del = del && t.l2 != nil
	publish = publish && t.announce
	if !del && !publish {
		return nil
	}
	_, err := l2call(t, ctx, "delete", func(ctx context.Context) ([]redis.Cmder, error) {
		return t.l2.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
			if del {
				t.l2.queueDelete(ctx, p, keys)
			}
			if publish {
				t.queuePublish(ctx, p, keys, nil)
			}
			return nil
		})
	})
	return unavailable(ctx, "delete", err)
}

// DeleteTags removes every entry carrying any of the tags: in L2 (the keys
// its tag index lists), in this L1, and (unless NoInvalidation) in the L1 of
// every other instance on the same Redis and prefix, which drop both the
// keys found in L2 and their own entries carrying the tags. When L2 fails,
// this L1 is still cleared and the error wraps [ErrUnavailable].
func (t *Tiered) DeleteTags(ctx context.Context, tags ...string) error {
	if len(tags) == 0 {
		return nil
	}
	var keys []string
	var err error
	if t.l2 != nil {
		keys, err = l2call(t, ctx, "delete tags", func(ctx context.Context) ([]string, error) {
			ks, err := t.l2.takeTags(ctx, tags)
			if err != nil {
				return nil, err
			}
			slices.Sort(ks)
			ks = slices.Compact(ks)
			_, err = t.l2.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
				t.l2.queueDelete(ctx, p, ks)
				if t.announce {
					t.queuePublish(ctx, p, ks, tags)
				}
				return nil
			})
			return ks, err
		})
	}
	if t.l1 != nil {
		if err == nil {
			_ = t.l1.Delete(ctx, keys...)
		}
		t.l1.DeleteTags(tags...)
	}
	return unavailable(ctx, "delete tags", err)
}

// KnownTags returns, sorted, the tags in use whose name starts with prefix
// (all for ""): those of live entries in L2 (from a registry kept in Redis,
// hash-tagged for Cluster) and those of this process's L1 entries. When L2
// fails it returns the L1 tags and an error wrapping [ErrUnavailable].
func (t *Tiered) KnownTags(ctx context.Context, prefix string) ([]string, error) {
	var tags []string
	if t.l1 != nil {
		tags = t.l1.Tags(prefix)
	}
	var err error
	if t.l2 != nil {
		var remote []string
		remote, err = l2call(t, ctx, "known tags", func(ctx context.Context) ([]string, error) {
			return t.l2.KnownTags(ctx, prefix)
		})
		tags = append(tags, remote...)
	}
	slices.Sort(tags)
	return slices.Compact(tags), unavailable(ctx, "known tags", err)
}

// Stats returns a snapshot of the counters.
func (t *Tiered) Stats() Stats { return t.stats.snapshot() }

// Close stops the invalidation subscriber and waits for it to end. It does
// not close the Redis client. It returns nil. The Tiered stays usable as a cache, without
// receiving invalidations from other instances. Close is idempotent.
//
// If the subscriber is in the middle of a command to a server that has hung
// (not closed: hung), Close waits for that command to time out, which takes
// the Redis client's ReadTimeout at most (go-redis ignores context deadlines
// unless ContextTimeoutEnabled is set).
func (t *Tiered) Close() error {
	t.closeOnce.Do(func() {
		if t.stopListen == nil {
			return
		}
		t.stopListen()
		<-t.listenDone
	})
	return nil
}

// l2Get reads key from L2 through the breaker and timeout, counting the
// outcome. Any error means "not from L2".
func (t *Tiered) l2Get(ctx context.Context, key string) ([]byte, time.Duration, error) {
	r, err := l2call(t, ctx, "get", func(ctx context.Context) (l2Value, error) {
		v, ttl, err := t.l2.Get(ctx, key)
		return l2Value{v, ttl}, err
	})
	switch {
	case err == nil:
		t.stats.l2Hits.Add(1)
	case errors.Is(err, ErrMiss):
		t.stats.l2Misses.Add(1)
	}
	return r.v, r.ttl, err
}

// l2Value is what an L2 Get returns.
type l2Value struct {
	v   []byte
	ttl time.Duration
}

// fillL1 stores an L2 hit (owned: v is not shared with a caller who may
// change it) in L1 for its remaining ttl, capped by L1MaxTTL. An entry
// without expiry is kept for L1MaxTTL, or not at all without a cap.
func (t *Tiered) fillL1(key string, v []byte, ttl time.Duration) {
	if t.l1 == nil {
		return
	}
	if ttl < 0 {
		if t.opts.L1MaxTTL <= 0 {
			return
		}
		ttl = t.opts.L1MaxTTL
	}
	t.l1.store(key, l1Entry{value: v}, t.l1TTL(ttl))
}

// l1TTL caps ttl by the (jittered) L1MaxTTL.
func (t *Tiered) l1TTL(ttl time.Duration) time.Duration {
	if t.opts.L1MaxTTL > 0 {
		return min(ttl, t.jitter(t.opts.L1MaxTTL))
	}
	return ttl
}

// jitter shortens ttl by a random fraction in [0, Jitter).
func (t *Tiered) jitter(ttl time.Duration) time.Duration {
	if t.opts.Jitter == 0 || ttl <= 0 {
		return ttl
	}
	return ttl - time.Duration(rand.Float64()*t.opts.Jitter*float64(ttl))
}

// l2call runs fn against t's L2 within L2Timeout and through the breaker.
// It returns fn's result, ErrMiss, ErrUnavailable (skipped during a
// cool-down), the caller's own ctx error (not counted against Redis), or the
// failure, which it counts and logs.
func l2call[T any](t *Tiered, ctx context.Context, op string, fn func(context.Context) (T, error)) (T, error) {
	if !t.brk.allow(monotonic()) {
		t.stats.l2Skipped.Add(1)
		var zero T
		return zero, ErrUnavailable
	}
	v, err := bounded(ctx, t.opts.L2Timeout, !t.l2.deadlines, fn)
	if err == nil || errors.Is(err, ErrMiss) {
		if t.brk.success() {
			t.log.Info("cache: L2 is back", "op", op)
		}
		return v, err
	}
	if ctx.Err() != nil {
		return v, ctx.Err()
	}
	t.stats.l2Errors.Add(1)
	if t.brk.failure(monotonic()) {
		t.log.Error("cache: L2 keeps failing, skipping it for a while", "op", op,
			"failures", t.opts.L2Failures, "cooldown", t.opts.L2Cooldown, "err", err)
	} else {
		t.log.Warn("cache: L2 error, served without it", "op", op, "err", err)
	}
	return v, err
}

// result carries what fn returned across the goroutine of bounded.
type result[T any] struct {
	v   T
	err error
}

// bounded runs fn with a context that ends after timeout. With watch set it
// runs fn in a goroutine and stops waiting for it at the timeout even if fn
// does not return: go-redis ignores context deadlines unless the client sets
// ContextTimeoutEnabled, so a hung server would otherwise hold the caller for
// the client's ReadTimeout. An abandoned fn ends on its own at that timeout;
// its result is then dropped. fn must not write anything the caller reads:
// its result comes back over the channel.
func bounded[T any](ctx context.Context, timeout time.Duration, watch bool, fn func(context.Context) (T, error)) (T, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if !watch {
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
		return zero, fmt.Errorf("cache: L2 call abandoned after %v: %w", timeout, ctx.Err())
	}
}

// unavailable wraps an L2 failure of op for the caller of a write; the
// caller's own ctx error is returned as is.
func unavailable(ctx context.Context, op string, err error) error {
	switch {
	case err == nil, ctx.Err() != nil && errors.Is(err, ctx.Err()):
		return err
	case errors.Is(err, ErrUnavailable):
		return fmt.Errorf("cache: %s: %w", op, err)
	}
	return fmt.Errorf("cache: %s: %w: %w", op, ErrUnavailable, err)
}

// queuePublish queues an invalidation message for keys and tags on p.
func (t *Tiered) queuePublish(ctx context.Context, p redis.Pipeliner, keys, tags []string) {
	p.Publish(ctx, t.l2.channel, message{from: t.id, keys: keys, tags: tags}.encode())
}

// listen runs the invalidation subscriber until ctx ends (Close).
//
// go-redis reconnects and resubscribes a PubSub by itself when its
// connection breaks, but a connection can also stay up without the
// subscription: a SUBSCRIBE answered with an error (a restarting server that
// is still loading its data) is not retried. So every InvalidationCheck the
// subscriber publishes an empty message on a channel of its own, subscribed
// together with the shared one: if Redis answers twice in a row that nobody
// received it, the subscription is gone, and it is replaced by a fresh one.
func (t *Tiered) listen(ctx context.Context) {
	defer close(t.listenDone)
	check := time.NewTicker(t.opts.InvalidationCheck)
	defer check.Stop()
	own := t.l2.channel + ":" + t.id
	for first := true; ; first = false {
		ps := t.l2.rdb.Subscribe(ctx) // no channel yet: no I/O here
		t.ps.Store(ps)
		// An error here (Redis down) is retried by go-redis's channel
		// loop, which reconnects and resubscribes by itself.
		onTime := ps.Subscribe(ctx, t.l2.channel, own) == nil && first
		ch := ps.ChannelWithSubscriptions(redis.WithChannelSize(invalidationBuffer))
		renew := t.receive(ctx, ch, check.C, own, onTime)
		_ = ps.Close()
		for range ch { // let go-redis's goroutine hand over what it holds and end
		}
		if !renew {
			return
		}
		t.renewed.Add(1)
		select {
		case <-ctx.Done():
			return
		case <-time.After(100 * time.Millisecond): // no busy loop if Redis keeps refusing
		}
	}
}

// receive applies the messages of one subscription until ctx ends (false)
// or the subscription is found lost (true).
func (t *Tiered) receive(ctx context.Context, ch <-chan any, check <-chan time.Time, own string, onTime bool) (renew bool) {
	misses := 0 // consecutive checks that found nobody subscribed
	for {
		select {
		case <-ctx.Done():
			return false
		case m, ok := <-ch:
			if !ok {
				return ctx.Err() == nil
			}
			switch m := m.(type) {
			case *redis.Subscription:
				if m.Kind != "subscribe" || m.Channel != t.l2.channel {
					continue
				}
				// Invalidations sent while we were not subscribed are
				// lost: whatever L1 holds may have been deleted elsewhere.
				// The confirmation of a subscription made at NewTiered
				// needs no purge: it follows NewTiered by milliseconds.
				if n := t.subscribed.Add(1); n > 1 || !onTime {
					t.l1.Purge()
					t.log.Info("cache: invalidation channel (re)subscribed, L1 purged", "subscriptions", n)
				}
			case *redis.Message:
				if m.Channel == t.l2.channel {
					t.apply(m.Payload)
				}
			}
		case <-check:
			n, err := bounded(ctx, t.opts.L2Timeout, !t.l2.deadlines, func(ctx context.Context) (int64, error) {
				return t.l2.rdb.Publish(ctx, own, "").Result()
			})
			switch {
			case err != nil: // Redis unreachable: go-redis is reconnecting
			case n > 0:
				misses = 0
			default:
				// Twice in a row, so that a check racing a (re)subscription
				// in flight on the other connection does not count.
				if misses++; misses >= 2 {
					t.log.Warn("cache: invalidation subscription lost, renewing it")
					return true
				}
			}
		}
	}
}

// apply drops from L1 what an invalidation message from another instance
// names.
func (t *Tiered) apply(payload string) {
	m, err := decodeMessage(payload)
	if err != nil {
		t.log.Warn("cache: ignoring invalidation message", "err", err)
		return
	}
	if m.from == t.id {
		return
	}
	_ = t.l1.Delete(context.Background(), m.keys...)
	t.l1.DeleteTags(m.tags...)
	t.stats.invalidations.Add(1)
}
