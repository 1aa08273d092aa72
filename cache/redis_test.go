package cache

import (
	"context"
	"errors"
	"fmt"
	"net"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alovago/alova/internal/redisop"
	"github.com/alovago/alova/internal/testredis"
	"github.com/redis/go-redis/v9"
)

// newStore returns a redisStore on b under a prefix of the test's own, with
// a generous timeout.
func newStore(t *testing.T, b *backend) (*redisStore, string) {
	t.Helper()
	p := b.prefix(t)
	return newRedis(b.rdb, RedisOptions{KeyPrefix: p, Timeout: testL2Timeout}), p
}

func TestRedisStore(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, b *backend) {
		ctx := context.Background()
		r, p := newStore(t, b)

		if v, _, err := r.Get(ctx, "absent"); !errors.Is(err, ErrMiss) {
			t.Fatalf("Get(absent) = %q, %v; want ErrMiss", v.String(), err)
		}
		set := time.Now()
		if err := r.Set(ctx, "k", StringValue("v\x00bin"), 1500*time.Millisecond, nil, nil); err != nil {
			t.Fatal(err)
		}
		// What is left of the 1.5 s TTL when read: at most 1.5 s, at least
		// 1.5 s less the time since the Set (round trips take hundreds of
		// milliseconds on a busy machine), less 10 ms for the rounding to
		// milliseconds.
		left := func(ttl time.Duration) bool {
			return ttl <= 1500*time.Millisecond && ttl > 1500*time.Millisecond-time.Since(set)-10*time.Millisecond
		}
		// The TTL is Redis's own.
		if pttl := b.direct.PTTL(ctx, p+"k").Val(); !left(pttl) {
			t.Errorf("PTTL(%q) = %v %v after the Set, want what is left of 1.5s", p+"k", pttl, time.Since(set))
		}
		// The value is framed with its expiry, which matches Redis's TTL.
		raw, _ := b.direct.Get(ctx, p+"k").Result()
		if v, exp, ok := decodeL2(raw); !ok || v.String() != "v\x00bin" || !left(time.Until(time.UnixMilli(exp))) {
			t.Errorf("stored k = %q (%v) %v after the Set, want v\\x00bin expiring in what is left of 1.5s", raw, ok, time.Since(set))
		}
		v, ttl, err := r.Get(ctx, "k")
		if err != nil || v.String() != "v\x00bin" || !left(ttl) {
			t.Errorf("Get(k) = %q, %v, %v %v after the Set; want %q with what is left of 1.5s", v.String(), ttl, err, time.Since(set), "v\x00bin")
		}
		// A sub-millisecond TTL is rounded up, not truncated to "no expiry".
		_ = r.Set(ctx, "tiny", StringValue("x"), time.Microsecond, nil, nil)
		if pttl := b.direct.PTTL(ctx, p+"tiny").Val(); pttl > time.Millisecond || pttl == -time.Nanosecond {
			t.Errorf("PTTL(tiny) = %v, want <= 1ms", pttl)
		}

		// An entry without expiry reports ttl < 0.
		b.plant(t, p+"forever", "f", 0)
		if v, ttl, err := r.Get(ctx, "forever"); err != nil || v.String() != "f" || ttl >= 0 {
			t.Errorf("Get(forever) = %q, %v, %v; want f with a negative ttl", v.String(), ttl, err)
		}
		// A value the cache did not write is a miss, whatever it holds.
		for _, foreign := range []string{"", "f", "\xa1short", "plain text that is long enough"} {
			b.direct.Set(ctx, p+"foreign", foreign, time.Minute)
			if v, _, err := r.Get(ctx, "foreign"); !errors.Is(err, ErrMiss) {
				t.Errorf("Get(foreign %q) = %q, %v; want ErrMiss", foreign, v.String(), err)
			}
		}
		// An entry whose embedded expiry has passed is a miss, even if Redis
		// has not evicted it yet.
		b.direct.Set(ctx, p+"past", encodeL2(StringValue("p"), time.Now().Add(-time.Second).UnixMilli()), time.Minute)
		if v, _, err := r.Get(ctx, "past"); !errors.Is(err, ErrMiss) {
			t.Errorf("Get(past) = %q, %v; want ErrMiss", v.String(), err)
		}

		// ttl <= 0 deletes.
		if err := r.Set(ctx, "k", StringValue("w"), 0, nil, nil); err != nil {
			t.Fatal(err)
		}
		if _, _, err := r.Get(ctx, "k"); !errors.Is(err, ErrMiss) {
			t.Errorf("Get(k) after Set(ttl 0) = %v, want ErrMiss", err)
		}

		for _, k := range []string{"a", "b", "c"} {
			_ = r.Set(ctx, k, StringValue(k), time.Minute, nil, nil)
		}
		if err := r.Delete(ctx, []string{"a", "b", "absent"}, nil); err != nil {
			t.Fatal(err)
		}
		if err := r.Delete(ctx, nil, nil); err != nil {
			t.Fatal(err)
		}
		for k, want := range map[string]bool{"a": false, "b": false, "c": true} {
			if got := b.direct.Exists(ctx, p+k).Val() == 1; got != want {
				t.Errorf("after Delete: %q exists = %v, want %v", k, got, want)
			}
		}
	})
}

