package client

import (
	"fmt"
	"net/url"
	"reflect"
	"testing"
	"unsafe"
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

// A send's snapshot of a method shares the method's maps and slices, so no
// setter may change one in place: each replaces it (copy on write). Every
// setter, applied after a snapshot, leaves the snapshot as it was.
func TestSettersCopyOnWrite(t *testing.T) {
	t.Parallel()
	c := New(Options{BaseURL: "http://api"})
	build := func() *Method {
		return c.Post("/products/1", map[string]int{"a": 1}).Param("a", "1").Param("b", "2").Param("c", "3").
			Header("X-Tenant", "7").Meta("k", 1).HitSource(ByName("n"))
	}
	for name, set := range map[string]func(*Method){
		"Param existing": func(m *Method) { m.Param("b", "x") },
		"Param new":      func(m *Method) { m.Param("d", "4") },
		"Params":         func(m *Method) { m.Params(url.Values{"a": {"9"}}) },
		"Header":         func(m *Method) { m.Header("X-Tenant", "8") },
		"Header removed": func(m *Method) { m.Header("X-Tenant", "") },
		"Body":           func(m *Method) { m.Body(url.Values{"f": {"1"}}) },
		"Meta":           func(m *Method) { m.Meta("k", 2) },
		"HitSource":      func(m *Method) { m.HitSource(ByName("o")) },
	} {
		m := build()
		snap := m.snapshot()
		want := fmt.Sprintf("%v %v %v %v %s", snap.paramList(), snap.rare().header, snap.rare().meta, snap.rare().sources, snap.rare().body)
		set(m)
		if got := fmt.Sprintf("%v %v %v %v %s", snap.paramList(), snap.rare().header, snap.rare().meta, snap.rare().sources, snap.rare().body); got != want {
			t.Errorf("%s changed a snapshot taken before it:\n got %s\nwant %s", name, got, want)
		}
		if reflect.DeepEqual(snap, m.snapshot()) {
			t.Errorf("%s changed nothing", name)
		}
	}
}

// Headers returns a copy: changing it changes neither the method nor a
// send's snapshot.
func TestHeadersIsACopy(t *testing.T) {
	t.Parallel()
	m := New(Options{}).Get("http://api/x").Header("A", "1")
	m.Headers().Set("A", "2")
	if got := m.Headers().Get("A"); got != "1" {
		t.Fatalf("after changing the copy Headers returned, the method's header A = %q, want 1", got)
	}
}
