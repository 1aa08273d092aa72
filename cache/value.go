package cache

import "io"

// Value is a cached value: bytes that nobody can change. Every caller who
// gets the same entry shares its memory, and no caller can change what
// another one sees (alova's issue #588), because a Value hands out no
// mutable view: [Value.String] and [Value.WriteTo] share the bytes,
// [Value.Bytes] copies them. The zero Value is empty.
type Value struct{ s string }

// ValueOf returns a Value holding a copy of b.
func ValueOf(b []byte) Value { return Value{string(b)} }

// StringValue returns a Value holding s, without copying.
func StringValue(s string) Value { return Value{s} }

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