// TestRedisStoreValueImmutable: a Get hands out the reply's memory, and no
// caller can change what the next Get returns.
func TestRedisStoreValueImmutable(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, b *backend) {
		ctx := context.Background()
		r, _ := newStore(t, b)
		in := []byte("original")
		_ = r.Set(ctx, "k", ValueOf(in), time.Minute, nil, nil)
		in[0] = 'X'
		v, _, _ := r.Get(ctx, "k")
		v.Bytes()[0] = 'Y'
		if again, _, err := r.Get(ctx, "k"); again.String() != "original" || v.String() != "original" || err != nil {
			t.Fatalf("after callers changed their slices: Get = %q (%v), earlier value %q; want original", again.String(), err, v.String())
		}
	})
}

func TestRedisTags(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, b *backend) {
		ctx := context.Background()
		r, p := newStore(t, b)
		set := func(key string, ttl time.Duration, tags ...string) {
			t.Helper()
			if err := r.Set(ctx, key, StringValue(key), ttl, tags, nil); err != nil {
				t.Fatalf("Set(%q): %v", key, err)
			}
		}
		set("p1", time.Minute, "product:1", "products")
		set("p2", 2*time.Minute, "product:2", "products")
		set("u1", time.Minute, "user:1")
		set("plain", time.Minute)

		// A tag's keys share its shard's hash tag; the channel keeps {tags}.
		sh := fmt.Sprintf("%s{tags:%02d}:", p, shardOf("products"))
		for _, k := range []string{tagSetKey(r, "products"), r.tags.shards[shardOf("products")].reg, r.tags.shards[shardOf("products")].lex} {
			if !strings.HasPrefix(k, sh) {
				t.Errorf("tag key %q does not start with %q", k, sh)
			}
		}
		if want := p + "{tags}:invalidate"; r.channel != want {
			t.Errorf("channel = %q, want %q", r.channel, want)
		}
		// A tag set lives as long as its longest-lived key.
		if pttl := b.direct.PTTL(ctx, tagSetKey(r, "products")).Val(); pttl <= time.Minute || pttl > 2*time.Minute {
			t.Errorf("PTTL(products tag set) = %v, want in (1m, 2m]", pttl)
		}

		tags, err := r.KnownTags(ctx, "product")
		slices.Sort(tags)
		if want := []string{"product:1", "product:2", "products"}; err != nil || !slices.Equal(tags, want) {
			t.Errorf("KnownTags(product) = %q, %v; want %q", tags, err, want)
		}

		keys, err := r.DeleteTags(ctx, []string{"products", "product:1", "no such tag"}, nil)
		if want := []string{"p1", "p2"}; err != nil || !slices.Equal(keys, want) {
			t.Errorf("DeleteTags = %q, %v; want the keys %q, sorted, once each", keys, err, want)
		}
		for k, want := range map[string]bool{"p1": false, "p2": false, "u1": true, "plain": true} {
			if got := b.direct.Exists(ctx, p+k).Val() == 1; got != want {
				t.Errorf("after DeleteTags(products): %q exists = %v, want %v", k, got, want)
			}
		}
		if keys, err := r.DeleteTags(ctx, nil, nil); keys != nil || err != nil {
			t.Errorf("DeleteTags(no tags) = %q, %v", keys, err)
		}
		// The deleted tags are gone from the registry; tags whose keys are
		// all gone are pruned when listed.
		tags, _ = r.KnownTags(ctx, "")
		slices.Sort(tags)
		if want := []string{"product:2", "user:1"}; !slices.Equal(tags, want) {
			t.Errorf("KnownTags after DeleteTags = %q, want %q", tags, want)
		}
		expire(t, b.direct, r, "product:2")
		tags, _ = r.KnownTags(ctx, "")
		if want := []string{"user:1"}; !slices.Equal(tags, want) {
			t.Errorf("KnownTags after tag sets expired = %q, want %q", tags, want)
		}
		if names := registry(t, b.direct, r); !slices.Equal(names, []string{"user:1"}) {
			t.Errorf("registry holds %q after pruning, want [user:1]", names)
		}
	})
}

