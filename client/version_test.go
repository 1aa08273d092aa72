package client

import (
	"bytes"
	"errors"
	"net/http"
	"testing"
)

// Entries round-trip under their tag; untagged entries keep the old format;
// another tag reads as stale.
func TestEntryVersion(t *testing.T) {
	r := NewResponse(200, http.Header{"A": {"b"}}, []byte("x"))
	if untagged := encodeEntry(r, ""); untagged != encodeResponse(r) {
		t.Error("an untagged entry is not in the untagged format")
	}
	for _, tc := range []struct{ wrote, want string }{{"", ""}, {"2", "2"}, {"", "2"}, {"2", ""}, {"2", "3"}} {
		got, err := decodeEntry(encodeEntry(r, tc.wrote), tc.want)
		if tc.wrote != tc.want {
			if !errors.Is(err, errStale) {
				t.Errorf("written under %q, read under %q: err = %v, want errStale", tc.wrote, tc.want, err)
			}
			continue
		}
		if err != nil || got.String() != "x" || got.Header("A") != "b" {
			t.Errorf("written and read under %q: %+v, %v", tc.want, got, err)
		}
	}
	if _, err := decodeEntry(string([]byte{codecTagged, 9, 'a'}), "a"); !errors.Is(err, errCorrupt) {
		t.Errorf("a truncated tag: err = %v, want errCorrupt", err)
	}
}

func FuzzDecodeEntry(f *testing.F) {
	f.Add([]byte(encodeEntry(NewResponse(200, nil, []byte("x")), "v2")), "v2")
	f.Add([]byte{codecTagged, 1, 'a', codecVersion}, "a")
	f.Fuzz(func(t *testing.T, b []byte, tag string) {
		r, err := decodeEntry(string(b), tag)
		if err != nil {
			return
		}
		again, err := decodeEntry(encodeEntry(r, tag), tag)
		if err != nil || again.StatusCode() != r.StatusCode() || !bytes.Equal(again.Bytes(), r.Bytes()) {
			t.Fatalf("re-decode = %v, %v; first %v", again, err, r)
		}
	})
}
