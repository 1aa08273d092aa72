package integration

import (
	"context"
	"fmt"
	"net/http"
	"os/exec"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alovago/alova/internal/testredis"
)

var idSeq atomic.Int64

// uniqueID returns a product id unused by any other test or earlier run.
func uniqueID() string { return fmt.Sprintf("p%d-%d", time.Now().UnixNano(), idSeq.Add(1)) }

// sharedRedisURL returns a Redis for tests that only need one: a fresh
// redis-server of their own when it is installed, else the one REDIS_URL
// names; it skips the test when there is neither.
func sharedRedisURL(t *testing.T) string {
	t.Helper()
	if _, err := exec.LookPath("redis-server"); err == nil {
		return testredis.Server(t).URL()
	}
	return testredis.URL(t) // REDIS_URL, or a skip with a message
}

// xcache fetches a product and returns its X-Cache header, failing the test
// unless the answer is 200.
func xcache(t *testing.T, s *server, id string) string {
	t.Helper()
	r := do(t, "GET", s.URL+"/api/products/"+id, nil)
	if r.Status != http.StatusOK {
		t.Fatalf("GET %s/api/products/%s = %d %s, want 200", s.URL, id, r.Status, r.Body)
	}
	return r.Header.Get("X-Cache")
}

// stats reads GET /demo/stats.
func stats(t *testing.T, s *server) (products, deliveries, cancelled int) {
	t.Helper()
	m := do(t, "GET", s.URL+"/demo/stats", nil).JSON(t)
	return int(m["products"].(float64)), int(m["deliveries"].(float64)), int(m["cancelled"].(float64))
}

func TestTwoInstancesShareTheCache(t *testing.T) {
	t.Parallel()
	url := sharedRedisURL(t)
	a, b := startServer(t, url), startServer(t, url)
	id := uniqueID()

	for _, step := range []struct {
		name string
		s    *server
		want string
	}{{"A", a, "MISS"}, {"A", a, "L1"}, {"B", b, "L2"}, {"B", b, "L1"}} {
		if got := xcache(t, step.s, id); got != step.want {
			t.Fatalf("GET product on %s: X-Cache %q, want %q", step.name, got, step.want)
		}
	}
	if pa, _, _ := stats(t, a); pa != 1 {
		t.Errorf("A's downstream saw %d product calls, want 1", pa)
	}
	if pb, _, _ := stats(t, b); pb != 0 {
		t.Errorf("B's downstream saw %d product calls, want 0 (B was served from L2, then L1)", pb)
	}

	if r := do(t, "DELETE", a.URL+"/api/products/"+id+"/cache", nil); r.Status != http.StatusNoContent {
		t.Fatalf("DELETE on A = %d %s, want 204", r.Status, r.Body)
	}
	// B answers from L1 until the invalidation reaches it; its first other
	// answer must be a MISS, as the L2 entry went with the DELETE. Nothing
	// asks A in between, so nothing refills L2.
	got := "L1"
	deadline := time.Now().Add(5 * time.Second)
	for got == "L1" && time.Now().Before(deadline) {
		got = xcache(t, b, id)
	}
	if got != "MISS" {
		t.Fatalf("after DELETE on A, B answered X-Cache %q, want MISS", got)
	}
	if got := xcache(t, a, id); got != "L2" {
		t.Errorf("after B refetched, A answered X-Cache %q, want L2", got)
	}
}

func TestClientHangUpCancelsTheDownstreamCall(t *testing.T) {
	t.Parallel()
	s := startServer(t, "", "-demo-latency", "20s", "-timeout", "30s")
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", s.URL+"/api/products/"+uniqueID(), nil)
	if resp, err := httpClient.Do(req); err == nil {
		resp.Body.Close()
		t.Fatalf("GET with 20 s of downstream latency answered %d within 200 ms", resp.StatusCode)
	}
	// The downstream would answer after 20 s; it must see the cancellation
	// well before, also on a busy machine.
	eventually(t, 8*time.Second, "the demo downstream counts the cancelled product call", func() bool {
		_, _, cancelled := stats(t, s)
		return cancelled == 1
	})
	if products, _, _ := stats(t, s); products != 1 {
		t.Errorf("downstream saw %d product calls, want 1 (no retry of a call the caller abandoned)", products)
	}
}

func TestFlakyDownstreamProductsSucceedThroughRetries(t *testing.T) {
	t.Parallel()
	s := startServer(t, "", "-demo-fail-rate", "0.5", "-retry-delay", "5ms")
	const n = 10
	for i := range n {
		if got := xcache(t, s, uniqueID()); got != "MISS" {
			t.Fatalf("product %d: X-Cache %q, want MISS", i, got)
		}
	}
	if products, _, _ := stats(t, s); products < n+n/2 {
		t.Errorf("downstream saw %d product calls for %d products with half of them failing; want ≥ %d (retries)", products, n, n+n/2)
	}
}

// load fetches products from the servers in a loop until stop is closed,
// counting the answers that are not 200.
type load struct {
	stop    chan struct{}
	wg      sync.WaitGroup
	total   atomic.Int64
	bad     atomic.Int64
	mu      sync.Mutex
	lastBad string
}

func startLoad(servers []*server, warm []string) *load {
	l := &load{stop: make(chan struct{})}
	for w := range 4 {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			for i := 0; ; i++ {
				select {
				case <-l.stop:
					return
				default:
				}
				s := servers[(w+i)%len(servers)]
				id := warm[i%len(warm)]
				if i%5 == 4 {
					id = uniqueID() // a product no tier has: the origin must answer
				}
				r, err := tryDo("GET", s.URL+"/api/products/"+id, nil)
				l.total.Add(1)
				if err != nil || r.Status != http.StatusOK {
					l.bad.Add(1)
					l.mu.Lock()
					l.lastBad = fmt.Sprintf("GET %s: %d %s %v", id, r.Status, r.Body, err)
					l.mu.Unlock()
				}
				time.Sleep(2 * time.Millisecond)
			}
		}()
	}
	return l
}

// Stop ends the load and returns how many requests it made and how many
// failed, with the last failure.
func (l *load) Stop() (total, bad int64, lastBad string) {
	close(l.stop)
	l.wg.Wait()
	return l.total.Load(), l.bad.Load(), l.lastBad
}
