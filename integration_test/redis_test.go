package integration

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// redisServer is a redis-server process owned by one test, on a loopback
// port that stays the same across Kill and Restart.
type redisServer struct {
	t    testing.TB
	port int
	dir  string
	args []string
	cmd  *exec.Cmd
	done chan struct{} // closed when cmd has exited
}

// needRedisServer skips the test when redis-server or redis-cli is missing.
func needRedisServer(t testing.TB) {
	t.Helper()
	for _, bin := range []string{"redis-server", "redis-cli"} {
		if _, err := exec.LookPath(bin); err != nil {
			t.Skipf("%s is not on PATH: skipping (install redis-server; .ci/run does)", bin)
		}
	}
}

// startRedis starts a redis-server on a free loopback port with no
// persistence, plus the extra config args ("--cluster-enabled", "yes", …). It
// is killed when the test ends.
func startRedis(t testing.TB, extra ...string) *redisServer {
	t.Helper()
	needRedisServer(t)
	s := &redisServer{t: t, port: freePort(t), dir: t.TempDir()}
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
func (s *redisServer) Addr() string { return "127.0.0.1:" + strconv.Itoa(s.port) }

// URL is the REDIS_URL for the server.
func (s *redisServer) URL() string { return "redis://" + s.Addr() + "/0" }

func (s *redisServer) start() {
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
		if reply, err := redisCommand(s.Addr(), "PING"); err == nil && reply == "+PONG" {
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

// Kill stops Redis with SIGKILL (no shutdown, as in a crash) and waits for the
// process to be gone. It is a no-op when Redis is not running.
func (s *redisServer) Kill() {
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Kill()
	<-s.done
	s.cmd = nil
}

// Restart starts a fresh Redis (empty: no persistence) on the same port.
func (s *redisServer) Restart() {
	s.t.Helper()
	s.Kill()
	s.start()
}

// redisCommand sends one inline command over a fresh connection and returns
// the first line of the reply, e.g. "+PONG".
func redisCommand(addr, cmd string) (string, error) {
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

// freePort returns a loopback TCP port that was free a moment ago.
func freePort(t testing.TB) int {
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
