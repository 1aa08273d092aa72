package captcha_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/alovago/alova/captcha"
)

// TestErrorsThroughWraps: every error a caller switches on is still found
// after two more %w wraps.
func TestErrorsThroughWraps(t *testing.T) {
	p := captcha.NewProvider(captcha.NewMemoryStore(), captcha.Options{})
	var ob outbox
	ch, code := mustSend(t, p, &ob, "k")
	ctx := context.Background()
	_, tooSoon := p.Send(ctx, "k", ob.deliver)
	boom := errors.New("boom")
	_, delivery := p.Send(ctx, "other", func(context.Context, string, string) error { return boom })
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	store := p.Verify(cancelled, "k", ch, code)
	invalid := p.Verify(ctx, "k", ch, "nope")

	tests := []struct {
		name string
		err  error
		want []error
		not  []error
	}{
		{"too soon", tooSoon, []error{captcha.ErrResendTooSoon}, []error{captcha.ErrStore, captcha.ErrDelivery}},
		{"delivery", delivery, []error{captcha.ErrDelivery, boom}, []error{captcha.ErrStore, captcha.ErrResendTooSoon}},
		{"store", store, []error{captcha.ErrStore, context.Canceled}, []error{captcha.ErrInvalidCode}},
		{"invalid", invalid, []error{captcha.ErrInvalidCode}, []error{captcha.ErrStore}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			wrapped := fmt.Errorf("handler: %w", fmt.Errorf("service: %w", tc.err))
			for _, w := range tc.want {
				if !errors.Is(wrapped, w) {
					t.Errorf("errors.Is(%v, %v) = false, want true", wrapped, w)
				}
			}
			for _, w := range tc.not {
				if errors.Is(wrapped, w) {
					t.Errorf("errors.Is(%v, %v) = true, want false", wrapped, w)
				}
			}
		})
	}
	var rt *captcha.ResendTooSoonError
	if !errors.As(fmt.Errorf("a: %w", fmt.Errorf("b: %w", tooSoon)), &rt) || rt.RetryAfter <= 0 || rt.RetryAfter > time.Minute {
		t.Errorf("errors.As(ResendTooSoonError) = %v, want RetryAfter in (0, 1m]", rt)
	}
}

func TestRetryAfterSeconds(t *testing.T) {
	tests := []struct {
		d    time.Duration
		want int
		msg  string
	}{
		{0, 1, "captcha: resend too soon: retry in 1s"},
		{time.Millisecond, 1, "captcha: resend too soon: retry in 1s"},
		{time.Second, 1, "captcha: resend too soon: retry in 1s"},
		{time.Second + time.Millisecond, 2, "captcha: resend too soon: retry in 2s"},
		{59500 * time.Millisecond, 60, "captcha: resend too soon: retry in 60s"},
	}
	for _, tc := range tests {
		e := &captcha.ResendTooSoonError{RetryAfter: tc.d}
		if got := e.RetryAfterSeconds(); got != tc.want {
			t.Errorf("RetryAfterSeconds(%v) = %d, want %d", tc.d, got, tc.want)
		}
		if got := e.Error(); got != tc.msg {
			t.Errorf("Error() = %q, want %q", got, tc.msg)
		}
	}
}
