// Package readme checks that the Go code in the repository's README.md
// compiles, so that the Quick start a user copies always builds.
package readme

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// goBlocks returns the ```go blocks of the README section that starts with
// heading.
func goBlocks(t *testing.T, readme, heading string) []string {
	t.Helper()
	i := strings.Index(readme, "\n"+heading+"\n")
	if i < 0 {
		t.Fatalf("README.md has no %q section", heading)
	}
	section := readme[i+len(heading)+2:]
	if j := strings.Index(section, "\n## "); j >= 0 {
		section = section[:j]
	}
	var blocks []string
	for {
		a := strings.Index(section, "```go\n")
		if a < 0 {
			return blocks
		}
		section = section[a+len("```go\n"):]
		b := strings.Index(section, "\n```")
		if b < 0 {
			t.Fatalf("unterminated ```go block in %q", heading)
		}
		blocks = append(blocks, section[:b+1])
		section = section[b:]
	}
}

func TestQuickStartCompiles(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	blocks := goBlocks(t, string(readme), "## Quick start")
	if len(blocks) != 1 || !strings.HasPrefix(blocks[0], "package main\n") {
		t.Fatalf("the Quick start should hold one complete program (package main), found %d blocks", len(blocks))
	}
	// Inside the module, so that it builds against this checkout.
	dir, err := os.MkdirTemp(".", "quickstart-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	if err := os.WriteFile(filepath.Join(dir, "main.go"), []byte(blocks[0]), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(filepath.Join(runtime.GOROOT(), "bin", "go"), "vet", "./"+filepath.Base(dir))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("the README's Quick start does not compile: %v\n%s", err, out)
	}
}
