package cache

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/alovago/alova/internal/testredis"
	"github.com/redis/go-redis/v9"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// backend is a Redis the Redis tests run against: miniredis or the real
// server named by REDIS_URL.
type backend struct {
	name string
	rdb  *redis.Client
	// direct is a client that bypasses any outage (for assertions).
	direct *redis.Client
	// down makes Redis unreachable: closed connections, refused dials.
	down func()
	// up brings it back on the same address, data kept.
	up func()
	mr *miniredis.Miniredis // nil for the real server
	px *proxy               // nil for miniredis
	// addr is the server's own address (behind any proxy).
	addr string
	db   int
}

// age makes the value of the Redis key k look d older: its embedded expiry
// moves d earlier, and so does its TTL in Redis (miniredis's clock is
// fast-forwarded; on the real server the TTL is shortened by d).
func (b *backend) age(t *testing.T, k string, d time.Duration) {
	t.Helper()
	ctx := context.Background()
	raw, err := b.direct.Get(ctx, k).Result()
	v, exp, ok := decodeL2(raw)
	if err != nil || !ok || exp == 0 {
		t.Fatalf("age(%q): value %q, %v is not an expiring cache entry", k, raw, err)
	}
	if err := b.direct.SetArgs(ctx, k, encodeL2(v, exp-d.Milliseconds()), redis.SetArgs{KeepTTL: true}).Err(); err != nil {
		t.Fatalf("age(%q): %v", k, err)
	}
	if b.mr != nil {
		b.mr.FastForward(d)
		return
	}
	pttl := b.direct.PTTL(ctx, k).Val()
	if pttl <= d {
		t.Fatalf("age(%q, %v): PTTL is only %v", k, d, pttl)
	}
	b.direct.PExpire(ctx, k, pttl-d)
}

// plant writes value under the Redis key k as another instance of the cache
// would, living ttl (0: no expiry, in Redis and in the entry).
func (b *backend) plant(t *testing.T, k, value string, ttl time.Duration) {
	t.Helper()
	var exp int64
	if ttl > 0 {
		exp = time.Now().Add(ttl).UnixMilli()
	}
	if err := b.direct.Set(context.Background(), k, encodeL2(StringValue(value), exp), ttl).Err(); err != nil {
		t.Fatalf("plant(%q): %v", k, err)
	}
}

// stored returns the value the cache keeps under the Redis key k, "" if none.
func (b *backend) stored(k string) string {
	raw, _ := b.direct.Get(context.Background(), k).Result()
	v, _, _ := decodeL2(raw)
	return v.String()
}

// clientOptions are quick to notice an outage, like testredis.Mini's.
func clientOptions(addr string, db int) *redis.Options {
	return &redis.Options{Addr: addr, DB: db, MaxRetries: -1, DialTimeout: 200 * time.Millisecond, DialerRetries: 1,
		ReadTimeout: time.Second, WriteTimeout: time.Second}
}

// eachBackend runs body once on miniredis and once on the real Redis of
// REDIS_URL (skipped with a message when it is unset). The real server is
// reached through a TCP proxy, so that the test can take it down and bring it
// back without touching the server others share.
func eachBackend(t *testing.T, body func(t *testing.T, b *backend)) {
	t.Helper()
	t.Run("miniredis", func(t *testing.T) {
		mr, direct := testredis.Mini(t)
		rdb := redis.NewClient(clientOptions(mr.Addr(), 0))
		t.Cleanup(func() { _ = rdb.Close() })
		body(t, &backend{name: "miniredis", rdb: rdb, direct: direct, mr: mr, addr: mr.Addr(),
			down: mr.Close,
			up: func() {
				if err := mr.Restart(); err != nil {
					t.Fatalf("miniredis Restart: %v", err)
				}
			}})
	})
	t.Run("real", func(t *testing.T) {
		direct := testredis.Real(t)
		opt, err := redis.ParseURL(os.Getenv("REDIS_URL"))
		if err != nil {
			t.Fatal(err)
		}
		px := newProxy(t, opt.Addr)
		rdb := redis.NewClient(clientOptions(px.addr, opt.DB))
		t.Cleanup(func() { _ = rdb.Close() })
		body(t, &backend{name: "real", rdb: rdb, direct: direct, px: px, down: px.stop, up: px.start,
			addr: opt.Addr, db: opt.DB})
	})
}

// prefix returns a key prefix unique to the test, cleaned up afterwards.
func (b *backend) prefix(t *testing.T) string {
	t.Helper()
	return testredis.Prefix(t, b.direct)
}

// proxy forwards TCP connections to target until stopped; start listens
// again on the same address. With hang set, it accepts connections and
// never answers: a hung server.
type proxy struct {
	t      testing.TB
	target string
	addr   string
	hang   atomic.Bool

	mu    sync.Mutex
	ln    net.Listener
	conns map[net.Conn]struct{}
	wg    sync.WaitGroup
}

