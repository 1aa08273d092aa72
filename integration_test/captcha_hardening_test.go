package integration

import (
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/alovago/alova/captcha"
	"github.com/alovago/alova/internal/testredis"
)

// replyDelayProxy forwards TCP connections to a Redis server. Requests pass
// at once, so Redis applies every command as soon as it is sent; the next
// delayed replies (chunks read from the server) are held for delay first:
// a reply lost to the client's timeout while the work was done.
type replyDelayProxy struct {
	ln       net.Listener
	upstream string
	delayed  atomic.Int64 // replies still to delay
	delay    time.Duration
	wg       sync.WaitGroup
	mu       sync.Mutex
	conns    []net.Conn
}

// startReplyDelayProxy starts a proxy to upstream on a loopback port,
// closed (with every connection it holds) when the test ends.
func startReplyDelayProxy(t *testing.T, upstream string, delay time.Duration) *replyDelayProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &replyDelayProxy{ln: ln, upstream: upstream, delay: delay}
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(func() {
		_ = ln.Close()
		p.mu.Lock()
		for _, c := range p.conns {
			_ = c.Close()
		}
		p.mu.Unlock()
		p.wg.Wait()
	})
	return p
}

func (p *replyDelayProxy) Addr() string { return p.ln.Addr().String() }

// delayNext makes the next n replies, on any connection, come delay late.
func (p *replyDelayProxy) delayNext(n int) { p.delayed.Store(int64(n)) }

func (p *replyDelayProxy) track(c net.Conn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.conns = append(p.conns, c)
}

func (p *replyDelayProxy) accept() {
	defer p.wg.Done()
	for {
		client, err := p.ln.Accept()
		if err != nil {
			return
		}
		server, err := net.Dial("tcp", p.upstream)
		if err != nil {
			_ = client.Close()
			continue
		}
		p.track(client)
		p.track(server)
		p.wg.Add(2)
		go func() { // requests: at once
			defer p.wg.Done()
			_, _ = io.Copy(server, client)
			_ = server.Close()
		}()
		go func() { // replies: maybe late
			defer p.wg.Done()
			defer client.Close()
			buf := make([]byte, 64<<10)
			for {
				n, err := server.Read(buf)
				if n > 0 {
					if p.delayed.Add(-1) >= 0 {
						time.Sleep(p.delay) // the fault itself, not a synchronisation
					}
					if _, werr := client.Write(buf[:n]); werr != nil {
						return
					}
				}
				if err != nil {
					return
				}
			}
		}()
	}
}

// inbox is a DeliverFunc's record of the codes it delivered.
type inbox struct {
	mu    sync.Mutex
	codes []string
	also  func() // called inside the delivery, before it returns
}

func (b *inbox) deliver(_ context.Context, code, _ string) error {
	b.mu.Lock()
	b.codes = append(b.codes, code)
	also := b.also
	b.mu.Unlock()
	if also != nil {
		also()
	}
	return nil
}

func (b *inbox) last(t *testing.T) string {
	t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.codes) == 0 {
		t.Fatal("no code delivered")
	}
	return b.codes[len(b.codes)-1]
}

// TestCaptchaLostReplies: Redis applies every command at once but its
// reply comes 400 ms late, past the store's 200 ms timeout. A verify whose
// reply was lost succeeds when retried, exactly once more; a send whose
// reservation reply was lost does not hold the key; a commit whose reply
// was lost is repeated and confirmed; a commit never confirmed answers
// ErrSendUnconfirmed with a challenge the delivered code verifies under.
func TestCaptchaLostReplies(t *testing.T) {
	srv := testredis.Server(t)
	proxy := startReplyDelayProxy(t, srv.Addr(), 400*time.Millisecond)
	rdb := redis.NewClient(&redis.Options{Addr: proxy.Addr()})
	t.Cleanup(func() { _ = rdb.Close() })
	p := captcha.NewProvider(captcha.NewRedisStore(rdb, captcha.RedisOptions{KeyPrefix: "lost:" + uniqueID() + ":",
		Timeout: 200 * time.Millisecond}), captcha.Options{})
	ctx := context.Background()
	var box inbox
	send := func(key string) captcha.SendResult {
		t.Helper()
		res, err := p.Send(ctx, key, box.deliver)
		if err != nil {
			t.Fatalf("Send(%q) = %v", key, err)
		}
		return res
	}
	// Load the scripts, so that every call below is one round trip.
	warm := send("warm")
	if err := p.Verify(ctx, "warm", warm.Challenge, box.last(t)); err != nil {
		t.Fatalf("Verify(warm) = %v", err)
	}

	t.Run("verify", func(t *testing.T) {
		res := send("v")
		code := box.last(t)
		proxy.delayNext(1)
		if err := p.Verify(ctx, "v", res.Challenge, code); !errors.Is(err, captcha.ErrStore) {
			t.Fatalf("Verify with its reply 400 ms late = %v, want ErrStore", err)
		}
		if err := p.Verify(ctx, "v", res.Challenge, code); err != nil {
			t.Fatalf("retried Verify = %v, want nil (the lost one used the code up)", err)
		}
		if err := p.Verify(ctx, "v", res.Challenge, code); !errors.Is(err, captcha.ErrInvalidCode) {
			t.Fatalf("third Verify = %v, want ErrInvalidCode: a retry succeeds exactly once", err)
		}
	})

	t.Run("reserve", func(t *testing.T) {
		before := len(box.codes)
		proxy.delayNext(1)
		if _, err := p.Send(ctx, "r", box.deliver); !errors.Is(err, captcha.ErrStore) || errors.Is(err, captcha.ErrSendUnconfirmed) {
			t.Fatalf("Send with its reserve reply 400 ms late = %v, want ErrStore only", err)
		}
		if len(box.codes) != before {
			t.Fatal("a send whose reservation was not confirmed delivered a code")
		}
		res := send("r") // not refused: the lost reservation was released
		if err := p.Verify(ctx, "r", res.Challenge, box.last(t)); err != nil {
			t.Fatalf("Verify = %v", err)
		}
	})

	t.Run("commit lost once", func(t *testing.T) {
		box.also = func() { proxy.delayNext(1) }
		defer func() { box.also = nil }()
		res, err := p.Send(ctx, "c1", box.deliver)
		if err != nil {
			t.Fatalf("Send with its first commit reply 400 ms late = %v, want nil (the commit is repeated)", err)
		}
		box.also = nil
		if err := p.Verify(ctx, "c1", res.Challenge, box.last(t)); err != nil {
			t.Fatalf("Verify = %v", err)
		}
	})

	t.Run("commit never confirmed", func(t *testing.T) {
		box.also = func() { proxy.delayNext(3) }
		defer func() { box.also = nil }()
		res, err := p.Send(ctx, "c2", box.deliver)
		if !errors.Is(err, captcha.ErrSendUnconfirmed) || !errors.Is(err, captcha.ErrStore) {
			t.Fatalf("Send with every commit reply 400 ms late = %v, want ErrSendUnconfirmed", err)
		}
		box.also = nil
		if err := p.Verify(ctx, "c2", res.Challenge, box.last(t)); err != nil {
			t.Fatalf("Verify of the unconfirmed send's code = %v, want nil: the commit had been applied", err)
		}
	})
}

