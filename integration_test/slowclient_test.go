package integration

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"
)

// openFDs counts the descriptors process pid holds, or -1 without /proc.
func openFDs(pid int) int {
	ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		return -1
	}
	return len(ents)
}

// closedWithin reads from conn until the server closes it and returns how
// long that took from start, or an error when it is still open at limit.
func closedWithin(conn net.Conn, start time.Time, limit time.Duration) (time.Duration, error) {
	_ = conn.SetReadDeadline(start.Add(limit))
	_, err := io.Copy(io.Discard, conn)
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		return 0, fmt.Errorf("still open after %v", limit)
	}
	return time.Since(start), nil // EOF or reset: the server closed it
}

// TestSlowClientsAreCutOff opens connections that send their body a byte at
// a time, that stall in their headers, or that stay idle after a request: the
// server must close each within its bound, and give back the descriptors.
// Before, a slow body held its connection forever.
func TestSlowClientsAreCutOff(t *testing.T) {
	t.Parallel()
	const (
		n           = 100
		bodyTimeout = time.Second
		idleTimeout = time.Second
		// headerTimeout is the server's fixed ReadHeaderTimeout.
		headerTimeout = 5 * time.Second
		slack         = 4 * time.Second // a busy machine under -race
	)
	srv := startServer(t, "", "-body-timeout", bodyTimeout.String(), "-idle-timeout", idleTimeout.String(), "-ip-limit", "100000",
		"-conns-per-ip", "100000") // all from loopback: this test is about timeouts, not the cap
	addr := strings.TrimPrefix(srv.URL, "http://")
	pid := srv.cmd.Process.Pid
	base := openFDs(pid)

	kinds := []struct {
		name  string
		limit time.Duration
		open  func(conn net.Conn, stop <-chan struct{}) error
	}{
		{"slow body", bodyTimeout + slack, func(conn net.Conn, stop <-chan struct{}) error {
			// A 1 KiB body announced, then one byte every 200 ms.
			if _, err := fmt.Fprintf(conn, "POST /captcha/verify HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1024\r\n\r\n{"); err != nil {
				return err
			}
			go func() {
				tk := time.NewTicker(200 * time.Millisecond)
				defer tk.Stop()
				for {
					select {
					case <-stop:
						return
					case <-tk.C:
						if _, err := conn.Write([]byte(" ")); err != nil {
							return
						}
					}
				}
			}()
			return nil
		}},
		{"slow headers", headerTimeout + slack, func(conn net.Conn, _ <-chan struct{}) error {
			_, err := fmt.Fprintf(conn, "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ")
			return err
		}},
		{"idle keep-alive", idleTimeout + slack, func(conn net.Conn, _ <-chan struct{}) error {
			if _, err := fmt.Fprintf(conn, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
				return err
			}
			resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
			if err != nil {
				return err
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				return fmt.Errorf("GET /healthz = %d", resp.StatusCode)
			}
			return nil
		}},
	}
	stop := make(chan struct{})
	defer close(stop)
	var wg sync.WaitGroup
	for _, k := range kinds {
		for i := range n {
			conn, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatalf("%s %d: dial: %v", k.name, i, err)
			}
			defer conn.Close()
			start := time.Now()
			if err := k.open(conn, stop); err != nil {
				t.Fatalf("%s %d: %v", k.name, i, err)
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				if _, err := closedWithin(conn, start, k.limit); err != nil {
					t.Errorf("%s connection %d: %v", k.name, i, err)
				}
			}()
		}
	}
	held := openFDs(pid)
	wg.Wait()
	if base >= 0 {
		// The Redis and downstream pools may grow a little meanwhile (both
		// ends of the embedded Redis's connections are in the server): the
		// slow clients' descriptors must be gone, not every one.
		eventually(t, 3*time.Second, "the server gives back the slow clients' descriptors", func() bool {
			return openFDs(pid) < base+n/2
		})
		t.Logf("server descriptors: %d before, %d with %d slow clients, %d after", base, held, len(kinds)*n, openFDs(pid))
	}
}

// TestOversizedHeadersAreRefused sends 64 KiB of headers: 431, not a
// megabyte buffered per connection.
func TestOversizedHeadersAreRefused(t *testing.T) {
	t.Parallel()
	srv := startServer(t, "")
	req, _ := http.NewRequest("GET", srv.URL+"/healthz", nil)
	req.Header.Set("X-Big", strings.Repeat("a", 64<<10))
	resp, err := httpClient.Do(req)
	if err != nil {
		t.Fatalf("GET with 64 KiB of headers: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Errorf("GET with 64 KiB of headers = %d, want 431", resp.StatusCode)
	}
	req.Header.Set("X-Big", strings.Repeat("a", 8<<10)) // big cookies still fit
	if r, err := httpClient.Do(req); err != nil || r.StatusCode != http.StatusOK {
		t.Errorf("GET with 8 KiB of headers = %v, %v; want 200", r, err)
	} else {
		r.Body.Close()
	}
}
