package integration

import (
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alovago/alova/internal/testredis"
)

// demoURLRE finds the downstream a server calls in its "listening" line.
var demoURLRE = regexp.MustCompile(`msg=listening .*downstream=(http://\S+)`)

// outageRead is one product read of TestDownstreamOutageServesStale.
type outageRead struct {
	srv, product int
	start, end   time.Time
	status       int
	warning      string
	body         string
	err          error
}

// TestDownstreamOutageServesStale is issue 24's check of stale-if-error:
// two example servers on one redis-server share one demo downstream (B
// calls A's demo with -downstream); 30 products are read through both, so
// both tiers hold them; products are cached for 2 s, so they expire during
// the outage. The demo's products are switched to 503 for 10 s (the issue
// says 30 s: 10 s keeps the suite fast, and is already five TTLs) while six
// readers read the products through both servers: every read answers 200
// with the product's body, every read that starts after the products have
// expired carries the Warning `111`, and none waits as long as the servers'
// downstream timeout. Once the demo is back, every product answers fresh
// (no Warning) on both servers within one refresh (TTL + a margin), and
// stays fresh. The demo's products never change (the body is a function of
// the id), so fresh is told by the Warning's absence, and by the demo
// answering the reloads again (304s, as they revalidate).
//
// With -stale-if-error 0 the reads after expiry answer 502 and the test
// fails.
func TestDownstreamOutageServesStale(t *testing.T) {
	if testing.Short() {
		t.Skip("the stale-if-error outage test takes about 20 s: skipped with -short")
	}
	t.Parallel()
	testredis.NeedServer(t)
	const (
		ttl      = 2 * time.Second
		timeout  = 2 * time.Second  // the servers' -timeout: the bound of the first failing reload
		outage   = 10 * time.Second // issue 24 says 30 s
		margin   = 3 * time.Second  // past the TTL, for the time to fresh on a busy machine
		readers  = 6
		products = 30
	)
	rs := testredis.Server(t)
	args := []string{"-cache-ttl", ttl.String(), "-timeout", timeout.String(),
		"-ip-limit", "1000000", "-conns-per-ip", "1000"}
	a := startServer(t, rs.URL(), args...)
	m := demoURLRE.FindStringSubmatch(a.Log())
	if m == nil {
		t.Fatalf("server A's log names no demo downstream in its listening line:\n%s", a.Log())
	}
	b := startServer(t, rs.URL(), append(args, "-downstream", m[1])...)
	servers := []*server{a, b}

	// Warm: each product read through A (from the demo, into Redis), then
	// through B (from Redis).
	ids := make([]string, products)
	bodies := make([]string, products)
	for i := range ids {
		ids[i] = uniqueID()
		for si, s := range servers {
			r := do(t, "GET", s.URL+"/api/products/"+ids[i], nil)
			if r.Status != http.StatusOK || r.Header.Get("Warning") != "" {
				t.Fatalf("warm read of %s on server %d = %d, Warning %q, %s; want 200 with no Warning",
					ids[i], si, r.Status, r.Header.Get("Warning"), r.Body)
			}
			if si == 0 {
				bodies[i] = string(r.Body)
			} else if string(r.Body) != bodies[i] {
				t.Fatalf("server B answered %s for %s, server A %s", r.Body, ids[i], bodies[i])
			}
		}
	}
	warmed := time.Now() // no product is renewed after this while the demo is down
	callsBefore := demoProducts(t, a)

	// load runs the readers until the deadline passes or seen, called with
	// each read, returns true, and returns every read. Reader w's i-th read is of pair i*readers+w:
	// the product and the server cycle, so every (server, product) pair is
	// read every 2*products/readers reads of a reader.
	load := func(deadline time.Time, seen func(outageRead) bool) []outageRead {
		var mu sync.Mutex
		var all []outageRead
		var done atomic.Bool
		var wg sync.WaitGroup
		for w := range readers {
			wg.Go(func() {
				var mine []outageRead
				for i := 0; time.Now().Before(deadline) && !done.Load(); i++ {
					pair := i*readers + w
					rd := outageRead{product: pair % products, srv: pair / products % 2}
					rd.start = time.Now()
					r, err := tryDo("GET", servers[rd.srv].URL+"/api/products/"+ids[rd.product], nil)
					rd.end = time.Now()
					rd.status, rd.warning, rd.body, rd.err = r.Status, r.Header.Get("Warning"), string(r.Body), err
					mine = append(mine, rd)
					if seen(rd) {
						done.Store(true)
					}
					time.Sleep(2 * time.Millisecond)
				}
				mu.Lock()
				all = append(all, mine...)
				mu.Unlock()
			})
		}
		wg.Wait()
		return all
	}
	// bad describes a read that is not a 200 with its product's body.
	bad := func(rd outageRead) string {
		switch {
		case rd.err != nil:
			return rd.err.Error()
		case rd.status != http.StatusOK:
			return fmt.Sprintf("%d %s", rd.status, rd.body)
		case rd.body != bodies[rd.product]:
			return fmt.Sprintf("body %s, want %s", rd.body, bodies[rd.product])
		}
		return ""
	}

	// The outage.
	setDemoDown(t, a, true)
	downAt := time.Now()
	during := load(downAt.Add(outage), func(outageRead) bool { return false })
	setDemoDown(t, a, false)
	upAt := time.Now()
	callsDown := demoProducts(t, a) - callsBefore

	// Every read after this has found its product expired: the TTL is
	// jittered shorter, never longer.
	expired := warmed.Add(ttl)
	var failed, notStale []string
	var stale, afterExpiry, staleAfter int
	took := make([]time.Duration, 0, len(during))
	for _, rd := range during {
		took = append(took, rd.end.Sub(rd.start))
		if rd.start.After(expired) {
			afterExpiry++
		}
		if msg := bad(rd); msg != "" {
			failed = append(failed, fmt.Sprintf("%s on server %d, %v into the outage: %s",
				ids[rd.product], rd.srv, rd.start.Sub(downAt).Round(time.Millisecond), msg))
			continue
		}
		if strings.HasPrefix(rd.warning, "111") {
			stale++
		}
		if rd.start.After(expired) {
			if strings.HasPrefix(rd.warning, "111") {
				staleAfter++
			} else {
				notStale = append(notStale, fmt.Sprintf("%s on server %d, %v past its expiry: Warning %q",
					ids[rd.product], rd.srv, rd.start.Sub(expired).Round(time.Millisecond), rd.warning))
			}
		}
	}
	slices.Sort(took)
	p99, slowest := took[len(took)*99/100], took[len(took)-1]
	t.Logf("downstream down %v (TTL %v): %d reads through 2 servers, %d failed; %d stale (Warning 111); %d reads after expiry, %d of them stale",
		upAt.Sub(downAt).Round(time.Millisecond), ttl, len(during), len(failed), stale, afterExpiry, staleAfter)
	t.Logf("read latency while down: p50 %v, p99 %v, slowest %v (bound: -timeout %v); %d downstream calls while down (%d products, 2 servers)",
		took[len(took)/2].Round(time.Microsecond), p99.Round(time.Microsecond), slowest.Round(time.Microsecond), timeout, callsDown, products)
	if len(failed) > 0 {
		t.Errorf("%d of %d reads during the outage did not answer 200 with the product, first: %s",
			len(failed), len(during), failed[0])
	}
	if afterExpiry == 0 {
		t.Errorf("no read started after the products expired (%v into the outage): the test did not check stale answers",
			expired.Sub(downAt).Round(time.Millisecond))
	}
	if len(notStale) > 0 {
		t.Errorf("%d of %d reads after expiry did not carry Warning 111, first: %s", len(notStale), afterExpiry, notStale[0])
	}
	if slowest >= timeout {
		t.Errorf("the slowest read during the outage took %v, want less than the downstream timeout %v", slowest, timeout)
	}
	if callsDown == 0 {
		t.Errorf("the demo received no product call while down: the outage was not exercised")
	}
	for si, s := range servers {
		if n := debugCache(t, s)["stale"].(map[string]any)["if_error"].(float64); n == 0 {
			t.Errorf("server %d: /debug/cache stale.if_error = 0, want > 0", si)
		}
	}

	// The return: read until every (server, product) pair has answered
	// fresh, for at most TTL + margin plus a little to see it late.
	notModBefore := demoNotModified(t, a)
	var freshMu sync.Mutex
	var freshSeen [2][products]bool
	var fresh int
	after := load(upAt.Add(ttl+margin+2*time.Second), func(rd outageRead) bool {
		freshMu.Lock()
		defer freshMu.Unlock()
		if bad(rd) == "" && rd.warning == "" && !freshSeen[rd.srv][rd.product] {
			freshSeen[rd.srv][rd.product] = true
			fresh++
		}
		return fresh == 2*products
	})
	// In the order the reads ended: each pair's first fresh answer, and
	// the stale answers to reads that started after it.
	var freshAt [2][products]time.Time
	slices.SortFunc(after, func(x, y outageRead) int { return x.end.Compare(y.end) })
	var failedAfter, staleAgain []string
	for _, rd := range after {
		if msg := bad(rd); msg != "" {
			failedAfter = append(failedAfter, fmt.Sprintf("%s on server %d, %v after the return: %s",
				ids[rd.product], rd.srv, rd.start.Sub(upAt).Round(time.Millisecond), msg))
			continue
		}
		f := &freshAt[rd.srv][rd.product]
		switch {
		case rd.warning == "" && f.IsZero():
			*f = rd.end
		case rd.warning != "" && !f.IsZero() && rd.start.After(*f):
			staleAgain = append(staleAgain, fmt.Sprintf("%s on server %d answered Warning %q %v after it answered fresh",
				ids[rd.product], rd.srv, rd.warning, rd.start.Sub(*f).Round(time.Millisecond)))
		}
	}
	var allFresh time.Duration
	var never []string
	for si := range servers {
		for p := range products {
			if freshAt[si][p].IsZero() {
				never = append(never, fmt.Sprintf("%s on server %d", ids[p], si))
				continue
			}
			allFresh = max(allFresh, freshAt[si][p].Sub(upAt))
		}
	}
	notMod := demoNotModified(t, a) - notModBefore
	t.Logf("after the return: %d reads, %d failed; every product fresh on both servers %v after the return (bound %v); %d reloads answered 304",
		len(after), len(failedAfter), allFresh.Round(time.Millisecond), ttl+margin, notMod)
	if len(failedAfter) > 0 {
		t.Errorf("%d reads after the return did not answer 200 with the product, first: %s", len(failedAfter), failedAfter[0])
	}
	if len(never) > 0 {
		t.Errorf("%d (server, product) pairs never answered fresh within %v of the return, first: %s",
			len(never), time.Since(upAt).Round(time.Millisecond), never[0])
	} else if allFresh > ttl+margin {
		t.Errorf("the last product answered fresh %v after the return, want within one refresh (%v)", allFresh, ttl+margin)
	}
	if len(staleAgain) > 0 {
		t.Errorf("%d reads answered stale again after their product was fresh, first: %s", len(staleAgain), staleAgain[0])
	}
	if notMod == 0 {
		t.Errorf("the demo answered no 304 after the return: the products were not revalidated")
	}
}

// setDemoDown switches the demo downstream of s down (products answer 503)
// or back up.
func setDemoDown(t *testing.T, s *server, on bool) {
	t.Helper()
	r := do(t, "POST", fmt.Sprintf("%s/demo/down?on=%t", s.URL, on), nil)
	if r.Status != http.StatusOK || r.JSON(t)["down"] != on {
		t.Fatalf("POST /demo/down?on=%t = %d %s", on, r.Status, r.Body)
	}
}

// demoProducts returns the product calls the demo downstream of s received.
func demoProducts(t *testing.T, s *server) int {
	t.Helper()
	p, _, _ := stats(t, s)
	return p
}

// demoNotModified returns the product calls the demo of s answered 304.
func demoNotModified(t *testing.T, s *server) int {
	t.Helper()
	return int(do(t, "GET", s.URL+"/demo/stats", nil).JSON(t)["not_modified"].(float64))
}
