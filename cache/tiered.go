package cache

import (
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/puzpuzpuz/xsync/v4"

	"github.com/alovago/alova/internal/flight"
)

// Defaults of [TieredOptions].
const (
	defaultJitter     = 0.1
	defaultL2Failures = 3
	defaultL2Cooldown = 5 * time.Second
)

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

	// L2Failures is the number of consecutive L2 failures after which L2
	// is skipped for L2Cooldown. Zero means DefaultL2Failures (3).
	L2Failures int
	// L2Cooldown is how long L2 is skipped after L2Failures consecutive
	// failures; then one call probes it, and a success brings it back.
	// Zero means DefaultL2Cooldown (5 s).
	L2Cooldown time.Duration

	// NoInvalidation turns off cross-instance L1 invalidation: nothing is
	// published on a Set, Delete or DeleteTags, and no subscriber goroutine
	// is started. By default a Tiered with both tiers subscribes, and a
	// Tiered with an L2 publishes.
	NoInvalidation bool

	// Logger receives L2 errors (Warn), L2 being skipped (Error) and coming
	// back (Info), and invalidation feed events. Logged records never
	// contain cache keys or values (keys may hold URLs with secrets). Nil
	// means slog.Default() at the time NewTiered is called.
	Logger *slog.Logger

	// MaxRefreshes bounds the background reloads of refresh-ahead (see
	// [LoadOptions].RefreshBefore) running at once; a hit that would start
	// one more starts none, and a later hit tries again. Zero means 64.
	MaxRefreshes int

	// OnL2Call, when set, is told of every call the Tiered makes to L2
	// (reads, writes, deletes, publishes, leases), after it returns, with
	// its duration and outcome; calls skipped during a cool-down are not
	// made and not reported (they count in [Stats].L2Skipped). It runs on
	// the calling goroutine, with the call's context: keep it short. It is
	// how metrics packages such as alovaotel measure L2 latency. Default
	// nil: nothing is timed, and the read path pays one nil check.
	OnL2Call func(ctx context.Context, c L2Call)

	// RecoveryQueue bounds the invalidations waiting for L2 to come back.
	// A Delete, DeleteTags, DeleteTagsFunc or Clear whose L2 call fails
	// (or is skipped during a cool-down) clears this L1 as usual, and is
	// queued: each key, tag or Clear once (a later invalidation of the same
	// key moves it to the end), replayed in order, with its announcement to
	// the other instances, as soon as L2 answers again (polled every 100 ms
	// while the queue is not empty, by a goroutine of the Tiered that ends
	// with the queue or Close). A Set that fails queues a Delete of its key,
	// so that the older copies are dropped everywhere once L2 is back. The
	// call then returns nil (Set still returns its error). Until its
	// invalidation is replayed, a key reads as an L2 miss on this instance
	// (every key does while a tag or a Clear waits), so that this L1 is not
	// refilled with what was invalidated. When the queue holds RecoveryQueue
	// names, a new one is refused: the call returns its error wrapping
	// [ErrUnavailable] as without a queue, and counts in
	// [Stats].RecoveryDropped. The queue lives in this process only: if it
	// dies before the replay, the L2 copies it meant to drop live until
	// their TTL. Zero means 10 000.
	RecoveryQueue int
	// NoRecovery turns the queue off: a failed invalidation returns its
	// error and is not retried.
	NoRecovery bool
}

