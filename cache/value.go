package cache

import (
	"io"
	"sync/atomic"
)

// Value is a cached value: bytes that nobody can change. Every caller who
// gets the same entry shares its memory, and no caller can change what
// another one sees, because a Value hands out no
// mutable view: [Value.String] and [Value.WriteTo] share the bytes,
// [Value.Bytes] copies them. The zero Value is empty.
//
// A Value stored in L1 by a [Tiered] also remembers what [Value.Memo] made
// of it, so that the hits of one entry decode it once.
type Value struct {
	s string
	m *memo // set on the values a Tiered keeps in L1
}

// memo holds what Value.Memo decoded, once set.
type memo struct{ p atomic.Pointer[memoized] }

type memoized struct{ key, val any }

// ValueOf returns a Value holding a copy of b.
func ValueOf(b []byte) Value { return Value{s: string(b)} }

// StringValue returns a Value holding s, without copying.
func StringValue(s string) Value { return Value{s: s} }

// memoized returns v with a fresh memo slot: the form a Tiered keeps in L1.
func (v Value) memoized() Value {
	v.m = new(memo)
	return v
}

// Memo returns what decode makes of v's bytes. For a value a [Tiered] hands
// out from L1, the first Memo with a given key remembers its result, and
// every later Memo with that key on the same entry returns it without
// calling decode: the hits of an entry decode it once, whoever reads it.
// Other values call decode each time, and so do errors (they are not
// remembered).
//
// The result is shared by every caller that reads the entry, so it must be
// immutable, or at least never changed. key names the decoding, as a
// context key does: a comparable value of an unexported type, one per
// decode function; an entry remembers one key's result, the first one
// decoded.
func (v Value) Memo(key any, decode func(s string) (any, error)) (any, error) {
	if v.m != nil {
		if d := v.m.p.Load(); d != nil && d.key == key {
			return d.val, nil
		}
	}
	val, err := decode(v.s)
	if err == nil && v.m != nil {
		v.m.p.CompareAndSwap(nil, &memoized{key: key, val: val})
	}
	return val, err
}

// String returns the bytes as a string, without copying.
func (v Value) String() string { return v.s }

// Bytes returns a copy of the bytes, which the caller may change.
func (v Value) Bytes() []byte {
	if v.s == "" {
		return nil
	}
	return []byte(v.s)
}

// Len returns the number of bytes.
func (v Value) Len() int { return len(v.s) }

// WriteTo writes the bytes to w without copying them (io.WriterTo).
func (v Value) WriteTo(w io.Writer) (int64, error) {
	n, err := io.WriteString(w, v.s)
	return int64(n), err
}
