// Package testredis gives tests a Redis to run against: an in-process
// miniredis for unit tests, and the real server named by REDIS_URL for the
// tests that must prove a behaviour on real Redis.
package testredis

import (
	"context"
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

// Real returns a client on the Redis named by REDIS_URL (redis://host:port/db).
// It skips the test with a clear message when REDIS_URL is unset, and fails it
// when REDIS_URL is set but the server does not answer. The client is closed
// when the test ends.
func Real(t testing.TB) *redis.Client {
	t.Helper()
	url := os.Getenv("REDIS_URL")
	if url == "" {
		t.Skip("REDIS_URL is not set: skipping the real-Redis test (.ci/run sets it)")
	}
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
