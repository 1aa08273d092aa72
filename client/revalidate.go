package client

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"time"

	"github.com/alovago/alova/cache"
)

// NoRevalidate returns a copy of p whose reloads fetch the whole answer
// again. By default, a reload of a cached answer that carries an ETag or a
// Last-Modified header (a refresh of [Policy.RefreshAhead], the reload of an
// answer kept by [Policy.Timeouts] or [Policy.StaleIfError], a
// [Method.Force] over the in-process copy) asks the downstream whether it
// changed, with If-None-Match and If-Modified-Since (unless the method sets
// a conditional header itself); a 304 Not Modified renews the cached
// answer, in every tier, with the headers of the 304 (Date, Cache-Control,
// ETag…) in place of its own, without the body coming again, and the send
// gets the cached body with status 200. Only GET and HEAD revalidate. A 304
// runs neither [Options.OnSuccess] nor the transform nor hitSource: the
// stored answer has been through them. The cache's Stats count the
// revalidations, the 304s and the body bytes they saved. Opt out for a
// downstream whose validators cannot be trusted (an ETag that does not
// change with the body).
func (p Policy) NoRevalidate() Policy {
	return p.with(func(x *policyMore) { x.noRevalidate = true })
}

// StaleIfError returns a copy of p that keeps each answer d past its time,
// and answers it when a reload fails with a transport error, a timeout or a
// 5xx status (never a 4xx: the downstream has answered), as RFC 5861's
// stale-if-error (see [cache.LoadOptions].StaleIfError): the send gets the
// kept answer, its Source naming the tier that kept it and its Warning
// header `111 - "Revalidation Failed"`, and the cache's Stats count it in
// StaleIfErrorHits. While the reloads fail, sends of the answer get it at
// once, and one reload a second (per answer, per process) runs in the
// background; the first that succeeds brings fresh answers back. The first
// send that finds the downstream failing waits for that failure (bounded by
// the client's Timeout, or by soft with [Policy.Timeouts]). It works with
// [Policy.Lock] and [Policy.Timeouts] (the longer of the two keeps wins);
// sends of the method must all use the same d. A d <= 0 turns it off.
func (p Policy) StaleIfError(d time.Duration) Policy {
	return p.with(func(x *policyMore) { x.staleIfError = max(d, 0) })
}

// staleable reports whether a reload that failed with err may answer the
// kept answer: a transport error or timeout, or a 5xx.
func staleable(err error) bool {
	var he *HTTPError
	if errors.As(err, &he) {
		return he.StatusCode >= 500
	}
	var ue *url.Error
	var ne net.Error
	return errors.As(err, &ue) || errors.As(err, &ne) ||
		errors.Is(err, context.DeadlineExceeded) || errors.Is(err, io.ErrUnexpectedEOF)
}

// Warnings of a kept answer (RFC 7234 section 5.5): past its time because
// the reload was slow, or because it failed.
var (
	warnStale    = []string{`110 - "Response is Stale"`}
	warnReloadKO = []string{`111 - "Revalidation Failed"`}
)

// staleWarning returns the Warning of a kept answer given for err (see
// cache.LoadOptions.OnStale).
func staleWarning(err error) []string {
	if err == nil || errors.Is(err, context.DeadlineExceeded) && !staleHTTP(err) {
		return warnStale
	}
	return warnReloadKO
}

// staleHTTP reports whether err is a downstream answer (a 5xx).
func staleHTTP(err error) bool {
	var he *HTTPError
	return errors.As(err, &he)
}

// warned returns a copy of r with the Warning w, sharing r's body.
func (r *Response) warned(w []string) *Response {
	c := *r
	c.header = r.header.Clone()
	if c.header == nil {
		c.header = make(http.Header, 1)
	}
	c.header["Warning"] = w
	return &c
}

// revalidation says how a fetch went about a previous answer.
type revalidation uint8

const (
	plainFetch  revalidation = iota // no previous answer, or no validator
	revalidated                     // asked conditionally, answered 200
	notModified                     // asked conditionally, answered 304
)

// previous returns the cached answer a reload of r (detached) may
// revalidate: the one the cache hands the loader (cache.Previous), when
// its policy revalidates, r is a GET or HEAD, and the answer has a
// validator. Nil otherwise.
func (r *request) previous(ctx context.Context) *Response {
	x := r.pol.more()
	if x.noRevalidate || r.verb != http.MethodGet && r.verb != http.MethodHead {
		return nil
	}
	v, ok := cache.Previous(ctx, r.key)
	if !ok {
		return nil
	}
	prev, err := decodeEntry(v.String(), x.version)
	if err != nil || prev.header.Get("ETag") == "" && prev.header.Get("Last-Modified") == "" {
		return nil
	}
	return prev
}

// conditional adds to h the validators of prev, and reports whether it did:
// not when h holds a conditional header already (the method's own).
func conditional(h http.Header, prev *Response) bool {
	for _, name := range [...]string{"If-None-Match", "If-Modified-Since", "If-Match", "If-Unmodified-Since", "If-Range"} {
		if len(h[name]) > 0 {
			return false
		}
	}
	if etag := prev.header.Get("ETag"); etag != "" {
		h.Set("If-None-Match", etag)
	}
	if lm := prev.header.Get("Last-Modified"); lm != "" {
		h.Set("If-Modified-Since", lm)
	}
	return true
}

// renewed returns prev as a 304 with header h renews it (RFC 9111 section
// 4.3.4): the 304's header fields replace prev's of the same name, except
// those never cached and Content-Length (section 3.2).
func renewed(prev *Response, h http.Header) *Response {
	merged := prev.header.Clone()
	if merged == nil {
		merged = make(http.Header, len(h))
	}
	for k, vs := range h {
		if notCached[k] || k == "Content-Length" {
			continue
		}
		merged[k] = vs
	}
	return &Response{status: prev.status, header: merged, body: prev.body, source: cache.TierOrigin}
}
