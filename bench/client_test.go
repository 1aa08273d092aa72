package bench

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/go-resty/resty/v2"

	"github.com/alovago/alova/cache"
	"github.com/alovago/alova/client"
)

// productServer answers every request with value as JSON, on loopback.
func productServer(b *testing.B) *httptest.Server {
	b.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(value)
	}))
	b.Cleanup(srv.Close)
	return srv
}

const productPath = "/products/42"

// sendFunc makes one GET of productPath and returns the length of the body
// it read (each client hands the body out its own way: no copy is added).
type sendFunc func(ctx context.Context) (int, error)

// clientImpl builds one library's client for the server at base.
type clientImpl struct {
	name  string
	setup func(b *testing.B, base string) sendFunc
}

// clientImpls are the HTTP clients compared, each with its defaults
// (resty's own transport, net/http's DefaultTransport, alova's shared tuned
// transport).
var clientImpls = []clientImpl{
	// The full client with no cache: every send goes to the server.
	{"alova", func(b *testing.B, base string) sendFunc {
		return alovaSend(b, client.New(client.Options{BaseURL: base}), cache.TierOrigin)
	}},
	// The full client with an L1: GETs are cached by default, so every send
	// after the first is an L1 hit.
	{"alova-cached", func(b *testing.B, base string) sendFunc {
		t := cache.NewTiered(cache.NewMemoryStore(cache.MemoryOptions{MaxEntries: capacity}), nil, cache.TieredOptions{})
		b.Cleanup(func() { _ = t.Close() })
		return alovaSend(b, client.New(client.Options{BaseURL: base, Cache: t}), cache.TierL1)
	}},
	{"resty", func(b *testing.B, base string) sendFunc {
		rc := resty.New().SetBaseURL(base)
		b.Cleanup(func() { rc.GetClient().CloseIdleConnections() })
		return func(ctx context.Context) (int, error) {
			resp, err := rc.R().SetContext(ctx).Get(productPath)
			if err != nil {
				return 0, err
			}
			if resp.StatusCode() != http.StatusOK {
				return 0, fmt.Errorf("status %d", resp.StatusCode())
			}
			return len(resp.Body()), nil
		}
	}},
	{"net/http", func(b *testing.B, base string) sendFunc {
		hc := &http.Client{}
		return func(ctx context.Context) (int, error) {
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+productPath, nil)
			if err != nil {
				return 0, err
			}
			resp, err := hc.Do(req)
			if err != nil {
				return 0, err
			}
			defer resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				return 0, fmt.Errorf("status %d", resp.StatusCode)
			}
			body, err := io.ReadAll(resp.Body)
			return len(body), err
		}
	}},
}

// alovaSend sends a GET built from c at each call, as a handler would, and
// checks that the answer came from the tier want. It sends once first, so
// that a cached client holds the answer.
func alovaSend(b *testing.B, c *client.Client, want cache.Tier) sendFunc {
	b.Helper()
	if _, err := c.Get(productPath).Send(context.Background()); err != nil {
		b.Fatal(err)
	}
	return func(ctx context.Context) (int, error) {
		resp, err := c.Get(productPath).Send(ctx)
		if err != nil {
			return 0, err
		}
		if resp.Source() != want {
			return 0, fmt.Errorf("answer from %v, want %v", resp.Source(), want)
		}
		return len(resp.String()), nil
	}
}

// BenchmarkClientGet sends a GET of a 1 KiB JSON answer to a loopback
// httptest server: alova's client uncached and cached, resty (which has no
// cache), and net/http.
func BenchmarkClientGet(b *testing.B) {
	for _, impl := range clientImpls {
		b.Run(impl.name, func(b *testing.B) {
			send := impl.setup(b, productServer(b).URL)
			ctx := context.Background()
			if _, err := send(ctx); err != nil { // warm: connection, cache
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				v, err := send(ctx)
				if err != nil {
					b.Fatal(err)
				}
				checkLen(b, v)
			}
		})
	}
}

// BenchmarkClientGetParallel is BenchmarkClientGet from GOMAXPROCS
// goroutines. alova's client shares identical GETs in flight (one downstream
// call for all of them), which the others do not do; alova-noshare turns that
// off for a like-for-like comparison.
func BenchmarkClientGetParallel(b *testing.B) {
	impls := append(clientImpls[:len(clientImpls):len(clientImpls)], clientImpl{"alova-noshare", func(b *testing.B, base string) sendFunc {
		c := client.New(client.Options{BaseURL: base})
		return func(ctx context.Context) (int, error) {
			resp, err := c.Get(productPath).Share(false).Send(ctx)
			if err != nil {
				return 0, err
			}
			return len(resp.String()), nil
		}
	}})
	for _, impl := range impls {
		b.Run(impl.name, func(b *testing.B) {
			send := impl.setup(b, productServer(b).URL)
			if _, err := send(context.Background()); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				ctx := context.Background()
				for pb.Next() {
					v, err := send(ctx)
					if err != nil {
						b.Error(err)
						return
					}
					checkLen(b, v)
				}
			})
		})
	}
}
