package cache

import (
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"time"

	"github.com/alovago/alova/internal/redisop"
	"github.com/redis/go-redis/v9"
)

// Feed tuning of [redisStore.Subscribe].
const (
	// feedBuffer is how many invalidation messages may wait for the
	// subscriber before go-redis blocks reading more.
	feedBuffer = 256
	// feedCheck is how often the subscriber verifies that Redis still
	// delivers to it.
	feedCheck = time.Second
)

// Subscribe calls fn with every [Invalidation] published on the store's
// channel (by any instance, this one included) until ctx ends, then returns
// nil. fn runs on the subscriber's goroutine, one message at a time.
//
// go-redis reconnects and resubscribes a PubSub by itself when its
// connection breaks, but a connection can also stay up without the
// subscription: a SUBSCRIBE answered with an error (a restarting server that
// is still loading its data) is not retried. So every second the subscriber
// publishes an empty message on a channel of its own, subscribed together
// with the shared one: if Redis answers twice in a row that nobody received
// it, the subscription is gone and is replaced by a fresh one. Every
// subscription confirmed after the first (and the first itself, when it
// comes late because Redis was down) calls fn with All set: what was
// published meanwhile is lost.
// live, when not nil, is called when the first subscription is confirmed.
func (r *redisStore) Subscribe(ctx context.Context, fn func(Invalidation), live func()) error {
	var id [8]byte
	_, _ = crand.Read(id[:]) // never fails (crypto/rand)
	own := r.channel + ":" + hex.EncodeToString(id[:])
	check := time.NewTicker(feedCheck)
	defer check.Stop()
	confirmed := 0
	for first := true; ; first = false {
		ps := r.rdb.Subscribe(ctx) // no channel yet: no I/O here
		// An error here (Redis down) is retried by go-redis's channel
		// loop, which reconnects and resubscribes by itself.
		onTime := ps.Subscribe(ctx, r.channel, own) == nil && first
		ch := ps.ChannelWithSubscriptions(redis.WithChannelSize(feedBuffer))
		renew := r.receive(ctx, ch, check.C, own, onTime, &confirmed, fn, live)
		_ = ps.Close()
		for range ch { // let go-redis's goroutine hand over what it holds and end
		}
		if !renew {
			return nil
		}
		r.renewed.Add(1)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(100 * time.Millisecond): // no busy loop if Redis keeps refusing
		}
	}
}

// receive hands the messages of one subscription to fn until ctx ends
// (false) or the subscription is found lost (true).
func (r *redisStore) receive(ctx context.Context, ch <-chan any, check <-chan time.Time, own string, onTime bool,
	confirmed *int, fn func(Invalidation), live func()) (renew bool) {
	misses := 0 // consecutive checks that found nobody subscribed
	for {
		select {
		case <-ctx.Done():
			return false
		case m, ok := <-ch:
			if !ok {
				return ctx.Err() == nil
			}
			switch m := m.(type) {
			case *redis.Subscription:
				if m.Kind != "subscribe" || m.Channel != r.channel {
					continue
				}
				// The confirmation of a subscription made on time needs no
				// purge: nothing was published in between that mattered.
				r.subscribed.Add(1)
				if *confirmed++; *confirmed > 1 || !onTime {
					fn(Invalidation{All: true})
				}
				if *confirmed == 1 && live != nil {
					live()
				}
			case *redis.Message:
				if m.Channel != r.channel {
					continue
				}
				if inv, err := decodeMessage(m.Payload); err == nil {
					fn(inv)
				}
			}
		case <-check:
			n, err := redisop.Do(ctx, r.bound, func(ctx context.Context) (int64, error) {
				return r.rdb.Publish(ctx, own, "").Result()
			})
			switch {
			case err != nil: // Redis unreachable: go-redis is reconnecting
			case n > 0:
				misses = 0
			default:
				// Twice in a row, so that a check racing a (re)subscription
				// in flight on the other connection does not count.
				if misses++; misses >= 2 {
					return true
				}
			}
		}
	}
}
