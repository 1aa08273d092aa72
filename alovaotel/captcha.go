package alovaotel

import (
	"context"
	"errors"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/alovago/alova/captcha"
)

// CaptchaResultKey is the attribute of the captcha metrics: "ok", or the
// reason of a failure: "invalid_key", "resend_too_soon", "delivery",
// "store", "invalid_code" or "other".
const CaptchaResultKey = attribute.Key("alova.captcha.result")

type captchaInstruments struct {
	sends, verifies metric.Int64Counter
	results         map[string][]metric.AddOption
}

func (in *Instrumentation) initCaptcha() error {
	var err1, err2 error
	c := &in.captcha
	c.sends, err1 = in.meter.Int64Counter("alova.captcha.sends",
		metric.WithDescription("Captcha sends, by result: ok or the reason of the failure."))
	c.verifies, err2 = in.meter.Int64Counter("alova.captcha.verifies",
		metric.WithDescription("Captcha verifies, by result: ok or the reason of the failure."))
	c.results = make(map[string][]metric.AddOption)
	for _, r := range []string{"ok", "invalid_key", "resend_too_soon", "delivery", "store", "invalid_code", "other"} {
		c.results[r] = []metric.AddOption{metric.WithAttributeSet(attribute.NewSet(CaptchaResultKey.String(r)))}
	}
	return errors.Join(err1, err2)
}

// captchaResult names the outcome of a Send or Verify, in the order the
// captcha package documents (a delivery failure whose rollback failed too is
// a delivery failure).
func captchaResult(err error) string {
	switch {
	case err == nil:
		return "ok"
	case errors.Is(err, captcha.ErrInvalidKey):
		return "invalid_key"
	case errors.Is(err, captcha.ErrResendTooSoon):
		return "resend_too_soon"
	case errors.Is(err, captcha.ErrDelivery):
		return "delivery"
	case errors.Is(err, captcha.ErrStore):
		return "store"
	case errors.Is(err, captcha.ErrInvalidCode):
		return "invalid_code"
	default:
		return "other"
	}
}

// CaptchaSend is the [captcha.Options].OnSend hook: it counts
// alova.captcha.sends by result.
func (in *Instrumentation) CaptchaSend(ctx context.Context, err error) {
	in.captcha.sends.Add(ctx, 1, in.captcha.results[captchaResult(err)]...)
}

// CaptchaVerify is the [captcha.Options].OnVerify hook: it counts
// alova.captcha.verifies by result. A rejected code is "invalid_code"
// whatever the cause (wrong, used, expired, burned): the captcha package
// keeps them indistinguishable on purpose.
func (in *Instrumentation) CaptchaVerify(ctx context.Context, err error) {
	in.captcha.verifies.Add(ctx, 1, in.captcha.results[captchaResult(err)]...)
}