func newProxy(t testing.TB, target string) *proxy {
	t.Helper()
	p := &proxy{t: t, target: target, addr: "127.0.0.1:0", conns: map[net.Conn]struct{}{}}
	p.start()
	t.Cleanup(func() {
		p.stop()
		p.wg.Wait()
	})
	return p
}

func (p *proxy) start() {
	p.t.Helper()
	var ln net.Listener
	var err error
	for deadline := time.Now().Add(2 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if ln, err = net.Listen("tcp", p.addr); err == nil || time.Now().After(deadline) {
			break
		}
	}
	if err != nil {
		p.t.Fatalf("proxy listen %s: %v", p.addr, err)
	}
	p.mu.Lock()
	p.ln = ln
	p.addr = ln.Addr().String()
	p.mu.Unlock()
	p.wg.Add(1)
	go p.accept(ln)
}

func (p *proxy) stop() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		_ = p.ln.Close()
		p.ln = nil
	}
	for c := range p.conns {
		_ = c.Close()
	}
}

func (p *proxy) track(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln == nil {
		return false
	}
	p.conns[c] = struct{}{}
	return true
}

func (p *proxy) untrack(c net.Conn) {
	p.mu.Lock()
	delete(p.conns, c)
	p.mu.Unlock()
	_ = c.Close()
}

func (p *proxy) accept(ln net.Listener) {
	defer p.wg.Done()
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		if !p.track(c) {
			_ = c.Close()
			continue
		}
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			defer p.untrack(c)
			if p.hang.Load() {
				_, _ = io.Copy(io.Discard, c) // swallow everything, answer nothing
				return
			}
			s, err := net.Dial("tcp", p.target)
			if err != nil {
				return
			}
			if !p.track(s) {
				_ = s.Close()
				return
			}
			defer p.untrack(s)
			done := make(chan struct{}, 2)
			go func() { _, _ = io.Copy(s, c); done <- struct{}{} }()
			go func() { _, _ = io.Copy(c, s); done <- struct{}{} }()
			<-done
			_ = c.Close()
			_ = s.Close()
			<-done
		}()
	}
}

// eventually polls cond every millisecond until it holds or within passes.
// It returns how long that took.
func eventually(t *testing.T, within time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for deadline := start.Add(within); ; time.Sleep(time.Millisecond) {
		if cond() {
			return time.Since(start)
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, within)
		}
	}
}

// newRedis is NewRedisStore, as the store it is, for the tests that reach
// into it.
func newRedis(rdb redis.UniversalClient, opts RedisOptions) *redisStore {
	return NewRedisStore(rdb, opts).(*redisStore)
}

// l2Store returns tr's L2, which must be a *redisStore.
func l2Store(t *testing.T, tr *Tiered) *redisStore {
	t.Helper()
	r, ok := tr.l2.(*redisStore)
	if !ok {
		t.Fatalf("L2 is %T, want *redisStore", tr.l2)
	}
	return r
}

// memoryStore returns tr's L1, which must be a *MemoryStore.
func memoryStore(t *testing.T, tr *Tiered) *MemoryStore {
	t.Helper()
	m, ok := tr.l1.(*MemoryStore)
	if !ok {
		t.Fatalf("L1 is %T, want *MemoryStore", tr.l1)
	}
	return m
}

// waitSubscribed waits until tr's feed has received n subscription
// confirmations.
func waitSubscribed(t *testing.T, tr *Tiered, n int64) {
	t.Helper()
	r := l2Store(t, tr)
	eventually(t, 10*time.Second, fmt.Sprintf("invalidation subscription #%d", n), func() bool { return r.subscribed.Load() >= n })
}

// newTiered builds a Tiered on b with a fresh L1 and a redisStore under
// prefix, and closes it at the end. Its Redis timeout is a generous 2 s, so
// that a loaded machine does not turn L2 hits into misses.
func newTiered(t *testing.T, b *backend, prefix string, opts TieredOptions) *Tiered {
	t.Helper()
	return newTieredWith(t, b.rdb, RedisOptions{KeyPrefix: prefix, Timeout: testL2Timeout}, opts)
}

// newTieredWith builds a Tiered with a fresh L1 and a redisStore on rdb with
// ro, and closes it at the end.
func newTieredWith(t *testing.T, rdb redis.UniversalClient, ro RedisOptions, opts TieredOptions) *Tiered {
	t.Helper()
	tr := NewTiered(NewMemoryStore(MemoryOptions{MaxEntries: 1000}), newRedis(rdb, ro), opts)
	t.Cleanup(func() { _ = tr.Close() })
	return tr
}

