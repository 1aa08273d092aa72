package integration

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestEmbeddedRedisExpiresKeys: in the embedded mode (miniredis), keys must
// expire on time. Before, miniredis's TTLs never counted down: a client IP
// that hit the captcha limit got 429 forever, and every cached product
// stayed in memory.
func TestEmbeddedRedisExpiresKeys(t *testing.T) {
	t.Parallel()
	// -stale-if-error 0: products keep no stale copy past their 1 s TTL.
	srv := startServer(t, "", "-ip-limit", "3", "-ip-window", "2s", "-cache-ttl", "1s", "-demo-latency", "0s", "-stale-if-error", "0")
	if !strings.Contains(srv.Log(), "demo only") {
		t.Errorf("the log does not say the embedded Redis is for demos only:\n%s", srv.Log())
	}

	// The per-IP limit on /captcha/send clears after its 2 s window.
	for i := range 3 {
		if r := do(t, "POST", srv.URL+"/captcha/send", map[string]string{"key": uniqueEmail()}); r.Status != http.StatusOK {
			t.Fatalf("send %d = %d %s, want 200", i, r.Status, r.Body)
		}
	}
	r := do(t, "POST", srv.URL+"/captcha/send", map[string]string{"key": uniqueEmail()})
	limited := time.Now()
	if r.Status != http.StatusTooManyRequests {
		t.Fatalf("4th send in the window = %d %s, want 429", r.Status, r.Body)
	}
	if ra, err := strconv.Atoi(r.Header.Get("Retry-After")); err != nil || ra < 1 || ra > 2 {
		t.Errorf("Retry-After %q, want 1 or 2 (s)", r.Header.Get("Retry-After"))
	}
	eventually(t, 6*time.Second, "the per-IP limit clears after its window", func() bool {
		return do(t, "POST", srv.URL+"/captcha/send", map[string]string{"key": uniqueEmail()}).Status == http.StatusOK
	})
	if d := time.Since(limited); d < time.Second {
		t.Errorf("the limit cleared %v after the 429, before its window could end", d)
	}

	// Cached products leave the embedded Redis when their 1 s TTL ends.
	keys := func() int {
		m := do(t, "GET", srv.URL+"/debug/cache", nil).JSON(t)
		redis, _ := m["redis"].(map[string]any)
		n, ok := redis["keys"].(float64)
		if !ok {
			t.Fatalf("/debug/cache has no redis.keys in the embedded mode: %v", m)
		}
		return int(n)
	}
	const ids = 500
	var wg sync.WaitGroup
	sem := make(chan struct{}, 8)
	for i := range ids {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			if r, err := tryDo("GET", fmt.Sprintf("%s/api/products/exp%d-%s", srv.URL, i, uniqueID()), nil); err != nil || r.Status != http.StatusOK {
				t.Errorf("GET product: %d %v", r.Status, err)
			}
		}()
	}
	wg.Wait()
	filled := time.Now()
	if n := keys(); n < ids/2 {
		t.Logf("only %d keys right after %d products (some already expired)", n, ids)
	}
	eventually(t, 6*time.Second, "the products' keys expire from the embedded Redis", func() bool {
		return keys() < 10
	})
	t.Logf("%d products' keys gone %v after the last was cached", ids, time.Since(filled).Round(100*time.Millisecond))
}
