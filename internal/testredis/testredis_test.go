package testredis

import (
	"bytes"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// TestFirstSkipPrintsOneLine runs a child test binary with no redis-server
// on PATH and no REDIS_URL, whose tests skip three times (Real twice,
// Server once): its stderr must hold exactly one line, naming the cause and
// how to enable the tests, and without -v its stdout must not show the skips.
func TestFirstSkipPrintsOneLine(t *testing.T) {
	t.Parallel()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperSkips$", "-test.count=1")
	cmd.Env = append(os.Environ(), "TESTREDIS_HELPER=skips", "REDIS_URL=", "PATH="+t.TempDir())
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("the helper test binary: %v\nstdout:\n%s\nstderr:\n%s", err, &stdout, &stderr)
	}
	lines := strings.Split(strings.TrimRight(stderr.String(), "\n"), "\n")
	if len(lines) != 1 {
		t.Fatalf("stderr holds %d lines, want 1:\n%s", len(lines), &stderr)
	}
	for _, want := range []string{"testredis: real-Redis tests skipped", "redis-server is not on PATH", "install redis-server", "REDIS_URL"} {
		if !strings.Contains(lines[0], want) {
			t.Errorf("stderr line %q does not say %q", lines[0], want)
		}
	}
	if strings.Contains(stdout.String(), "SKIP") {
		t.Errorf("without -v the helper's stdout shows the skips, so the stderr line is not needed:\n%s", &stdout)
	}
}

// TestHelperSkips is run by TestFirstSkipPrintsOneLine in a child process;
// it does nothing otherwise.
func TestHelperSkips(t *testing.T) {
	if os.Getenv("TESTREDIS_HELPER") != "skips" {
		t.Skip("helper process for TestFirstSkipPrintsOneLine")
	}
	t.Run("real", func(t *testing.T) { Real(t) })
	t.Run("real again", func(t *testing.T) { Real(t) })
	t.Run("server", func(t *testing.T) { Server(t) })
}
