package client

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"

	"github.com/alovago/alova/cache"
)

// call is one send that goes through the hook chain: the send's own copy of
// the method, which the hooks see and BeforeRequest may change, and the
// outcome, which the hooks read and may replace (go-redis hands its hooks a
// Cmder the same way).
type call struct {
	m    Method
	r    request // derived once the hooks before the send have run
	resp *Response
	err  error
	tier cache.Tier // where a cached answer or error came from; TierNone if none
}

// sendFunc runs a call; a hook wraps one.
type sendFunc func(ctx context.Context, c *call)

// hook is one link of the chain.
type hook func(next sendFunc) sendFunc

// buildChain returns the send chain of the hooks set in opts, outermost
// first: StartSend, OnComplete, OnError, the cache logger, BeforeRequest,
// then the send itself. It returns nil when no hook is set: every send then
// goes straight to the send itself (see Method.Send), and so a hook added
// here can never be skipped by a fast path.
func buildChain(opts *Options) sendFunc {
	var hooks []hook
	if opts.StartSend != nil {
		hooks = append(hooks, startSendHook(opts.StartSend))
	}
	if opts.OnComplete != nil {
		hooks = append(hooks, onCompleteHook(opts.OnComplete))
	}
	if opts.OnError != nil {
		hooks = append(hooks, onErrorHook(opts.OnError))
	}
	if opts.CacheLogger != nil {
		hooks = append(hooks, cacheLogHook(opts.CacheLogger))
	}
	if opts.BeforeRequest != nil {
		hooks = append(hooks, beforeRequestHook(opts.BeforeRequest))
	}
	if len(hooks) == 0 {
		return nil
	}
	next := sendCall
	for i := len(hooks) - 1; i >= 0; i-- {
		next = hooks[i](next)
	}
	return next
}

// sendCall is the end of the chain: it derives the request from the call's
// method and sends it.
func sendCall(ctx context.Context, c *call) {
	f := c.m.snapshot()
	c.r.derive(&f)
	c.resp, c.tier, c.err = c.r.send(ctx)
}

func startSendHook(start func(context.Context, *Method) (context.Context, func(*Response, error))) hook {
	return func(next sendFunc) sendFunc {
		return func(ctx context.Context, c *call) {
			ctx, end := start(ctx, &c.m)
			next(ctx, c)
			if end != nil {
				end(c.resp, c.err)
			}
		}
	}
}

func onCompleteHook(done func(context.Context, *Method, *Response, error)) hook {
	return func(next sendFunc) sendFunc {
		return func(ctx context.Context, c *call) {
			next(ctx, c)
			done(ctx, &c.m, c.resp, c.err)
		}
	}
}

func onErrorHook(onError func(context.Context, *Method, error) (*Response, error)) hook {
	return func(next sendFunc) sendFunc {
		return func(ctx context.Context, c *call) {
			next(ctx, c)
			if c.err == nil {
				return
			}
			resp, err := onError(ctx, &c.m, c.err)
			switch {
			case resp != nil:
				// alova runs the method's transform on what the error
				// hook answers, as on a network answer.
				c.resp, c.err = resp, nil
				f := c.m.snapshot()
				if fn := f.rare().transform; fn != nil {
					if got, err := fn(ctx, resp); err != nil {
						c.resp, c.err = nil, err
					} else if got != nil {
						c.resp = got
					}
				}
			case err != nil:
				c.err = err
			}
		}
	}
}

func beforeRequestHook(before func(context.Context, *Method) error) hook {
	return func(next sendFunc) sendFunc {
		return func(ctx context.Context, c *call) {
			if err := before(ctx, &c.m); err != nil {
				c.err = refused(&c.m, err)
				return
			}
			next(ctx, c)
		}
	}
}

// refused returns the error of a send of m that BeforeRequest refused
// with err.
func refused(m *Method, err error) error {
	return fmt.Errorf("%w: %s %s: %w", ErrRefused, m.Verb(), redact(m.URL()), err)
}

// cacheLogHook records every cache hit of a send on l (see
// [Options.CacheLogger] for what is logged and why).
func cacheLogHook(l *slog.Logger) hook {
	return func(next sendFunc) sendFunc {
		return func(ctx context.Context, c *call) {
			next(ctx, c)
			if c.tier != cache.TierL1 && c.tier != cache.TierL2 {
				return
			}
			r := &c.r
			key := r.key
			if r.fields.key != "" { // set by the user: may hold anything
				sum := sha256.Sum256([]byte(key))
				key = "sha256:" + hex.EncodeToString(sum[:8])
			}
			attrs := []slog.Attr{slog.String("tier", c.tier.String()), slog.String("method", r.verb),
				slog.String("key", key)}
			if r.name != "" {
				attrs = append(attrs, slog.String("name", r.name))
			}
			if v := r.pol.more().version; v != "" {
				attrs = append(attrs, slog.String("version", v))
			}
			if c.err != nil {
				attrs = append(attrs, slog.Bool("error", true))
			}
			l.LogAttrs(ctx, slog.LevelInfo, "client: cache hit", attrs...)
		}
	}
}
