package cache

import (
	"errors"
	"reflect"
	"testing"
)

func TestMessageRoundTrip(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		m    Invalidation
	}{
		{"empty", Invalidation{From: "a"}},
		{"zero", Invalidation{}},
		{"keys", Invalidation{From: "id", Keys: []string{"GET /x?a=1", "", "k\nwith\x00bytes\xff"}}},
		{"tags", Invalidation{From: "id", Tags: []string{"products", "users"}}},
		{"both", Invalidation{From: "0123456789abcdef", Keys: []string{"k"}, Tags: []string{"t"}}},
		{"all", Invalidation{From: "id", All: true}},
		{"all from the feed", Invalidation{All: true}},
		{"all with keys and tags", Invalidation{From: "id", Keys: []string{"k"}, Tags: []string{"t"}, All: true}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := encodeMessage(tc.m)
			if b[0] != msgVersion || (b[1] == msgAll) != tc.m.All {
				t.Errorf("encodeMessage(%+v) starts %q, want version %d and the All flag %v", tc.m, b[:2], msgVersion, tc.m.All)
			}
			got, err := decodeMessage(string(b))
			if err != nil || !reflect.DeepEqual(got, tc.m) {
				t.Fatalf("decodeMessage(encodeMessage(%+v)) = %+v, %v", tc.m, got, err)
			}
		})
	}
}

// TestMessageWireFormat pins the bytes, so that instances of different
// versions sharing a Redis agree on them.
func TestMessageWireFormat(t *testing.T) {
	t.Parallel()
	m := Invalidation{From: "ab", Keys: []string{"k"}, Tags: []string{"t1", "t2"}, All: true}
	want := "\x02\x01" + "\x02ab" + "\x01\x01k" + "\x02\x02t1\x02t2"
	if got := string(encodeMessage(m)); got != want {
		t.Errorf("encodeMessage(%+v) = %q, want %q", m, got, want)
	}
}

func TestMessageMalformed(t *testing.T) {
	t.Parallel()
	good := string(encodeMessage(Invalidation{From: "id", Keys: []string{"k"}}))
	tests := []struct {
		name    string
		payload string
	}{
		{"empty", ""},
		{"version only", "\x02"},
		{"version 1 (the old format)", "\x01\x02id\x01\x01k\x00"},
		{"wrong version", "\x03" + good[1:]},
		{"unknown flag", "\x02\x02" + good[2:]},
		{"unknown flag with All", "\x02\x81" + good[2:]},
		{"truncated", good[:len(good)-1]},
		{"trailing byte", good + "x"},
		{"huge count", "\x02\x00\x00\xff\xff\xff\xff\x0f"},
		{"huge length", "\x02\x00\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01"},
		{"varint overflow", "\x02\x00\xff\xff\xff\xff\xff\xff\xff\xff\xff\x7f"},
		{"non-minimal varint", "\x02\x00\x80\x00\x00\x00"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if m, err := decodeMessage(tc.payload); !errors.Is(err, errBadMessage) {
				t.Fatalf("decodeMessage(%q) = %+v, %v; want errBadMessage", tc.payload, m, err)
			}
		})
	}
}

// FuzzDecodeMessage feeds the decoder what another process could publish on
// the channel: it must never panic, and what it accepts must re-encode to
// the same bytes. The seeds in testdata/fuzz/FuzzDecodeMessage are version 2
// messages (a non-minimal varint, an All message, an unknown flag).
func FuzzDecodeMessage(f *testing.F) {
	f.Add(string(encodeMessage(Invalidation{From: "id", Keys: []string{"a", "b"}, Tags: []string{"t"}})))
	f.Add(string(encodeMessage(Invalidation{From: "id", All: true})))
	f.Add("")
	f.Add("\x02\x00\x00\x00\x00")
	f.Add("\x01\x00\x00\x00") // the old format
	f.Fuzz(func(t *testing.T, payload string) {
		m, err := decodeMessage(payload)
		if err != nil {
			return
		}
		if again := string(encodeMessage(m)); again != payload {
			t.Fatalf("decode/encode changed %q into %q", payload, again)
		}
	})
}
