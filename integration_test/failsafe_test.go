package integration

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alovago/alova/internal/testredis"
)

// versionedDownstream serves GET /products/{id} as {"id":…,"gen":N}, N the
// generation the test sets, after delay.
type versionedDownstream struct {
	*httptest.Server
	gen   atomic.Int64
	delay atomic.Int64 // ns
	calls atomic.Int64
}

func startVersionedDownstream(t *testing.T) *versionedDownstream {
	t.Helper()
	d := &versionedDownstream{}
	d.gen.Store(1)
	d.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, ok := strings.CutPrefix(r.URL.Path, "/products/")
		if !ok {
			http.NotFound(w, r)
			return
		}
		d.calls.Add(1)
		gen := d.gen.Load() // the generation when the call arrived
		select {
		case <-time.After(time.Duration(d.delay.Load())):
		case <-r.Context().Done():
			return
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"id":%q,"gen":%d}`, id, gen)
	}))
	t.Cleanup(d.Close)
	return d
}

// productGen reads a product through s: its generation, X-Cache, or an error.
func productGen(s *server, id string) (gen int, xc string, err error) {
	r, err := tryDo("GET", s.URL+"/api/products/"+id, nil)
	if err != nil {
		return 0, "", err
	}
	if r.Status != http.StatusOK {
		return 0, "", fmt.Errorf("GET product = %d %s", r.Status, r.Body)
	}
	var p struct{ Gen int }
	if err := json.Unmarshal(r.Body, &p); err != nil {
		return 0, "", fmt.Errorf("product body %q: %v", r.Body, err)
	}
	return p.Gen, r.Header.Get("X-Cache"), nil
}

// debugCache reads a field group of GET /debug/cache.
func debugCache(t *testing.T, s *server) map[string]any {
	t.Helper()
	return do(t, "GET", s.URL+"/debug/cache", nil).JSON(t)
}

func recoveryPending(t *testing.T, s *server) float64 {
	t.Helper()
	return debugCache(t, s)["recovery"].(map[string]any)["pending"].(float64)
}

// TestInvalidationSurvivesRedisOutage: two servers share a Redis; Redis is
// killed, the product changes downstream and is invalidated through A, Redis
// is restarted. A never answers the old product after the invalidation; once
// A has replayed its queue and B's invalidation feed is back (and B has
// answered the new product once), neither answers it again.
func TestInvalidationSurvivesRedisOutage(t *testing.T) {
	t.Parallel()
	rs := testredis.Server(t)
	ds := startVersionedDownstream(t)
	args := []string{"-downstream", ds.URL, "-ip-limit", "100000", "-conns-per-ip", "1000", "-retries", "0"}
	a, b := startServer(t, rs.URL(), args...), startServer(t, rs.URL(), args...)
	servers := []*server{a, b}
	id := uniqueID()
	for _, s := range servers {
		if gen, _, err := productGen(s, id); err != nil || gen != 1 {
			t.Fatalf("prime %s: gen %d, %v; want 1", s.URL, gen, err)
		}
	}
	if _, xc, _ := productGen(b, id); xc != "L1" {
		t.Fatalf("B answered X-Cache %q after priming, want L1", xc)
	}
	feedB := debugCache(t, b)["invalidations"].(float64)

	rs.Kill()
	ds.gen.Store(2) // the product changes while Redis is down
	if st, body := adminCall(t, "DELETE", a.URL+"/api/products/"+id+"/cache"); st != http.StatusNoContent {
		t.Fatalf("DELETE on A with Redis down = %d %s, want 204 (queued)", st, body)
	}
	invalidated := time.Now()
	if n := recoveryPending(t, a); n != 1 {
		t.Fatalf("A's recovery queue holds %v invalidations, want 1", n)
	}

	type answer struct {
		at  time.Time
		srv int
		gen int
	}
	var mu sync.Mutex
	var answers []answer
	var errs []string
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for i, s := range servers {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				start := time.Now() // a read that starts later cannot see an earlier state
				gen, _, err := productGen(s, id)
				mu.Lock()
				if err != nil {
					errs = append(errs, err.Error())
				} else {
					answers = append(answers, answer{start, i, gen})
				}
				mu.Unlock()
				time.Sleep(2 * time.Millisecond)
			}
		})
	}
	time.Sleep(300 * time.Millisecond) // reads during the outage
	rs.Restart()
	restarted := time.Now()
	eventually(t, 15*time.Second, "A replays its queued invalidation", func() bool { return recoveryPending(t, a) == 0 })
	replayed := time.Now()
	eventually(t, 15*time.Second, "B's invalidation feed is back", func() bool {
		return debugCache(t, b)["invalidations"].(float64) > feedB
	})
	// B's purge on resubscribing may land before A's replay, and B read the
	// old product from Redis again: then A's announcement drops it.
	eventually(t, 15*time.Second, "B answers the new product", func() bool {
		gen, _, err := productGen(b, id)
		return err == nil && gen == 2
	})
	recovered := time.Now()
	time.Sleep(time.Second)
	close(stop)
	wg.Wait()

	var total [2]int
	var oldA, oldOutageB, oldBeforeReplayB, oldAfterReplay, oldAfterRecovery int
	var lastOld time.Time
	for _, an := range answers {
		total[an.srv]++
		if an.gen != 1 {
			continue
		}
		lastOld = an.at
		switch {
		case an.srv == 0:
			oldA++
		case an.at.Before(restarted):
			oldOutageB++
		case an.at.Before(replayed):
			oldBeforeReplayB++
		}
		if !an.at.Before(replayed) {
			oldAfterReplay++
		}
		if !an.at.Before(recovered) {
			oldAfterRecovery++
		}
	}
	t.Logf("answers: A %d, B %d, errors %d; Redis up %v after the invalidation, A replayed %v after Redis was up, B's feed back %v after",
		total[0], total[1], len(errs), restarted.Sub(invalidated).Round(time.Millisecond),
		replayed.Sub(restarted).Round(time.Millisecond), recovered.Sub(restarted).Round(time.Millisecond))
	t.Logf("old answers: A %d; B %d during the outage, %d between Redis up and A's replay; %d after A's replay, %d once B's feed was back and B had answered the new product",
		oldA, oldOutageB, oldBeforeReplayB, oldAfterReplay, oldAfterRecovery)
	if !lastOld.IsZero() {
		t.Logf("last old answer %v after Redis was up", lastOld.Sub(restarted).Round(time.Millisecond))
	}
	if len(errs) > 0 {
		t.Errorf("%d product reads failed, first: %s", len(errs), errs[0])
	}
	if oldA > 0 {
		t.Errorf("A answered the product it invalidated %d times after the invalidation", oldA)
	}
	if oldAfterRecovery > 0 {
		t.Errorf("%d answers older than the invalidation after A replayed it, B's feed was back and B had answered the new product (last %v after Redis was up)",
			oldAfterRecovery, lastOld.Sub(restarted))
	}
	if total[0] == 0 || total[1] == 0 {
		t.Errorf("answers A %d, B %d: want reads on both", total[0], total[1])
	}
}

// TestSoftTimeoutAnswersStale: products cached for 1 s, a soft timeout of
// 100 ms, and a downstream that answers in 3 s once the product expired:
// readers get the last good product quickly, and the new one once the call
// lands.
func TestSoftTimeoutAnswersStale(t *testing.T) {
	t.Parallel()
	ds := startVersionedDownstream(t)
	s := startServer(t, sharedRedisURL(t), "-downstream", ds.URL, "-cache-ttl", "1s", "-refresh-ahead=false",
		"-soft-timeout", "100ms", "-timeout", "10s", "-retries", "0", "-ip-limit", "100000")
	id := uniqueID()
	if gen, xc, err := productGen(s, id); err != nil || gen != 1 || xc != "MISS" {
		t.Fatalf("cold read: gen %d, %s, %v; want 1, MISS", gen, xc, err)
	}
	ds.gen.Store(2)
	ds.delay.Store(int64(3 * time.Second))
	time.Sleep(1200 * time.Millisecond) // expired (the TTL is jittered shorter, never longer)
	var took []time.Duration
	var mu sync.Mutex
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			start := time.Now()
			gen, xc, err := productGen(s, id)
			d := time.Since(start)
			mu.Lock()
			took = append(took, d)
			mu.Unlock()
			if err != nil || gen != 1 || xc != "L1" {
				t.Errorf("expired, downstream slow: gen %d, X-Cache %s, %v after %v; want the last good gen 1 from L1", gen, xc, err, d)
			}
		})
	}
	wg.Wait()
	var slowest time.Duration
	for _, d := range took {
		slowest = max(slowest, d)
	}
	t.Logf("20 readers of an expired product, downstream taking 3 s: slowest answer %v", slowest)
	if slowest > time.Second { // 100 ms + the HTTP round trip; generous for a loaded machine
		t.Errorf("the slowest stale answer took %v, want well under the downstream's 3 s", slowest)
	}
	if n := ds.calls.Load(); n != 2 {
		t.Errorf("downstream calls = %d, want 2 (one reload for 20 readers)", n)
	}
	eventually(t, 10*time.Second, "the reload lands and the product is fresh", func() bool {
		gen, _, err := productGen(s, id)
		return err == nil && gen == 2
	})
	st := debugCache(t, s)["stale"].(map[string]any)
	if st["soft_timeouts"].(float64) < 20 {
		t.Errorf("/debug/cache stale = %v, want soft_timeouts >= 20", st)
	}
}