func TestRedisTagSetPrunesExpiredKeys(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, b *backend) {
		ctx := context.Background()
		r, _ := newStore(t, b)
		for i := range 3 {
			_ = r.Set(ctx, fmt.Sprint("old", i), StringValue("x"), time.Millisecond, []string{"t"}, nil)
		}
		time.Sleep(5 * time.Millisecond) // the client clock scores the members
		_ = r.Set(ctx, "new", StringValue("x"), time.Minute, []string{"t"}, nil)
		members := b.direct.ZRange(ctx, tagSetKey(r, "t"), 0, -1).Val()
		if want := []string{"new"}; !slices.Equal(members, want) {
			t.Errorf("tag set members = %q, want %q (expired ones pruned)", members, want)
		}
	})
}

// TestRedisTagRegistryStaysBounded: names of tags whose keys have all expired
// leave the registry on the next tagged write to their shard, without
// KnownTags being called, and a shard's registry expires with its last live
// tag.
func TestRedisTagRegistryStaysBounded(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, b *backend) {
		ctx := context.Background()
		r, _ := newStore(t, b)
		for i := range 50 {
			_ = r.Set(ctx, fmt.Sprint("old", i), StringValue("x"), time.Millisecond, []string{fmt.Sprint("url:", i)}, nil)
		}
		time.Sleep(5 * time.Millisecond) // the client clock scores the names
		// A write prunes the shards it writes to: write to them all.
		var want []string
		shards := map[int]bool{}
		for i := 0; len(shards) < tagShards; i++ {
			tag := fmt.Sprint("url:new", i)
			want = append(want, tag)
			shards[shardOf(tag)] = true
		}
		_ = r.Set(ctx, "new", StringValue("x"), time.Minute, want, nil)
		names := registry(t, b.direct, r)
		if slices.Sort(want); !slices.Equal(names, want) {
			t.Errorf("registry = %q, want %q (expired names pruned on write)", names, want)
		}
		if pttl := b.direct.PTTL(ctx, r.tags.shards[shardOf("url:new0")].reg).Val(); pttl <= 0 || pttl > time.Minute {
			t.Errorf("PTTL(registry) = %v, want in (0, 1m]", pttl)
		}
	})
}

// listen subscribes to r's invalidation channel with a client of its own
// and returns the invalidations received so far.
func listen(t *testing.T, b *backend, r *redisStore) func() []Invalidation {
	t.Helper()
	ctx := context.Background()
	ps := b.direct.Subscribe(ctx, r.channel)
	t.Cleanup(func() { _ = ps.Close() })
	if _, err := ps.Receive(ctx); err != nil { // the confirmation
		t.Fatalf("subscribe %q: %v", r.channel, err)
	}
	var mu sync.Mutex
	var got []Invalidation
	go func() {
		for m := range ps.Channel() {
			inv, err := decodeMessage(m.Payload)
			if err != nil {
				t.Errorf("undecodable invalidation %q: %v", m.Payload, err)
				continue
			}
			mu.Lock()
			got = append(got, inv)
			mu.Unlock()
		}
	}()
	return func() []Invalidation {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(got)
	}
}

