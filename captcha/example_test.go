package captcha_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/alovago/alova/captcha"
)

func Example() {
	ctx := context.Background()
	codes := captcha.NewProvider(captcha.NewMemoryStore(), captcha.Options{})

	// deliver stands for the SMS or mail call; note the order (code, key).
	var inbox string
	deliver := func(ctx context.Context, code, key string) error {
		inbox = code
		return nil
	}

	res, err := codes.Send(ctx, "+15550001111", deliver)
	fmt.Println("send:", err, "expires in", res.ExpiresIn, "resend in", res.ResendIn, "digits", len(inbox))

	_, err = codes.Send(ctx, "+15550001111", deliver)
	var tooSoon *captcha.ResendTooSoonError
	fmt.Println("resend refused:", errors.As(err, &tooSoon), tooSoon.RetryAfterSeconds() <= 60)

	// The challenge goes to whoever asked for the code, and comes back with it.
	fmt.Println("wrong code:", codes.Verify(ctx, "+15550001111", res.Challenge, "not-it"))
	fmt.Println("no challenge:", codes.Verify(ctx, "+15550001111", "", inbox))
	fmt.Println("right code:", codes.Verify(ctx, "+15550001111", res.Challenge, inbox))
	// A retry after a lost reply (a timeout) is let in once more, then no more.
	fmt.Println("retried:", codes.Verify(ctx, "+15550001111", res.Challenge, inbox))
	fmt.Println("used again:", codes.Verify(ctx, "+15550001111", res.Challenge, inbox))
	// Output:
	// send: <nil> expires in 5m0s resend in 1m0s digits 6
	// resend refused: true true
	// wrong code: captcha: invalid code
	// no challenge: captcha: invalid code
	// right code: <nil>
	// retried: <nil>
	// used again: captcha: invalid code
}

// A failed delivery is rolled back: the key may ask again at once.
func ExampleProvider_Send_deliveryFails() {
	ctx := context.Background()
	codes := captcha.NewProvider(captcha.NewMemoryStore(), captcha.Options{})

	_, err := codes.Send(ctx, "ann@example.com", func(ctx context.Context, code, key string) error {
		return errors.New("mail server said 451")
	})
	fmt.Println(errors.Is(err, captcha.ErrDelivery), err)

	_, err = codes.Send(ctx, "ann@example.com", func(ctx context.Context, code, key string) error { return nil })
	fmt.Println("again at once:", err)
	// Output:
	// true captcha: delivery failed: mail server said 451
	// again at once: <nil>
}

// Codes shared by every process through Redis (miniredis here), under the
// default prefix, each Redis call bounded by the store's Timeout.
func ExampleNewRedisStore() {
	mr, _ := miniredis.Run()
	defer mr.Close()
	rdb := redis.NewClient(&redis.Options{Addr: mr.Addr()})
	defer rdb.Close()

	store := captcha.NewRedisStore(rdb, captcha.RedisOptions{Timeout: 500 * time.Millisecond})
	codes := captcha.NewProvider(store, captcha.Options{})
	res, err := codes.Send(context.Background(), "ann@example.com", func(context.Context, string, string) error { return nil })
	fmt.Println(err, mr.Keys(), len(res.Challenge))
	// Output:
	// <nil> [alova:captcha:ann@example.com] 32
}
