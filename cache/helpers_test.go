package cache

import (
	"context"
	"errors"
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
	raw, err := b.direct.Get(ctx, k).Bytes()
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
	if err := b.direct.Set(context.Background(), k, encodeL2([]byte(value), exp), ttl).Err(); err != nil {
		t.Fatalf("plant(%q): %v", k, err)
	}
}

// stored returns the value the cache keeps under the Redis key k, "" if none.
func (b *backend) stored(k string) string {
	raw, _ := b.direct.Get(context.Background(), k).Bytes()
	v, _, _ := decodeL2(raw)
	return string(v)
}

// clientOptions are quick to notice an outage, like testredis.Mini's.
func clientOptions(addr string, db int) *redis.Options {
	return &redis.Options{Addr: addr, DB: db, MaxRetries: -1, DialTimeout: 200 * time.Millisecond, DialerRetries: 1,
		ReadTimeout: 200 * time.Millisecond, WriteTimeout: 200 * time.Millisecond}
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

// waitSubscribed waits until tr has received n subscription confirmations.
func waitSubscribed(t *testing.T, tr *Tiered, n int64) {
	t.Helper()
	eventually(t, 5*time.Second, "invalidation subscription", func() bool { return tr.subscribed.Load() >= n })
}

// newTiered builds a Tiered on b with a fresh L1 and closes it at the end.
// Unless the test sets one, the L2 timeout is a generous 2 s, so that a
// loaded machine does not turn L2 hits into misses.
func newTiered(t *testing.T, b *backend, prefix string, opts TieredOptions) *Tiered {
	t.Helper()
	if opts.L2Timeout == 0 {
		opts.L2Timeout = testL2Timeout
	}
	tr := NewTiered(NewLRU(1000), NewRedis(b.rdb, prefix), opts)
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
	return Entry{Value: clone(c.entry.Value), TTL: c.entry.TTL, Tags: c.entry.Tags}, c.err
}

// l1TTL returns the TTL key has left in tr's L1, or fails.
func l1TTL(t *testing.T, tr *Tiered, key string) time.Duration {
	t.Helper()
	_, ttl, err := tr.l1.Get(context.Background(), key)
	if err != nil {
		t.Fatalf("L1 Get(%q): %v", key, err)
	}
	return ttl
}

// inL1 reports whether key has a live entry in tr's L1.
func inL1(tr *Tiered, key string) bool {
	_, _, err := tr.l1.Get(context.Background(), key)
	return !errors.Is(err, ErrMiss)
}

// testL2Timeout is the L2 timeout of tests that do not test timeouts.
const testL2Timeout = 2 * time.Second

// quiet is a logger that drops everything, for tests that provoke errors.
var quiet = slog.New(slog.DiscardHandler)
