package client

import (
	"context"
	"encoding/json"
	"fmt"
)

// Decode decodes the JSON body of a send's answer into a T. It takes Send's
// two results as they are, so a call reads as one line:
//
//	p, err := client.Decode[Product](c.Get("/products/42").Send(ctx))
//
// An error from the send is returned unchanged with the zero T. An empty body
// (204 No Content, HEAD) decodes to the zero T without error. A body that is
// not valid JSON for T returns an error wrapping the json package's.
func Decode[T any](resp *Response, err error) (T, error) {
	var v T
	if err != nil {
		return v, err
	}
	if resp == nil || len(resp.Body) == 0 {
		return v, nil
	}
	if err := json.Unmarshal(resp.Body, &v); err != nil {
		return v, fmt.Errorf("client: decode %T: %w", v, err)
	}
	return v, nil
}

// SendJSON sends s (a method or a hook around one) and decodes the JSON answer
// into a T, like Decode[T](s.Send(ctx)).
func SendJSON[T any](ctx context.Context, s Sender) (T, error) {
	return Decode[T](s.Send(ctx))
}
