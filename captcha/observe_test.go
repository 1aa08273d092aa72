package captcha_test

import (
	"context"
	"errors"
	"testing"

	"github.com/alovago/alova/captcha"
)

// TestOnSendOnVerify: the hooks see each call's error.
func TestOnSendOnVerify(t *testing.T) {
	var sends, verifies []error
	p := captcha.NewProvider(captcha.NewMemoryStore(), captcha.Options{
		OnSend:   func(_ context.Context, err error) { sends = append(sends, err) },
		OnVerify: func(_ context.Context, err error) { verifies = append(verifies, err) },
	})
	ctx := context.Background()
	var code string
	r, err := p.Send(ctx, "k", func(_ context.Context, c, _ string) error { code = c; return nil })
	if err != nil {
		t.Fatal(err)
	}
	_, _ = p.Send(ctx, "k", func(context.Context, string, string) error { return nil }) // too soon
	_ = p.Verify(ctx, "k", r.Challenge, "nope")
	_ = p.Verify(ctx, "k", r.Challenge, code)
	if len(sends) != 2 || sends[0] != nil || !errors.Is(sends[1], captcha.ErrResendTooSoon) {
		t.Errorf("OnSend told %v, want [nil, ErrResendTooSoon]", sends)
	}
	if len(verifies) != 2 || !errors.Is(verifies[0], captcha.ErrInvalidCode) || verifies[1] != nil {
		t.Errorf("OnVerify told %v, want [ErrInvalidCode, nil]", verifies)
	}
}
