package alovaotel

import (
	"context"
	"errors"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/alovago/alova/cache"
)

// Attribute keys of the cache metrics.
const (
	CacheNameKey    = attribute.Key("alova.cache.name")
	CacheTierKey    = attribute.Key("alova.cache.tier")
	CacheOpKey      = attribute.Key("alova.cache.op")
	CacheOutcomeKey = attribute.Key("alova.cache.outcome")
)

type cacheInstruments struct {
	hits, misses, negative, stale                 metric.Int64ObservableCounter
	loads, loadErrors, coalesced                  metric.Int64ObservableCounter
	l2Errors, l2Skipped, lockWaits, lockTakeovers metric.Int64ObservableCounter
	refreshes, invalidations                      metric.Int64ObservableCounter
	softTimeouts, hardTimeouts                    metric.Int64ObservableCounter
	recoveryQueued, recoveryReplayed              metric.Int64ObservableCounter
	recoveryDropped                               metric.Int64ObservableCounter
	revalidations, notModified, bytesSaved        metric.Int64ObservableCounter
	staleIfError                                  metric.Int64ObservableCounter
	coolingDown, recoveryPending                  metric.Int64ObservableGauge
	l2Duration                                    metric.Float64Histogram
}

func (in *Instrumentation) initCache() error {
	m, c := in.meter, &in.cache
	var errs []error
	counter := func(name, desc string) metric.Int64ObservableCounter {
		i, err := m.Int64ObservableCounter(name, metric.WithDescription(desc))
		errs = append(errs, err)
		return i
	}
	c.hits = counter("alova.cache.hits", "Reads answered by a cache tier, by tier.")
	c.misses = counter("alova.cache.misses", "Reads a cache tier could not answer, by tier.")
	c.negative = counter("alova.cache.negative_hits", "Reads answered by a cached loader error.")
	c.stale = counter("alova.cache.stale_hits", "Reads answered with an entry past its TTL.")
	c.loads = counter("alova.cache.loads", "Loader calls.")
	c.loadErrors = counter("alova.cache.load_errors", "Loader calls that returned an error.")
	c.coalesced = counter("alova.cache.coalesced", "Callers that joined a load or L2 read another caller had started.")
	c.l2Errors = counter("alova.cache.l2.errors", "L2 calls that failed or timed out.")
	c.l2Skipped = counter("alova.cache.l2.skipped", "L2 calls not made because L2 was cooling down after failures.")
	c.lockWaits = counter("alova.cache.lock.waits", "Loads that waited for another instance's lease.")
	c.lockTakeovers = counter("alova.cache.lock.takeovers", "Loads that waited for a lease, then loaded by themselves.")
	c.refreshes = counter("alova.cache.refreshes", "Background reloads (refresh-ahead, stale-while-revalidate).")
	c.invalidations = counter("alova.cache.invalidations", "Invalidations received from other instances and applied to L1.")
	c.softTimeouts = counter("alova.cache.soft_timeouts", "Reads answered with the last good value because the reload ran past the soft timeout.")
	c.hardTimeouts = counter("alova.cache.hard_timeouts", "Reads that gave up on a load past the hard timeout.")
	c.recoveryQueued = counter("alova.cache.recovery.queued", "Invalidations queued because L2 failed, to be replayed when it is back.")
	c.recoveryReplayed = counter("alova.cache.recovery.replayed", "Queued invalidations carried out once L2 was back.")
	c.recoveryDropped = counter("alova.cache.recovery.dropped", "Invalidations refused because the recovery queue was full.")
	c.revalidations = counter("alova.cache.revalidations", "Reloads that asked the origin whether the value they reloaded was still current (HTTP conditional requests).")
	c.notModified = counter("alova.cache.not_modified", "Revalidations the origin answered with not modified (HTTP 304): the value was renewed without being sent again.")
	var err error
	c.bytesSaved, err = m.Int64ObservableCounter("alova.cache.bytes_saved", metric.WithUnit("By"),
		metric.WithDescription("Bytes the origin did not send because it answered not modified (the bodies of the 304s)."))
	errs = append(errs, err)
	c.staleIfError = counter("alova.cache.stale_if_error", "Reads answered with the kept value because its reloads failed (stale-if-error).")
	c.coolingDown, err = m.Int64ObservableGauge("alova.cache.l2.cooling_down",
		metric.WithDescription("1 while L2 is skipped after repeated failures (the breaker is open), else 0."))
	errs = append(errs, err)
	c.recoveryPending, err = m.Int64ObservableGauge("alova.cache.recovery.pending",
		metric.WithDescription("Invalidations waiting for L2 to be back."))
	errs = append(errs, err)
	c.l2Duration, err = m.Float64Histogram("alova.cache.l2.duration", metric.WithUnit("s"),
		metric.WithDescription("Duration of the calls of a cache to its L2 (Redis), by op and outcome."),
		metric.WithExplicitBucketBoundaries(0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1))
	errs = append(errs, err)
	return errors.Join(errs...)
}

