package client

import (
	"fmt"
	"net/http"
	"testing"
)

// The key table answers exactly what the hash gives, for every verb and URL,
// when a slot is shared by many URLs, and for requests it must not answer
// (headers, a body, forwarded values that join the key).
func TestKeyTable(t *testing.T) {
	t.Parallel()
	tab := newKeyTable()
	keyed := []string{"Authorization"}
	want := func(verb, url string, h http.Header, body []byte, fwd http.Header) string {
		var out [32]byte
		hashKeyInto(&out, verb, url, h, body, keyed, fwd)
		return string(out[:])
	}
	got := func(verb, url string, h http.Header, body []byte, fwd http.Header) string {
		var out [32]byte
		tab.deriveKey(&out, verb, url, h, body, keyed, fwd)
		return string(out[:])
	}
	// Twice as many URLs as slots: every slot is taken and replaced, and
	// each look-up (first, and again after the replacements) is exact.
	for round := range 2 {
		for i := range 2 * keySlots {
			url := fmt.Sprintf("http://api/products/%d", i)
			for _, verb := range []string{"GET", "HEAD"} {
				if g, w := got(verb, url, nil, nil, nil), want(verb, url, nil, nil, nil); g != w {
					t.Fatalf("round %d: key of %s %s = %s, want %s", round, verb, url, g, w)
				}
			}
		}
	}
	url := "http://api/me"
	plain := got("GET", url, nil, nil, nil)
	for name, tc := range map[string]struct {
		h, fwd http.Header
		body   []byte
	}{
		"header":            {h: http.Header{"X-A": {"1"}}},
		"body":              {body: []byte("b")},
		"keyed forwarded":   {fwd: http.Header{"Authorization": {"Bearer u1"}}},
		"another forwarded": {fwd: http.Header{"Authorization": {"Bearer u2"}}},
	} {
		g := got("GET", url, tc.h, tc.body, tc.fwd)
		if w := want("GET", url, tc.h, tc.body, tc.fwd); g != w || g == plain {
			t.Errorf("%s: key %s, want %s (and not the plain key %s)", name, g, w, plain)
		}
	}
	// Two users' forwarded credentials give two keys.
	if u1, u2 := got("GET", url, nil, nil, http.Header{"Authorization": {"Bearer u1"}}), got("GET", url, nil, nil, http.Header{"Authorization": {"Bearer u2"}}); u1 == u2 {
		t.Errorf("two users' Authorization gave one key %s", u1)
	}
	// A forwarded header outside the keyed names leaves the key alone.
	if g := got("GET", url, nil, nil, http.Header{"Cookie": {"not keyed"}}); g != plain {
		t.Errorf("a forwarded header that does not join the key changed it: %s, want %s", g, plain)
	}
}