// TestCaptchaWaitReplicas: with WaitReplicas 1 on a real master and
// replica, a verify is reported only once the replica has it: with the
// replica frozen, the right code answers ErrStore (fail closed) after the
// wait; the retry once the replica is back succeeds once. A code verified
// (and retried) before the master dies does not verify again on the
// promoted replica.
func TestCaptchaWaitReplicas(t *testing.T) {
	master := testredis.Server(t)
	host, port, _ := strings.Cut(master.Addr(), ":")
	replica := testredis.Server(t, "--replicaof", host, port)
	mc := master.Client()
	t.Cleanup(func() { _ = mc.Close() })
	deadline := time.Now().Add(10 * time.Second)
	for { // the replica syncs on its own; wait for the link, bounded
		info, _ := mc.Info(context.Background(), "replication").Result()
		if strings.Contains(info, "connected_slaves:1") && strings.Contains(info, "state=online") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the replica did not come online in 10 s:\n%s", info)
		}
		time.Sleep(20 * time.Millisecond)
	}

	prefix := "wait:" + uniqueID() + ":"
	opts := captcha.RedisOptions{KeyPrefix: prefix, Timeout: 2 * time.Second, WaitReplicas: 1, WaitTimeout: 300 * time.Millisecond}
	p := captcha.NewProvider(captcha.NewRedisStore(mc, opts), captcha.Options{ResendInterval: time.Millisecond})
	ctx := context.Background()
	var box inbox
	res, err := p.Send(ctx, "k", box.deliver)
	if err != nil {
		t.Fatalf("Send = %v", err)
	}
	code := box.last(t)

	replica.Freeze()
	start := time.Now()
	err = p.Verify(ctx, "k", res.Challenge, code)
	took := time.Since(start)
	replica.Thaw()
	if !errors.Is(err, captcha.ErrStore) {
		t.Fatalf("Verify with the replica frozen = %v, want ErrStore (fail closed)", err)
	}
	if took < opts.WaitTimeout || took > opts.Timeout+opts.WaitTimeout {
		t.Errorf("Verify with the replica frozen answered after %v, want the wait (%v) and no more than %v",
			took, opts.WaitTimeout, opts.Timeout+opts.WaitTimeout)
	}
	if err := p.Verify(ctx, "k", res.Challenge, code); err != nil {
		t.Fatalf("retried Verify once the replica is back = %v, want nil", err)
	}

	// Failover: the verified challenge is on the replica, so the promoted
	// replica does not take the code again.
	res2, err := p.Send(ctx, "k2", box.deliver)
	if err != nil {
		t.Fatalf("Send = %v", err)
	}
	code2 := box.last(t)
	for range 2 { // the verify and its one retry, both acknowledged
		if err := p.Verify(ctx, "k2", res2.Challenge, code2); err != nil {
			t.Fatalf("Verify = %v", err)
		}
	}
	master.Kill()
	if reply, err := testredis.Command(replica.Addr(), "REPLICAOF NO ONE"); err != nil || reply != "+OK" {
		t.Fatalf("REPLICAOF NO ONE = %q, %v", reply, err)
	}
	rc := replica.Client()
	t.Cleanup(func() { _ = rc.Close() })
	promoted := captcha.NewProvider(captcha.NewRedisStore(rc, captcha.RedisOptions{KeyPrefix: prefix, Timeout: 2 * time.Second}), captcha.Options{})
	for _, c := range []struct{ key, ch, code string }{{"k", res.Challenge, code}, {"k2", res2.Challenge, code2}} {
		if err := promoted.Verify(ctx, c.key, c.ch, c.code); !errors.Is(err, captcha.ErrInvalidCode) {
			t.Errorf("Verify(%s) on the promoted replica = %v, want ErrInvalidCode: the code was used before the failover", c.key, err)
		}
	}
}
