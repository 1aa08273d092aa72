package client

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"reflect"
	"testing"
	"time"
	"unsafe"

	"github.com/alovago/alova/cache"
)

// The key table answers exactly what the hash gives, for every verb and URL,
// also when many URLs compete for the slots, and hands out strings of its
// own.
func TestKeyTable(t *testing.T) {
	t.Parallel()
	tab := newKeyTable()
	keyed := []string{"Authorization"}
	want := func(verb, url string) string {
		var out [32]byte
		hashKeyInto(&out, verb, url, nil, nil, keyed, nil)
		return string(out[:])
	}
	// Twice as many URLs as slots: every slot is taken and replaced, and
	// each look-up (first, and again after the replacements) is exact.
	for round := range 2 {
		for i := range 2 * keySlots {
			url := fmt.Sprintf("http://api/products/%d", i)
			for _, verb := range []string{"GET", "HEAD"} {
				buf := []byte(url)
				// A method with a key of its own asks for the URL alone
				// first; a plain one then needs the key too.
				if gotURL, _ := tab.lookup(verb, buf, keyed, false); gotURL != url {
					t.Fatalf("round %d: lookup(%s %s) without the key = %q, want the URL", round, verb, url, gotURL)
				}
				gotURL, gotKey := tab.lookup(verb, buf, keyed, true)
				if gotURL != url || gotKey != want(verb, url) {
					t.Fatalf("round %d: lookup(%s %s) = %q, %s; want the URL and %s", round, verb, url, gotURL, gotKey, want(verb, url))
				}
				buf[0] = 'X' // the caller's buffer is reused: the table's strings must not change
				if gotURL != url || gotKey != want(verb, url) {
					t.Fatalf("the strings handed out changed with the caller's buffer: %q %s", gotURL, gotKey)
				}
			}
		}
	}
}

// A working set of 1,000 URLs, far fewer than the slots, stays in the table:
// a second round finds almost every URL where the first left it. With one
// slot per URL about a fifth of them evicted each other on every round (the
// birthday bound over 4,096 slots); with two choices in 8,192 slots, about 5
// are expected to be replaced per round.
func TestKeyTableKeepsWorkingSet(t *testing.T) {
	t.Parallel()
	tab := newKeyTable()
	const urls = 1000
	first := make([]*byte, urls)
	for round := range 2 {
		moved := 0
		for i := range urls {
			u, k := tab.lookup("GET", fmt.Appendf(nil, "http://api/products/%d", i), nil, true)
			if k == "" {
				t.Fatalf("no key for %s", u)
			}
			if round == 0 {
				first[i] = unsafe.StringData(u)
			} else if unsafe.StringData(u) != first[i] {
				moved++
			}
		}
		if round == 1 && moved > 30 {
			t.Errorf("%d of %d URLs were replaced between two rounds, want at most 30", moved, urls)
		}
	}
}

// Sends of one method at the same moment each see its URL and key, however
// they race to derive them, and a setter makes the next send derive them
// again, into a methodInfo of its own.
func TestMethodInfoConcurrent(t *testing.T) {
	t.Parallel()
	c := New(Options{BaseURL: "http://api"})
	for range 50 {
		m := c.Get("/products/1").Param("lang", "en")
		want := hashKey("GET", "http://api/products/1?lang=en", nil, nil, c.s.keyed, nil)
		start := make(chan struct{})
		got := make(chan methodInfo, 8)
		for range 8 {
			go func() {
				<-start
				got <- m.info()
			}()
		}
		close(start)
		for range 8 {
			if in := <-got; in.url != "http://api/products/1?lang=en" || in.key != want {
				t.Fatalf("info() = %q %s, want the URL and %s", in.url, in.key, want)
			}
		}
		before := m.info()
		m.Param("lang", "fr").Header("X-Tenant", "7")
		in := m.info()
		if in.url != "http://api/products/1?lang=fr" || in.key != hashKey("GET", in.url, http.Header{"X-Tenant": {"7"}}, nil, c.s.keyed, nil) {
			t.Fatalf("after Param and Header: info() = %q %s", in.url, in.key)
		}
		// What a send still running holds (a background refresh's loader)
		// is never rewritten by a later derivation.
		if before.url != "http://api/products/1?lang=en" || before.key != want {
			t.Fatalf("the URL and key derived before the setters changed to %q %s", before.url, before.key)
		}
	}
}

