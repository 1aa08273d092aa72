package testredis

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// reaperScript runs redis-server in the background, prints its pid, and
// kills it (SIGKILL) as soon as its own stdin closes. The test process holds
// the only write end of that stdin, so the pipe closes when the test closes
// it, and also when the test process ends in any other way (a panic, go
// test's timeout, SIGKILL): the kernel closes it then. No redis-server
// outlives the test binary that started it. $TESTREDIS_RMDIR, when set, is
// removed after Redis is gone.
const reaperScript = `redis-server "$@" </dev/null >/dev/null 2>&1 &
pid=$!
echo "$pid"
read -r _ || :
kill -9 "$pid" 2>/dev/null
wait "$pid" 2>/dev/null
if [ -n "$TESTREDIS_RMDIR" ]; then rm -rf "$TESTREDIS_RMDIR"; fi
`

// reaped is a redis-server started through reaperScript.
type reaped struct {
	pid  int       // redis-server's own pid (signals go here)
	sh   *exec.Cmd // the wrapper
	hold *os.File  // the write end of the wrapper's stdin
}

// spawn starts redis-server with args under the reaper. rmdir, when not
// empty, is removed once Redis is gone.
func spawn(args []string, rmdir string) (*reaped, error) {
	r, w, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	sh := exec.Command("sh", append([]string{"-c", reaperScript, "testredis-reaper"}, args...)...)
	sh.Stdin = r
	sh.Env = append(os.Environ(), "TESTREDIS_RMDIR="+rmdir)
	out, err := sh.StdoutPipe()
	if err != nil {
		r.Close()
		w.Close()
		return nil, err
	}
	err = sh.Start()
	r.Close() // the wrapper has its own copy
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("start redis-server: %w", err)
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	pid, perr := strconv.Atoi(strings.TrimSpace(line))
	if err != nil || perr != nil {
		w.Close()
		_ = sh.Wait()
		return nil, fmt.Errorf("start redis-server: the wrapper printed %q (%v)", line, errors.Join(err, perr))
	}
	return &reaped{pid: pid, sh: sh, hold: w}, nil
}

// signal sends sig to redis-server.
func (p *reaped) signal(sig syscall.Signal) error { return syscall.Kill(p.pid, sig) }

// kill closes the wrapper's stdin, so that it kills redis-server with SIGKILL,
// and waits until both are gone.
func (p *reaped) kill() {
	_ = p.hold.Close()
	_ = p.sh.Wait()
}

// errForeign means another process answered on the port: it was taken
// between FreePort and redis-server's bind.
var errForeign = errors.New("testredis: another server answers on the port")

// waitReady waits up to d for the redis-server of pid to answer on addr. It
// returns errForeign when a server with another pid answers there.
func waitReady(addr string, pid int, d time.Duration) error {
	deadline := time.Now().Add(d)
	want := "process_id:" + strconv.Itoa(pid) + "\r\n"
	for {
		info, err := serverInfo(addr)
		switch {
		case err == nil && strings.Contains(info, want):
			return nil
		case err == nil && strings.Contains(info, "process_id:"):
			return errForeign
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("redis-server (pid %d) did not answer on %s within %v (last error: %v)", pid, addr, d, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// serverInfo returns the reply to INFO server, over a fresh connection (no
// go-redis client: its pool logs every refused dial while Redis starts).
func serverInfo(addr string) (string, error) {
	conn, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
	if err != nil {
		return "", err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(time.Second))
	if _, err := io.WriteString(conn, "INFO server\r\n"); err != nil {
		return "", err
	}
	r := bufio.NewReader(conn)
	head, err := r.ReadString('\n')
	if err != nil {
		return "", err
	}
	n, err := strconv.Atoi(strings.TrimSpace(strings.TrimPrefix(head, "$")))
	if !strings.HasPrefix(head, "$") || err != nil || n < 0 {
		return "", fmt.Errorf("INFO server: unexpected reply %q", head)
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(r, body); err != nil {
		return "", err
	}
	return string(body), nil
}
