package client_test

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alovago/alova/cache"
	"github.com/alovago/alova/client"
)

// etagged is a downstream whose answer carries an ETag and a Cache-Control,
// answers a matching If-None-Match with 304, and counts the body bytes it
// sends. While status is set it answers that status instead; with hangUp
// set it closes the connection (a transport error).
type etagged struct {
	*downstream
	body       string
	bodyBytes  atomic.Int64
	notMod     atomic.Int64
	status     atomic.Int64
	hangUp     atomic.Bool
	conditions atomic.Value // string: the last If-None-Match
}

func newEtagged(t *testing.T) *etagged {
	e := &etagged{body: `{"id":1,"name":"` + strings.Repeat("x", 1000) + `"}`}
	e.downstream = newDownstream(t, func(w http.ResponseWriter, r *http.Request) {
		if e.hangUp.Load() {
			hj, _ := w.(http.Hijacker)
			conn, _, _ := hj.Hijack()
			_ = conn.Close()
			return
		}
		if s := e.status.Load(); s != 0 {
			w.WriteHeader(int(s))
			return
		}
		e.conditions.Store(r.Header.Get("If-None-Match"))
		w.Header().Set("ETag", `"v1"`)
		w.Header().Set("Cache-Control", fmt.Sprintf("max-age=%d", 60+e.notMod.Load()))
		if r.Header.Get("If-None-Match") == `"v1"` {
			e.notMod.Add(1)
			w.WriteHeader(http.StatusNotModified)
			return
		}
		n, _ := w.Write([]byte(e.body))
		e.bodyBytes.Add(int64(n))
	})
	return e
}

// TestRevalidateRefreshes: 1,000 background refreshes of an unchanged
// answer are 304s: the downstream sends its body once, and every send
// answers 200 with the body.
func TestRevalidateRefreshes(t *testing.T) {
	eachRedis(t, func(t *testing.T, b backend) {
		ctx := testCtx(t)
		d := newEtagged(t)
		tr := tiers(t, b, fmt.Sprintf("reval-%d:", time.Now().UnixNano()), false)
		c := client.New(client.Options{BaseURL: d.URL, Cache: tr})
		// Every hit is due: each starts a refresh, one at a time.
		pol := client.CacheFor(time.Hour).RefreshAhead(time.Hour, 0)
		reads := 0
		for deadline := time.Now().Add(60 * time.Second); d.notMod.Load() < 1000; reads++ {
			if time.Now().After(deadline) {
				t.Fatalf("%d refreshes within 60 s, want 1000", d.notMod.Load())
			}
			resp, err := c.Get("/p").Cache(pol).Send(ctx)
			if err != nil || resp.StatusCode() != 200 || resp.String() != d.body {
				t.Fatalf("read %d: %v, %v; want 200 with the body", reads, resp, err)
			}
		}
		if n := d.bodyBytes.Load(); n != int64(len(d.body)) {
			t.Fatalf("body bytes sent = %d, want %d (the first answer only)", n, len(d.body))
		}
		if got := d.conditions.Load(); got != `"v1"` {
			t.Fatalf("last If-None-Match = %v, want \"v1\"", got)
		}
		// The last 304 may still be on its way into the cache.
		eventually(t, "Stats.NotModified to reach 1000", func() bool { return tr.Stats().NotModified >= 1000 })
		s := tr.Stats()
		if s.Revalidations < s.NotModified || s.BytesSaved < 1000*uint64(len(d.body)) {
			t.Fatalf("Stats: Revalidations %d, NotModified %d, BytesSaved %d; want ≥ 1000, 1000, %d",
				s.Revalidations, s.NotModified, s.BytesSaved, 1000*len(d.body))
		}
	})
}

