package client

import (
	"context"
	"fmt"
	"net/http"
)

// Sender is anything that sends like a method: a [*Method], or a server hook
// wrapped around one ([Retry], [RateLimit], [Atomize]). Hooks take a Sender and
// return a Sender, so they compose in any order and to any depth:
//
//	client.Retry(client.RateLimit(client.Atomize(m, locks, lock.Options{}), limiter, "user:42"), client.RetryOptions{})
//
// Send must be safe to call concurrently and more than once; each call is an
// independent send.
type Sender interface {
	Send(ctx context.Context) (*Response, error)
}

// SenderFunc adapts an ordinary function to the [Sender] interface.
type SenderFunc func(ctx context.Context) (*Response, error)

// Send calls f(ctx).
func (f SenderFunc) Send(ctx context.Context) (*Response, error) { return f(ctx) }

// HTTPError is the error returned for a downstream answer whose status is not
// 2xx. Use [errors.As] to read it:
//
//	var he *client.HTTPError
//	if errors.As(err, &he) && he.StatusCode == http.StatusNotFound { … }
type HTTPError struct {
	// Method and URL identify the request that failed.
	Method, URL string
	// StatusCode, Header and Body are the downstream answer.
	StatusCode int
	Header     http.Header
	Body       []byte
}

// Error reports the method, URL and status; the body is left out, as it may
// hold data that should not reach a log, and so is a password in the URL.
func (e *HTTPError) Error() string {
	return fmt.Sprintf("client: %s %s: %d %s", e.Method, redact(e.URL), e.StatusCode, http.StatusText(e.StatusCode))
}
