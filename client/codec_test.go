package client

import (
	"bytes"
	"net/http"
	"reflect"
	"testing"
)

func TestCodecRoundTrip(t *testing.T) {
	t.Parallel()
	many := http.Header{}
	for i := range 20 {
		many.Add("X-Many", string(rune('a'+i)))
	}
	tests := []struct {
		name string
		in   *Response
		want http.Header // nil: same as in.Header
	}{
		{"empty", NewResponse(204, http.Header{}, nil), nil},
		{"body only", NewResponse(200, http.Header{}, []byte("hello")), nil},
		{"headers", NewResponse(201, http.Header{"Content-Type": {"application/json"},
			"X-Multi": {"a", "", "c"}, "X-Empty": {}}, []byte(`{}`)), nil},
		{"many values", NewResponse(200, many, []byte("x")), nil},
		{"not cached headers", NewResponse(200, http.Header{"Set-Cookie": {"s=1"}, "Connection": {"close"},
			"Transfer-Encoding": {"chunked"}, "Etag": {`"v1"`}}, []byte("x")), http.Header{"Etag": {`"v1"`}}},
		{"binary body", NewResponse(200, http.Header{}, []byte{0, 1, 0xff, 0x80}), nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			want := tc.want
			if want == nil {
				want = tc.in.Headers()
			}
			enc := encodeResponse(tc.in)
			got, err := decodeResponse(enc)
			if err != nil {
				t.Fatalf("decode: %v", err)
			}
			if got.StatusCode() != tc.in.StatusCode() || !bytes.Equal(got.Bytes(), tc.in.Bytes()) || !reflect.DeepEqual(got.Headers(), want) {
				t.Errorf("decode = %d %v %q, want %d %v %q", got.StatusCode(), got.Headers(), got.Bytes(),
					tc.in.StatusCode(), want, tc.in.Bytes())
			}
			// What a caller gets out of a decoded answer is its own: changing
			// it changes neither the answer nor the entry.
			b, h := got.Bytes(), got.Headers()
			for i := range b {
				b[i] ^= 0xff
			}
			for k := range h {
				h[k] = append(h[k], "more")
			}
			h.Set("X-Added", "1")
			if !bytes.Equal(got.Bytes(), tc.in.Bytes()) || !reflect.DeepEqual(got.Headers(), want) {
				t.Errorf("changing Bytes() and Headers() changed the answer: %q %v", got.Bytes(), got.Headers())
			}
			again, err := decodeResponse(enc)
			if err != nil || !bytes.Equal(again.Bytes(), tc.in.Bytes()) || !reflect.DeepEqual(again.Headers(), want) {
				t.Errorf("after changing a decoded body, decode = %v, %v; want the entry unchanged", again, err)
			}
		})
	}
}

func TestCodecCorrupt(t *testing.T) {
	t.Parallel()
	good := []byte(encodeResponse(NewResponse(200, http.Header{"A": {"b"}}, []byte("x"))))
	tests := map[string][]byte{
		"empty":          nil,
		"wrong version":  append([]byte{9}, good[1:]...),
		"truncated head": good[:4],
		"huge count":     {codecVersion, 200, 0xff, 0xff, 0xff, 0xff, 0x0f},
		"bad status":     {codecVersion, 0xff},
	}
	for name, in := range tests {
		if _, err := decodeResponse(string(in)); err == nil {
			t.Errorf("%s: decode succeeded, want errCorrupt", name)
		}
	}
}

func FuzzDecodeResponse(f *testing.F) {
	f.Add([]byte(encodeResponse(NewResponse(200, http.Header{"A": {"b", "c"}}, []byte("x")))))
	f.Add([]byte{codecVersion})
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := decodeResponse(string(b))
		if err != nil {
			return
		}
		// Whatever decodes re-encodes to something that decodes the same.
		again, err := decodeResponse(encodeResponse(r))
		if err != nil || again.StatusCode() != r.StatusCode() || !bytes.Equal(again.Bytes(), r.Bytes()) || len(again.Headers()) > len(r.Headers()) {
			t.Fatalf("re-decode = %v, %v; first %v", again, err, r)
		}
	})
}

func BenchmarkDecodeResponse(b *testing.B) {
	r := NewResponse(200, http.Header{"Content-Type": {"application/json"}, "X-Version": {"7"},
		"Date": {"Wed, 25 Nov 2026 12:00:00 GMT"}, "Content-Length": {"60"}}, make([]byte, 60))
	enc := encodeResponse(r)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := decodeResponse(enc); err != nil {
			b.Fatal(err)
		}
	}
}

func TestHashKeyAllocs(t *testing.T) {
	h := http.Header{"Accept": {"application/json"}, "X-Tenant": {"7"}}
	body := []byte(`{"q":1}`)
	if n := testing.AllocsPerRun(100, func() { _ = hashKey("POST", "http://api/x?a=1", h, body, nil, nil) }); n > 1 {
		t.Errorf("hashKey: %v allocations, want 1 (the key string)", n)
	}
}
