package integration

import (
	"net/http"
	"testing"
	"time"

	"github.com/alovago/alova/internal/testredis"
)

// TestRedisKilledUnderLoad kills Redis while two servers serve products, and
// restarts it: products keep answering 200 throughout (from L1 and the
// origin), /captcha/* and /healthz answer 503 while Redis is gone and never
// accept a code, and everything comes back without restarting the servers.
func TestRedisKilledUnderLoad(t *testing.T) {
	t.Parallel()
	rs := testredis.Server(t)
	a := startServer(t, rs.URL(), "-ip-limit", "1000")
	b := startServer(t, rs.URL(), "-ip-limit", "1000")
	servers := []*server{a, b}

	key := uniqueEmail()
	challenge := sendOK(t, a, key)
	code := lastCode(t, a, key)

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
	for _, s := range servers {
		if r := send(t, s, uniqueEmail()); r.Status != http.StatusServiceUnavailable {
			t.Errorf("Redis killed: send on %s = %d %s, want 503", s.URL, r.Status, r.Body)
		}
		if r := verify(t, s, key, challenge, code); r.Status != http.StatusServiceUnavailable {
			t.Errorf("Redis killed: verify of the right code on %s = %d %s, want 503", s.URL, r.Status, r.Body)
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

	// The restarted Redis is empty: the code sent before is gone for good, and
	// a new one goes through A and verifies through B.
	if r := verify(t, b, key, challenge, code); r.Status != http.StatusUnprocessableEntity {
		t.Errorf("after the restart, verify of the lost code = %d %s, want 422", r.Status, r.Body)
	}
	key = uniqueEmail()
	challenge = sendOK(t, a, key)
	if r := verify(t, b, key, challenge, lastCode(t, a, key)); r.Status != http.StatusOK {
		t.Fatalf("after the restart, verify = %d %s, want 200", r.Status, r.Body)
	}

	// L2 is used again once the cache's cool-down has passed: a product
	// fetched by A reaches B through Redis.
	eventually(t, 15*time.Second, "a product fetched on A is an L2 hit on B", func() bool {
		id := uniqueID()
		xcache(t, a, id)
		return xcache(t, b, id) == "L2"
	})
}
