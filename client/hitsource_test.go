package client_test

import (
	"errors"
	"regexp"
	"testing"

	"github.com/alovago/alova/cache"
	"github.com/alovago/alova/client"
	"github.com/alovago/alova/internal/testredis"
)

// hitSourceCases are dependents and the sends that must (or must not) drop
// them, run on every tier setup.
var hitSourceCases = []struct {
	name      string
	dependent func(c *client.Client) *client.Method
	source    func(c *client.Client) *client.Method
	drops     bool
}{
	{"method source",
		func(c *client.Client) *client.Method { return c.Get("/products").HitSource(c.Post("/products", nil)) },
		func(c *client.Client) *client.Method { return c.Post("/products", map[string]string{"name": "pen"}) },
		true},
	{"method source matches params",
		func(c *client.Client) *client.Method {
			return c.Get("/products").HitSource(c.Post("/products", nil).Param("shop", "1"))
		},
		func(c *client.Client) *client.Method { return c.Post("/products", nil).Param("shop", "2") },
		false},
	{"name source",
		func(c *client.Client) *client.Method {
			return c.Get("/products").HitSource(client.ByName("createProduct"))
		},
		func(c *client.Client) *client.Method { return c.Put("/products/9", "x").Name("createProduct") },
		true},
	{"pattern source",
		func(c *client.Client) *client.Method {
			return c.Get("/orders").HitSource(client.ByNameMatch(regexp.MustCompile(`^order\.(create|cancel)$`)))
		},
		func(c *client.Client) *client.Method { return c.Delete("/orders/3").Name("order.cancel") },
		true},
	{"pattern not matching",
		func(c *client.Client) *client.Method {
			return c.Get("/orders").HitSource(client.ByNameMatch(regexp.MustCompile(`^order\.create$`)))
		},
		func(c *client.Client) *client.Method { return c.Delete("/orders/3").Name("order.cancel") },
		false},
	{"unnamed GET is not a source",
		func(c *client.Client) *client.Method { return c.Get("/list").HitSource(c.Get("/item")) },
		func(c *client.Client) *client.Method { return c.Get("/item") },
		false},
	{"named GET is a source",
		func(c *client.Client) *client.Method { return c.Get("/list").HitSource(c.Get("/item")) },
		func(c *client.Client) *client.Method { return c.Get("/item").Name("item") },
		true},
	{"unrelated source",
		func(c *client.Client) *client.Method {
			return c.Get("/products").HitSource(client.ByName("createProduct"))
		},
		func(c *client.Client) *client.Method { return c.Post("/users", nil).Name("createUser") },
		false},
}

func TestHitSourceAcrossInstances(t *testing.T) {
	eachRedis(t, func(t *testing.T, b backend) {
		for _, tc := range hitSourceCases {
			t.Run(tc.name, func(t *testing.T) {
				d := newCounting(t)
				ta, tb := peers(t, b)
				a := client.New(client.Options{BaseURL: d.URL, Cache: ta})
				other := client.New(client.Options{BaseURL: d.URL, Cache: tb})
				dep := tc.dependent(a)
				path := dep.URL()[len(d.URL):]
				send(t, tc.dependent(a), "v1", cache.TierOrigin)
				send(t, tc.dependent(a), "v1", cache.TierL1)

				// The source is sent by the other instance.
				if _, err := tc.source(other).Send(testCtx(t)); err != nil {
					t.Fatal(err)
				}
				settle(t, tb, ta)
				if !tc.drops {
					send(t, tc.dependent(a), "v1", cache.TierL1)
					return
				}
				// Gone from a's L1 (pub/sub) and from L2.
				if _, err := a.QueryCache(testCtx(t), tc.dependent(a), cache.ModeAll); !errors.Is(err, cache.ErrMiss) {
					t.Fatalf("QueryCache after the source: err = %v, want a miss", err)
				}
				send(t, tc.dependent(a), "v2", cache.TierOrigin)
				if got := d.calls("GET " + path); got != 2 {
					t.Errorf("calls = %d, want 2", got)
				}
			})
		}
	})
}

// The index lives in Redis: a process started after the dependent was cached
// (or after a restart) still invalidates it (alova's #300).
func TestHitSourceAcrossRestarts(t *testing.T) {
	eachRedis(t, func(t *testing.T, b backend) {
		d := newCounting(t)
		prefix := testredis.Prefix(t, b.rdb)
		first := client.New(client.Options{BaseURL: d.URL, Cache: tiers(t, b, prefix, false)})
		send(t, first.Get("/stock").HitSource(client.ByName("restock")), "v1", cache.TierOrigin)

		restarted := client.New(client.Options{BaseURL: d.URL, Cache: tiers(t, b, prefix, false)})
		send(t, restarted.Get("/stock"), "v1", cache.TierL2)
		if _, err := restarted.Post("/restock", nil).Name("restock").Send(testCtx(t)); err != nil {
			t.Fatal(err)
		}
		fresh := client.New(client.Options{BaseURL: d.URL, Cache: tiers(t, b, prefix, false)})
		send(t, fresh.Get("/stock"), "v2", cache.TierOrigin)
	})
}

func TestHitSourceL1Only(t *testing.T) {
	t.Parallel()
	for _, tc := range hitSourceCases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			d := newCounting(t)
			c := client.New(client.Options{BaseURL: d.URL, Cache: cache.NewTiered(cache.NewMemoryStore(cache.MemoryOptions{MaxEntries: 100}), nil, cache.TieredOptions{})})
			send(t, tc.dependent(c), "v1", cache.TierOrigin)
			if _, err := tc.source(c).Send(testCtx(t)); err != nil {
				t.Fatal(err)
			}
			if tc.drops {
				send(t, tc.dependent(c), "v2", cache.TierOrigin)
			} else {
				send(t, tc.dependent(c), "v1", cache.TierL1)
			}
		})
	}
}

func TestHitSourceOnlyOnNetworkSuccess(t *testing.T) {
	t.Parallel()
	d := newCounting(t)
	c := client.New(client.Options{BaseURL: d.URL, Cache: cache.NewTiered(cache.NewMemoryStore(cache.MemoryOptions{MaxEntries: 100}), nil, cache.TieredOptions{})})
	dep := func() *client.Method { return c.Get("/list").HitSource(client.ByName("item")) }
	item := func() *client.Method { return c.Get("/item").Name("item") }
	send(t, item(), "v1", cache.TierOrigin)
	send(t, dep(), "v1", cache.TierOrigin)
	send(t, item(), "v1", cache.TierL1) // a cache hit is not a source answer
	send(t, dep(), "v1", cache.TierL1)

	d.status.Store(500)
	if _, err := item().Force(true).Send(testCtx(t)); err == nil {
		t.Fatal("want a 500")
	}
	send(t, dep(), "v1", cache.TierL1) // a failed source answer drops nothing
	d.status.Store(0)
	send(t, item().Force(true), "v3", cache.TierOrigin)
	send(t, dep(), "v2", cache.TierOrigin)
}
