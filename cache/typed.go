package cache

import (
	"context"
	"encoding/json"
	"fmt"
	"time"
)

// Codec turns the values of a [Typed] cache into bytes and back. It must be
// safe for concurrent use. [JSON] is the default.
type Codec interface {
	Marshal(v any) ([]byte, error)
	Unmarshal(data []byte, v any) error
}

// JSON is the [Codec] of encoding/json.
var JSON Codec = jsonCodec{}

type jsonCodec struct{}

func (jsonCodec) Marshal(v any) ([]byte, error)      { return json.Marshal(v) }
func (jsonCodec) Unmarshal(data []byte, v any) error { return json.Unmarshal(data, v) }

// TypedEntry is what a typed loader produces: a value of type T with its
// TTL and tags, as in [Entry].
type TypedEntry[T any] struct {
	Value T
	TTL   time.Duration
	Tags  []string
}

// Typed reads and loads values of type T through a [Tiered], encoded with
// a [Codec]. Every caller gets a value decoded for it alone from the
// immutable cached bytes, so nothing a caller does to its value (a map
// written, a slice element changed) changes what another caller gets: not
// the callers sharing one load, not the loader's own value. The price is
// one decode per read.
//
// A Typed is safe for concurrent use; create it once per T and key space.
type Typed[T any] struct {
	tiers *Tiered
	codec Codec
}

// NewTyped returns a typed view of tiers. A nil codec means [JSON].
// NewTyped panics if tiers is nil.
func NewTyped[T any](tiers *Tiered, codec Codec) *Typed[T] {
	if tiers == nil {
		panic("cache: NewTyped: nil Tiered")
	}
	if codec == nil {
		codec = JSON
	}
	return &Typed[T]{tiers: tiers, codec: codec}
}

// GetOrLoad is [Tiered.GetOrLoad] for values of type T: on a miss, load's
// value is encoded and cached; every caller's value is decoded from the
// cached bytes. An encoding or decoding error is returned wrapped (with
// the zero T); a cached entry that does not decode is not removed.
func (c *Typed[T]) GetOrLoad(ctx context.Context, key string, load func(ctx context.Context) (TypedEntry[T], error), opts LoadOptions) (T, Tier, error) {
	var zero T
	if load == nil {
		panic("cache: Typed.GetOrLoad: nil loader")
	}
	v, tier, err := c.tiers.GetOrLoad(ctx, key, func(ctx context.Context) (Entry, error) {
		te, err := load(ctx)
		if err != nil {
			return Entry{}, err
		}
		b, err := c.codec.Marshal(te.Value)
		if err != nil {
			return Entry{}, fmt.Errorf("cache: typed encode %T: %w", te.Value, err)
		}
		return Entry{Value: StringValue(string(b)), TTL: te.TTL, Tags: te.Tags}, nil
	}, opts)
	if err != nil {
		return zero, tier, err
	}
	var out T
	if err := c.codec.Unmarshal([]byte(v.String()), &out); err != nil {
		return zero, tier, fmt.Errorf("cache: typed decode %T: %w", out, err)
	}
	return out, tier, nil
}