// TestRedisStoreAnnounce: a write with an announcement publishes it with the
// change (DeleteTags adds the keys it found); one without publishes nothing.
func TestRedisStoreAnnounce(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, b *backend) {
		ctx := context.Background()
		r, _ := newStore(t, b)
		received := listen(t, b, r)
		_ = r.Set(ctx, "quiet", StringValue("q"), time.Minute, []string{"u"}, nil)
		_ = r.Delete(ctx, []string{"quiet"}, nil)
		_, _ = r.DeleteTags(ctx, []string{"u"}, nil)

		ann := func(keys, tags []string) *Invalidation { return &Invalidation{From: "me", Keys: keys, Tags: tags} }
		if err := r.Set(ctx, "a", StringValue("a"), time.Minute, []string{"t"}, ann([]string{"a"}, nil)); err != nil {
			t.Fatal(err)
		}
		_ = r.Set(ctx, "b", StringValue("b"), time.Minute, []string{"t"}, nil)
		if err := r.Set(ctx, "gone", StringValue("g"), 0, nil, ann([]string{"gone"}, nil)); err != nil {
			t.Fatal(err)
		}
		if err := r.Delete(ctx, []string{"x", "y"}, ann([]string{"x", "y"}, nil)); err != nil {
			t.Fatal(err)
		}
		announce := ann(nil, []string{"t"})
		if keys, err := r.DeleteTags(ctx, []string{"t"}, announce); err != nil || !slices.Equal(keys, []string{"a", "b"}) {
			t.Fatalf("DeleteTags = %q, %v", keys, err)
		}
		if announce.Keys != nil {
			t.Errorf("DeleteTags changed the caller's announcement: %+v", announce)
		}
		if err := r.Publish(ctx, Invalidation{From: "me", All: true}); err != nil {
			t.Fatal(err)
		}
		want := []Invalidation{
			{From: "me", Keys: []string{"a"}},
			{From: "me", Keys: []string{"gone"}},
			{From: "me", Keys: []string{"x", "y"}},
			{From: "me", Keys: []string{"a", "b"}, Tags: []string{"t"}},
			{From: "me", All: true},
		}
		eventually(t, 5*time.Second, "all announcements received", func() bool { return len(received()) >= len(want) })
		if got := received(); !reflect.DeepEqual(got, want) {
			t.Errorf("received %+v\nwant     %+v", got, want)
		}
	})
}

// TestRedisStoreSubscribe: Subscribe delivers every invalidation, this
// store's own included, in order; a subscription confirmed on time calls fn
// with nothing more, and a late one (Redis was down at first) with All set;
// it returns nil when ctx ends.
func TestRedisStoreSubscribe(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, b *backend) {
		for _, late := range []bool{false, true} {
			t.Run(fmt.Sprintf("late=%v", late), func(t *testing.T) {
				ctx, cancel := context.WithCancel(context.Background())
				defer cancel()
				// A client of its own that counts failed dials: the
				// subscriber is its only user while Redis is down.
				var failedDials atomic.Int64
				opt := clientOptions(b.rdb.Options().Addr, b.rdb.Options().DB)
				opt.Dialer = func(ctx context.Context, network, addr string) (net.Conn, error) {
					c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
					if err != nil {
						failedDials.Add(1)
					}
					return c, err
				}
				rdb := redis.NewClient(opt)
				t.Cleanup(func() { _ = rdb.Close() })
				r := newRedis(rdb, RedisOptions{KeyPrefix: b.prefix(t), Timeout: testL2Timeout})
				var mu sync.Mutex
				var got []Invalidation
				received := func() []Invalidation {
					mu.Lock()
					defer mu.Unlock()
					return slices.Clone(got)
				}
				if late {
					b.down()
				}
				done := make(chan error, 1)
				go func() {
					done <- r.Subscribe(ctx, func(inv Invalidation) {
						mu.Lock()
						got = append(got, inv)
						mu.Unlock()
					}, nil)
				}()
				if late {
					eventually(t, 5*time.Second, "the first SUBSCRIBE fails", func() bool { return failedDials.Load() > 0 })
					b.up()
				}
				eventually(t, 10*time.Second, "subscription confirmed", func() bool { return r.subscribed.Load() == 1 })
				var want []Invalidation
				if late {
					want = append(want, Invalidation{All: true})
				}
				if err := r.Delete(ctx, []string{"k"}, &Invalidation{From: "x", Keys: []string{"k"}}); err != nil {
					t.Fatal(err)
				}
				if err := r.Publish(ctx, Invalidation{From: "y", Tags: []string{"t"}}); err != nil {
					t.Fatal(err)
				}
				// Messages of another format on the channel are ignored.
				b.direct.Publish(ctx, r.channel, "\x01junk")
				if err := r.Publish(ctx, Invalidation{From: "z", All: true}); err != nil {
					t.Fatal(err)
				}
				want = append(want, Invalidation{From: "x", Keys: []string{"k"}}, Invalidation{From: "y", Tags: []string{"t"}},
					Invalidation{From: "z", All: true})
				eventually(t, 5*time.Second, "invalidations delivered", func() bool { return len(received()) >= len(want) })
				cancel()
				select {
				case err := <-done:
					if err != nil {
						t.Errorf("Subscribe returned %v after ctx ended, want nil", err)
					}
				case <-time.After(5 * time.Second):
					t.Fatal("Subscribe still running 5s after its ctx ended")
				}
				if got := received(); !reflect.DeepEqual(got, want) {
					t.Errorf("fn got %+v\nwant   %+v", got, want)
				}
				if n := r.renewed.Load(); n != 0 {
					t.Errorf("subscriptions renewed = %d, want 0", n)
				}
			})
		}
	})
}

