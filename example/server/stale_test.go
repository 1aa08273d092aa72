package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestProductRevalidates: product reloads (refresh-ahead every fifth of a
// 200 ms TTL) send the ETag and get 304s: the demo sends each body once,
// and every read answers 200 with the product. With -revalidate=false the
// bodies come again.
func TestProductRevalidates(t *testing.T) {
	t.Parallel()
	for _, revalidate := range []bool{true, false} {
		t.Run(fmt.Sprint("revalidate=", revalidate), func(t *testing.T) {
			t.Parallel()
			a, srv := newTestApp(t, testConfig(t, "-cache-ttl", "200ms", fmt.Sprint("-revalidate=", revalidate)))
			id := uniqueID()
			st, _, body := call(t, srv, "GET", "/api/products/"+id, "", "")
			if st != 200 {
				t.Fatalf("cold GET = %d %s", st, body)
			}
			first := a.demo.bodyBytes.Load()
			for deadline := time.Now().Add(30 * time.Second); a.demo.products.Load() < 6; {
				if time.Now().After(deadline) {
					t.Fatalf("%d downstream calls in 30 s, want 6", a.demo.products.Load())
				}
				if st, _, got := call(t, srv, "GET", "/api/products/"+id, "", ""); st != 200 || got != body {
					t.Fatalf("GET = %d %s, want 200 %s", st, got, body)
				}
				time.Sleep(10 * time.Millisecond)
			}
			sent := a.demo.bodyBytes.Load()
			if revalidate && (sent != first || a.demo.notMod.Load() < 5) {
				t.Fatalf("revalidating: body bytes %d (first answer %d), 304s %d; want no more bodies, ≥ 5 304s", sent, first, a.demo.notMod.Load())
			}
			if !revalidate && (sent < 5*first || a.demo.notMod.Load() != 0) {
				t.Fatalf("-revalidate=false: body bytes %d (one answer %d), 304s %d; want ≥ 5 bodies, no 304", sent, first, a.demo.notMod.Load())
			}
		})
	}
}

// TestStaleIfErrorUnderLoad: the demo downstream goes down under load with
// a warm cache: every read of a cached product answers 200 with it (stale,
// with a Warning once past its TTL), the downstream gets about one call a
// second per product; once it is back, every product is fresh again within
// one retry and one refresh.
func TestStaleIfErrorUnderLoad(t *testing.T) {
	t.Parallel()
	const ttl = 300 * time.Millisecond
	a, srv := newTestApp(t, testConfig(t, "-cache-ttl", ttl.String(), "-stale-if-error", "1m", "-retries", "0"))
	ids := make([]string, 20)
	for i := range ids {
		ids[i] = uniqueID()
		if st, _, body := call(t, srv, "GET", "/api/products/"+ids[i], "", ""); st != 200 {
			t.Fatalf("warm GET = %d %s", st, body)
		}
	}
	if st, _, body := call(t, srv, "POST", "/demo/down?on=true", "", ""); st != 200 {
		t.Fatalf("POST /demo/down = %d %s", st, body)
	}
	callsBefore := a.demo.products.Load()
	var reads, warned atomic.Int64
	var slowest atomic.Int64
	var failMu sync.Mutex
	var failure string
	start := time.Now()
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for time.Since(start) < 1500*time.Millisecond {
				id := ids[rand.IntN(len(ids))]
				t0 := time.Now()
				resp, err := srv.Client().Get(srv.URL + "/api/products/" + id)
				if err != nil {
					failMu.Lock()
					failure = err.Error()
					failMu.Unlock()
					return
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				took := time.Since(t0)
				for s := slowest.Load(); int64(took) > s && !slowest.CompareAndSwap(s, int64(took)); s = slowest.Load() {
				}
				var p product
				if resp.StatusCode != 200 || json.Unmarshal(body, &p) != nil || p.ID != id {
					failMu.Lock()
					failure = fmt.Sprintf("GET %s = %d %s", id, resp.StatusCode, body)
					failMu.Unlock()
					return
				}
				reads.Add(1)
				if resp.Header.Get("Warning") != "" {
					warned.Add(1)
				}
			}
		})
	}
	wg.Wait()
	down := time.Since(start)
	if failure != "" {
		t.Fatalf("while the downstream was down: %s", failure)
	}
	calls := a.demo.products.Load() - callsBefore
	t.Logf("down %v: %d reads, all 200; %d stale with a Warning; slowest %v; %d downstream calls",
		down.Round(time.Millisecond), reads.Load(), warned.Load(), time.Duration(slowest.Load()).Round(time.Millisecond), calls)
	if warned.Load() == 0 {
		t.Fatalf("no read was answered stale in %v past a TTL of %v", down, ttl)
	}
	if most := int64(len(ids)) * (2 + int64(down/time.Second)); calls > most {
		t.Fatalf("%d downstream calls while down for %v, want at most %d (about one a second per product)", calls, down, most)
	}

	if st, _, body := call(t, srv, "POST", "/demo/down?on=false", "", ""); st != 200 {
		t.Fatalf("POST /demo/down = %d %s", st, body)
	}
	back := time.Now()
	for _, id := range ids {
		for {
			st, h, body := call(t, srv, "GET", "/api/products/"+id, "", "")
			if st != 200 {
				t.Fatalf("GET %s after the downstream is back = %d %s", id, st, body)
			}
			if h.Get("Warning") == "" {
				break
			}
			// One retry a second, then the refresh's write: at most
			// staleRetry + a reload.
			if time.Since(back) > 3*time.Second {
				t.Fatalf("%s still stale %v after the downstream is back", id, time.Since(back))
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	t.Logf("all products fresh %v after the downstream came back", time.Since(back).Round(time.Millisecond))
	_, _, body := call(t, srv, "GET", "/debug/cache", "", "")
	var got cacheStats
	if err := json.Unmarshal([]byte(body), &got); err != nil || got.Stale.IfError == 0 {
		t.Fatalf("GET /debug/cache = %s (%v), want stale.if_error > 0", body, err)
	}
}