// LoadOptions tunes one [Tiered.GetOrLoad].
type LoadOptions struct {
	// Mode selects the tiers; the zero value, ModeAll, uses both.
	Mode Mode
	// Force skips both reads: the loader is called (once among concurrent
	// forced callers) and its answer overwrites the tiers, and other
	// instances drop their L1 copy, as with [Tiered.Set].
	Force bool
	// NoShare makes this caller's load its own: on a miss it calls the
	// loader even when another caller is loading the same key. Reads of L2
	// are still shared. Default false: concurrent misses share one load.
	NoShare bool
	// L1TTL, when > 0, caps how long L1 keeps this key's value: the copy an
	// L2 hit puts in L1, and a loaded Entry whose own L1TTL is zero (see
	// [Entry].L1TTL). Zero: only [TieredOptions].L1MaxTTL caps it.
	L1TTL time.Duration

	// RefreshBefore turns on refresh-ahead: a hit on an entry with less
	// than RefreshBefore left before its TTL ends is answered at once, and
	// starts one background reload of the key, so that readers of a hot
	// key never wait for the origin when it expires. The reload first
	// reads L2 (another instance may have reloaded it) and calls the
	// loader only if L2 is not fresher. Set it longer than the loader
	// takes: readers arriving after the expiry and before the reload ends
	// wait for it. The loader then runs after GetOrLoad has returned, on a
	// goroutine of the Tiered, with a context that carries the caller's
	// values but not its cancellation, cancelled by Close. A reload whose
	// loader fails starts no other reload of the key for a second (the
	// entry is served meanwhile), so that a failing origin gets one call a
	// second per key, not one per read. Zero (the default) reloads nothing
	// ahead of time.
	RefreshBefore time.Duration
	// StaleFor keeps every entry this load writes StaleFor longer than its
	// TTL, and answers a hit on an entry past its TTL (but within StaleFor)
	// with that stale value at once while one background reload runs
	// (stale-while-revalidate). Every load of the key must use the same
	// StaleFor: the fresh part of an entry is worked out as its time left
	// minus StaleFor. Zero (the default) serves nothing stale.
	StaleFor time.Duration
	// LockWait turns on the distributed single-flight, when the shared tier
	// implements [Locker] (redisStore does): on a miss, one instance takes
	// a short lease on the key and calls the loader; the others wait for
	// its L2 write, woken by the invalidation feed or a poll, for at most
	// LockWait, then load by themselves. On the Redis store, reading the
	// key once more after the miss and taking the lease is one round trip,
	// and so is each try of a waiter. The lease lasts LockWait/2, so
	// when its holder dies a waiter takes over within the bound. A
	// background refresh (RefreshBefore, StaleFor) that finds the lease
	// taken waits the same way for the holder's write, while the entry it
	// has keeps answering; past LockWait it gives up, and the next read of
	// the entry starts another. Zero (the default) takes no lease: each
	// instance loads on its own.
	LockWait time.Duration

	// SoftTimeout turns on soft timeouts: each entry this load writes is
	// kept FailSafeFor past its TTL (and StaleFor) as its last good value,
	// and a read of such an entry reloads it, waiting at most SoftTimeout
	// for the fresh answer; past it the read answers the last good value
	// (its Tier names the tier that held it; it counts in [Stats].StaleHits
	// and SoftTimeouts), and the reload goes on, on a goroutine of the
	// Tiered stopped by Close, and fills the tiers when it lands. A reload
	// that fails, or waits in vain for another instance's lease (LockWait),
	// also answers the last good value, and the next read tries again. The
	// reload is shared with the other readers of the key and with a
	// refresh-ahead of it, and runs under the lease with LockWait. Every
	// load of the key must use the same SoftTimeout, FailSafeFor and
	// StaleFor: they say which part of an entry's time left is fresh.
	// Zero (the default) keeps nothing past StaleFor.
	SoftTimeout time.Duration
	// HardTimeout bounds how long a read waits for a load that has no last
	// good value to fall back on (a first load, an entry past FailSafeFor,
	// a Force): past it the read returns an error wrapping
	// context.DeadlineExceeded, and the load goes on in the background as
	// with SoftTimeout and fills the tiers. Zero (the default): a read waits
	// for the loader as long as its context allows.
	HardTimeout time.Duration
	// FailSafeFor is how long, with a SoftTimeout, an entry is kept past its
	// TTL (and StaleFor) as the last good value, in L1 (within its cap) and
	// L2: it bounds how old a soft-timeout answer can be. Zero means one
	// hour; it is ignored without a SoftTimeout.
	FailSafeFor time.Duration

	// StaleIfError turns on stale-if-error: each entry this load writes is
	// kept StaleIfError past its TTL (and StaleFor), as with FailSafeFor
	// (the longer of the two wins), and a read of such an entry reloads it;
	// when the reload fails with an error StaleOnError accepts, the read
	// answers the kept value (its Tier names the tier that held it; it
	// counts in [Stats].StaleHits and StaleIfErrorHits, and OnStale is told).
	// While the reloads of the key fail, its reads answer the kept value at
	// once, without waiting, and one background reload a second (per key,
	// per process) tries again; the first that succeeds ends it. It works
	// with SoftTimeout (a reload slower than it answers the kept value too)
	// and under the lease (LockWait). Every load of the key must use the
	// same StaleIfError. Zero (the default) keeps nothing for it.
	StaleIfError time.Duration
	// StaleOnError reports whether a reload that failed with err may answer
	// the kept value (StaleIfError, SoftTimeout); an error it refuses is
	// returned to the reader. It is called on the goroutine of the load and
	// must be safe for concurrent use. Nil (the default): every error may.
	StaleOnError func(err error) bool
	// OnStale, when set, is called on the reading goroutine before GetOrLoad
	// returns a kept value past its TTL and StaleFor (SoftTimeout,
	// StaleIfError), with the reason: the reload's error, one wrapping
	// context.DeadlineExceeded for a soft timeout, or nil when a reload
	// found nothing fresher. Default nil.
	OnStale func(err error)

	// refreshing marks the load of a background refresh.
	refreshing bool
	// prev is the value a reload hands its loader (see Previous); nil on a
	// cold miss.
	prev *previous
}

