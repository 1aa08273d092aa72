package cache

import (
	"context"
	"encoding/json"
	"fmt"
	"time"
)

// TypedEntry is what a [GetOrLoadJSON] loader produces: a value of type T
// with its TTL and tags, as in [Entry].
type TypedEntry[T any] struct {
	Value T
	TTL   time.Duration
	Tags  []string
}

// GetOrLoadJSON is [Tiered.GetOrLoad] for values of type T, cached as JSON:
// on a miss, load's value is encoded and cached; every caller's value is
// decoded from the cached bytes, for it alone, so nothing a caller does to
// its value (a map written, a slice element changed) changes what another
// caller gets: not the callers sharing one load, not the loader's own
// value. The price is one decode per read. An encoding or decoding error is
// returned wrapped (with the zero T); a cached entry that does not decode
// is not removed. For another encoding, call GetOrLoad with a loader that
// encodes.
//
// It panics if t or load is nil.
func GetOrLoadJSON[T any](ctx context.Context, t *Tiered, key string, load func(ctx context.Context) (TypedEntry[T], error), opts LoadOptions) (T, Tier, error) {
	var zero T
	if t == nil || load == nil {
		panic("cache: GetOrLoadJSON with a nil Tiered or loader")
	}
	v, tier, err := t.GetOrLoad(ctx, key, func(ctx context.Context) (Entry, error) {
		te, err := load(ctx)
		if err != nil {
			return Entry{}, err
		}
		b, err := json.Marshal(te.Value)
		if err != nil {
			return Entry{}, fmt.Errorf("cache: encode %T as JSON: %w", te.Value, err)
		}
		return Entry{Value: StringValue(string(b)), TTL: te.TTL, Tags: te.Tags}, nil
	}, opts)
	if err != nil {
		return zero, tier, err
	}
	var out T
	if err := json.Unmarshal([]byte(v.String()), &out); err != nil {
		return zero, tier, fmt.Errorf("cache: decode %T from JSON: %w", out, err)
	}
	return out, tier, nil
}
