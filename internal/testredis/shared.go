package testredis

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// shared is the redis-server [Real] starts for the whole test binary when
// REDIS_URL is unset: one per process, started on first use.
var shared struct {
	once sync.Once
	mu   sync.Mutex
	proc *reaped // nil once stopped
	url  string
	err  error // why there is none
}

// errNoServer means there is neither REDIS_URL nor a redis-server to start.
var errNoServer = errors.New("REDIS_URL is not set and redis-server is not on PATH")

// sharedURL starts the shared redis-server on first call and returns its URL.
// It sets REDIS_URL in this process's environment to that URL, so that
// helpers reading REDIS_URL reach the same server.
func sharedURL() (string, error) {
	shared.once.Do(func() {
		shared.url, shared.err = startShared()
		if shared.err == nil {
			shared.err = os.Setenv("REDIS_URL", shared.url)
		}
	})
	return shared.url, shared.err
}

func startShared() (string, error) {
	if _, err := exec.LookPath("redis-server"); err != nil {
		return "", errNoServer
	}
	for attempt := 1; ; attempt++ {
		dir, err := os.MkdirTemp("", "testredis-")
		if err != nil {
			return "", err
		}
		port, err := freePort()
		if err != nil {
			return "", err
		}
		p, err := spawn(serverArgs(port, dir), dir)
		if err != nil {
			_ = os.RemoveAll(dir)
			return "", err
		}
		addr := "127.0.0.1:" + strconv.Itoa(port)
		if err = waitReady(addr, p.pid, 5*time.Second); err == nil {
			shared.mu.Lock()
			shared.proc = p
			shared.mu.Unlock()
			return "redis://" + addr + "/0", nil
		}
		log, _ := os.ReadFile(filepath.Join(dir, "redis.log"))
		p.kill() // removes dir
		if !errors.Is(err, errForeign) || attempt == 3 {
			return "", fmt.Errorf("starting a redis-server for the tests: %w\n%s", err, tail(string(log), 2000))
		}
	}
}

// stopShared kills the shared redis-server, if one was started, and waits
// until it is gone.
func stopShared() {
	shared.mu.Lock()
	defer shared.mu.Unlock()
	if shared.proc != nil {
		shared.proc.kill()
		shared.proc = nil
	}
}

// Main runs the package's tests with goleak's leak check
// ([goleak.VerifyTestMain], with opts), stopping the redis-server [Real]
// started, if any, once the tests are done. Use it as the package's TestMain:
//
//	func TestMain(m *testing.M) { testredis.Main(m) }
//
// Without it the server is still killed when the test binary exits (see
// [Real]), a few milliseconds later.
func Main(m *testing.M, opts ...goleak.Option) {
	goleak.VerifyTestMain(stopAfter{m}, opts...)
}

// stopAfter runs the tests, then stops the shared server before goleak looks
// for leaks.
type stopAfter struct{ m *testing.M }

func (s stopAfter) Run() int {
	code := s.m.Run()
	stopShared()
	return code
}
