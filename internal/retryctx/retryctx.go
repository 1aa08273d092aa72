// Package retryctx carries, in a context, the failed attempt that a retry
// follows: client.Retry puts it there and alovaotel reads it, to count
// retries and tell them apart in traces.
package retryctx

import (
	"context"
	"time"
)

// Failed is an attempt that failed and is being retried.
type Failed struct {
	N     int           // the number of the attempt that failed; 1 is the first try
	Delay time.Duration // the wait that followed it
	Err   error
}

type key struct{}

// With returns ctx marked as the context of the send that follows a.
func With(ctx context.Context, a Failed) context.Context {
	return context.WithValue(ctx, key{}, &a)
}

// From reports whether ctx is the context of a retry, and returns the
// attempt it follows; under nested retries the innermost one wins. It does
// not allocate.
func From(ctx context.Context) (Failed, bool) {
	if p, _ := ctx.Value(key{}).(*Failed); p != nil {
		return *p, true
	}
	return Failed{}, false
}
