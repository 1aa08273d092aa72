package client

import "time"

// L1For returns a copy of p whose in-process copy (L1) lives at most d,
// while the shared copy (L2) keeps the policy's full time (alova sets one
// expiry per tier with its l1/l2 caches): e.g. CacheFor(time.Hour).L1For(
// time.Minute) serves an answer for an hour from Redis, but each process
// re-reads it from Redis at least every minute, so a lost invalidation
// message cannot keep a process stale for long. The cap also applies to the
// copy an L2 hit puts in L1, and adds to [cache.TieredOptions].L1MaxTTL
// (the shorter wins). A d <= 0 removes the cap.
func (p Policy) L1For(d time.Duration) Policy {
	p.l1d = max(d, 0)
	return p
}

// Version returns a copy of p whose entries carry the version tag v
// (alova's cacheFor tag). An entry written under another tag (or under
// none, by an older deploy) reads as a miss: the answer is loaded again and
// overwrites it, in every tier. Change the tag when a deploy changes the
// shape of what the method caches (a new field, a new transform), so that
// no process decodes an answer of the old shape. During a rolling deploy
// the old and the new processes overwrite each other's entries (each
// mismatch costs a downstream call) until the old ones are gone. The tag
// is stored inside the cached entry; "" means no tag.
func (p Policy) Version(v string) Policy {
	return p.with(func(x *policyMore) {
		x.version, x.entryKey = v, nil
		if v != "" {
			x.entryKey = entryMemo{v}
		}
	})
}