// Tiered is the read path L1 ([Local]) → L2 ([Shared]) → origin ([Loader]),
// with stampede protection, graceful degradation when L2 fails, tags, and
// cross-instance L1 invalidation. See the package documentation for the
// flow.
//
// A Tiered is safe for concurrent use. Create one per process and share it;
// it owns one goroutine (the invalidation subscriber), stopped by Close.
type Tiered struct {
	l1   Local
	l2   Shared
	opts TieredOptions
	log  *slog.Logger
	id   string // this instance, in the invalidations it publishes
	// announce is set when writes publish invalidations.
	announce bool

	flight   flight.Group[loaded]  // loads
	l2flight flight.Group[l2Value] // L2 reads
	brk      breaker
	stats    counters

	stopFeed  context.CancelFunc // nil when there is no subscriber
	feedDone  chan struct{}
	feedUp    chan struct{} // closed when the feed is live while NewTiered waits
	feedState atomic.Int32  // feedWaiting, feedLive or feedGaveUp
	closeOnce sync.Once

	bg background // refreshes, lease waiters and batches (refresh.go, lockflight.go, batch.go)

	rq recovery // invalidations waiting for L2 (recovery.go)
}

// NewTiered returns the tiers l1 → l2 → origin. Either tier may be nil: with
// l1 nil every read goes to L2; with l2 nil the cache is in-process only.
//
// When both tiers are present and opts.NoInvalidation is false, NewTiered
// starts a goroutine subscribed to l2's invalidation feed. On a
// [NewRedisStore] it waits for the subscription to be confirmed (one round
// trip), so that no invalidation published after it returns is missed; if
// Redis does not confirm within the store's timeout, NewTiered returns
// anyway, and L1 is purged when the confirmation comes. Every time the feed
// is re-established L1 is purged, because invalidations sent while it was
// down are lost. Close stops it.
//
// NewTiered panics if an option is out of range (see [TieredOptions]).
func NewTiered(l1 Local, l2 Shared, opts TieredOptions) *Tiered {
	switch {
	case opts.Jitter < 0 || opts.Jitter >= 1:
		panic("cache: NewTiered: Jitter must be in [0, 1)")
	case opts.L1MaxTTL < 0, opts.L2Cooldown < 0, opts.L2Failures < 0, opts.MaxRefreshes < 0, opts.RecoveryQueue < 0:
		panic("cache: NewTiered: negative duration or count in TieredOptions")
	}
	if opts.Jitter == 0 {
		opts.Jitter = defaultJitter
	}
	if opts.NoJitter {
		opts.Jitter = 0
	}
	if opts.L2Failures == 0 {
		opts.L2Failures = defaultL2Failures
	}
	if opts.L2Cooldown == 0 {
		opts.L2Cooldown = defaultL2Cooldown
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.RecoveryQueue == 0 {
		opts.RecoveryQueue = defaultRecoveryQueue
	}
	// A nil store pointer in an interface is no store at all.
	if m, ok := l1.(*MemoryStore); ok && m == nil {
		l1 = nil
	}
	if r, ok := l2.(*redisStore); ok && r == nil {
		l2 = nil
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
	t.stats.l1Hits = xsync.NewCounter()
	if l1 != nil && l2 != nil && !opts.NoInvalidation {
		ctx, cancel := context.WithCancel(context.Background())
		t.stopFeed = cancel
		t.feedDone = make(chan struct{})
		t.feedUp = make(chan struct{})
		go t.listen(ctx)
		t.waitFeed()
	}
	return t
}

// Stats returns a snapshot of the counters.
func (t *Tiered) Stats() Stats {
	s := t.stats.snapshot()
	s.RecoveryPending = uint64(t.rq.n.Load())
	s.L2CoolingDown = t.l2 != nil && t.brk.open(monotonic())
	return s
}

// Close stops the invalidation subscriber and the background refreshes
// (cancelling their loaders' contexts), and waits for them to end. It does
// not close the tiers nor the Redis client. It returns nil. The Tiered stays
// usable as a cache, without receiving invalidations from other instances.
// Close is idempotent.
func (t *Tiered) Close() error {
	t.closeOnce.Do(func() {
		t.bg.close()
		if t.stopFeed == nil {
			return
		}
		t.stopFeed()
		<-t.feedDone
	})
	return nil
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
