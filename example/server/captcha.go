package main

import (
	"net/http"
	"strings"

	"github.com/alovago/alova/captcha"
	"github.com/alovago/alova/client"
	"github.com/alovago/alova/handlers"
	"github.com/alovago/alova/middleware"
	"github.com/alovago/alova/ratelimit"
)

// captchaHandler builds POST /captcha/send and POST /captcha/verify: codes kept
// in Redis (so any instance verifies what another sent), delivered by the SMS
// gateway through the request-scoped client with retries, and at most
// -ip-limit requests per -ip-window per client IP on each endpoint, counted in
// Redis across instances.
func (a *app) captchaHandler() http.Handler {
	rdb := a.redis.Client
	codeOpts := captcha.Options{
		TTL:            a.cfg.CodeTTL,
		ResendInterval: a.cfg.ResendInterval,
	}
	limitOpts := ratelimit.Options{
		Points:   a.cfg.IPLimit,
		Duration: a.cfg.IPWindow,
	}
	if a.telemetry != nil {
		codeOpts.OnSend, codeOpts.OnVerify = a.telemetry.otl.CaptchaSend, a.telemetry.otl.CaptchaVerify
		limitOpts.OnConsume = a.telemetry.otl.RateLimit("captcha_ip")
	}
	codes := captcha.NewProvider(captcha.NewRedisStore(rdb, captcha.RedisOptions{KeyPrefix: a.cfg.KeyPrefix + "captcha:", Timeout: a.cfg.RedisTimeout}), codeOpts)
	perIP := ratelimit.New(ratelimit.NewRedisStore(rdb, ratelimit.RedisOptions{KeyPrefix: a.cfg.KeyPrefix + "ratelimit:", Timeout: a.cfg.RedisTimeout}), limitOpts)
	return handlers.Captcha(codes, handlers.CaptchaOptions{
		Deliver: func(c *client.Client, code, key string) client.Sender {
			return c.Post("/sms/send", map[string]string{"to": key, "code": code})
		},
		Retry:       a.retry,
		ValidateKey: emailOrPhone,
		Limiter:     perIP,
		RateLimit:   middleware.RateLimitOptions{Key: captchaLimitKey},
		Logger:      a.log,
	})
}

// emailOrPhone accepts an e-mail address or an E.164 phone number, normalized
// so that every spelling of one is one key.
func emailOrPhone(key string) (string, bool) {
	if k, ok := handlers.EmailKey(key); ok {
		return k, true
	}
	return handlers.PhoneKey(key)
}

// captchaLimitKey counts each endpoint apart: -ip-limit applies to /send and
// to /verify separately, per client IP (as chi's ClientIPFrom* middleware
// found it).
func captchaLimitKey(r *http.Request) string {
	endpoint := "other"
	switch {
	case strings.HasSuffix(r.URL.Path, "/send"):
		endpoint = "send"
	case strings.HasSuffix(r.URL.Path, "/verify"):
		endpoint = "verify"
	}
	return endpoint + ":" + middleware.KeyByIP(r)
}