func TestRedisErrorsWrap(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, b *backend) {
		ctx := context.Background()
		r, _ := newStore(t, b)
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
		calls := map[string]func() error{
			"Set":        func() error { return r.Set(ctx, "k", StringValue("v"), time.Second, []string{"t"}, nil) },
			"Delete":     func() error { return r.Delete(ctx, []string{"k"}, nil) },
			"DeleteTags": func() error { _, err := r.DeleteTags(ctx, []string{"t"}, nil); return err },
			"KnownTags":  func() error { _, err := r.KnownTags(ctx, ""); return err },
			"Publish":    func() error { return r.Publish(ctx, Invalidation{All: true}) },
		}
		for name, call := range calls {
			if err := call(); err == nil || errors.Is(err, ErrMiss) {
				t.Errorf("%s with Redis down = %v, want a Redis error", name, err)
			}
		}
	})
}

// TestRedisStoreTimeout: RedisOptions.Timeout bounds every call on a server
// that never answers, whether or not the client bounds its own I/O by
// context deadlines, even with a long client ReadTimeout.
func TestRedisStoreTimeout(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, b *backend) {
		for _, ctxDeadlines := range []bool{false, true} {
			t.Run(fmt.Sprintf("ContextTimeoutEnabled=%v", ctxDeadlines), func(t *testing.T) {
				px := newProxy(t, b.addr)
				opt := clientOptions(px.addr, b.db)
				opt.ReadTimeout, opt.WriteTimeout = 3*time.Second, 3*time.Second
				opt.ContextTimeoutEnabled = ctxDeadlines
				rdb := redis.NewClient(opt)
				t.Cleanup(func() { _ = rdb.Close() })
				t.Cleanup(px.stop) // end the abandoned reads before the client closes
				px.hang.Store(true)
				r := newRedis(rdb, RedisOptions{KeyPrefix: b.prefix(t), Timeout: 50 * time.Millisecond})
				if got := r.bound.Timeout(); got != 50*time.Millisecond {
					t.Fatalf("bound = %v, want 50ms", got)
				}
				start := time.Now()
				_, _, err := r.Get(context.Background(), "k")
				if took := time.Since(start); err == nil || took > time.Second {
					t.Fatalf("Get on a hung server = %v after %v; want an error after about 50ms", err, took)
				}
				// Without ContextTimeoutEnabled the store stops waiting at its
				// deadline; with it, the client fails the read itself.
				if !ctxDeadlines && !errors.Is(err, context.DeadlineExceeded) {
					t.Errorf("Get on a hung server = %v, want it to wrap context.DeadlineExceeded", err)
				}
				start = time.Now()
				if err := r.Set(context.Background(), "k", StringValue("v"), time.Minute, []string{"t"}, nil); err == nil || time.Since(start) > time.Second {
					t.Errorf("Set on a hung server = %v after %v; want an error after about 50ms", err, time.Since(start))
				}
			})
		}
	})
}

