package cache

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"
)

func TestRedisStore(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, b *backend) {
		ctx := context.Background()
		p := b.prefix(t)
		r := NewRedis(b.rdb, p)

		if v, _, err := r.Get(ctx, "absent"); !errors.Is(err, ErrMiss) {
			t.Fatalf("Get(absent) = %q, %v; want ErrMiss", v, err)
		}
		if err := r.Set(ctx, "k", []byte("v\x00bin"), 1500*time.Millisecond); err != nil {
			t.Fatal(err)
		}
		// The TTL is Redis's own.
		if pttl := b.direct.PTTL(ctx, p+"k").Val(); pttl <= time.Second || pttl > 1500*time.Millisecond {
			t.Errorf("PTTL(%q) = %v, want in (1s, 1.5s]", p+"k", pttl)
		}
		v, ttl, err := r.Get(ctx, "k")
		if err != nil || string(v) != "v\x00bin" || ttl <= time.Second || ttl > 1500*time.Millisecond {
			t.Errorf("Get(k) = %q, %v, %v; want %q with ttl in (1s, 1.5s]", v, ttl, err, "v\x00bin")
		}
		// A sub-millisecond TTL is rounded up, not truncated to "no expiry".
		_ = r.Set(ctx, "tiny", []byte("x"), time.Microsecond)
		if pttl := b.direct.PTTL(ctx, p+"tiny").Val(); pttl > time.Millisecond || pttl == -time.Nanosecond {
			t.Errorf("PTTL(tiny) = %v, want <= 1ms", pttl)
		}

		// An entry without expiry reports ttl < 0.
		b.plant(t, p+"forever", "f", 0)
		if v, ttl, err := r.Get(ctx, "forever"); err != nil || string(v) != "f" || ttl >= 0 {
			t.Errorf("Get(forever) = %q, %v, %v; want f with a negative ttl", v, ttl, err)
		}
		// A value the cache did not write is a miss, whatever it holds.
		for _, foreign := range []string{"", "f", "\xa1short", "plain text that is long enough"} {
			b.direct.Set(ctx, p+"foreign", foreign, time.Minute)
			if v, _, err := r.Get(ctx, "foreign"); !errors.Is(err, ErrMiss) {
				t.Errorf("Get(foreign %q) = %q, %v; want ErrMiss", foreign, v, err)
			}
		}
		// The value is framed with its expiry, which matches Redis's TTL.
		raw, _ := b.direct.Get(ctx, p+"k").Bytes()
		if v, exp, ok := decodeL2(raw); !ok || string(v) != "v\x00bin" ||
			time.Until(time.UnixMilli(exp)) > 1500*time.Millisecond || time.Until(time.UnixMilli(exp)) <= time.Second {
			t.Errorf("stored k = %q (%v), want v\\x00bin expiring in (1s, 1.5s]", raw, ok)
		}

		// ttl <= 0 deletes.
		if err := r.Set(ctx, "k", []byte("w"), 0); err != nil {
			t.Fatal(err)
		}
		if _, _, err := r.Get(ctx, "k"); !errors.Is(err, ErrMiss) {
			t.Errorf("Get(k) after Set(ttl 0) = %v, want ErrMiss", err)
		}

		for _, k := range []string{"a", "b", "c"} {
			_ = r.Set(ctx, k, []byte(k), time.Minute)
		}
		if err := r.Delete(ctx, "a", "b", "absent"); err != nil {
			t.Fatal(err)
		}
		if err := r.Delete(ctx); err != nil {
			t.Fatal(err)
		}
		for k, want := range map[string]bool{"a": false, "b": false, "c": true} {
			if got := b.direct.Exists(ctx, p+k).Val() == 1; got != want {
				t.Errorf("after Delete: %q exists = %v, want %v", k, got, want)
			}
		}
	})
}

