package readme

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"go/format"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/alovago/alova/internal/testredis"
)

// guidePath is the guide whose Go blocks TestGuideRuns builds and runs.
const guidePath = "../../docs/coming-from-alova.md"

// guideRedisAddr is the Redis address the guide's programs use. The test
// builds them with the address of a redis-server of its own in its place.
const guideRedisAddr = "localhost:6379"

// guideRunTimeout bounds each program's run.
const guideRunTimeout = 30 * time.Second

// guideBlock is a ```go block of the guide and the output it must print.
type guideBlock struct {
	line   int    // the line of its opening fence, for messages
	code   string // the program
	output string // what it prints on stdout, the Output block's lines after "Output:"
}

// parseGuide returns the ```go blocks of doc with their Output blocks. Every
// ```go block must be followed, before the next heading or ```go block, by a
// ```text block whose first line is "Output:"; the lines after it are what
// the program prints on stdout. An "Output:" line alone says the program
// prints nothing.
func parseGuide(doc string) ([]guideBlock, error) {
	lines := strings.Split(doc, "\n")
	var blocks []guideBlock
	var errs []error
	for i := 0; i < len(lines); i++ {
		if lines[i] != "```go" {
			continue
		}
		b := guideBlock{line: i + 1}
		end := fenceEnd(lines, i)
		if end < 0 {
			return nil, fmt.Errorf("line %d: unterminated ```go block", b.line)
		}
		b.code = strings.Join(lines[i+1:end], "\n") + "\n"
		i = end
		out := -1
		for j := end + 1; j < len(lines); j++ {
			l := lines[j]
			if strings.HasPrefix(l, "#") || l == "```go" {
				break
			}
			if strings.HasPrefix(l, "```") {
				if l == "```text" && j+1 < len(lines) && lines[j+1] == "Output:" {
					out = j
				}
				break
			}
		}
		if out < 0 {
			errs = append(errs, fmt.Errorf("line %d: the Go block is not followed by a ```text block starting with \"Output:\"", b.line))
			continue
		}
		oend := fenceEnd(lines, out)
		if oend < 0 {
			return nil, fmt.Errorf("line %d: unterminated ```text block", out+1)
		}
		b.output = strings.Join(lines[out+2:oend], "\n")
		blocks = append(blocks, b)
		i = oend
	}
	return blocks, errors.Join(errs...)
}

// fenceEnd returns the index of the line closing the fenced block opened at
// lines[open], or -1.
func fenceEnd(lines []string, open int) int {
	for j := open + 1; j < len(lines); j++ {
		if lines[j] == "```" {
			return j
		}
	}
	return -1
}

// matchOutput reports whether got (a program's stdout) matches want (an
// Output block): line by line, trailing spaces ignored, where "…" in a line of
// want stands for any non-empty text (a random challenge id, a timestamp).
func matchOutput(got, want string) bool {
	g := strings.Split(strings.TrimRight(got, "\n"), "\n")
	w := strings.Split(strings.TrimRight(want, "\n"), "\n")
	if strings.TrimSpace(got) == "" {
		g = nil
	}
	if strings.TrimSpace(want) == "" {
		w = nil
	}
	if len(g) != len(w) {
		return false
	}
	for i := range w {
		re := "^" + strings.ReplaceAll(regexp.QuoteMeta(strings.TrimRight(w[i], " ")), "…", ".+") + "$"
		if !regexp.MustCompile(re).MatchString(strings.TrimRight(g[i], " ")) {
			return false
		}
	}
	return true
}

func TestMatchOutput(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		got, want string
		ok        bool
	}{
		{"MISS\nL1\n", "MISS\nL1", true},
		{"MISS\n", "MISS\nL1", false},
		{"", "MISS", false},
		{"", "", true},
		{"MISS\n", "", false},
		{"challenge: 3f2a\nwrong code\n", "challenge: …\nwrong code", true},
		{"challenge: \nwrong code\n", "challenge: …\nwrong code", false},
		{"a.b\n", "a*b", false},
	} {
		if ok := matchOutput(tc.got, tc.want); ok != tc.ok {
			t.Errorf("matchOutput(%q, %q) = %v, want %v", tc.got, tc.want, ok, tc.ok)
		}
	}
}

func TestParseGuide(t *testing.T) {
	t.Parallel()
	doc := "# A\n\n```go\npackage main\n```\n\nIt prints:\n\n```text\nOutput:\nhello\n```\n\n" +
		"```go\npackage main\n```\n\n```text\nOutput:\n```\n\n```go\npackage main\n```\n\n## Next\n\n```text\nOutput:\nx\n```\n"
	blocks, err := parseGuide(doc)
	if err == nil || !strings.Contains(err.Error(), "line 22:") {
		t.Errorf("parseGuide: error %v, want one about the third block (line 22), which has no Output block", err)
	}
	if len(blocks) != 2 || blocks[0].output != "hello" || blocks[1].output != "" || blocks[0].line != 3 {
		t.Errorf("parseGuide = %+v, want two blocks, outputs \"hello\" and \"\"", blocks)
	}
}

