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
		{"empty", &Response{StatusCode: 204, Header: http.Header{}}, nil},
		{"body only", &Response{StatusCode: 200, Header: http.Header{}, Body: []byte("hello")}, nil},
		{"headers", &Response{StatusCode: 201, Header: http.Header{"Content-Type": {"application/json"},
			"X-Multi": {"a", "", "c"}, "X-Empty": {}}, Body: []byte(`{}`)}, nil},
		{"many values", &Response{StatusCode: 200, Header: many, Body: []byte("x")}, nil},
		{"not cached headers", &Response{StatusCode: 200, Header: http.Header{"Set-Cookie": {"s=1"}, "Connection": {"close"},
			"Transfer-Encoding": {"chunked"}, "Etag": {`"v1"`}}, Body: []byte("x")}, http.Header{"Etag": {`"v1"`}}},
		{"binary body", &Response{StatusCode: 200, Header: http.Header{}, Body: []byte{0, 1, 0xff, 0x80}}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			want := tc.want
			if want == nil {
				want = tc.in.Header
			}
			enc := encodeResponse(tc.in)
			got, err := decodeResponse(enc)
			if err != nil {
				t.Fatalf("decode: %v", err)
			}
			if got.StatusCode != tc.in.StatusCode || !bytes.Equal(got.Body, tc.in.Body) || !reflect.DeepEqual(got.Header, want) {
				t.Errorf("decode = %d %v %q, want %d %v %q", got.StatusCode, got.Header, got.Body,
					tc.in.StatusCode, want, tc.in.Body)
			}
			// The caller's body is its own: changing it changes nothing else,
			// and a second decode of the same entry is unchanged.
			for i := range got.Body {
				got.Body[i] ^= 0xff
			}
			got.Body = append(got.Body, "more"...)
			again, err := decodeResponse(enc)
			if err != nil || !bytes.Equal(again.Body, tc.in.Body) || !reflect.DeepEqual(again.Header, want) {
				t.Errorf("after changing a decoded body, decode = %v, %v; want the entry unchanged", again, err)
			}
		})
	}
}

func TestCodecCorrupt(t *testing.T) {
	t.Parallel()
	good := []byte(encodeResponse(&Response{StatusCode: 200, Header: http.Header{"A": {"b"}}, Body: []byte("x")}))
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
	f.Add([]byte(encodeResponse(&Response{StatusCode: 200, Header: http.Header{"A": {"b", "c"}}, Body: []byte("x")})))
	f.Add([]byte{codecVersion})
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := decodeResponse(string(b))
		if err != nil {
			return
		}
		// Whatever decodes re-encodes to something that decodes the same.
		again, err := decodeResponse(encodeResponse(r))
		if err != nil || again.StatusCode != r.StatusCode || !bytes.Equal(again.Body, r.Body) || len(again.Header) > len(r.Header) {
			t.Fatalf("re-decode = %v, %v; first %v", again, err, r)
		}
	})
}

func BenchmarkDecodeResponse(b *testing.B) {
	r := &Response{StatusCode: 200, Header: http.Header{"Content-Type": {"application/json"}, "X-Version": {"7"},
		"Date": {"Wed, 25 Nov 2026 12:00:00 GMT"}, "Content-Length": {"60"}}, Body: make([]byte, 60)}
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
	if n := testing.AllocsPerRun(100, func() { _ = hashKey("POST", "http://api/x?a=1", h, body) }); n > 1 {
		t.Errorf("hashKey: %v allocations, want 1 (the key string)", n)
	}
}
