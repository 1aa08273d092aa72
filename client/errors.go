package client

import (
	"bytes"
	"errors"
	"fmt"
	"net/http"
)

// Errors returned by the client, wrapped with the method and URL where there
// is one; test with [errors.Is].
var (
	// ErrBodyTooLarge fails a send whose answer has a body larger than
	// [Options.MaxResponseBytes].
	ErrBodyTooLarge = errors.New("client: response body too large")
	// ErrRefused wraps the error of an [Options.BeforeRequest] hook that
	// refused a send: errors.Is(err, ErrRefused) and errors.Is(err, hookErr)
	// both hold.
	ErrRefused = errors.New("client: refused by BeforeRequest")
	// ErrNotCacheable is returned by [Client.SetCache] for a method whose
	// answers are not cached: its client has no cache, its policy caches
	// nothing (or gives the answer no time to live), or it has an io.Reader
	// body.
	ErrNotCacheable = errors.New("client: method is not cacheable")
	// ErrEncodeBody fails a send whose [Method.Body] value could not be
	// encoded as JSON; it wraps the encoder's error. Sending again cannot
	// help, so [Retryable] reports false for it.
	ErrEncodeBody = errors.New("client: cannot encode body as JSON")
)

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

// clone returns a deep copy of e.
func (e *HTTPError) clone() *HTTPError {
	c := *e
	c.Header = e.Header.Clone()
	c.Body = bytes.Clone(e.Body)
	return &c
}

// ownError returns err as the caller's own: a shared [*HTTPError] is copied,
// so that no caller can change what another one gets.
func ownError(err error) error {
	var he *HTTPError
	if errors.As(err, &he) && err == error(he) {
		return he.clone()
	}
	return err
}
