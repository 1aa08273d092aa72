package client

import (
	"fmt"
	"testing"
)

// The key table answers exactly what the hash gives, for every verb and URL,
// also when a slot is shared by many URLs, and hands out strings of its own.
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
				gotURL, gotKey := tab.lookup(verb, buf, keyed)
				if gotURL != url || gotKey != want(verb, url) {
					t.Fatalf("round %d: lookup(%s %s) = %q, %s; want the URL and %s", round, verb, url, gotURL, gotKey, want(verb, url))
				}
				buf[0] = 'X' // the caller's buffer is reused: the table's strings must not change
				if gotURL != url {
					t.Fatalf("the URL handed out changed with the caller's buffer: %q", gotURL)
				}
			}
		}
	}
}
