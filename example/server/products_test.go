package main

import (
	"encoding/json"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alovago/alova/internal/testredis"
)

var idSeq atomic.Int64

// uniqueID returns a product id no other test (or earlier run on a shared
// real Redis) has used.
func uniqueID() string { return fmt.Sprintf("p%d-%d", time.Now().UnixNano(), idSeq.Add(1)) }

func TestProductCachedThroughTiers(t *testing.T) {
	t.Parallel()
	a, srv := newTestApp(t, testConfig(t))
	id := uniqueID()
	for i, want := range []string{"MISS", "L1", "L1"} {
		st, h, body := call(t, srv, "GET", "/api/products/"+id, "", "")
		if st != 200 || h.Get("X-Cache") != want || field(t, body, "id") != id {
			t.Fatalf("GET #%d = %d X-Cache %q %s, want 200 %s with id %s", i+1, st, h.Get("X-Cache"), body, want, id)
		}
	}
	if got := a.demo.products.Load(); got != 1 {
		t.Errorf("downstream product calls = %d, want 1", got)
	}
	st, _, body := call(t, srv, "GET", "/debug/cache", "", "")
	var got cacheStats
	if err := json.Unmarshal([]byte(body), &got); err != nil || st != 200 {
		t.Fatalf("GET /debug/cache = %d %s (%v)", st, body, err)
	}
	keys := got.Redis.Keys
	got.Redis.Keys = nil
	// One cold read is one miss per tier, also under the -lock-wait lease
	// (whose holder reads L2 once more after taking it, uncounted).
	want := cacheStats{L1: l1Stats{Hits: 2, Misses: 1}, L2: l2Stats{Misses: 1}, Redis: redisStats{Kind: "embedded"}}
	if got != want || keys == nil || *keys < 1 {
		t.Errorf("GET /debug/cache = %s, want %+v with redis.keys ≥ 1", body, want)
	}
	// Every documented field is there, zero or not (README.md lists them).
	for _, f := range []string{`"l1":{"hits":`, `"misses":`, `"l2":{"hits":`, `"errors":0`, `"skipped":0`, `"invalidations":0`, `"redis":{"kind":"embedded","keys":`} {
		if !strings.Contains(body, f) {
			t.Errorf("GET /debug/cache = %s, lacks %s", body, f)
		}
	}
}

// TestTwoInstancesShareL2AndInvalidate runs two apps on one Redis: on
// miniredis, and on the real Redis named by REDIS_URL.
func TestTwoInstancesShareL2AndInvalidate(t *testing.T) {
	t.Parallel()
	for name, backend := range redisBackends {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			cfg := isolated(t, testConfig(t, "-cache-ttl", "1m"))
			cfg.RedisURL = backend(t)
			a, srvA := newTestApp(t, cfg)
			b, srvB := newTestApp(t, cfg)
			heard := feedLive(t, a, b)
			id := uniqueID()
			path := "/api/products/" + id
			for _, step := range []struct {
				srv  string
				want string
			}{{"A", "MISS"}, {"A", "L1"}, {"B", "L2"}, {"B", "L1"}} {
				s := srvA
				if step.srv == "B" {
					s = srvB
				}
				if step.srv == "B" && step.want == "L2" {
					// A's load took the product's lease and announced its
					// write when it let go. Should that message reach B
					// after B copied the product to L1, B would drop the
					// copy (harmless: one more L2 read), so wait for it.
					deadline := time.Now().Add(5 * time.Second)
					for b.tiers.Stats().Invalidations <= heard {
						if time.Now().After(deadline) {
							t.Fatal("B never received A's announcement of its write")
						}
						time.Sleep(5 * time.Millisecond)
					}
				}
				if st, h, _ := call(t, s, "GET", path, "", ""); st != 200 || h.Get("X-Cache") != step.want {
					t.Fatalf("GET %s on %s = %d X-Cache %q, want 200 %s", path, step.srv, st, h.Get("X-Cache"), step.want)
				}
			}
			announced := b.tiers.Stats().Invalidations
			if st, _, body := call(t, srvA, "DELETE", path+"/cache", "", ""); st != 204 {
				t.Fatalf("DELETE %s/cache on A = %d %s, want 204", path, st, body)
			}
			// B drops its L1 copy when the invalidation message arrives; until
			// then it answers from L1. Its first other answer must be a MISS:
			// the L2 entry is gone too.
			var xcache string
			deadline := time.Now().Add(5 * time.Second)
			for {
				st, h, _ := call(t, srvB, "GET", path, "", "")
				if xcache = h.Get("X-Cache"); st != 200 || xcache != "L1" || time.Now().After(deadline) {
					break
				}
				time.Sleep(5 * time.Millisecond)
			}
			if xcache != "MISS" {
				t.Fatalf("after DELETE on A, B answered X-Cache %q, want MISS", xcache)
			}
			if got := b.tiers.Stats().Invalidations; got <= announced {
				t.Errorf("B's cache counted %d invalidations received, %d before the DELETE: want more", got, announced)
			}
		})
	}
}