// counter is a loader that counts its calls and returns a fixed entry.
type counter struct {
	calls atomic.Int64
	entry Entry
	err   error
}

func (c *counter) load(context.Context) (Entry, error) {
	c.calls.Add(1)
	return c.entry, c.err
}

// ttlLeft returns the time key has left in m, or fails if it has no live
// entry. It does not change the LRU order.
func ttlLeft(t *testing.T, m *MemoryStore, key string) time.Duration {
	t.Helper()
	now := m.now()
	e := m.lookup(key)
	ok := e != nil
	if !ok || e.exp <= now {
		t.Fatalf("L1 has no live entry under %q (present %v)", key, ok)
	}
	return time.Duration(e.exp - now)
}

// l1TTL returns the time key has left in tr's L1 (a *MemoryStore), or fails.
func l1TTL(t *testing.T, tr *Tiered, key string) time.Duration {
	t.Helper()
	return ttlLeft(t, memoryStore(t, tr), key)
}

// inL1 reports whether key has a live entry in tr's L1.
func inL1(tr *Tiered, key string) bool {
	_, ok := tr.l1.Get(key)
	return ok
}

// testL2Timeout is the RedisOptions.Timeout of tests that do not test timeouts.
const testL2Timeout = 2 * time.Second

// quiet is a logger that drops everything, for tests that provoke errors.
var quiet = slog.New(slog.DiscardHandler)

// pubsubSpy is a Redis client that keeps the last PubSub it made, so that a
// test can unsubscribe it behind the feed's back.
type pubsubSpy struct {
	*redis.Client
	ps atomic.Pointer[redis.PubSub]
}

func (c *pubsubSpy) Subscribe(ctx context.Context, channels ...string) *redis.PubSub {
	ps := c.Client.Subscribe(ctx, channels...)
	c.ps.Store(ps)
	return ps
}

// fakeShared is an in-process Shared tier whose calls fail while the test
// says so: a tier of the test's own, with no I/O, so that it runs in a
// synctest bubble. Its feed delivers nothing.
type fakeShared struct {
	mu    sync.Mutex
	fail  error
	calls int
	vals  map[string]Value
}

var _ Shared = (*fakeShared)(nil)

// setFail makes every later call fail with err (nil: succeed).
func (f *fakeShared) setFail(err error) {
	f.mu.Lock()
	f.fail = err
	f.mu.Unlock()
}

// callCount returns the number of calls made.
func (f *fakeShared) callCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls
}

// call counts a call and returns the error it must fail with; it leaves
// f.mu locked when it returns nil.
func (f *fakeShared) call() error {
	f.mu.Lock()
	f.calls++
	if err := f.fail; err != nil {
		f.mu.Unlock()
		return err
	}
	return nil
}

func (f *fakeShared) Get(_ context.Context, key string) (Value, time.Duration, error) {
	if err := f.call(); err != nil {
		return Value{}, 0, err
	}
	defer f.mu.Unlock()
	v, ok := f.vals[key]
	if !ok {
		return Value{}, 0, ErrMiss
	}
	return v, time.Minute, nil
}

func (f *fakeShared) Set(_ context.Context, key string, v Value, _ time.Duration, _ []string, _ *Invalidation) error {
	if err := f.call(); err != nil {
		return err
	}
	defer f.mu.Unlock()
	if f.vals == nil {
		f.vals = map[string]Value{}
	}
	f.vals[key] = v
	return nil
}

func (f *fakeShared) Delete(_ context.Context, keys []string, _ *Invalidation) error {
	if err := f.call(); err != nil {
		return err
	}
	defer f.mu.Unlock()
	for _, k := range keys {
		delete(f.vals, k)
	}
	return nil
}

func (f *fakeShared) DeleteTags(context.Context, []string, *Invalidation) ([]string, error) {
	if err := f.call(); err != nil {
		return nil, err
	}
	f.mu.Unlock()
	return nil, nil
}

func (f *fakeShared) KnownTags(context.Context, string) ([]string, error) {
	if err := f.call(); err != nil {
		return nil, err
	}
	f.mu.Unlock()
	return nil, nil
}

func (f *fakeShared) DeleteTagsFunc(context.Context, string, func(string) bool, []string, *Invalidation) ([]string, []string, error) {
	if err := f.call(); err != nil {
		return nil, nil, err
	}
	f.mu.Unlock()
	return nil, nil, nil
}

func (f *fakeShared) Publish(context.Context, Invalidation) error {
	if err := f.call(); err != nil {
		return err
	}
	f.mu.Unlock()
	return nil
}

func (f *fakeShared) Subscribe(ctx context.Context, _ func(Invalidation), live func()) error {
	if live != nil {
		live()
	}
	<-ctx.Done()
	return nil
}
