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

// Any sequence of Param and Params calls gives the URL that the same calls
// on a url.Values give: Param replaces every value of its key, Params adds
// after them, and the keys come out sorted. The sequences cross the point
// where the params move out of the method (more than two).
func FuzzParamOps(f *testing.F) {
	f.Add([]byte{0, 1, 2, 3, 4})
	f.Add([]byte{7, 3, 0x13, 0x23, 2, 6})
	f.Add([]byte{4, 4, 5, 1, 0, 0})
	f.Fuzz(func(t *testing.T, ops []byte) {
		m := New(Options{BaseURL: "http://api"}).Get("/p")
		want := url.Values{}
		for i, op := range ops {
			k, v := string(rune('a'+op&3)), string(rune('0'+i%10))
			if op&4 == 0 {
				m.Param(k, v)
				want.Set(k, v)
				continue
			}
			vs := []string{v, v + "x"}[:1+int(op>>4)&1]
			m.Params(url.Values{k: vs})
			want[k] = append(want[k], vs...)
		}
		w := "http://api/p"
		if len(want) > 0 {
			w += "?" + want.Encode()
		}
		if got := m.URL(); got != w {
			t.Fatalf("ops %v: URL() = %q, want %q", ops, got, w)
		}
	})
}
