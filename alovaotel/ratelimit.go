package alovaotel

import (
	"context"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/alovago/alova/ratelimit"
)

// Attribute keys of the rate-limit metric.
const (
	RateLimitNameKey   = attribute.Key("alova.ratelimit.name")
	RateLimitResultKey = attribute.Key("alova.ratelimit.result")
)

func (in *Instrumentation) initLimit() error {
	var err error
	in.limit, err = in.meter.Int64Counter("alova.ratelimit.decisions",
		metric.WithDescription("Rate-limit decisions, by limiter and result (allowed, refused, error)."))
	return err
}

// RateLimit returns the [ratelimit.Options].OnConsume hook of the limiter
// called name: it counts alova.ratelimit.decisions by result. Keys are not
// recorded (they name clients).
func (in *Instrumentation) RateLimit(name string) func(context.Context, ratelimit.Result, error) {
	set := func(result string) []metric.AddOption {
		return []metric.AddOption{metric.WithAttributeSet(attribute.NewSet(RateLimitNameKey.String(name), RateLimitResultKey.String(result)))}
	}
	allowed, refused, failed := set("allowed"), set("refused"), set("error")
	c := in.limit
	return func(ctx context.Context, r ratelimit.Result, err error) {
		switch {
		case err != nil:
			c.Add(ctx, 1, failed...)
		case r.Allowed:
			c.Add(ctx, 1, allowed...)
		default:
			c.Add(ctx, 1, refused...)
		}
	}
}
