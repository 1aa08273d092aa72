package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/alovago/alova/internal/testredis"
)

func TestMain(m *testing.M) { testredis.Main(m) }

// syncBuffer is a bytes.Buffer safe for the server's logger and the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestRunShutsDownGracefully starts the whole server with run, sends a
// request that is still at the downstream when shutdown begins, and checks
// that it completes and that run returns cleanly.
func TestRunShutsDownGracefully(t *testing.T) {
	t.Parallel()
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	var logs syncBuffer
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"-addr", "127.0.0.1:0", "-demo-latency", "300ms"}, func(string) string { return "" }, &logs)
	}()

	listening := regexp.MustCompile(`msg=listening addr=(\S+)`)
	var base string
	deadline := time.Now().Add(5 * time.Second)
	for base == "" {
		if m := listening.FindStringSubmatch(logs.String()); m != nil {
			base = "http://" + m[1]
		} else if time.Now().After(deadline) {
			t.Fatalf("no listening line in the log:\n%s", logs.String())
		}
		time.Sleep(5 * time.Millisecond)
	}

	got := make(chan int, 1)
	go func() {
		resp, err := http.Get(base + "/api/products/1")
		if err != nil {
			got <- 0
			return
		}
		resp.Body.Close()
		got <- resp.StatusCode
	}()
	// Shut down while the request waits for the downstream.
	for !strings.Contains(getBody(t, base+"/demo/stats"), `"products":1`) {
		if time.Now().After(deadline) {
			t.Fatal("the product request never reached the downstream")
		}
		time.Sleep(5 * time.Millisecond)
	}
	stop()
	if st := <-got; st != http.StatusOK {
		t.Errorf("request in flight at shutdown = %d, want 200", st)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("run = %v, want nil", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("run did not return within 10 s of the shutdown")
	}
	// The log is buffered: everything logged before the shutdown, the
	// access line of the request in flight included, reaches the writer.
	for _, want := range []string{`msg="shutting down"`, "msg=stopped", `path=/api/products/1 status=200`} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("log lacks %s:\n%s", want, logs.String())
		}
	}
}

func TestRunRejectsBadFlags(t *testing.T) {
	t.Parallel()
	var out syncBuffer
	err := run(context.Background(), []string{"-ip-limit", "-3"}, func(string) string { return "" }, &out)
	if err == nil || !strings.Contains(err.Error(), "-ip-limit") {
		t.Fatalf("run(-ip-limit -3) = %v, want an -ip-limit error", err)
	}
}

func getBody(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	_, _ = b.ReadFrom(resp.Body)
	return b.String()
}

// TestStartupErrorsReturnErrors: a configuration that fails at startup makes
// run return its error; it used to end in a nil-pointer panic in app.Close.
func TestStartupErrorsReturnErrors(t *testing.T) {
	t.Parallel()
	for _, url := range []string{"localhost:6379", "redis://localhost:6379?dial_timeout=abc", "http://x"} {
		err := run(context.Background(), []string{"-addr", "127.0.0.1:0"},
			func(k string) string { return map[string]string{"REDIS_URL": url}[k] }, io.Discard)
		if err == nil || !strings.Contains(err.Error(), "REDIS_URL") {
			t.Errorf("run with REDIS_URL=%q = %v, want a REDIS_URL error", url, err)
		}
		// newApp itself, past the validation, must fail cleanly too.
		cfg := testConfig(t)
		cfg.RedisURL = url
		if a, err := newApp(cfg, discardLog); err == nil {
			_ = a.Close(context.Background())
			t.Errorf("newApp with REDIS_URL=%q succeeded, want an error", url)
		}
	}
}
