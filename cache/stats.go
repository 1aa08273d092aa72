package cache

import (
	"sync/atomic"

	"github.com/puzpuzpuz/xsync/v4"
)

// Stats is a snapshot of a [Tiered]'s counters, all counted since it was
// created. Reading them costs a handful of atomic loads.
type Stats struct {
	// L1Hits and L1Misses count the L1 lookups of reads (Get, GetOrLoad
	// without Force) on a Tiered with an L1.
	L1Hits, L1Misses uint64
	// L2Hits and L2Misses count L2 lookups that Redis answered: one read
	// counts at most one hit or one miss per tier, so the reads of L2 that
	// a load makes again before or under the lease ([LoadOptions].LockWait)
	// are not counted. Concurrent GetOrLoad misses of one key share a
	// single lookup. A failed or skipped lookup counts in L2Errors or
	// L2Skipped instead.
	L2Hits, L2Misses uint64
	// Loads counts loader calls; LoadErrors those that returned an error.
	Loads, LoadErrors uint64
	// SharedLoads counts GetOrLoad callers that joined a load (or L2 lookup)
	// another caller had started instead of starting their own.
	SharedLoads uint64
	// NegativeHits counts reads answered by a cached loader error (see
	// [Negative]); they are also counted in L1Hits.
	NegativeHits uint64
	// L2Errors counts L2 calls that failed or timed out (a miss is not an
	// error); L2Skipped the calls not made because L2 was cooling down after
	// repeated failures.
	L2Errors, L2Skipped uint64
	// Invalidations counts the invalidation messages received from other
	// instances and applied to L1.
	Invalidations uint64

	// Refreshes counts background reloads started by refresh-ahead or a
	// stale hit ([LoadOptions].RefreshBefore, StaleFor); those that called
	// the loader are also counted in Loads. StaleHits counts hits answered
	// with an entry past its TTL.
	Refreshes, StaleHits uint64
	// LockWaits counts loads (background refreshes included) that waited
	// for another instance's lease ([LoadOptions].LockWait); LockTakeovers
	// those that then loaded by themselves (the holder failed, died or was
	// slow past the bound; a refresh never does).
	LockWaits, LockTakeovers uint64
	// BatchLoads counts the loader calls of [Tiered.GetOrLoadBatch] and
	// BatchKeys the keys they asked for.
	BatchLoads, BatchKeys uint64

	// SoftTimeouts counts reads answered with the last good value because
	// the reload ran past [LoadOptions].SoftTimeout (also counted in
	// StaleHits); HardTimeouts the reads that gave up on a load past
	// HardTimeout.
	SoftTimeouts, HardTimeouts uint64
	// RecoveryQueued counts the invalidations queued because L2 failed
	// (see [TieredOptions].RecoveryQueue), RecoveryReplayed those carried
	// out since, RecoveryDropped those refused because the queue was full;
	// RecoveryPending is how many wait now.
	RecoveryQueued, RecoveryReplayed, RecoveryDropped, RecoveryPending uint64

	// Revalidations counts the loads that asked the origin whether the
	// value they reloaded was still current ([Entry].Revalidated);
	// NotModified those it answered that it was (an HTTP 304), and
	// BytesSaved what the origin did not send for them ([Entry].Saved).
	Revalidations, NotModified, BytesSaved uint64
	// StaleIfErrorHits counts the reads answered with the kept value because
	// its reloads failed ([LoadOptions].StaleIfError); they are also
	// counted in StaleHits.
	StaleIfErrorHits uint64

	// L2CoolingDown is true while the Tiered skips L2: after
	// [TieredOptions].L2Failures consecutive failures, L2 is left alone for
	// L2Cooldown, then probed by one call. It is false without an L2.
	L2CoolingDown bool
}

// counters are the live counters behind [Stats]. Each sits on a cache line
// of its own, so that counting one never invalidates another in the other
// cores' caches; l1Hits, which every parallel L1 hit adds to, is an
// xsync.Counter besides: a stripe per processor, so that hits on different
// cores write different lines.
type counters struct {
	l1Hits                     *xsync.Counter // made by NewTiered
	l1Misses, l2Hits           padded
	l2Misses, loads            padded
	loadErrors, sharedLoads    padded
	negativeHits               padded
	l2Errors, l2Skipped        padded
	invalidations              padded
	refreshes, staleHits       padded
	lockWaits, lockTakeovers   padded
	batchLoads, batchKeys      padded
	softTimeouts, hardTimeouts padded // failsafe.go
	recoveryQueued             padded // recovery.go
	recoveryReplayed           padded
	recoveryDropped            padded
	revalidations, notModified padded // revalidate.go
	bytesSaved, staleIfError   padded
}

// cacheLine is the size the counters are padded to.
const cacheLine = 64

// padded is a counter alone on its cache line.
type padded struct {
	atomic.Uint64
	_ [cacheLine - 8]byte
}

func (c *counters) snapshot() Stats {
	return Stats{
		L1Hits:        uint64(c.l1Hits.Value()),
		L1Misses:      c.l1Misses.Load(),
		L2Hits:        c.l2Hits.Load(),
		L2Misses:      c.l2Misses.Load(),
		Loads:         c.loads.Load(),
		LoadErrors:    c.loadErrors.Load(),
		SharedLoads:   c.sharedLoads.Load(),
		NegativeHits:  c.negativeHits.Load(),
		L2Errors:      c.l2Errors.Load(),
		L2Skipped:     c.l2Skipped.Load(),
		Invalidations: c.invalidations.Load(),
		Refreshes:     c.refreshes.Load(),
		StaleHits:     c.staleHits.Load(),
		LockWaits:     c.lockWaits.Load(),
		LockTakeovers: c.lockTakeovers.Load(),
		BatchLoads:    c.batchLoads.Load(),
		BatchKeys:     c.batchKeys.Load(),

		SoftTimeouts:     c.softTimeouts.Load(),
		HardTimeouts:     c.hardTimeouts.Load(),
		RecoveryQueued:   c.recoveryQueued.Load(),
		RecoveryReplayed: c.recoveryReplayed.Load(),
		RecoveryDropped:  c.recoveryDropped.Load(),

		Revalidations:    c.revalidations.Load(),
		NotModified:      c.notModified.Load(),
		BytesSaved:       c.bytesSaved.Load(),
		StaleIfErrorHits: c.staleIfError.Load(),
	}
}
