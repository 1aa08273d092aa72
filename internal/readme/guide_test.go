package readme

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// TestGuideCompiles checks that every Go block of docs/coming-from-alova.md
// is a complete program that compiles (and passes go vet).
func TestGuideCompiles(t *testing.T) {
	doc, err := os.ReadFile("../../docs/coming-from-alova.md")
	if err != nil {
		t.Fatal(err)
	}
	var blocks []string
	for s := string(doc); ; {
		a := strings.Index(s, "```go\n")
		if a < 0 {
			break
		}
		s = s[a+len("```go\n"):]
		b := strings.Index(s, "\n```")
		if b < 0 {
			t.Fatal("unterminated ```go block")
		}
		blocks = append(blocks, s[:b+1])
		s = s[b:]
	}
	if len(blocks) < 3 {
		t.Fatalf("found %d Go blocks, want at least 3", len(blocks))
	}
	dir, err := os.MkdirTemp(".", "guide-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	var pkgs []string
	for i, b := range blocks {
		if !strings.HasPrefix(b, "package main\n") {
			t.Errorf("Go block %d is not a complete program (package main):\n%s", i+1, b)
			continue
		}
		sub := filepath.Join(dir, fmt.Sprintf("block%d", i+1))
		if err := os.Mkdir(sub, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(sub, "main.go"), []byte(b), 0o644); err != nil {
			t.Fatal(err)
		}
		pkgs = append(pkgs, "./"+filepath.ToSlash(sub))
	}
	cmd := exec.Command(filepath.Join(runtime.GOROOT(), "bin", "go"), append([]string{"vet"}, pkgs...)...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("a Go block of the guide does not compile: %v\n%s", err, out)
	}
}
