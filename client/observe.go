package client

import "context"

// retryKey is the context key of the attempt a retry follows.
type retryKey struct{}

// withRetry returns ctx marked as the context of the send that follows the
// failed attempt ev.
func withRetry(ctx context.Context, ev RetryEvent) context.Context {
	return context.WithValue(ctx, retryKey{}, &ev)
}

// RetryFromContext reports whether ctx is the context of a send that [Retry]
// makes after a failed attempt, and returns that attempt: its number (the
// send under way is attempt ev.Attempt+1), the wait that followed it and its
// error. The first try of a Retry, and a send without Retry, report false.
// Under nested Retry wrappers the innermost one wins. It never allocates and
// is safe for concurrent use; an [Options].StartSend hook reads it to count
// retries and tell them apart in traces.
func RetryFromContext(ctx context.Context) (ev RetryEvent, ok bool) {
	if p, _ := ctx.Value(retryKey{}).(*RetryEvent); p != nil {
		return *p, true
	}
	return RetryEvent{}, false
}
