package integration

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// server is one example-server process owned by a test.
type server struct {
	URL  string // http://127.0.0.1:port
	cmd  *exec.Cmd
	done chan struct{} // closed when the process has exited and its log is read
	log  *lockedBuffer
}

var listeningRE = regexp.MustCompile(`msg=listening addr=(\S+)`)

// startServer starts the example server on a free loopback port with the
// given REDIS_URL ("" = embedded) and flags. It is stopped with SIGTERM when
// the test ends, and the test fails if it does not exit cleanly. The server's
// log is printed when the test fails.
func startServer(t testing.TB, redisURL string, args ...string) *server {
	t.Helper()
	return startServerEnv(t, []string{"REDIS_URL=" + redisURL}, args...)
}

// startServerEnv is startServer with the environment variables env
// ("NAME=value"); REDIS_URL, PORT and ADMIN_TOKEN are unset unless env sets
// them. A later -addr in args replaces the loopback one.
func startServerEnv(t testing.TB, env []string, args ...string) *server {
	t.Helper()
	s := &server{log: &lockedBuffer{}, done: make(chan struct{})}
	s.cmd = exec.Command(serverBinary(t), append([]string{"-addr", "127.0.0.1:0"}, args...)...)
	s.cmd.Env = append(withoutEnv(os.Environ(), "REDIS_URL", "PORT", "ADMIN_TOKEN"), env...)
	stderr, err := s.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := s.cmd.Start(); err != nil {
		t.Fatalf("start server: %v", err)
	}
	addr := make(chan string, 1)
	go func() {
		defer close(s.done)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			line := sc.Text()
			s.log.WriteLine(line)
			if m := listeningRE.FindStringSubmatch(line); m != nil {
				select {
				case addr <- m[1]:
				default:
				}
			}
		}
		_ = s.cmd.Wait()
	}()
	t.Cleanup(func() {
		if err := s.Stop(); err != nil {
			t.Errorf("server did not stop cleanly: %v", err)
		}
		if t.Failed() {
			t.Logf("server %s log:\n%s", s.URL, tail(s.log.String(), 6000))
		}
	})
	select {
	case a := <-addr:
		s.URL = "http://" + a
	case <-s.done:
		t.Fatalf("server exited at start:\n%s", s.log.String())
	case <-time.After(15 * time.Second):
		t.Fatalf("server did not report its address within 15s:\n%s", s.log.String())
	}
	return s
}

// Stop sends SIGTERM and waits (up to 15 s, then SIGKILL) for the process to
// exit. It returns the exit error, nil for a clean exit. Calling it again
// returns nil.
func (s *server) Stop() error {
	if s.cmd.ProcessState != nil {
		return nil
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(15 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.done
	}
	if s.cmd.ProcessState.Success() {
		return nil
	}
	return &exec.ExitError{ProcessState: s.cmd.ProcessState}
}

// Log returns what the server has logged so far.
func (s *server) Log() string { return s.log.String() }

// reply is an HTTP answer read whole.
type reply struct {
	Status int
	Header http.Header
	Body   []byte
}

// JSON decodes the body into a map.
func (r reply) JSON(t testing.TB) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.Body, &m); err != nil {
		t.Fatalf("body %q is not a JSON object: %v", r.Body, err)
	}
	return m
}

// httpClient is shared by the tests; its timeout bounds every call.
var httpClient = &http.Client{Timeout: 10 * time.Second}

// do sends one request and reads the answer. A transport error fails the test.
func do(t testing.TB, method, url string, body any) reply {
	t.Helper()
	r, err := tryDo(method, url, body)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	return r
}

// tryDo is do for use off the test goroutine: it returns the error.
func tryDo(method, url string, body any) (reply, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return reply{}, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		return reply{}, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		return reply{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return reply{Status: resp.StatusCode, Header: resp.Header, Body: b}, err
}

// eventually polls cond every 20 ms until it returns true, failing the test
// with msg when it has not within d.
func eventually(t testing.TB, d time.Duration, msg string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %v: %s", d, msg)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func withoutEnv(env []string, names ...string) []string {
	out := env[:0:0]
next:
	for _, kv := range env {
		for _, n := range names {
			if strings.HasPrefix(kv, n+"=") {
				continue next
			}
		}
		out = append(out, kv)
	}
	return out
}

// lockedBuffer collects log lines from the reader goroutine for the test.
type lockedBuffer struct {
	mu  sync.Mutex
	buf strings.Builder
}

func (b *lockedBuffer) WriteLine(s string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf.WriteString(s)
	b.buf.WriteByte('\n')
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// tail returns the last n bytes of s.
func tail(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}