func TestNewRedisStoreOptions(t *testing.T) {
	t.Parallel()
	mustPanic := func(name string, f func()) {
		t.Helper()
		defer func() {
			if recover() == nil {
				t.Errorf("%s did not panic", name)
			}
		}()
		f()
	}
	_, rdb := testredis.Mini(t)
	mustPanic("newRedis(nil)", func() { newRedis(nil, RedisOptions{KeyPrefix: "p:"}) })
	mustPanic("newRedis(negative Timeout)", func() { newRedis(rdb, RedisOptions{Timeout: -time.Second}) })

	// The zero options: the default prefix and timeout.
	r := newRedis(rdb, RedisOptions{})
	if r.prefix != defaultKeyPrefix || r.bound.Timeout() != redisop.DefaultTimeout {
		t.Errorf("zero options: prefix %q, timeout %v; want %q, %v", r.prefix, r.bound.Timeout(), defaultKeyPrefix, redisop.DefaultTimeout)
	}
	ctx := context.Background()
	if err := r.Set(ctx, "k", StringValue("v"), time.Minute, []string{"t"}, nil); err != nil {
		t.Fatal(err)
	}
	sh := fmt.Sprintf("alova:cache:{tags:%02d}:", shardOf("t"))
	for _, k := range []string{"alova:cache:k", sh + "reg", sh + "lex", sh + "t:t"} {
		if rdb.Exists(ctx, k).Val() != 1 {
			t.Errorf("with the default prefix, %q was not written", k)
		}
	}
}

// lateFeed is a redisStore whose feed subscribes late, as on a slow Redis.
type lateFeed struct {
	*redisStore
	delay time.Duration
}

func (s lateFeed) Subscribe(ctx context.Context, fn func(Invalidation), live func()) error {
	select {
	case <-time.After(s.delay):
	case <-ctx.Done():
		return nil
	}
	return s.redisStore.Subscribe(ctx, fn, live)
}

// An instance that copies an entry into L1 right after NewTiered returns
// still hears the invalidation of that entry published next, however late
// Redis confirms its subscription: NewTiered waits for the feed up to
// feedWait, and past that L1 is purged when the feed is live.
func TestNewTieredWaitsForTheFeed(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, b *backend) {
		for _, tc := range []struct {
			name           string
			timeout, delay time.Duration
		}{
			{"confirmed while NewTiered waits", 2 * time.Second, feedWait / 4},
			{"confirmed after it gave up", 100 * time.Millisecond, feedWait + 300*time.Millisecond},
		} {
			t.Run(tc.name, func(t *testing.T) {
				ctx := context.Background()
				p := b.prefix(t)
				store := func() *redisStore { return newRedis(b.rdb, RedisOptions{KeyPrefix: p, Timeout: tc.timeout}) }
				a := NewTiered(NewMemoryStore(MemoryOptions{MaxEntries: 10}), store(), TieredOptions{})
				defer a.Close()
				set := func(v string) {
					t.Helper()
					if err := a.Set(ctx, "k", Entry{Value: StringValue(v), TTL: time.Minute}, ModeAll); err != nil {
						t.Fatalf("A.Set(k, %s): %v", v, err)
					}
				}
				set("v1")
				c := NewTiered(NewMemoryStore(MemoryOptions{MaxEntries: 10}), lateFeed{store(), tc.delay}, TieredOptions{})
				defer c.Close()
				if v, tier, err := c.Get(ctx, "k", ModeAll); err != nil || v.String() != "v1" || tier != TierL2 {
					t.Fatalf("C.Get(k) = %q from %v, %v; want v1 from L2", v.String(), tier, err)
				}
				set("v2")
				deadline := time.Now().Add(tc.delay + 2*time.Second)
				for {
					v, tier, err := c.Get(ctx, "k", ModeAll)
					if err == nil && v.String() == "v2" {
						break
					}
					if time.Now().After(deadline) {
						t.Fatalf("C.Get(k) = %q from %v, %v, %v after A wrote v2: C missed the invalidation", v.String(), tier, err, tc.delay+2*time.Second)
					}
					time.Sleep(10 * time.Millisecond)
				}
			})
		}
	})
}