// TestRevalidateForce: a Force revalidates the cached answer; the 304's
// headers replace the stored ones (RFC 9111 4.3.4). A method that sets its
// own If-None-Match, or a NoRevalidate policy, fetches the body.
func TestRevalidateForce(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	d := newEtagged(t)
	tr := cache.NewTiered(cache.NewMemoryStore(cache.MemoryOptions{MaxEntries: 10}), nil, cache.TieredOptions{NoJitter: true})
	defer tr.Close()
	c := client.New(client.Options{BaseURL: d.URL, Cache: tr})
	pol := client.CacheFromHeaders(time.Hour)
	if _, err := c.Get("/p").Cache(pol).Send(ctx); err != nil {
		t.Fatal(err)
	}
	resp, err := c.Get("/p").Cache(pol).Force(true).Send(ctx)
	if err != nil || resp.String() != d.body || resp.StatusCode() != 200 {
		t.Fatalf("forced send = %v, %v; want 200 with the body", resp, err)
	}
	if got := resp.Header("Cache-Control"); got != "max-age=60" || d.notMod.Load() != 1 {
		t.Fatalf("after the 304: Cache-Control %q, 304s %d; want max-age=60 from the 304, 1", got, d.notMod.Load())
	}
	if resp, err := c.Get("/p").Cache(pol).Send(ctx); err != nil || resp.Source() != cache.TierL1 || resp.Header("Cache-Control") != "max-age=60" {
		t.Fatalf("next send = %v, %v; want the renewed answer from L1", resp, err)
	}
	if _, err := c.Get("/p").Cache(pol).Header("If-None-Match", `"other"`).Force(true).Send(ctx); err != nil {
		t.Fatal(err)
	}
	if got := d.conditions.Load(); got != `"other"` {
		t.Fatalf("method's own If-None-Match: downstream got %v", got)
	}
	before := d.bodyBytes.Load()
	if _, err := c.Get("/p").Cache(pol.NoRevalidate()).Force(true).Send(ctx); err != nil {
		t.Fatal(err)
	}
	if d.bodyBytes.Load() == before || d.conditions.Load() != "" {
		t.Fatalf("NoRevalidate: If-None-Match %v, body bytes %d → %d; want none and a body", d.conditions.Load(), before, d.bodyBytes.Load())
	}
}

// TestStaleIfErrorSend: with the downstream failing (5xx, or a dropped
// connection), expired answers are sent stale, marked with a Warning, and
// the downstream gets about one call a second; a 4xx is no reason to
// answer stale. Once the downstream is back, fresh answers return.
func TestStaleIfErrorSend(t *testing.T) {
	eachRedis(t, func(t *testing.T, b backend) {
		ctx := testCtx(t)
		d := newEtagged(t)
		tr := tiers(t, b, fmt.Sprintf("sie-%d:", time.Now().UnixNano()), false)
		c := client.New(client.Options{BaseURL: d.URL, Cache: tr})
		pol := client.CacheFor(100 * time.Millisecond).StaleIfError(time.Minute)
		send := func() (*client.Response, error) { return c.Get("/p").Cache(pol).Send(ctx) }
		if _, err := send(); err != nil {
			t.Fatal(err)
		}
		for _, fail := range []string{"503", "hang up"} {
			if fail == "503" {
				d.status.Store(503)
			} else {
				d.hangUp.Store(true)
			}
			time.Sleep(150 * time.Millisecond)
			calls := d.calls.Load()
			start := time.Now()
			for i := range 200 {
				resp, err := send()
				if err != nil || resp.String() != d.body || resp.Header("Warning") != `111 - "Revalidation Failed"` || resp.Source() == cache.TierOrigin {
					t.Fatalf("%s: send %d = %v, %v (Warning %q); want the kept answer from the cache, warned", fail, i, resp, err, resp.Header("Warning"))
				}
			}
			if n, most := d.calls.Load()-calls, 2+int64(time.Since(start)/time.Second); n > most {
				t.Fatalf("%s: %d downstream calls for 200 sends in %v, want at most %d", fail, n, time.Since(start), most)
			}
			d.status.Store(0)
			d.hangUp.Store(false)
			eventually(t, fail+": a fresh answer once the downstream is back", func() bool {
				resp, err := send()
				return err == nil && resp.Header("Warning") == ""
			})
		}
		if s := tr.Stats(); s.StaleIfErrorHits < 400 {
			t.Fatalf("StaleIfErrorHits = %d, want ≥ 400", s.StaleIfErrorHits)
		}
		d.status.Store(404)
		time.Sleep(150 * time.Millisecond)
		var he *client.HTTPError
		if _, err := send(); !errors.As(err, &he) || he.StatusCode != 404 {
			t.Fatalf("404: send err = %v, want the 404", err)
		}
	})
}