// guideDownstream stands in for the services the guide's programs call
// (mailer.internal, products.internal, shop.internal). The programs reach it
// as their HTTP proxy: the client's default transport honours HTTP_PROXY.
func guideDownstream(t *testing.T) *httptest.Server {
	t.Helper()
	routes := map[string]struct {
		status int
		body   string
	}{
		"POST mailer.internal/api/captcha":  {http.StatusAccepted, `{"queued":true}`},
		"GET products.internal/products/42": {http.StatusOK, `{"id":42,"name":"pen"}`},
		"GET shop.internal/products":        {http.StatusOK, `[{"id":1,"name":"pen"}]`},
		"POST shop.internal/products":       {http.StatusCreated, `{"id":2,"name":"pen"}`},
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		route, ok := routes[r.Method+" "+r.Host+r.URL.Path]
		if !ok {
			t.Errorf("a guide program sent %s http://%s%s, which the test's downstream does not serve", r.Method, r.Host, r.URL.Path)
			http.Error(w, "not served by TestGuideRuns", http.StatusNotFound)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(route.status)
		_, _ = io.WriteString(w, route.body)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// TestGuideRuns checks every Go block of docs/coming-from-alova.md: it is a
// complete program, gofmt-formatted, that passes go vet, builds, runs and
// prints on stdout what the ```text block after it shows ("Output:" then the
// lines; see parseGuide and matchOutput). The programs are built once, then
// each binary runs with a timeout, in parallel, with:
//
//   - "localhost:6379" replaced, before the build, by the address of a
//     redis-server of the test's own (fresh, so no key of an earlier run
//     is seen); without redis-server, the programs that use Redis are built
//     but not run;
//   - HTTP_PROXY set to guideDownstream, which answers for the *.internal
//     services the programs call.
//
// stderr (logs) is not compared; it is printed when a program fails.
func TestGuideRuns(t *testing.T) {
	doc, err := os.ReadFile(guidePath)
	if err != nil {
		t.Fatal(err)
	}
	blocks, err := parseGuide(string(doc))
	if err != nil {
		t.Error(err)
	}
	if len(blocks) < 3 {
		t.Fatalf("found %d Go blocks with an Output block, want at least 3", len(blocks))
	}

	redisAddr := ""
	if _, err := exec.LookPath("redis-server"); err == nil {
		redisAddr = testredis.Server(t).Addr()
	}

	// Inside the module, so that the programs build against this checkout.
	dir, err := os.MkdirTemp(".", "guide-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	var pkgs []string
	usesRedis := map[int]bool{}
	for i, b := range blocks {
		if !strings.HasPrefix(b.code, "package main\n") {
			t.Fatalf("the Go block at line %d is not a complete program (package main):\n%s", b.line, b.code)
		}
		if f, err := format.Source([]byte(b.code)); err != nil || !bytes.Equal(f, []byte(b.code)) {
			t.Errorf("the Go block at line %d is not gofmt-formatted (%v); gofmt gives:\n%s", b.line, err, f)
		}
		code := b.code
		if strings.Contains(code, guideRedisAddr) {
			usesRedis[i] = true
			if redisAddr != "" {
				code = strings.ReplaceAll(code, guideRedisAddr, redisAddr)
			}
		}
		sub := filepath.Join(dir, fmt.Sprintf("block%d", i+1))
		if err := os.Mkdir(sub, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(sub, "main.go"), []byte(code), 0o644); err != nil {
			t.Fatal(err)
		}
		pkgs = append(pkgs, "./"+filepath.ToSlash(sub))
	}
	gocmd := filepath.Join(runtime.GOROOT(), "bin", "go")
	if out, err := exec.Command(gocmd, append([]string{"vet"}, pkgs...)...).CombinedOutput(); err != nil {
		t.Fatalf("a Go block of the guide does not pass go vet: %v\n%s", err, out)
	}
	bin, err := filepath.Abs(filepath.Join(dir, "bin"))
	if err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(gocmd, append([]string{"build", "-o", bin + string(filepath.Separator)}, pkgs...)...).CombinedOutput(); err != nil {
		t.Fatalf("a Go block of the guide does not build: %v\n%s", err, out)
	}

	proxy := guideDownstream(t).URL
	for i, b := range blocks {
		t.Run(fmt.Sprintf("block%d", i+1), func(t *testing.T) {
			t.Parallel()
			if usesRedis[i] && redisAddr == "" {
				t.Skipf("the Go block at line %d uses Redis and redis-server is not on PATH: built, not run", b.line)
			}
			ctx, cancel := context.WithTimeout(context.Background(), guideRunTimeout)
			defer cancel()
			cmd := exec.CommandContext(ctx, filepath.Join(bin, fmt.Sprintf("block%d", i+1)))
			cmd.Env = append(os.Environ(), "HTTP_PROXY="+proxy, "http_proxy="+proxy, "NO_PROXY=", "no_proxy=")
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			err := cmd.Run()
			switch {
			case ctx.Err() != nil:
				t.Errorf("the Go block at line %d ran longer than %v\nstdout:\n%s\nstderr:\n%s", b.line, guideRunTimeout, stdout.String(), stderr.String())
			case err != nil:
				t.Errorf("the Go block at line %d: %v\nstdout:\n%s\nstderr:\n%s", b.line, err, stdout.String(), stderr.String())
			case !matchOutput(stdout.String(), b.output):
				got := stdout.String()
				if strings.TrimSpace(got) == "" {
					got = "(nothing)"
				}
				t.Errorf("the Go block at line %d printed:\n%s\nwant (its Output block):\n%s\nstderr:\n%s", b.line, got, b.output, stderr.String())
			}
		})
	}
}
