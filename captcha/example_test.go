package captcha_test

import (
	"context"
	"errors"
	"fmt"

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
	fmt.Println("send:", err, "expires in", res.ExpiresIn, "resend in", res.ResendIn)

	_, err = codes.Send(ctx, "+15550001111", deliver)
	var tooSoon *captcha.ResendTooSoonError
	fmt.Println("resend refused:", errors.As(err, &tooSoon), tooSoon.RetryAfterSeconds() <= 60)

	fmt.Println("wrong code:", codes.Verify(ctx, "+15550001111", "not-it"))
	fmt.Println("right code:", codes.Verify(ctx, "+15550001111", inbox))
	fmt.Println("used again:", codes.Verify(ctx, "+15550001111", inbox))
	// Output:
	// send: <nil> expires in 5m0s resend in 1m0s
	// resend refused: true true
	// wrong code: captcha: invalid code
	// right code: <nil>
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
