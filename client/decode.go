package client

import (
	"encoding/json"
	"fmt"
)

// Decode decodes the JSON body of the answer into v, a pointer, as
// json.Unmarshal does:
//
//	resp, err := c.Get("/products/42").Send(ctx)
//	if err != nil { … }
//	var p Product
//	if err := resp.Decode(&p); err != nil { … }
//	w.Header().Set("X-Cache", resp.Source.String())
//
// An empty body (204 No Content, HEAD) leaves v as it is and returns nil. A
// body that is not valid JSON for v returns an error wrapping the json
// package's.
func (r *Response) Decode(v any) error {
	if len(r.Body) == 0 {
		return nil
	}
	if err := json.Unmarshal(r.Body, v); err != nil {
		return fmt.Errorf("client: decode %T: %w", v, err)
	}
	return nil
}
