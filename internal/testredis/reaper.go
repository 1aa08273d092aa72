package testredis

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"
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
	rdb := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1, DialTimeout: 200 * time.Millisecond,
		ReadTimeout: time.Second, WriteTimeout: time.Second, PoolSize: 1})
	defer rdb.Close()
	deadline := time.Now().Add(d)
	want := "process_id:" + strconv.Itoa(pid)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		info, err := rdb.Info(ctx, "server").Result()
		cancel()
		switch {
		case err == nil && strings.Contains(info, want+"\r\n"):
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
