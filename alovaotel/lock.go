package alovaotel

import (
	"context"
	"errors"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/alovago/alova/lock"
)

// LockResultKey is the attribute of alova.lock.wait.duration: "acquired",
// "timeout", "canceled" or "error".
const LockResultKey = attribute.Key("alova.lock.result")

type lockInstruments struct {
	wait                                 metric.Float64Histogram
	acquired, timeout, canceled, failure []metric.RecordOption
}

func (in *Instrumentation) initLock() error {
	var err error
	l := &in.lock
	l.wait, err = in.meter.Float64Histogram("alova.lock.wait.duration", metric.WithUnit("s"),
		metric.WithDescription("Time lock.Acquire took to take its locks (or give up), by result."),
		metric.WithExplicitBucketBoundaries(0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))
	set := func(r string) []metric.RecordOption {
		return []metric.RecordOption{metric.WithAttributeSet(attribute.NewSet(LockResultKey.String(r)))}
	}
	l.acquired, l.timeout, l.canceled, l.failure = set("acquired"), set("timeout"), set("canceled"), set("error")
	return err
}

// LockAcquire is the [lock.Options].OnAcquire hook: it records
// alova.lock.wait.duration by result.
func (in *Instrumentation) LockAcquire(ctx context.Context, waited time.Duration, err error) {
	l := &in.lock
	o := l.acquired
	switch {
	case err == nil:
	case errors.Is(err, lock.ErrTimeout):
		o = l.timeout
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		o = l.canceled
	default:
		o = l.failure
	}
	l.wait.Record(ctx, waited.Seconds(), o...)
}
