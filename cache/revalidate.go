package cache

import (
	"context"
	"time"
)

// previous is what a reload hands its loader: the value the tiers hold under
// key (see Previous).
type previous struct {
	key string
	v   Value
}

// prevKey is the context key of the previous value.
type prevKey struct{}

// Previous returns the value a [Tiered] holds under key while it reloads it,
// from inside the [Loader] it calls: a background refresh
// ([LoadOptions].RefreshBefore, StaleFor), the reload of an entry kept past
// its TTL (SoftTimeout, StaleIfError), or a Force over an L1 copy. A loader
// that can ask its origin whether that value is still current (an HTTP
// conditional request) answers with it renewed instead of fetching it again,
// and says so with [Entry].NotModified. ok is false on a cold miss, for
// another key (a loader that sends other loads with its context), and
// outside a loader: the cache never reads L2 to find a previous value, so a
// cold miss costs nothing more. The Value is the one the tiers hold: a
// loader must not trust it more than it trusts its own writes (a value
// another process wrote in L2 is what this one reads anyway). Previous
// never allocates.
func Previous(ctx context.Context, key string) (Value, bool) {
	if p, ok := ctx.Value(prevKey{}).(*previous); ok && p.key == key {
		return p.v, true
	}
	return Value{}, false
}

// withPrevious returns opts whose loads hand v to their loader as the
// previous value of key (see Previous).
func (o LoadOptions) withPrevious(key string, v Value) LoadOptions {
	o.prev = &previous{key: key, v: v}
	return o
}

// loadCtx is the context a load of opts calls its loader with.
func (o LoadOptions) loadCtx(ctx context.Context) context.Context {
	if o.prev == nil {
		return ctx
	}
	return context.WithValue(ctx, prevKey{}, o.prev)
}

// counted counts what a loader said of its answer e (revalidated, not
// modified) and keeps the stale-if-error state of key: a reload that failed
// with an error that allows a stale answer marks key failing, a successful
// one clears it.
func (t *Tiered) counted(key string, e Entry, err error, opts LoadOptions) {
	if err == nil {
		if e.Revalidated || e.NotModified {
			t.stats.revalidations.Add(1)
		}
		if e.NotModified {
			t.stats.notModified.Add(1)
			t.stats.bytesSaved.Add(uint64(max(e.Saved, 0)))
		}
		if opts.StaleIfError > 0 {
			t.bg.recovered(key)
		}
		return
	}
	if opts.StaleIfError > 0 && opts.refreshing && opts.prev != nil && opts.staleOn(err) {
		t.bg.fail(key, err)
	}
}

// staleOn reports whether a reload that failed with err answers the last
// good value under o.
func (o LoadOptions) staleOn(err error) bool {
	return o.StaleOnError == nil || o.StaleOnError(err)
}

// onStale tells o's caller that its read answers a last good value.
func (o LoadOptions) onStale(err error) {
	if o.OnStale != nil {
		o.OnStale(err)
	}
}

// staleRetry is how often, at most, the reload of a key whose last reload
// failed is tried again: under [LoadOptions].StaleIfError, and by
// refresh-ahead (see Tiered.refresh).
const staleRetry = time.Second

// failure is the stale-if-error state of a key whose reload failed.
type failure struct {
	until time.Time // no reload before
	err   error     // the last reload's
}

// fail records that the reload of key failed with err: for staleRetry
// reads of key answer its last good value without reloading. With
// maxYielded keys failing (none due), it records nothing.
func (b *background) fail(key string, err error) {
	now := time.Now()
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.failing == nil {
		b.failing = make(map[string]failure)
	}
	if _, ok := b.failing[key]; !ok && len(b.failing) >= maxYielded {
		for k, f := range b.failing {
			if !now.Before(f.until) {
				delete(b.failing, k)
			}
		}
		if len(b.failing) >= maxYielded {
			return
		}
	}
	b.failing[key] = failure{until: now.Add(staleRetry), err: err}
}

// recovered forgets that the reload of key failed.
func (b *background) recovered(key string) {
	b.mu.Lock()
	if len(b.failing) > 0 {
		delete(b.failing, key)
	}
	b.mu.Unlock()
}

// failed reports whether the last reload of key failed (ok) and with what;
// retry says it is time for another (at most one per staleRetry: the next
// one is not due before staleRetry).
func (b *background) failed(key string) (retry, ok bool, err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	f, ok := b.failing[key]
	if !ok {
		return false, false, nil
	}
	if now := time.Now(); !now.Before(f.until) {
		f.until = now.Add(staleRetry)
		b.failing[key] = f
		retry = true
	}
	return retry, true, f.err
}

// staleIfFailing answers a read of key, whose stale value (from tier) is
// past its TTL, while its reloads fail under [LoadOptions].StaleIfError:
// the stale value at once, and one background reload per staleRetry. ok is
// false when the last reload of key did not fail.
func (t *Tiered) staleIfFailing(ctx context.Context, key string, stale Value, load Loader, opts LoadOptions) (ok bool) {
	retry, ok, err := t.bg.failed(key)
	if !ok {
		return false
	}
	if retry {
		t.refreshAsync(ctx, key, stale, load, opts)
	}
	t.stats.staleHits.Add(1)
	t.stats.staleIfError.Add(1)
	opts.onStale(err)
	return true
}
