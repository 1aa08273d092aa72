// Package testredis gives tests a Redis to run against: an in-process
// miniredis for unit tests ([Mini]), a real Redis for the tests that must
// prove a behaviour on real Redis ([Real]: REDIS_URL, or else a redis-server
// started for the test binary), and redis-server processes of a test's own
// that it can freeze, kill and restart ([Server]).
package testredis

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
)

// Mini starts a miniredis for the test and returns it with a client on it.
// Both are closed when the test ends.
//
// The client does not retry, so an outage (mr.Close, mr.SetError) shows at
// once, but it waits patiently for answers: hundreds of concurrent Lua
// scripts on miniredis under -race on a busy machine can queue for seconds.
func Mini(t testing.TB) (*miniredis.Miniredis, *redis.Client) {
	t.Helper()
	mr := miniredis.RunT(t)
	rdb := redis.NewClient(&redis.Options{Addr: mr.Addr(), MaxRetries: -1, DialerRetries: 1, DialTimeout: time.Second,
		ReadTimeout: 10 * time.Second, WriteTimeout: 10 * time.Second})
	t.Cleanup(func() { _ = rdb.Close() })
	return mr, rdb
}

// Real returns a client on a real Redis, closed when the test ends:
//
//   - the server named by REDIS_URL (redis://host:port/db) when it is set; the
//     test fails when that server does not answer;
//   - else, when redis-server is on PATH, one redis-server started for the
//     whole test binary on a free loopback port (once per process, on first
//     use). REDIS_URL is then set in this process to its URL, so helpers
//     that read REDIS_URL reach it too. It is killed when the tests end
//     ([Main]) or, at the latest, when the test binary exits, however it
//     exits;
//   - else the test is skipped with a message saying so.
//
// Tests share the server: give each its own keys with [Prefix].
func Real(t testing.TB) *redis.Client {
	t.Helper()
	url := URL(t)
	opt, err := redis.ParseURL(url)
	if err != nil {
		t.Fatalf("REDIS_URL=%q: %v", url, err)
	}
	rdb := redis.NewClient(opt)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := rdb.Ping(ctx).Err(); err != nil {
		_ = rdb.Close()
		t.Fatalf("REDIS_URL=%q is set but Redis does not answer: %v", url, err)
	}
	t.Cleanup(func() { _ = rdb.Close() })
	return rdb
}

// URL returns the URL of the Redis that [Real] connects to, starting the
// shared redis-server if that is the one. It skips the test when there is
// neither REDIS_URL nor redis-server, and fails it when redis-server does not
// start.
func URL(t testing.TB) string {
	t.Helper()
	if url := os.Getenv("REDIS_URL"); url != "" {
		return url
	}
	url, err := sharedURL()
	switch {
	case errors.Is(err, errNoServer):
		skip(t, "REDIS_URL is not set and redis-server is not on PATH",
			"install redis-server, or set REDIS_URL=redis://host:port/0; .ci/run does")
	case err != nil:
		t.Fatal(err)
	}
	return url
}

// skipNoted makes the first skip of a test binary print its line to stderr.
var skipNoted atomic.Bool

// skip skips t because a real Redis is missing (why), saying how to get one
// (enable). The first skip in the test binary also writes one line to
// stderr, so that a run without -v says that real-Redis tests were skipped
// (t.Skip's message shows only with -v). go test shows that line when it
// streams the binary's output: run in the package's directory without
// package arguments, with -v or -json, or when the package fails; for a
// package that passes in package list mode (go test ./...), the go command
// prints only its "ok" line.
func skip(t testing.TB, why, enable string) {
	t.Helper()
	if !skipNoted.Swap(true) {
		fmt.Fprintf(os.Stderr, "testredis: real-Redis tests skipped: %s (%s; go test -v lists them)\n", why, enable)
	}
	t.Skipf("%s: skipping the real-Redis test (%s)", why, enable)
}

var seq atomic.Uint64

// Prefix returns a key prefix unique to this test and run, ending in ":", so
// tests sharing one real Redis never see each other's keys. Keys under it are
// deleted when the test ends if rdb is not nil.
func Prefix(t testing.TB, rdb redis.UniversalClient) string {
	t.Helper()
	name := strings.NewReplacer("/", "_", " ", "_").Replace(t.Name())
	p := fmt.Sprintf("test:%s:%d:%d:", name, time.Now().UnixNano(), seq.Add(1))
	if rdb != nil {
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			iter := rdb.Scan(ctx, 0, "*"+p+"*", 500).Iterator()
			for iter.Next(ctx) {
				rdb.Del(ctx, iter.Val())
			}
		})
	}
	return p
}
