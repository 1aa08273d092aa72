package bench

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alovago/alova/cache"
	"github.com/alovago/alova/client"
)

// BenchmarkRevalidate: one op is one reload of a cached answer that has
// not changed (a forced send, as a refresh makes), through L1 and the
// Redis of REDIS_URL, from a loopback downstream that gives its answer an
// ETag and answers a matching If-None-Match with 304. body-B/op is what
// the downstream sent of bodies; ns/op the reload's latency, L2 write
// included.
func BenchmarkRevalidate(b *testing.B) {
	rdb, _ := redisClients(b)
	for _, size := range []int{4 << 10, 64 << 10} {
		for _, revalidate := range []bool{true, false} {
			name := fmt.Sprintf("body=%dKiB/revalidate=%v", size>>10, revalidate)
			b.Run(name, func(b *testing.B) {
				body := `{"data":"` + strings.Repeat("x", size-11) + `"}`
				var sent atomic.Int64
				srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					w.Header().Set("ETag", `"1"`)
					if r.Header.Get("If-None-Match") == `"1"` {
						w.WriteHeader(http.StatusNotModified)
						return
					}
					n, _ := w.Write([]byte(body))
					sent.Add(int64(n))
				}))
				defer srv.Close()
				tiers := cache.NewTiered(cache.NewMemoryStore(cache.MemoryOptions{MaxEntries: 100}),
					cache.NewRedisStore(rdb, cache.RedisOptions{KeyPrefix: redisPrefix(b, rdb)}), cache.TieredOptions{})
				defer tiers.Close()
				c := client.New(client.Options{BaseURL: srv.URL, Cache: tiers})
				pol := client.CacheFor(time.Hour)
				if !revalidate {
					pol = pol.NoRevalidate()
				}
				ctx := context.Background()
				if _, err := c.Get("/p").Cache(pol).Send(ctx); err != nil {
					b.Fatal(err)
				}
				sent.Store(0)
				b.ReportAllocs()
				b.ResetTimer()
				for range b.N {
					resp, err := c.Get("/p").Cache(pol).Force(true).Send(ctx)
					if err != nil || resp.String() != body {
						b.Fatalf("reload: %v (%d bytes)", err, len(resp.String()))
					}
				}
				b.StopTimer()
				b.ReportMetric(float64(sent.Load())/float64(b.N), "body-B/op")
			})
		}
	}
}
