package cache

import (
	"encoding/binary"
	"errors"
)

// errBadMessage is returned by decodeMessage for a payload it cannot read.
var errBadMessage = errors.New("cache: malformed invalidation message")

// msgVersion is the first byte of every invalidation message.
const msgVersion = 2

// msgAll is the flag of an [Invalidation] with All set.
const msgAll = 1

// encodeMessage returns the wire form of an [Invalidation] on the
// [NewRedisStore]'s pub/sub channel. Binary, so keys of any bytes survive: the
// version byte, a flags byte, then From, the keys and the tags, each string
// as a uvarint length and its bytes, each list as a uvarint count and its
// strings.
func encodeMessage(m Invalidation) []byte {
	n := 2 + binary.MaxVarintLen64*(3+len(m.Keys)+len(m.Tags)) + len(m.From)
	for _, k := range m.Keys {
		n += len(k)
	}
	for _, t := range m.Tags {
		n += len(t)
	}
	b := make([]byte, 0, n)
	var flags byte
	if m.All {
		flags |= msgAll
	}
	b = append(b, msgVersion, flags)
	b = appendString(b, m.From)
	b = appendList(b, m.Keys)
	b = appendList(b, m.Tags)
	return b
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func appendList(b []byte, l []string) []byte {
	b = binary.AppendUvarint(b, uint64(len(l)))
	for _, s := range l {
		b = appendString(b, s)
	}
	return b
}

// decodeMessage reads a message written by encodeMessage. It never panics and never
// allocates more than a small multiple of len(b), whatever b holds.
func decodeMessage(b string) (Invalidation, error) {
	var m Invalidation
	if len(b) < 2 || b[0] != msgVersion || b[1]&^msgAll != 0 {
		return m, errBadMessage
	}
	m.All = b[1]&msgAll != 0
	d := decoder{b: b[2:]}
	m.From = d.string()
	m.Keys = d.list()
	m.Tags = d.list()
	if d.bad || len(d.b) != 0 {
		return Invalidation{}, errBadMessage
	}
	return m, nil
}

// decoder reads the wire format from b; bad records the first error.
type decoder struct {
	b   string
	bad bool
}

func (d *decoder) uvarint() uint64 {
	if d.bad {
		return 0
	}
	var x uint64
	var s uint
	for i := 0; i < len(d.b) && i < binary.MaxVarintLen64; i++ {
		c := d.b[i]
		if c < 0x80 {
			if i == binary.MaxVarintLen64-1 && c > 1 || c == 0 && i > 0 {
				break // overflow, or a non-minimal encoding: encode never writes one
			}
			d.b = d.b[i+1:]
			return x | uint64(c)<<s
		}
		x |= uint64(c&0x7f) << s
		s += 7
	}
	d.bad = true
	return 0
}

func (d *decoder) string() string {
	n := d.uvarint()
	if d.bad || n > uint64(len(d.b)) {
		d.bad = true
		return ""
	}
	s := d.b[:n]
	d.b = d.b[n:]
	return s
}

func (d *decoder) list() []string {
	n := d.uvarint()
	// Every string takes at least one byte, so a count larger than what is
	// left is a lie: refuse it before allocating.
	if d.bad || n > uint64(len(d.b)) {
		d.bad = true
		return nil
	}
	if n == 0 {
		return nil
	}
	l := make([]string, 0, n)
	for range n {
		s := d.string()
		if d.bad {
			return nil
		}
		l = append(l, s)
	}
	return l
}
