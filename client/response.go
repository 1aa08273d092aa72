package client

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"

	"github.com/alovago/alova/cache"
)

// Response is a downstream answer, read whole. It is read-only: its status,
// headers and body are read through methods, and none of them hands out
// memory that another caller could see change. That is
// what lets the cache hand the same Response to every send it answers from
// L1, decoded once, without a copy per send.
//
// The body reads without a copy through [Response.String] and
// [Response.WriteTo]; [Response.Bytes] returns a copy the caller may change.
// Make one with [NewResponse] (in [Options.OnSuccess], [Method.Transform],
// [CacheControlled], [Client.SetCache]).
type Response struct {
	status int
	header http.Header // never changed once the Response is made
	body   string
	source cache.Tier
}

// NewResponse returns a Response with the status, a copy of header and a
// copy of body, and Source cache.TierNone: the answer a hook makes up.
func NewResponse(status int, header http.Header, body []byte) *Response {
	return &Response{status: status, header: header.Clone(), body: string(body)}
}

// WithBody returns a copy of r with a copy of body in place of its own, and
// the same status, headers and Source: the answer a [Method.Transform] or a
// [Client.SetCache] update returns after reshaping the body.
func (r *Response) WithBody(body []byte) *Response {
	c := *r
	c.body = string(body)
	return &c
}

// StatusCode returns the HTTP status code, e.g. 200.
func (r *Response) StatusCode() int { return r.status }

// Source says where the answer came from: cache.TierL1, cache.TierL2, or
// cache.TierOrigin for a network answer (its String is "L1", "L2" or "MISS",
// e.g. for an X-Cache header). An answer made with [NewResponse] (by a hook
// or a [CacheControlled] function) has cache.TierNone. A cached answer
// given past its time because the reload failed or was slow
// ([Policy.StaleIfError], [Policy.Timeouts]) carries a Warning header:
// `111 - "Revalidation Failed"` or `110 - "Response is Stale"`.
func (r *Response) Source() cache.Tier { return r.source }

// Header returns the first value of the response header key, as
// http.Header.Get does, or "".
func (r *Response) Header(key string) string { return r.header.Get(key) }

// Headers returns a copy of the response headers, which the caller may
// change.
func (r *Response) Headers() http.Header { return r.header.Clone() }

// String returns the body, without copying it.
func (r *Response) String() string { return r.body }

// Bytes returns a copy of the body, which the caller may change; nil when it
// is empty.
func (r *Response) Bytes() []byte {
	if r.body == "" {
		return nil
	}
	return []byte(r.body)
}

// WriteTo writes the body to w (io.WriterTo), without copying it when w has
// a WriteString method, as an http.ResponseWriter does.
func (r *Response) WriteTo(w io.Writer) (int64, error) {
	n, err := io.WriteString(w, r.body)
	return int64(n), err
}

// Decode decodes the JSON body of the answer into v, a pointer, as
// json.Unmarshal does:
//
//	resp, err := c.Get("/products/42").Send(ctx)
//	if err != nil { … }
//	var p Product
//	if err := resp.Decode(&p); err != nil { … }
//	w.Header().Set("X-Cache", resp.Source().String())
//
// An empty body (204 No Content, HEAD) leaves v as it is and returns nil. A
// body that is not valid JSON for v returns an error wrapping the json
// package's. The decoder reads a copy of the body: a json.Unmarshaler of v
// can change nothing another caller sees.
func (r *Response) Decode(v any) error {
	if r.body == "" {
		return nil
	}
	if err := json.Unmarshal([]byte(r.body), v); err != nil {
		return fmt.Errorf("client: decode %T: %w", v, err)
	}
	return nil
}

// from returns a shallow copy of r with the source tier: the header map and
// the body are shared, which is safe because neither is ever changed.
func (r *Response) from(tier cache.Tier) *Response {
	if r.source == tier {
		return r
	}
	c := *r
	c.source = tier
	return &c
}

var (
	_ io.WriterTo  = (*Response)(nil)
	_ fmt.Stringer = (*Response)(nil)
)
