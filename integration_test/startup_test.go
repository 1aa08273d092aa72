package integration

import (
	"bytes"
	"context"
	"errors"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// runServer runs the built server to completion with env and args, and
// returns its exit code and everything it wrote. It fails the test if the
// server has not exited within 15 s.
func runServer(t *testing.T, env []string, args ...string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, serverBinary(t), args...)
	cmd.Env = append(withoutEnv(os.Environ(), "REDIS_URL", "PORT", "ADMIN_TOKEN"), env...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("server %v %v still running after 15 s:\n%s", env, args, out.String())
	}
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0, out.String()
	case errors.As(err, &ee):
		return ee.ExitCode(), out.String()
	default:
		t.Fatalf("run server: %v", err)
		return -1, ""
	}
}

// TestStartupErrorsExitWithAMessage runs the server with each kind of bad
// configuration: it must print what is wrong and exit 1, never panic (a
// panic exits 2 with a stack).
func TestStartupErrorsExitWithAMessage(t *testing.T) {
	t.Parallel()
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { busy.Close() }) // after the parallel subtests
	tests := []struct {
		name   string
		env    []string
		args   []string
		want   string // in the output
		secret string // must not be in the output
	}{
		{name: "REDIS_URL without a scheme", env: []string{"REDIS_URL=localhost:6379"}, want: "REDIS_URL"},
		{name: "REDIS_URL with a bad option", env: []string{"REDIS_URL=redis://127.0.0.1:6379?dial_timeout=abc"}, want: "dial_timeout"},
		{name: "REDIS_URL of another scheme", env: []string{"REDIS_URL=http://x"}, want: `unknown scheme "http"`},
		{name: "REDIS_URL with a password", env: []string{"REDIS_URL=redis://u:s3cret-pw@127.0.0.1:6379/0?pool_size=x"},
			want: "pool_size", secret: "s3cret-pw"},
		{name: "REDIS_URL cluster with a bad option", env: []string{"REDIS_URL=redis-cluster://127.0.0.1:7000,127.0.0.1:7001?read_timeout=soon"},
			want: "read_timeout"},
		{name: "ADMIN_TOKEN too short", env: []string{"ADMIN_TOKEN=hunter2"}, want: "ADMIN_TOKEN", secret: "hunter2"},
		{name: "flag out of range", args: []string{"-ip-limit", "-1"}, want: "-ip-limit"},
		{name: "unknown flag", args: []string{"-no-such-flag"}, want: "no-such-flag"},
		{name: "stray argument", args: []string{"extra"}, want: "unexpected arguments"},
		{name: "address in use", args: []string{"-addr", busy.Addr().String()}, want: "address already in use"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			code, out := runServer(t, tc.env, tc.args...)
			if code != 1 {
				t.Errorf("exit code %d, want 1; output:\n%s", code, out)
			}
			if !strings.Contains(out, "server: ") || !strings.Contains(out, tc.want) {
				t.Errorf("output lacks a \"server: …%s…\" message:\n%s", tc.want, out)
			}
			for _, bad := range []string{"panic", "goroutine ", "nil pointer"} {
				if strings.Contains(out, bad) {
					t.Errorf("output holds %q:\n%s", bad, out)
				}
			}
			if tc.secret != "" && strings.Contains(out, tc.secret) {
				t.Errorf("output holds the secret %q:\n%s", tc.secret, out)
			}
		})
	}
}

func TestHelpNamesTheEnvironment(t *testing.T) {
	t.Parallel()
	code, out := runServer(t, nil, "-h")
	if code != 0 {
		t.Errorf("-h: exit code %d, want 0", code)
	}
	for _, want := range []string{"REDIS_URL", "ADMIN_TOKEN", "PORT", "-body-timeout", "-idle-timeout", "embedded"} {
		if !strings.Contains(out, want) {
			t.Errorf("-h output lacks %q:\n%s", want, out)
		}
	}
}
