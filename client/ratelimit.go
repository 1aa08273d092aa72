package client

import (
	"context"
	"fmt"

	"github.com/alovago/alova/ratelimit"
)

// RateLimit returns a Sender that consumes one point of key in l before each
// send of next (alova's rateLimit). Over the limit it never waits and never
// sends: it returns at once a [*ratelimit.LimitedError] (errors.Is(err,
// ratelimit.ErrLimited)) whose RetryAfter says when a point is free again.
// Wrapped in [Retry], a limited send is retried after that wait.
//
// Methods are cheap to build, so wrap one per request to limit per user or
// per client IP:
//
//	s := client.RateLimit(c.Get("/quote"), perUser, "user:"+userID)
//
// When the limiter's store fails, the send is refused with that error (fail
// closed): a limit that protects a paid or fragile downstream should not
// vanish with Redis. RateLimit panics if next or l is nil. The returned
// Sender is safe for concurrent use.
func RateLimit(next Sender, l *ratelimit.Limiter, key string) Sender {
	if next == nil || l == nil {
		panic("client: RateLimit with a nil Sender or Limiter")
	}
	return SenderFunc(func(ctx context.Context) (*Response, error) {
		res, err := l.Allow(ctx, key)
		if err != nil {
			return nil, fmt.Errorf("client: rate limit: %w", err)
		}
		if err := res.Err(); err != nil {
			return nil, err
		}
		return sendHeld(ctx, next)
	})
}