// A method built with none of the rare setters has no methodMore and, when
// nothing keeps it, costs no allocation (it stays on the stack); reading its rare fields never writes the shared zero
// value, and each setter gives it a part of its own (clones too).
func TestMethodMore(t *testing.T) {
	c := New(Options{BaseURL: "http://api"})
	if n := testing.AllocsPerRun(100, func() { _ = c.Get("/products/1").Param("lang", "en").CacheKey("p:1").Key() }); n != 0 {
		t.Errorf("a plain method costs %v allocations, want 0", n)
	}
	m := c.Get("/products/1")
	_ = m.Key()
	_ = m.MetaValue("x")
	if m.more != nil {
		t.Fatal("reading a plain method gave it a methodMore")
	}
	for name, set := range map[string]func(*Method){
		"Header":     func(m *Method) { m.Header("X-Tenant", "7") },
		"Headers":    func(m *Method) { m.Headers().Set("X-Tenant", "7") },
		"Body":       func(m *Method) { m.Body(map[string]int{"a": 1}) },
		"Meta":       func(m *Method) { m.Meta("k", 1) },
		"Name":       func(m *Method) { m.Name("n") },
		"Timeout":    func(m *Method) { m.Timeout(time.Second) },
		"HitSource":  func(m *Method) { m.HitSource("n") },
		"SetBaseURL": func(m *Method) { m.SetBaseURL("http://other") },
		"Transform": func(m *Method) {
			m.Transform(func(_ context.Context, r *Response) (*Response, error) { return r, nil })
		},
	} {
		m := c.Get("/products/1")
		set(m)
		if m.more == nil {
			t.Errorf("%s: no methodMore", name)
		}
		cl := m.clone()
		if cl.more == m.more {
			t.Errorf("%s: the clone shares the methodMore", name)
		}
		cl.Headers().Set("X-Clone", "1")
		if m.rare().header.Get("X-Clone") != "" {
			t.Errorf("%s: a header set on the clone shows on the method", name)
		}
	}
	if !reflect.DeepEqual(noMethodMore, methodMore{}) {
		t.Fatalf("the shared empty methodMore was written: %+v", noMethodMore)
	}
	// Body(nil) on a plain method stays plain.
	if m := c.Get("/x").Body(nil); m.more != nil {
		t.Error("Body(nil) gave a plain method a methodMore")
	}
}

// An L1 hit of a method with its own key needs only that key: the method's
// URL is never built, with or without hooks.
func TestHitWithOwnKeyDerivesNothing(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok")) }))
	defer srv.Close()
	tiers := cache.NewTiered(cache.NewMemoryStore(cache.MemoryOptions{MaxEntries: 10}), nil, cache.TieredOptions{})
	defer func() { _ = tiers.Close() }()
	for name, opts := range map[string]Options{
		"plain":      {BaseURL: srv.URL, Cache: tiers},
		"with hooks": {BaseURL: srv.URL, Cache: tiers, OnComplete: func(context.Context, *Method, *Response, error) {}},
	} {
		c := New(opts)
		if _, err := c.Get("/p/1").CacheKey("p:1").Send(context.Background()); err != nil {
			t.Fatal(err)
		}
		m := c.Get("/p/1").CacheKey("p:1")
		resp, err := m.Send(context.Background())
		if err != nil || resp.Source() != cache.TierL1 {
			t.Fatalf("%s: %v from %v, want an L1 hit", name, err, resp.Source())
		}
		if st := m.firstState.Load(); st != unset {
			t.Errorf("%s: the hit derived the method's URL (state %d)", name, st)
		}
		if h := m.heap; h != nil && h.firstState.Load() != unset {
			t.Errorf("%s: the hit derived the URL of the method's copy", name)
		}
	}
}