// ObserveCache reports t's counters and breaker state ([cache.Tiered.Stats])
// with alova.cache.name set to name, each time
// the metrics are collected: the read path pays nothing for them. Give each
// Tiered its own name. Unregister the returned registration to stop (a
// Tiered that is closed can stay registered: its counters stay readable).
func (in *Instrumentation) ObserveCache(name string, t *cache.Tiered) (metric.Registration, error) {
	c := &in.cache
	base := metric.WithAttributeSet(attribute.NewSet(CacheNameKey.String(name)))
	l1 := metric.WithAttributeSet(attribute.NewSet(CacheNameKey.String(name), CacheTierKey.String("l1")))
	l2 := metric.WithAttributeSet(attribute.NewSet(CacheNameKey.String(name), CacheTierKey.String("l2")))
	return in.meter.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		s := t.Stats()
		o.ObserveInt64(c.hits, int64(s.L1Hits), l1)
		o.ObserveInt64(c.hits, int64(s.L2Hits), l2)
		o.ObserveInt64(c.misses, int64(s.L1Misses), l1)
		o.ObserveInt64(c.misses, int64(s.L2Misses), l2)
		for _, v := range []struct {
			i metric.Int64ObservableCounter
			n uint64
		}{
			{c.negative, s.NegativeHits}, {c.stale, s.StaleHits},
			{c.loads, s.Loads}, {c.loadErrors, s.LoadErrors}, {c.coalesced, s.SharedLoads},
			{c.l2Errors, s.L2Errors}, {c.l2Skipped, s.L2Skipped},
			{c.lockWaits, s.LockWaits}, {c.lockTakeovers, s.LockTakeovers},
			{c.refreshes, s.Refreshes}, {c.invalidations, s.Invalidations},
			{c.softTimeouts, s.SoftTimeouts}, {c.hardTimeouts, s.HardTimeouts},
			{c.recoveryQueued, s.RecoveryQueued}, {c.recoveryReplayed, s.RecoveryReplayed},
			{c.recoveryDropped, s.RecoveryDropped},
			{c.revalidations, s.Revalidations}, {c.notModified, s.NotModified},
			{c.bytesSaved, s.BytesSaved}, {c.staleIfError, s.StaleIfErrorHits},
		} {
			o.ObserveInt64(v.i, int64(v.n), base)
		}
		var open int64
		if s.L2CoolingDown {
			open = 1
		}
		o.ObserveInt64(c.coolingDown, open, base)
		o.ObserveInt64(c.recoveryPending, int64(s.RecoveryPending), base)
		return nil
	}, c.hits, c.misses, c.negative, c.stale, c.loads, c.loadErrors, c.coalesced,
		c.l2Errors, c.l2Skipped, c.lockWaits, c.lockTakeovers, c.refreshes, c.invalidations,
		c.softTimeouts, c.hardTimeouts, c.recoveryQueued, c.recoveryReplayed, c.recoveryDropped,
		c.revalidations, c.notModified, c.bytesSaved, c.staleIfError,
		c.coolingDown, c.recoveryPending)
}

// l2Ops are the ops a Tiered reports (see [cache.L2Call]).
var l2Ops = []string{"get", "set", "delete", "delete tags", "known tags", "publish", "lock", "unlock", "get or lock"}

// CacheL2 returns the [cache.TieredOptions].OnL2Call hook of the Tiered
// observed as name: it records alova.cache.l2.duration by op and outcome
// (hit or miss for a get or a get or lock, ok, or error). The attribute
// sets are built once, here, so a call records without allocating.
func (in *Instrumentation) CacheL2(name string) func(context.Context, cache.L2Call) {
	opts := make(map[string]*[3][]metric.RecordOption, len(l2Ops))
	mk := func(op string) *[3][]metric.RecordOption {
		var o [3][]metric.RecordOption
		for i, outcome := range []string{"ok", "miss", "error"} {
			if i == 0 && (op == "get" || op == "get or lock") {
				outcome = "hit"
			}
			o[i] = []metric.RecordOption{metric.WithAttributeSet(attribute.NewSet(CacheNameKey.String(name), CacheOpKey.String(op), CacheOutcomeKey.String(outcome)))}
		}
		return &o
	}
	for _, op := range l2Ops {
		opts[op] = mk(op)
	}
	h := in.cache.l2Duration
	return func(ctx context.Context, c cache.L2Call) {
		o, ok := opts[c.Op]
		if !ok {
			o = mk(c.Op) // an op this package does not know yet
		}
		i := 0
		switch {
		case c.Err == nil:
		case errors.Is(c.Err, cache.ErrMiss):
			i = 1
		default:
			i = 2
		}
		h.Record(ctx, c.Duration.Seconds(), o[i]...)
	}
}
