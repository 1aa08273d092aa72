package captcha_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/goleak"

	"github.com/alovago/alova/captcha"
	"github.com/alovago/alova/internal/testredis"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// backend is a place records can live. open returns a function making stores
// that share state, like separate processes on one Redis.
type backend struct {
	name string
	open func(t *testing.T) (newStore func() captcha.Store)
}

// backends lists the memory store, miniredis and the real Redis of REDIS_URL
// (skipped when unset).
func backends() []backend {
	return []backend{
		{"memory", func(t *testing.T) func() captcha.Store {
			t.Helper()
			s := captcha.NewMemoryStore()
			return func() captcha.Store { return s }
		}},
		{"miniredis", func(t *testing.T) func() captcha.Store {
			t.Helper()
			mr, _ := testredis.Mini(t)
			prefix := testredis.Prefix(t, nil)
			return func() captcha.Store { return captcha.NewRedisStore(slowClient(t, mr.Addr()), generous(prefix)) }
		}},
		{"redis", func(t *testing.T) func() captcha.Store {
			t.Helper()
			rdb := testredis.Real(t)
			prefix := testredis.Prefix(t, rdb)
			return func() captcha.Store { return captcha.NewRedisStore(realClient(t), generous(prefix)) }
		}},
	}
}

// realClient returns a new client on REDIS_URL (a second "process"),
// closed when the test ends.
func realClient(t testing.TB) *redis.Client {
	t.Helper()
	opt, err := redis.ParseURL(os.Getenv("REDIS_URL"))
	if err != nil {
		t.Fatal(err)
	}
	c := redis.NewClient(opt)
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// generous returns store options under prefix with a timeout long enough
// for a machine whose cores are busy (the default 200 ms is for production,
// and TestFrozenRedis checks it).
func generous(prefix string) captcha.RedisOptions {
	return captcha.RedisOptions{KeyPrefix: prefix, Timeout: 5 * time.Second}
}

// slowClient returns a client on addr with go-redis's default options,
// closed when the test ends.
func slowClient(t testing.TB, addr string) *redis.Client {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: addr})
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// fastClient returns a client on addr that gives up quickly when the server
// is down, closed when the test ends.
func fastClient(t testing.TB, addr string) *redis.Client {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1, DialerRetries: 1,
		DialTimeout: 100 * time.Millisecond, ReadTimeout: 200 * time.Millisecond, WriteTimeout: 200 * time.Millisecond})
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// forEachBackend runs f as a subtest on every backend.
func forEachBackend(t *testing.T, f func(t *testing.T, newStore func() captcha.Store)) {
	t.Helper()
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			f(t, b.open(t))
		})
	}
}

// seqGen returns a generator of distinct codes "c0001", "c0002", ….
func seqGen() func() string {
	var n atomic.Int64
	return func() string { return fmt.Sprintf("c%04d", n.Add(1)) }
}

// outbox records deliveries; its deliver can be made to fail.
type outbox struct {
	mu    sync.Mutex
	codes []string
	keys  []string
	fail  error
}

func (o *outbox) deliver(_ context.Context, code, key string) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.codes = append(o.codes, code)
	o.keys = append(o.keys, key)
	return o.fail
}

func (o *outbox) count() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.codes)
}

// last returns the last delivered code, failing t if there is none.
func (o *outbox) last(t *testing.T) string {
	t.Helper()
	o.mu.Lock()
	defer o.mu.Unlock()
	if len(o.codes) == 0 {
		t.Fatal("no code delivered")
	}
	return o.codes[len(o.codes)-1]
}

// mustSend sends for key and fails t unless it succeeds, returning the
// challenge and the delivered code.
func mustSend(t *testing.T, p *captcha.Provider, o *outbox, key string) (challenge, code string) {
	t.Helper()
	before := o.count()
	res, err := p.Send(context.Background(), key, o.deliver)
	if err != nil {
		t.Fatalf("Send(%q) = %v, want nil", key, err)
	}
	if got := o.count(); got != before+1 {
		t.Fatalf("Send(%q) delivered %d codes, want 1", key, got-before)
	}
	return res.Challenge, o.last(t)
}

// wantVerify checks Verify(key, challenge, code) against want (nil or an
// error to match).
func wantVerify(t *testing.T, p *captcha.Provider, key, challenge, code string, want error) {
	t.Helper()
	err := p.Verify(context.Background(), key, challenge, code)
	if want == nil && err != nil || want != nil && !errors.Is(err, want) {
		t.Fatalf("Verify(%q, %q, %q) = %v, want %v", key, challenge, code, err, want)
	}
}

// wantTooSoon checks err is a *ResendTooSoonError with the wait want (any
// wait when want is 0).
func wantTooSoon(t *testing.T, err error, want time.Duration) {
	t.Helper()
	var tooSoon *captcha.ResendTooSoonError
	if !errors.As(err, &tooSoon) || !errors.Is(err, captcha.ErrResendTooSoon) {
		t.Fatalf("Send = %v, want a ResendTooSoonError", err)
	}
	if want != 0 && tooSoon.RetryAfter != want {
		t.Fatalf("RetryAfter = %v, want %v", tooSoon.RetryAfter, want)
	}
}

// counter is a go-redis hook counting round trips (commands and pipelines)
// and remembering the commands.
type counter struct {
	n    atomic.Int64
	mu   sync.Mutex
	cmds [][]any
}

func (c *counter) DialHook(next redis.DialHook) redis.DialHook { return next }

func (c *counter) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		c.n.Add(1)
		c.mu.Lock()
		c.cmds = append(c.cmds, cmd.Args())
		c.mu.Unlock()
		return next(ctx, cmd)
	}
}

func (c *counter) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		c.n.Add(1)
		c.mu.Lock()
		for _, cmd := range cmds {
			c.cmds = append(c.cmds, cmd.Args())
		}
		c.mu.Unlock()
		return next(ctx, cmds)
	}
}

// take returns the round trips and commands since the last take.
func (c *counter) take() (int64, [][]any) {
	c.mu.Lock()
	defer c.mu.Unlock()
	cmds := c.cmds
	c.cmds = nil
	return c.n.Swap(0), cmds
}
