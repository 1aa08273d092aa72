package integration

import (
	"errors"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestClientsThatNeverReadAreCutOff replays the slow-reader attack on the
// built server: 20 connections with a 4 KiB receive buffer each pipeline
// GET requests and never read. Once its writes block, the server gives up
// on each connection after -write-timeout, so every client's writes fail
// (the server closed the connection) within the test's limit, instead of
// the server holding them, their send queues and goroutines forever. Then
// -conns-per-ip: 20 connections fit, a 21st is closed at once.
func TestClientsThatNeverReadAreCutOff(t *testing.T) {
	t.Parallel()
	const (
		clients      = 20
		writeTimeout = time.Second
		limit        = 60 * time.Second // a guard against a hang; filling the queues takes 10-20 s on 2 busy cores
	)
	srv := startServer(t, "", "-write-timeout", writeTimeout.String(), "-conns-per-ip", "20")
	addr := strings.TrimPrefix(srv.URL, "http://")
	var wg sync.WaitGroup
	errs := make(chan error, clients)
	conns := make([]net.Conn, 0, clients)
	for range clients {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		_ = c.(*net.TCPConn).SetReadBuffer(4 << 10)
		conns = append(conns, c)
		t.Cleanup(func() { _ = c.Close() })
	}
	start := time.Now()
	for _, c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = c.SetWriteDeadline(time.Now().Add(limit))
			// /metrics (admin: this is loopback) answers some KiB, so the
			// server's send queue fills within a few hundred answers.
			req := strings.Repeat("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n", 100)
			for {
				if _, err := io.WriteString(c, req); err != nil {
					errs <- err // the server closed it, or the limit passed
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	took := time.Since(start)
	for err := range errs {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			t.Errorf("a client that never reads was still connected after %v", limit)
		}
	}
	t.Logf("20 clients that never read were cut off after %v (write timeout %v)", took, writeTimeout)

	// The cap: the 20 are closed now, so 20 new ones fit and one more does not.
	for range clients {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Close() })
		if _, err := io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
			t.Fatal(err)
		}
		_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
		if _, err := c.Read(make([]byte, 1)); err != nil {
			t.Fatalf("a connection under the cap: %v", err)
		}
	}
	extra, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer extra.Close()
	_ = extra.SetReadDeadline(time.Now().Add(10 * time.Second))
	if n, err := extra.Read(make([]byte, 1)); err == nil || errors.Is(err, errTimeout(err)) {
		t.Fatalf("a connection over -conns-per-ip read %d bytes, %v; want it closed by the server", n, err)
	}
}

// errTimeout returns err when it is a timeout (the server held the
// connection open), and a sentinel that matches nothing otherwise.
func errTimeout(err error) error {
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return err
	}
	return errNever
}

var errNever = errors.New("never")
