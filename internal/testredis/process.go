package testredis

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// Process is a redis-server process owned by one test, on a loopback port
// that stays the same across Kill and Restart. Tests that must freeze,
// kill or restart Redis use one of their own, never the shared one of
// [Real].
//
// Redis runs under a small sh wrapper that kills it when the test process
// ends, whatever way it ends (go test's timeout, a panic): no redis-server
// outlives its test binary.
type Process struct {
	t    testing.TB
	port int
	dir  string
	args []string
	proc *reaped // nil while Redis is not running
}

// NeedServer skips the test when redis-server or redis-cli is not on PATH.
func NeedServer(t testing.TB) {
	t.Helper()
	for _, bin := range []string{"redis-server", "redis-cli"} {
		if _, err := exec.LookPath(bin); err != nil {
			skip(t, bin+" is not on PATH", "install redis-server; .ci/run does")
		}
	}
}

// Server starts a redis-server on a free loopback port with no persistence,
// plus the extra config args ("--cluster-enabled", "yes", …), and waits until
// it answers. It skips the test when redis-server is not installed. The
// server is killed when the test ends; if the test failed, its log is printed.
func Server(t testing.TB, extra ...string) *Process {
	t.Helper()
	NeedServer(t)
	s := &Process{t: t, dir: t.TempDir()}
	t.Cleanup(func() {
		s.Kill()
		if t.Failed() {
			if log, err := os.ReadFile(filepath.Join(s.dir, "redis.log")); err == nil {
				t.Logf("redis-server :%d log:\n%s", s.port, tail(string(log), 2000))
			}
		}
	})
	// The port is free when FreePort returns, but another process may take it
	// before redis-server binds it: then try another.
	for attempt := 1; ; attempt++ {
		s.port = FreePort(t)
		s.args = append(serverArgs(s.port, s.dir), extra...)
		err := s.start()
		if err == nil {
			return s
		}
		if !errors.Is(err, errForeign) || attempt == 3 {
			t.Fatalf("redis-server on :%d: %v", s.port, err)
		}
	}
}

// serverArgs are the arguments of every redis-server the package starts:
// loopback only, no persistence, files in dir.
func serverArgs(port int, dir string) []string {
	return []string{
		"--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
		"--dir", dir, "--logfile", filepath.Join(dir, "redis.log"), "--daemonize", "no",
	}
}

// Addr is host:port.
func (s *Process) Addr() string { return "127.0.0.1:" + strconv.Itoa(s.port) }

// URL is the REDIS_URL for the server.
func (s *Process) URL() string { return "redis://" + s.Addr() + "/0" }

// Client returns a go-redis client on the server with go-redis's default
// options (as a user would write it), closed when the test ends.
func (s *Process) Client() *redis.Client {
	rdb := redis.NewClient(&redis.Options{Addr: s.Addr()})
	s.t.Cleanup(func() { _ = rdb.Close() })
	return rdb
}

// start starts redis-server with s.args and waits until it answers.
func (s *Process) start() error {
	p, err := spawn(s.args, "")
	if err != nil {
		return err
	}
	if err := waitReady(s.Addr(), p.pid, 5*time.Second); err != nil {
		p.kill()
		return err
	}
	s.proc = p
	return nil
}

// Freeze stops the server with SIGSTOP: it keeps its connections open and
// answers nothing, as a hung server does. The test's cleanup thaws it
// before killing it.
func (s *Process) Freeze() {
	s.t.Helper()
	if s.proc == nil {
		s.t.Fatal("Freeze: redis-server is not running")
	}
	if err := s.proc.signal(syscall.SIGSTOP); err != nil {
		s.t.Fatalf("SIGSTOP redis-server: %v", err)
	}
	s.t.Cleanup(s.Thaw)
}

// Thaw resumes a frozen server (SIGCONT). It is a no-op when the server is
// not running.
func (s *Process) Thaw() {
	if s.proc != nil {
		_ = s.proc.signal(syscall.SIGCONT)
	}
}

// Kill stops Redis with SIGKILL (no shutdown, as in a crash) and waits for the
// process to be gone. It is a no-op when Redis is not running.
func (s *Process) Kill() {
	if s.proc == nil {
		return
	}
	s.proc.kill()
	s.proc = nil
}

// Restart starts a fresh Redis (empty: no persistence) on the same port.
func (s *Process) Restart() {
	s.t.Helper()
	s.Kill()
	if err := s.start(); err != nil {
		s.t.Fatalf("restart redis-server on :%d: %v", s.port, err)
	}
}

// Command sends one inline command over a fresh connection and returns the
// first line of the reply, e.g. "+PONG".
func Command(addr, cmd string) (string, error) {
	conn, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
	if err != nil {
		return "", err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(time.Second))
	if _, err := fmt.Fprintf(conn, "%s\r\n", cmd); err != nil {
		return "", err
	}
	line, err := bufio.NewReader(conn).ReadString('\n')
	return strings.TrimRight(line, "\r\n"), err
}

// FreePort returns a loopback TCP port that was free a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	port, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	return port
}

// tail returns the last n bytes of s.
func tail(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}

// freePort is FreePort without a test.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}
