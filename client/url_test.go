package client

import (
	"net/url"
	"testing"
)

// The params of a method encode exactly as url.Values.Encode would.
func FuzzParamsEncode(f *testing.F) {
	f.Add("q", "a b&c=d/é~%+", "k", "v")
	f.Add("", "", "a", "")
	f.Fuzz(func(t *testing.T, k1, v1, k2, v2 string) {
		m := New(Options{BaseURL: "http://api"}).Get("/p").Param(k1, v1).Params(url.Values{k2: {v2, v1}})
		want := url.Values{k1: {v1}}
		want[k2] = append(want[k2], v2, v1)
		if got, w := m.URL(), "http://api/p?"+want.Encode(); got != w {
			t.Fatalf("URL() = %q, want %q", got, w)
		}
	})
}
