package cache

import (
	"bytes"
	"strings"
	"testing"
)

func TestValue(t *testing.T) {
	t.Parallel()
	b := []byte("héllo\x00")
	v := ValueOf(b)
	b[0] = 'J'
	if v.String() != "héllo\x00" || v.Len() != len("héllo\x00") {
		t.Fatalf("ValueOf copied %q (len %d), then saw the caller's change", v.String(), v.Len())
	}
	c := v.Bytes()
	c[0] = 'X'
	if v.String() != "héllo\x00" {
		t.Fatalf("changing Bytes() changed the Value: %q", v.String())
	}
	if d := v.Bytes(); &d[0] == &c[0] {
		t.Fatal("two Bytes() calls returned the same memory")
	}
	var w bytes.Buffer
	if n, err := v.WriteTo(&w); err != nil || n != int64(v.Len()) || w.String() != v.String() {
		t.Fatalf("WriteTo = %d, %v, wrote %q", n, err, w.String())
	}
	if s := StringValue("s"); s.String() != "s" || s.Len() != 1 {
		t.Errorf("StringValue(s) = %q", s.String())
	}
	own := []byte("own")
	if o := ValueOf(own); o.String() != "own" {
		t.Errorf("OwnValue = %q", o.String())
	}

	var zero Value
	if zero.String() != "" || zero.Len() != 0 || zero.Bytes() != nil {
		t.Errorf("zero Value: %q, %d, %v", zero.String(), zero.Len(), zero.Bytes())
	}
	for _, empty := range []Value{ValueOf(nil), ValueOf([]byte{}), ValueOf(nil), ValueOf([]byte{}), StringValue("")} {
		if empty != zero {
			t.Errorf("an empty Value %#v is not the zero Value", empty)
		}
	}
	var sb strings.Builder
	if n, err := zero.WriteTo(&sb); n != 0 || err != nil {
		t.Errorf("zero WriteTo = %d, %v", n, err)
	}
}
