package testredis

import (
	"bufio"
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
// kill or restart Redis use one of their own, never the shared REDIS_URL.
type Process struct {
	t    testing.TB
	port int
	dir  string
	args []string
	cmd  *exec.Cmd
	done chan struct{} // closed when cmd has exited
}

// NeedServer skips the test when redis-server or redis-cli is not on PATH.
func NeedServer(t testing.TB) {
	t.Helper()
	for _, bin := range []string{"redis-server", "redis-cli"} {
		if _, err := exec.LookPath(bin); err != nil {
			t.Skipf("%s is not on PATH: skipping (install redis-server; .ci/run does)", bin)
		}
	}
}

// Server starts a redis-server on a free loopback port with no persistence,
// plus the extra config args ("--cluster-enabled", "yes", …), and waits until
// it answers PING. It skips the test when redis-server is not installed. The
// server is killed when the test ends; if the test failed, its log is printed.
func Server(t testing.TB, extra ...string) *Process {
	t.Helper()
	NeedServer(t)
	s := &Process{t: t, port: FreePort(t), dir: t.TempDir()}
	s.args = append([]string{
		"--port", strconv.Itoa(s.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
		"--dir", s.dir, "--logfile", filepath.Join(s.dir, "redis.log"), "--daemonize", "no",
	}, extra...)
	s.start()
	t.Cleanup(func() {
		s.Kill()
		if t.Failed() {
			if log, err := os.ReadFile(filepath.Join(s.dir, "redis.log")); err == nil {
				t.Logf("redis-server :%d log:\n%s", s.port, tail(string(log), 2000))
			}
		}
	})
	return s
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

func (s *Process) start() {
	s.t.Helper()
	s.cmd = exec.Command("redis-server", s.args...)
	if err := s.cmd.Start(); err != nil {
		s.t.Fatalf("start redis-server: %v", err)
	}
	s.done = make(chan struct{})
	go func(cmd *exec.Cmd, done chan struct{}) {
		_ = cmd.Wait()
		close(done)
	}(s.cmd, s.done)
	deadline := time.Now().Add(5 * time.Second)
	for {
		if reply, err := Command(s.Addr(), "PING"); err == nil && reply == "+PONG" {
			return
		}
		select {
		case <-s.done:
			s.t.Fatalf("redis-server on :%d exited at start", s.port)
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("redis-server on :%d did not answer PING within 5s", s.port)
		}
	}
}

// Freeze stops the server with SIGSTOP: it keeps its connections open and
// answers nothing, as a hung server does. The test's cleanup thaws it
// before killing it.
func (s *Process) Freeze() {
	s.t.Helper()
	if err := s.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		s.t.Fatalf("SIGSTOP redis-server: %v", err)
	}
	s.t.Cleanup(s.Thaw)
}

// Thaw resumes a frozen server (SIGCONT). It is a no-op when the server is
// not running.
func (s *Process) Thaw() {
	if s.cmd != nil {
		_ = s.cmd.Process.Signal(syscall.SIGCONT)
	}
}

// Kill stops Redis with SIGKILL (no shutdown, as in a crash) and waits for the
// process to be gone. It is a no-op when Redis is not running.
func (s *Process) Kill() {
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Kill()
	<-s.done
	s.cmd = nil
}

// Restart starts a fresh Redis (empty: no persistence) on the same port.
func (s *Process) Restart() {
	s.t.Helper()
	s.Kill()
	s.start()
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
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// tail returns the last n bytes of s.
func tail(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}
