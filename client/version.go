package client

import (
	"encoding/binary"
	"errors"
	"unsafe"
)

// A cached entry written under a [Policy.Version] tag is codecTagged, the
// tag (length-prefixed, uvarint), then the untagged entry (codecVersion …).
// Entries without a tag keep the untagged format, so processes that predate
// version tags read them, and those they wrote read as tag "".
const codecTagged = 2

// errStale is what decodeEntry returns for an entry of another version.
var errStale = errors.New("client: cache entry of another version")

// encodeEntry serializes r for the cache under the version tag.
func encodeEntry(r *Response, tag string) string {
	inner := encodeResponse(r)
	if tag == "" {
		return inner
	}
	b := make([]byte, 0, 1+binary.MaxVarintLen64+len(tag)+len(inner))
	b = append(b, codecTagged)
	b = binary.AppendUvarint(b, uint64(len(tag)))
	b = append(b, tag...)
	b = append(b, inner...)
	return unsafe.String(unsafe.SliceData(b), len(b))
}

// decodeEntry rebuilds the Response of an entry written under the tag want;
// an entry under another tag returns errStale.
func decodeEntry(s, want string) (*Response, error) {
	tag := ""
	if len(s) > 0 && s[0] == codecTagged {
		b := unsafe.Slice(unsafe.StringData(s), len(s)) // read only
		p := 1
		n, ok := uvarint(b, &p)
		if !ok || n > uint64(len(s)-p) {
			return nil, errCorrupt
		}
		tag, s = s[p:p+int(n)], s[p+int(n):]
	}
	if tag != want {
		return nil, errStale
	}
	return decodeResponse(s)
}