// feedLive waits until to's invalidation feed delivers what from announces,
// and returns how many invalidations to has received by then. It announces
// a probe (the deletion of a key nobody uses) once a second until one
// arrives.
func feedLive(t *testing.T, from, to *app) uint64 {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		before := to.tiers.Stats().Invalidations
		if err := from.tiers.Delete(t.Context(), "feed-probe"); err != nil {
			t.Fatalf("probe of the invalidation feed: %v", err)
		}
		for wait := time.Now().Add(time.Second); time.Now().Before(wait); time.Sleep(5 * time.Millisecond) {
			if n := to.tiers.Stats().Invalidations; n > before {
				return n
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("no invalidation reached the other instance within 10 s")
		}
	}
}

func TestProductErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		args   []string
		method string
		path   string
		status int
		code   string
	}{
		{"id with a dot", nil, "GET", "/api/products/a.b", 400, "invalid_id"},
		{"id with a space", nil, "GET", "/api/products/a%20b", 400, "invalid_id"},
		{"id too long", nil, "GET", "/api/products/" + strings.Repeat("x", 65), 400, "invalid_id"},
		{"encoded slash", nil, "GET", "/api/products/a%2Fb", 400, "invalid_id"},
		{"invalidate bad id", nil, "DELETE", "/api/products/a.b/cache", 400, "invalid_id"},
		{"unknown product", nil, "GET", "/api/products/missing-7", 404, "not_found"},
		{"downstream down", []string{"-downstream", "http://127.0.0.1:1", "-retries", "1"}, "GET", "/api/products/1", 502, "downstream_unavailable"},
		{"downstream slow", []string{"-demo-latency", "2s", "-timeout", "30ms", "-retries", "0"}, "GET", "/api/products/1", 504, "downstream_timeout"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, srv := newTestApp(t, testConfig(t, tc.args...))
			st, h, body := call(t, srv, tc.method, tc.path, "", "")
			if st != tc.status || errCode(t, body) != tc.code || h.Get("Content-Type") != "application/json" {
				t.Errorf("%s %s = %d %s, want %d {error: %s}", tc.method, tc.path, st, body, tc.status, tc.code)
			}
		})
	}
}

func TestProductSurvivesAFlakyDownstream(t *testing.T) {
	t.Parallel()
	a, srv := newTestApp(t, testConfig(t, "-demo-fail-rate", "0.5"))
	const n = 10
	for i := range n {
		id := fmt.Sprintf("flaky-%d", i)
		if st, _, body := call(t, srv, "GET", "/api/products/"+id, "", ""); st != 200 {
			t.Fatalf("GET product %s with half the downstream calls failing = %d %s, want 200 through retries", id, st, body)
		}
	}
	if got := a.demo.products.Load(); got <= n {
		t.Errorf("downstream saw %d product calls for %d products; want more: failed calls must have been retried", got, n)
	}
}

func TestInvalidateWithRedisDown(t *testing.T) {
	t.Parallel()
	a, srv := newTestApp(t, testConfig(t))
	a.redis.mini.Close()
	if st, _, body := call(t, srv, "GET", "/api/products/7", "", ""); st != 200 {
		t.Fatalf("Redis down: GET product = %d %s, want 200 from the origin", st, body)
	}
	st, _, body := call(t, srv, "DELETE", "/api/products/7/cache", "", "")
	if st != 204 {
		t.Fatalf("Redis down: DELETE = %d %s, want 204 (queued until Redis is back)", st, body)
	}
	// The DELETE waits for Redis; so may a delete of the key the GET's
	// answer failed to be written under (a failed Set queues one).
	if s := a.tiers.Stats(); s.RecoveryPending == 0 || s.RecoveryPending > 2 {
		t.Errorf("Redis down: %d invalidations wait for Redis, want 1 or 2", s.RecoveryPending)
	}
}

// redisBackends give a test the REDIS_URL of a Redis to run on: a miniredis
// of its own, and the real Redis named by REDIS_URL (skipped without it,
// failed if it does not answer).
var redisBackends = map[string]func(t *testing.T) string{
	"miniredis": func(t *testing.T) string {
		mr, _ := testredis.Mini(t)
		return "redis://" + mr.Addr() + "/0"
	},
	"real": func(t *testing.T) string {
		testredis.Real(t) // pings it
		return testredis.URL(t)
	},
}

// isolated returns cfg with a Redis key prefix of the test's own, so that
// runs sharing one real Redis never see each other's entries or counters.
func isolated(t *testing.T, cfg config) config {
	t.Helper()
	cfg.KeyPrefix = testredis.Prefix(t, nil)
	return cfg
}
