package integration

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// TestExampleReadmeTour runs the curl tour at the top of
// example/server/README.md against the built server, as a reader would
// paste it: every step must answer as its comment says, and the verify step
// must verify (its code used to be a literal "1234": 422), which takes the
// challenge of the send's answer along with the delivered code.
func TestExampleReadmeTour(t *testing.T) {
	t.Parallel()
	for _, bin := range []string{"curl", "sed", "sh"} {
		if _, err := exec.LookPath(bin); err != nil {
			t.Skipf("%s is not on PATH", bin)
		}
	}
	readme, err := os.ReadFile("../example/server/README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, block, ok := strings.Cut(string(readme), "```sh\n")
	block, _, ok2 := strings.Cut(block, "```")
	if !ok || !ok2 {
		t.Fatal("example/server/README.md has no ```sh block")
	}
	srv := startServer(t, "")
	host := strings.TrimPrefix(srv.URL, "http://")
	var script []string
	for _, line := range strings.Split(block, "\n") {
		if strings.HasPrefix(line, "go run ") {
			continue // the test started the server
		}
		script = append(script, strings.ReplaceAll(line, "localhost:8080", host))
	}
	out, err := exec.Command("sh", "-ec", strings.Join(script, "\n")).CombinedOutput()
	if err != nil {
		t.Fatalf("the README tour failed: %v\n%s", err, out)
	}
	for _, want := range []string{"X-Cache: MISS", "HTTP/1.1 404", "HTTP/1.1 204", `"verified":true`} {
		if !strings.Contains(string(out), want) {
			t.Errorf("the README tour's output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(string(out), "invalid_code") {
		t.Errorf("the README tour's verify failed:\n%s", out)
	}
}
