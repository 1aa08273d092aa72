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
		m    message
	}{
		{"empty", message{from: "a"}},
		{"keys", message{from: "id", keys: []string{"GET /x?a=1", "", "k\nwith\x00bytes\xff"}}},
		{"tags", message{from: "id", tags: []string{"products", "users"}}},
		{"both", message{from: "0123456789abcdef", keys: []string{"k"}, tags: []string{"t"}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := decodeMessage(string(tc.m.encode()))
			if err != nil || !reflect.DeepEqual(got, tc.m) {
				t.Fatalf("decodeMessage(encode(%+v)) = %+v, %v", tc.m, got, err)
			}
		})
	}
}

func TestMessageMalformed(t *testing.T) {
	t.Parallel()
	good := string(message{from: "id", keys: []string{"k"}}.encode())
	tests := []struct {
		name    string
		payload string
	}{
		{"empty", ""},
		{"wrong version", "\x02" + good[1:]},
		{"truncated", good[:len(good)-1]},
		{"trailing byte", good + "x"},
		{"huge count", "\x01\x00\xff\xff\xff\xff\x0f"},
		{"huge length", "\x01\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01"},
		{"varint overflow", "\x01\xff\xff\xff\xff\xff\xff\xff\xff\xff\x7f"},
		{"non-minimal varint", "\x01\x80\x00\x00\x00"},
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
// the same bytes.
func FuzzDecodeMessage(f *testing.F) {
	f.Add(string(message{from: "id", keys: []string{"a", "b"}, tags: []string{"t"}}.encode()))
	f.Add("")
	f.Add("\x01\x00\x00\x00")
	f.Fuzz(func(t *testing.T, payload string) {
		m, err := decodeMessage(payload)
		if err != nil {
			return
		}
		if again := string(m.encode()); again != payload {
			t.Fatalf("decode/encode changed %q into %q", payload, again)
		}
	})
}
