package integration

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"go.uber.org/goleak"

	"github.com/alovago/alova/internal/testredis"
)

// The example server, built on first use by serverBinary.
var (
	binDir    string // removed by TestMain
	buildOnce sync.Once
	serverBin string
	buildErr  error
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "alova-integration-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "integration:", err)
		os.Exit(1)
	}
	binDir = dir
	testredis.Main(m, goleak.Cleanup(func(code int) {
		_ = os.RemoveAll(dir)
		os.Exit(code)
	}))
}

// serverBinary builds the example server once per test binary and returns
// its path. It fails the test when the build fails.
//
// Before building, it reads every source file the server is built from
// (through the test, so that go test records them): go test caches a
// package's result on the files its tests open, so a change to any of them
// (handlers/, cache/, example/server/, go.mod, …) reruns these tests
// instead of printing a stale "(cached)". The go build below is a separate
// process that go test cannot see. This must run inside a test, not in
// TestMain before m.Run: go test records only what tests open.
func serverBinary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		const pkg = "github.com/alovago/alova/example/server"
		if buildErr = readSources(pkg); buildErr != nil {
			return
		}
		serverBin = filepath.Join(binDir, "server")
		out, err := exec.Command("go", "build", "-o", serverBin, pkg).CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("building the example server: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return serverBin
}

// readSources reads the module's go.mod and go.sum and, for every package of
// this module that pkg depends on, its directory listing and its source and
// embedded files.
func readSources(pkg string) error {
	out, err := exec.Command("go", "list", "-deps",
		"-f", `{{if and .Module .Module.Main}}{{.Dir}}{{range .GoFiles}}{{"\t"}}{{.}}{{end}}{{range .CgoFiles}}{{"\t"}}{{.}}{{end}}{{range .EmbedFiles}}{{"\t"}}{{.}}{{end}}{{end}}`,
		pkg).Output()
	if err != nil {
		return fmt.Errorf("go list -deps %s: %w", pkg, err)
	}
	gomod, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return fmt.Errorf("go env GOMOD: %w", err)
	}
	root := filepath.Dir(strings.TrimSpace(string(gomod)))
	files := []string{filepath.Join(root, "go.mod"), filepath.Join(root, "go.sum")}
	dirs := 0
	for line := range bytes.Lines(out) {
		f := strings.Split(strings.TrimSpace(string(line)), "\t")
		if f[0] == "" {
			continue
		}
		dirs++
		// The listing: a file added to or removed from the package.
		if _, err := os.ReadDir(f[0]); err != nil {
			return err
		}
		for _, name := range f[1:] {
			files = append(files, filepath.Join(f[0], name))
		}
	}
	if dirs == 0 {
		return fmt.Errorf("go list -deps %s listed no package of this module", pkg)
	}
	for _, name := range files {
		if _, err := os.ReadFile(name); err != nil && !(os.IsNotExist(err) && strings.HasSuffix(name, "go.sum")) {
			return err
		}
	}
	return nil
}
