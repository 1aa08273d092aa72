package cache

import (
	"context"
	"time"
)

// capL1 is how long L1 keeps an entry that lives ttl: capped by the
// (jittered) L1MaxTTL and by the entry's own (jittered) cap, if > 0.
func (t *Tiered) capL1(ttl, own time.Duration) time.Duration {
	ttl = t.l1TTL(ttl)
	if own > 0 {
		ttl = min(ttl, t.jitter(own))
	}
	return ttl
}

// readL2Only is a ModeL2 read: L2 alone, L1 neither read nor filled.
func (t *Tiered) readL2Only(ctx context.Context, key string) (Value, Tier, error) {
	if t.l2 == nil {
		return Value{}, TierNone, nil
	}
	v, _, err := t.l2Get(ctx, key)
	if err == nil {
		return v, TierL2, nil
	}
	return Value{}, TierNone, ctx.Err() // nil: any other error is a miss

}
