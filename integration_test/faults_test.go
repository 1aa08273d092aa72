package integration

import (
	"net/http"
	"testing"
	"time"
)

// TestRedisKilledUnderLoad kills Redis while two servers serve products, and
// restarts it: products keep answering 200 throughout (from L1 and the
// origin), /healthz says 503 while Redis is gone, and everything comes back
// without restarting the servers.
func TestRedisKilledUnderLoad(t *testing.T) {
	t.Parallel()
	rs := startRedis(t)
	a, b := startServer(t, rs.URL()), startServer(t, rs.URL())
	servers := []*server{a, b}

	warm := []string{uniqueID(), uniqueID(), uniqueID(), uniqueID(), uniqueID()}
	for _, id := range warm {
		xcache(t, a, id)
		xcache(t, b, id)
	}

	l := startLoad(servers, warm)
	waitLoad := func(n int64) {
		t.Helper()
		target := l.total.Load() + n
		eventually(t, 10*time.Second, "the load to make progress", func() bool { return l.total.Load() >= target })
	}
	waitLoad(50)

	rs.Kill()
	for _, s := range servers {
		if r := do(t, "GET", s.URL+"/healthz", nil); r.Status != http.StatusServiceUnavailable {
			t.Errorf("Redis killed: GET %s/healthz = %d, want 503", s.URL, r.Status)
		}
	}
	waitLoad(200) // the load runs on while Redis is gone

	rs.Restart()
	for _, s := range servers {
		eventually(t, 10*time.Second, "/healthz back to 200", func() bool {
			return do(t, "GET", s.URL+"/healthz", nil).Status == http.StatusOK
		})
	}
	waitLoad(50)
	total, bad, lastBad := l.Stop()
	if bad != 0 {
		t.Fatalf("%d of %d product requests failed around the Redis outage, want 0; last: %s", bad, total, lastBad)
	}

	// L2 is used again once the cache's cool-down has passed: a product
	// fetched by A reaches B through Redis.
	eventually(t, 15*time.Second, "a product fetched on A is an L2 hit on B", func() bool {
		id := uniqueID()
		xcache(t, a, id)
		return xcache(t, b, id) == "L2"
	})
}