func TestRedisTags(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, b *backend) {
		ctx := context.Background()
		p := b.prefix(t)
		r := NewRedis(b.rdb, p)
		set := func(key string, ttl time.Duration, tags ...string) {
			t.Helper()
			if err := r.SetTagged(ctx, key, []byte(key), ttl, tags); err != nil {
				t.Fatalf("SetTagged(%q): %v", key, err)
			}
		}
		set("p1", time.Minute, "product:1", "products")
		set("p2", 2*time.Minute, "product:2", "products")
		set("u1", time.Minute, "user:1")
		set("plain", time.Minute)

		// The tag keys share one hash slot: {tags}.
		for _, k := range []string{r.tagAll, r.tagBase + "t:products"} {
			if want := p + "{tags}:"; k[:len(want)] != want {
				t.Errorf("tag key %q does not start with %q", k, want)
			}
		}
		// A tag set lives as long as its longest-lived key.
		if pttl := b.direct.PTTL(ctx, r.tagBase+"t:products").Val(); pttl <= time.Minute || pttl > 2*time.Minute {
			t.Errorf("PTTL(products tag set) = %v, want in (1m, 2m]", pttl)
		}

		tags, err := r.KnownTags(ctx, "product")
		slices.Sort(tags)
		if want := []string{"product:1", "product:2", "products"}; err != nil || !slices.Equal(tags, want) {
			t.Errorf("KnownTags(product) = %q, %v; want %q", tags, err, want)
		}

		if err := r.DeleteTags(ctx, "products"); err != nil {
			t.Fatal(err)
		}
		for k, want := range map[string]bool{"p1": false, "p2": false, "u1": true, "plain": true} {
			if got := b.direct.Exists(ctx, p+k).Val() == 1; got != want {
				t.Errorf("after DeleteTags(products): %q exists = %v, want %v", k, got, want)
			}
		}
		// The deleted tag is gone from the registry; tags whose keys are
		// all gone are pruned when listed.
		tags, _ = r.KnownTags(ctx, "")
		slices.Sort(tags)
		if want := []string{"product:1", "product:2", "user:1"}; !slices.Equal(tags, want) {
			t.Errorf("KnownTags after DeleteTags = %q, want %q", tags, want)
		}
		b.direct.Del(ctx, r.tagBase+"t:product:1", r.tagBase+"t:product:2") // as if expired
		tags, _ = r.KnownTags(ctx, "")
		if want := []string{"user:1"}; !slices.Equal(tags, want) {
			t.Errorf("KnownTags after tag sets expired = %q, want %q", tags, want)
		}
		if n := b.direct.ZCard(ctx, r.tagAll).Val(); n != 1 {
			t.Errorf("registry holds %d names after pruning, want 1", n)
		}
	})
}

func TestRedisTagSetPrunesExpiredKeys(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, b *backend) {
		ctx := context.Background()
		r := NewRedis(b.rdb, b.prefix(t))
		for i := range 3 {
			_ = r.SetTagged(ctx, fmt.Sprint("old", i), []byte("x"), time.Millisecond, []string{"t"})
		}
		time.Sleep(5 * time.Millisecond) // the client clock scores the members
		_ = r.SetTagged(ctx, "new", []byte("x"), time.Minute, []string{"t"})
		members := b.direct.ZRange(ctx, r.tagBase+"t:t", 0, -1).Val()
		if want := []string{"new"}; !slices.Equal(members, want) {
			t.Errorf("tag set members = %q, want %q (expired ones pruned)", members, want)
		}
	})
}

// TestRedisTagRegistryStaysBounded: names of tags whose keys have all expired
// leave the registry on the next tagged write, without KnownTags being called,
// and the registry expires with its last live tag.
func TestRedisTagRegistryStaysBounded(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, b *backend) {
		ctx := context.Background()
		r := NewRedis(b.rdb, b.prefix(t))
		for i := range 50 {
			_ = r.SetTagged(ctx, fmt.Sprint("old", i), []byte("x"), time.Millisecond, []string{fmt.Sprint("url:", i)})
		}
		time.Sleep(5 * time.Millisecond) // the client clock scores the names
		_ = r.SetTagged(ctx, "new", []byte("x"), time.Minute, []string{"url:new"})
		names := b.direct.ZRange(ctx, r.tagAll, 0, -1).Val()
		if want := []string{"url:new"}; !slices.Equal(names, want) {
			t.Errorf("registry = %q, want %q (expired names pruned on write)", names, want)
		}
		if pttl := b.direct.PTTL(ctx, r.tagAll).Val(); pttl <= 0 || pttl > time.Minute {
			t.Errorf("PTTL(registry) = %v, want in (0, 1m]", pttl)
		}
	})
}

func TestRedisErrorsWrap(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, b *backend) {
		ctx := context.Background()
		r := NewRedis(b.rdb, b.prefix(t))
		b.down()
		defer b.up()
		_, _, err := r.Get(ctx, "k")
		if err == nil || errors.Is(err, ErrMiss) {
			t.Fatalf("Get with Redis down = %v, want a Redis error", err)
		}
		// errors.Is/As still see the cause through two wraps.
		wrapped := fmt.Errorf("outer: %w", fmt.Errorf("middle: %w", err))
		if !errors.Is(wrapped, err) {
			t.Errorf("errors.Is through two wraps failed for %v", wrapped)
		}
		if err := r.Set(ctx, "k", []byte("v"), time.Second); err == nil {
			t.Error("Set with Redis down = nil, want an error")
		}
	})
}

func TestNewRedisPanicsOnNilClient(t *testing.T) {
	t.Parallel()
	defer func() {
		if recover() == nil {
			t.Fatal("NewRedis(nil) did not panic")
		}
	}()
	NewRedis(nil, "p:")
}
