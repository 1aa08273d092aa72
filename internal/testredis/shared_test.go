package testredis

import (
	"bufio"
	"context"
	"errors"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestRealWithoutREDIS_URLStartsAServer(t *testing.T) {
	NeedServer(t)
	if os.Getenv("REDIS_URL") != "" {
		// Real must use the server REDIS_URL names; the shared server is
		// covered when it is unset (go test without .ci/run).
		t.Setenv("REDIS_URL", "")
	}
	rdb := Real(t)
	if err := rdb.Set(context.Background(), Prefix(t, rdb)+"k", "v", time.Minute).Err(); err != nil {
		t.Fatalf("SET on the shared server: %v", err)
	}
	if got := os.Getenv("REDIS_URL"); !strings.HasPrefix(got, "redis://127.0.0.1:") {
		t.Errorf("REDIS_URL after Real = %q, want the shared server's redis://127.0.0.1:port/0", got)
	}
	if again := Real(t); again.Options().Addr != rdb.Options().Addr {
		t.Errorf("second Real on %s, first on %s: want one server per process", again.Options().Addr, rdb.Options().Addr)
	}
}

// TestSharedServerDiesWithTheTestBinary runs a child test binary that starts
// the shared server and then exits abruptly (os.Exit, no TestMain cleanup):
// the redis-server must be gone right after.
func TestSharedServerDiesWithTheTestBinary(t *testing.T) {
	NeedServer(t)
	for _, how := range []string{"exit", "sigkill"} {
		t.Run(how, func(t *testing.T) {
			cmd := exec.Command(os.Args[0], "-test.run=^TestHelperSharedServer$", "-test.count=1")
			cmd.Env = append(os.Environ(), "TESTREDIS_HELPER="+how, "REDIS_URL=")
			out, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			pid := 0
			sc := bufio.NewScanner(out)
			for sc.Scan() {
				if p, ok := strings.CutPrefix(sc.Text(), "redis-pid="); ok {
					pid, _ = strconv.Atoi(p)
					break
				}
			}
			if how == "sigkill" && pid != 0 {
				_ = cmd.Process.Kill()
			}
			_ = cmd.Wait()
			if pid == 0 {
				t.Fatal("the helper did not report the redis-server's pid")
			}
			deadline := time.Now().Add(3 * time.Second)
			for syscall.Kill(pid, 0) == nil {
				if time.Now().After(deadline) {
					_ = syscall.Kill(pid, syscall.SIGKILL)
					t.Fatalf("redis-server %d still runs 3 s after its test binary ended (%s)", pid, how)
				}
				time.Sleep(10 * time.Millisecond)
			}
		})
	}
}

// TestHelperSharedServer is run by TestSharedServerDiesWithTheTestBinary in
// a child process; it does nothing otherwise.
func TestHelperSharedServer(t *testing.T) {
	how := os.Getenv("TESTREDIS_HELPER")
	if how == "" {
		t.Skip("helper process for TestSharedServerDiesWithTheTestBinary")
	}
	if _, err := sharedURL(); err != nil {
		t.Fatal(err)
	}
	os.Stdout.WriteString("redis-pid=" + strconv.Itoa(shared.proc.pid) + "\n")
	if how == "sigkill" {
		time.Sleep(time.Minute) // the parent kills us
	}
	os.Exit(0)
}

func TestRealSkipsWithoutAnyRedis(t *testing.T) {
	if os.Getenv("REDIS_URL") != "" {
		t.Skip("REDIS_URL is set")
	}
	if _, err := exec.LookPath("redis-server"); err == nil {
		t.Skip("redis-server is on PATH")
	}
	if _, err := sharedURL(); !errors.Is(err, errNoServer) {
		t.Fatalf("sharedURL with neither REDIS_URL nor redis-server = %v, want errNoServer", err)
	}
}
