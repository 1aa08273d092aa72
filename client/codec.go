package client

import (
	"encoding/binary"
	"errors"
	"net/http"
	"net/url"
	"strings"
)

// notCached are the response headers never written to the cache: hop-by-hop
// headers, and Set-Cookie, which belongs to the one request that got it and
// must never be replayed to other callers.
var notCached = map[string]bool{
	"Connection":        true,
	"Keep-Alive":        true,
	"Proxy-Connection":  true,
	"Transfer-Encoding": true,
	"Upgrade":           true,
	"Trailer":           true,
	"Set-Cookie":        true,
}

// Cached entries are: a version byte, the status, the number of headers, each
// header as its name and its values (length-prefixed, uvarints), then the body.
const codecVersion = 1

var errCorrupt = errors.New("client: corrupt cache entry")

// encodeResponse serializes r for the cache.
func encodeResponse(r *Response) string {
	n := 1 + 2*binary.MaxVarintLen64 + len(r.body)
	for k, vs := range r.header {
		n += binary.MaxVarintLen64*2 + len(k)
		for _, v := range vs {
			n += binary.MaxVarintLen64 + len(v)
		}
	}
	b := make([]byte, 0, n)
	b = append(b, codecVersion)
	b = binary.AppendUvarint(b, uint64(r.status))
	kept := 0
	for k := range r.header {
		if !notCached[k] {
			kept++
		}
	}
	b = binary.AppendUvarint(b, uint64(kept))
	for k, vs := range r.header {
		if notCached[k] {
			continue
		}
		b = binary.AppendUvarint(b, uint64(len(k)))
		b = append(b, k...)
		b = binary.AppendUvarint(b, uint64(len(vs)))
		for _, v := range vs {
			b = binary.AppendUvarint(b, uint64(len(v)))
			b = append(b, v...)
		}
	}
	b = append(b, r.body...)
	return string(b)
}

// decodeResponse rebuilds a Response from a cache entry. The header names
// and values and the body are substrings of s, which is immutable, so they
// share its memory. A decode costs two allocations whatever the number of
// headers (the Response with room for a few values, and the header map),
// three with many values.
func decodeResponse(s string) (*Response, error) {
	b := s
	if len(b) == 0 || b[0] != codecVersion {
		return nil, errCorrupt
	}
	p := 1
	status, ok := uvarint(b, &p)
	if !ok {
		return nil, errCorrupt
	}
	nh, ok := uvarint(b, &p)
	if !ok || nh > uint64(len(b)) {
		return nil, errCorrupt
	}
	// First pass: find the end of the headers and count the values.
	start, nvals := p, 0
	for i := uint64(0); i < nh; i++ {
		if !skip(b, &p) {
			return nil, errCorrupt
		}
		nv, ok := uvarint(b, &p)
		if !ok || nv > uint64(len(b)) {
			return nil, errCorrupt
		}
		nvals += int(nv)
		for j := uint64(0); j < nv; j++ {
			if !skip(b, &p) {
				return nil, errCorrupt
			}
		}
	}
	// Second pass: slice names and values out of s.
	hs := s[start:p]
	var resp *Response
	var vals []string
	if nvals <= len(respWithValues{}.vals) {
		rv := &respWithValues{}
		resp, vals = &rv.Response, rv.vals[:nvals]
	} else {
		resp, vals = &Response{}, make([]string, nvals)
	}
	h := make(http.Header, nh)
	q := 0
	for i := uint64(0); i < nh; i++ {
		k := str(hs, &q)
		n := int(uvarintString(hs, &q))
		vs := vals[:n:n]
		vals = vals[n:]
		for j := range vs {
			vs[j] = str(hs, &q)
		}
		h[k] = vs
	}
	resp.status, resp.header, resp.body = int(status), h, s[p:]
	return resp, nil
}

// respWithValues holds a decoded Response and the backing array of its
// header values in one allocation.
type respWithValues struct {
	Response
	vals [6]string
}

// uvarint reads a uvarint from b at *p and advances *p, as
// binary.Uvarint reads one from a byte slice.
func uvarint(b string, p *int) (uint64, bool) {
	var v uint64
	for i, shift := *p, uint(0); i < len(b) && shift < 64; i, shift = i+1, shift+7 {
		c := b[i]
		if shift == 63 && c > 1 {
			return 0, false // overflows 64 bits
		}
		v |= uint64(c&0x7f) << shift
		if c < 0x80 {
			*p = i + 1
			return v, true
		}
	}
	return 0, false
}

// skip advances *p over one length-prefixed string.
func skip(b string, p *int) bool {
	n, ok := uvarint(b, p)
	if !ok || n > uint64(len(b)-*p) {
		return false
	}
	*p += int(n)
	return true
}

// uvarintString reads a uvarint from a string already validated by decode's
// first pass.
func uvarintString(s string, q *int) uint64 {
	var v uint64
	var shift uint
	for {
		c := s[*q]
		*q++
		v |= uint64(c&0x7f) << shift
		if c < 0x80 {
			return v
		}
		shift += 7
	}
}

// str reads one length-prefixed string out of s (validated) as a substring.
func str(s string, q *int) string {
	n := int(uvarintString(s, q))
	v := s[*q : *q+n]
	*q += n
	return v
}

// redact returns u with any password replaced by "xxxxx" (url.URL.Redacted),
// for errors and logs: a downstream URL may carry credentials.
func redact(u string) string {
	if !strings.Contains(u, "@") {
		return u
	}
	pu, err := url.Parse(u)
	if err != nil || pu.User == nil {
		return u
	}
	return pu.Redacted()
}

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
	return string(b)
}

// decodeEntry rebuilds the Response of an entry written under the tag want;
// an entry under another tag returns errStale.
func decodeEntry(s, want string) (*Response, error) {
	tag := ""
	if len(s) > 0 && s[0] == codecTagged {
		p := 1
		n, ok := uvarint(s, &p)
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
