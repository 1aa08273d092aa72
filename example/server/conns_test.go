package main

import (
	"bufio"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"
)

// serveLimited serves h on a loopback listener wrapped by limitConns and
// returns its address and a channel told of every connection the server
// closed. Everything stops when the test ends.
func serveLimited(t *testing.T, perIP int, writeTimeout time.Duration, h http.Handler, exempt ...netip.Prefix) (string, <-chan netip.Addr) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := make(chan netip.Addr, 1000)
	lim := limitConns(ln, perIP, writeTimeout, exempt)
	lim.onClose = func(ip netip.Addr) { closed <- ip }
	srv := newHTTPServer(config{BodyTimeout: 10 * time.Second, IdleTimeout: time.Minute}, h, slog.New(slog.DiscardHandler))
	done := make(chan struct{})
	go func() { defer close(done); _ = srv.Serve(lim) }()
	t.Cleanup(func() { _ = srv.Close(); <-done })
	return ln.Addr().String(), closed
}

// waitClosed waits for n connections closed by the server, failing after
// limit (a guard against a hang, not a synchronisation).
func waitClosed(t *testing.T, closed <-chan netip.Addr, n int, limit time.Duration, why string) {
	t.Helper()
	timeout := time.After(limit)
	for i := range n {
		select {
		case <-closed:
		case <-timeout:
			t.Fatalf("%s: %d of %d connections closed after %v", why, i, n, limit)
		}
	}
}

// TestSlowReadersLoseTheirConnections: 20 clients with a 4 KiB receive
// buffer pipeline requests for a 64 KiB answer and never read. Each write
// the server makes to them fails after the write timeout, and all 20
// connections are closed, instead of being held forever with their send
// queues.
func TestSlowReadersLoseTheirConnections(t *testing.T) {
	t.Parallel()
	body := strings.Repeat("x", 64<<10)
	addr, closed := serveLimited(t, 100, 200*time.Millisecond, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, body)
	}))
	const clients = 20
	var wg sync.WaitGroup
	for range clients {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		_ = c.(*net.TCPConn).SetReadBuffer(4 << 10)
		t.Cleanup(func() { _ = c.Close() })
		wg.Add(1)
		go func() { // pipeline until the server gives up on us; never read
			defer wg.Done()
			for range 2000 {
				if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
					return
				}
			}
		}()
	}
	waitClosed(t, closed, clients, 20*time.Second, "clients that never read")
	wg.Wait()
}

// TestWriteTimeoutSparesSlowHandlers: a handler that takes three write
// timeouts before it answers is not cut off; only writes are bounded.
func TestWriteTimeoutSparesSlowHandlers(t *testing.T) {
	t.Parallel()
	const writeTimeout = 100 * time.Millisecond
	addr, _ := serveLimited(t, 10, writeTimeout, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		time.Sleep(3 * writeTimeout) // the slow handler under test, not a synchronisation
		_, _ = io.WriteString(w, "late but whole")
	}))
	resp, err := http.Get("http://" + addr + "/")
	if err != nil {
		t.Fatalf("GET from a slow handler: %v", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || string(b) != "late but whole" {
		t.Fatalf("GET from a slow handler = %q, %v; want the whole answer", b, err)
	}
}

// TestConnsPerIP: one address holds at most the cap of open connections;
// one more is closed before anything is read, and a place freed by a
// closed connection is taken again.
func TestConnsPerIP(t *testing.T) {
	t.Parallel()
	addr, closed := serveLimited(t, 2, time.Second, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, "ok")
	}))
	get := func(c net.Conn) (string, error) {
		if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
			return "", err
		}
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			return "", err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		return string(b), err
	}
	dial := func() net.Conn {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Close() })
		return c
	}
	held := []net.Conn{dial(), dial()}
	for i, c := range held {
		if body, err := get(c); err != nil || body != "ok" {
			t.Fatalf("connection %d under the cap: %q, %v", i+1, body, err)
		}
	}
	if body, err := get(dial()); err == nil {
		t.Fatalf("a third connection from one address answered %q, want it closed", body)
	}
	_ = held[0].Close()
	waitClosed(t, closed, 1, 5*time.Second, "a client's close")
	if body, err := get(dial()); err != nil || body != "ok" {
		t.Fatalf("a connection after one closed: %q, %v; want ok", body, err)
	}
}

// TestConnsPerIPExemptsTrustedProxies: a trusted proxy carries many
// clients, so its connections are not capped.
func TestConnsPerIPExemptsTrustedProxies(t *testing.T) {
	t.Parallel()
	addr, _ := serveLimited(t, 1, time.Second, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, "ok")
	}), netip.MustParsePrefix("127.0.0.0/8"))
	for i := range 3 {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Close() })
		if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
			t.Fatal(err)
		}
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatalf("connection %d from a trusted proxy over the cap of 1: %v, want an answer", i+1, err)
		}
		resp.Body.Close()
	}
}
