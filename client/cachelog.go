package client

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"log/slog"

	"github.com/alovago/alova/cache"
)

// logHit records a cache hit of p on the CacheLogger, if there is one (see
// [Options.CacheLogger] for what is logged and why).
func (p *Method) logHit(ctx context.Context, key string, tier cache.Tier, negative bool) {
	l := p.c.s.cacheLog
	if l == nil {
		return
	}
	if p.key != "" { // set by the user: may hold anything
		sum := sha256.Sum256([]byte(key))
		key = "sha256:" + hex.EncodeToString(sum[:8])
	}
	attrs := []slog.Attr{slog.String("tier", tier.String()), slog.String("method", p.verb),
		slog.String("key", key)}
	if name := p.rare().name; name != "" {
		attrs = append(attrs, slog.String("name", name))
	}
	if negative {
		attrs = append(attrs, slog.Bool("error", true))
	}
	l.LogAttrs(ctx, slog.LevelInfo, "client: cache hit", attrs...)
}
