package client

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"
)

// Method is one request to send: alova's method instance. Build it from a
// [Client] (c.Get, c.Post, …), adjust it with the chainable setters, and send
// it with [Method.Send]; a Method is a [Sender], so server hooks wrap it.
//
// A Method is a builder, safe for concurrent use: its setters and getters
// may run on any goroutine, during a send too. Each [Method.Send] starts by
// taking a snapshot of the method, and everything that send does (the cache
// read, the downstream call, a background refresh it starts, its retries
// and hooks) works on that snapshot alone. A setter therefore changes the
// sends that start after it, never one in flight, and a method may be built
// once and sent many times, from many goroutines.
//
// The *Method a hook gets (see [Options]) is a copy of the method taken
// when its send started: a hook may read it, and BeforeRequest may change
// it to change its own send, but no change reaches the method the caller
// holds. Tell methods apart by their URL, Key, Name or meta, not by pointer.
type Method struct {
	mu sync.Mutex
	f  fields // guarded by mu
}

// fields is what a Method's setters set. A send copies it whole (see
// Method.snapshot), so every value in it is either a plain value or one
// that is never changed in place: the setters replace the spilled params
// and the extra settings with changed copies (copy on write), and so a
// copy shares them safely.
type fields struct {
	c      *Client
	verb   string
	path   string
	policy Policy
	key    string // Method.CacheKey
	force  bool
	share  int8 // 0: default for the verb, 1: on, -1: off

	// The query params, sorted by key, values of one key in the order
	// added: the first np in pbuf (a value, copied with the fields), all of
	// them in spill once there are more (see paramList).
	np    uint8
	pbuf  [2]param
	spill []param

	// x holds the settings many methods leave unset, so that a method and
	// the copy each send takes stay small; nil means none. Read it with
	// rare, change it with ext.
	x *extra
}

// extra is the part of a method's fields that many methods leave unset. It
// is never changed once fields point at it (see fields.ext).
type extra struct {
	base      string // Method.SetBaseURL, if hasBase
	hasBase   bool
	header    http.Header
	body      []byte
	reader    io.Reader // a stream body: never shared nor cached
	bodyErr   error     // a body that failed to encode; reported by Send
	meta      map[string]any
	name      string
	timeout   time.Duration
	sources   []source                                            // Method.HitSource
	transform func(context.Context, *Response) (*Response, error) // Method.Transform
}

// noExtra is what rare returns for fields without extra settings; it is
// never written.
var noExtra extra

// rare returns f's extra settings, for reading.
func (f *fields) rare() *extra {
	if f.x == nil {
		return &noExtra
	}
	return f.x
}

// ext returns a new copy of f's extra settings, now f's, for a setter to
// change: the copy a send took keeps the old one.
func (f *fields) ext() *extra {
	x := new(extra)
	if f.x != nil {
		*x = *f.x
	}
	f.x = x
	return x
}

// param is one query parameter.
type param struct{ key, value string }

// set runs fn on m's fields under m's lock and returns m.
func (m *Method) set(fn func(f *fields)) *Method {
	m.mu.Lock()
	defer m.mu.Unlock()
	fn(&m.f)
	return m
}

// snapshot returns a copy of m's fields, for a send (see fields).
func (m *Method) snapshot() fields {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.f
}

// paramList returns the params, sorted by key. The slice may point into f:
// never change it.
func (f *fields) paramList() []param {
	if f.spill != nil {
		return f.spill
	}
	return f.pbuf[:f.np]
}

// Param sets the query parameter key to value, replacing any value it had.
// Params are encoded sorted by key, so the order of calls never changes the
// URL nor the cache key.
func (m *Method) Param(key, value string) *Method {
	return m.set(func(f *fields) {
		ps := f.paramList()
		i, n := findParam(ps, key)
		switch {
		case f.spill == nil && n > 0:
			f.pbuf[i].value = value // only Params adds a second value, and it spills
		case f.spill == nil && int(f.np) < len(f.pbuf):
			copy(f.pbuf[i+1:f.np+1], f.pbuf[i:f.np])
			f.pbuf[i] = param{key, value}
			f.np++
		case n > 0:
			f.spill = slices.Concat(ps[:i], []param{{key, value}}, ps[i+n:])
		default:
			f.spill = slices.Insert(slices.Clone(ps), i, param{key, value})
			f.pbuf, f.np = [len(f.pbuf)]param{}, 0
		}
	})
}

// Params adds every value of v to the query parameters, after any the keys
// already have.
func (m *Method) Params(v url.Values) *Method {
	return m.set(func(f *fields) {
		ps := slices.Clone(f.paramList())
		for k, vs := range v {
			for _, val := range vs {
				i, n := findParam(ps, k)
				ps = slices.Insert(ps, i+n, param{k, val})
			}
		}
		f.spill, f.pbuf, f.np = ps, [len(f.pbuf)]param{}, 0
	})
}

// findParam returns where the values of key start in ps, sorted by key, and
// how many there are.
func findParam(ps []param, key string) (i, n int) {
	i, _ = slices.BinarySearchFunc(ps, key, func(p param, k string) int { return strings.Compare(p.key, k) })
	for n = 0; i+n < len(ps) && ps[i+n].key == key; n++ {
	}
	return i, n
}

// Header sets the request header key to value, replacing any value it had;
// an empty value removes the header. Headers set on the method are part of
// the cache key.
func (m *Method) Header(key, value string) *Method {
	return m.set(func(f *fields) { f.setHeader(key, value) })
}

// setHeader sets (or, for an empty value, removes) a header on a copy of
// f's headers.
func (f *fields) setHeader(key, value string) {
	x := f.ext()
	h := x.header.Clone()
	if h == nil {
		h = http.Header{}
	}
	if value == "" {
		h.Del(key)
	} else {
		h.Set(key, value)
	}
	x.header = h
}

// Headers returns a copy of the method's request headers. Change them with
// [Method.Header]. Forwarded headers of a request-scoped client are not in
// it: they are added on the way out.
func (m *Method) Headers() http.Header {
	m.mu.Lock()
	defer m.mu.Unlock()
	h := m.f.rare().header.Clone()
	if h == nil {
		h = http.Header{}
	}
	return h
}

// Body sets the request body from v:
//
//   - nil: no body;
//   - []byte, string or json.RawMessage: sent as is (the bytes are not copied:
//     do not change them until the method is no longer sent);
//   - url.Values: a form, with Content-Type application/x-www-form-urlencoded;
//   - io.Reader: streamed as is. A stream can be read once, so a method with a
//     reader body is never shared nor cached, and can be sent only once;
//   - anything else: encoded as JSON, with Content-Type application/json.
//     An encoding error is returned by Send.
//
// The Content-Type is set only when the method has none. The body is part of
// the cache key.
func (m *Method) Body(v any) *Method {
	return m.set(func(f *fields) { f.setBody(v) })
}

func (f *fields) setBody(v any) {
	if v == nil && f.x == nil {
		return
	}
	x := f.ext()
	x.body, x.reader, x.bodyErr = nil, nil, nil
	ct := ""
	switch b := v.(type) {
	case nil:
	case []byte:
		x.body = b
	case string:
		x.body = []byte(b)
	case json.RawMessage:
		x.body = b
	case url.Values:
		x.body, ct = []byte(b.Encode()), "application/x-www-form-urlencoded"
	case io.Reader:
		x.reader = b
	default:
		enc, err := json.Marshal(v)
		if err != nil {
			x.bodyErr = fmt.Errorf("%w: %T: %w", ErrEncodeBody, v, err)
			return
		}
		x.body, ct = enc, "application/json"
	}
	if ct != "" && x.header.Get("Content-Type") == "" {
		f.setHeader("Content-Type", ct)
	}
}

// Meta attaches a free-form value to the method under key, for the hooks to
// read with [Method.MetaValue] (alova's meta: "skip auth", "log as …"). Meta is
// not sent and not part of the cache key.
func (m *Method) Meta(key string, value any) *Method {
	return m.set(func(f *fields) {
		x := f.ext()
		meta := maps.Clone(x.meta)
		if meta == nil {
			meta = map[string]any{}
		}
		meta[key] = value
		x.meta = meta
	})
}

// MetaValue returns the meta value stored under key, or nil.
func (m *Method) MetaValue(key string) any {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.f.rare().meta[key]
}

// Name names the method, for [ByName] invalidation and as a hitSource other
// methods can refer to (see [Method.HitSource]). Default: none.
func (m *Method) Name(name string) *Method {
	return m.set(func(f *fields) { f.ext().name = name })
}

// Timeout bounds this method's downstream call, overriding
// [Options.Timeout]. Zero restores the client's timeout.
func (m *Method) Timeout(d time.Duration) *Method {
	return m.set(func(f *fields) { f.ext().timeout = d })
}

// Cache sets the method's cache policy (alova's cacheFor), overriding
// [Options.DefaultCache]: [CacheFor], [CacheUntil], [CacheFunc],
// [CacheFromHeaders] (each with
// [Policy.L1], [Policy.L1For], [Policy.Version] or [Policy.Errors] as
// needed), [CacheControlled] or [NoCache].
func (m *Method) Cache(p Policy) *Method {
	return m.set(func(f *fields) { f.policy = p })
}

// Force makes a send skip the cache reads and go downstream; a successful
// answer then refreshes every tier the policy uses, L2 included (alova's
// forceRequest). Default: off.
func (m *Method) Force(on bool) *Method {
	return m.set(func(f *fields) { f.force = on })
}

// Share turns request sharing on or off for this method. When on, identical
// sends in flight at the same time (same cache key) make one downstream call
// and each gets its own copy of the answer. Default: on for the idempotent
// HTTP methods (GET, HEAD, OPTIONS, PUT, DELETE), off for POST and PATCH —
// unlike alova, which shares everything: two identical POSTs are usually two
// intended actions — and off for every method with [Options.NoShare]. A
// method with an io.Reader body is never shared.
//
// The caller that starts a shared call decides what happens to the answer:
// its timeout, its forwarded headers, its OnSuccess, its cache policy and
// tags. Callers joining it only wait (each for its own context) and get a
// copy.
func (m *Method) Share(on bool) *Method {
	return m.set(func(f *fields) {
		f.share = -1
		if on {
			f.share = 1
		}
	})
}

// CacheKey replaces the derived cache key (also the request-sharing key) with
// key; "" restores the derived one. Two methods with the same key share cache
// entries, so make it as specific as the answer: a key that leaves out the
// user of a per-user answer serves one user's answer to another.
func (m *Method) CacheKey(key string) *Method {
	return m.set(func(f *fields) { f.key = key })
}

// SetURL replaces the method's URL: relative to the base URL, or absolute
// (http:// or https://), which ignores the base. With [Method.SetBaseURL] it
// lets [Options.BeforeRequest] route a send elsewhere (alova's beforeRequest
// may change method.url and method.baseURL). The cache key follows the final
// URL: a send rerouted by BeforeRequest is cached under the URL it went to.
func (m *Method) SetURL(url string) *Method {
	return m.set(func(f *fields) { f.path = url })
}

// SetBaseURL replaces the base URL this method is joined to, which is
// otherwise the client's [Options.BaseURL] (one trailing "/" trimmed, as
// there). See [Method.SetURL].
func (m *Method) SetBaseURL(base string) *Method {
	return m.set(func(f *fields) { x := f.ext(); x.base, x.hasBase = strings.TrimSuffix(base, "/"), true })
}

// Transform sets fn to transform every network answer of the method once,
// after [Options.OnSuccess] (alova's transform): trim it, reshape it, or
// merge in the answers of other calls made from fn. What fn returns is what
// is cached, shared with the callers of the same request, and returned; the
// cache and the other callers never see the raw answer. fn gets the context
// of the call (for a shared call, one that carries the values of the caller
// who started it and ends when every caller has left), so its own sends
// are bounded with it. An error from fn fails the send and caches nothing;
// a nil answer keeps the answer unchanged. Cache hits do not run it.
//
// A method with a transform has a cache key of its own: its entries never
// mix with those of the same request sent without one. Two different
// transforms of one request need different keys: set [Method.CacheKey].
// nil removes the transform.
func (m *Method) Transform(fn func(ctx context.Context, resp *Response) (*Response, error)) *Method {
	return m.set(func(f *fields) { f.ext().transform = fn })
}

// Verb returns the method's HTTP method, e.g. "GET".
func (m *Method) Verb() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.f.verb
}

// URL returns the full URL the method is sent to: the base URL joined to the
// method's URL, then the params sorted by key.
func (m *Method) URL() string {
	f := m.snapshot()
	var buf [256]byte
	return string(f.appendURL(buf[:0]))
}

// Key returns the method's cache key as it is now: [Method.CacheKey] if set,
// otherwise a hash of the HTTP method, the URL, the headers set on the method,
// the forwarded headers that can change the answer (see
// [Options.ForwardHeaders]; tracing headers never count) and the body.
func (m *Method) Key() string {
	f := m.snapshot()
	var r request
	r.derive(&f)
	return r.key
}

// The parts of a method's URL.

// appendURL appends the full URL to b: the base URL joined to the path,
// then the sorted params.
func (f *fields) appendURL(b []byte) []byte {
	base := f.c.s.base
	if x := f.rare(); x.hasBase {
		base = x.base
	}
	if isAbsolute(f.path) {
		base = ""
	}
	b = appendURL(b, base, f.path)
	ps := f.paramList()
	if len(ps) == 0 {
		return b
	}
	// alova joins the params with '&' when the URL, base included, already
	// has a query.
	sep := byte('?')
	if bytes.IndexByte(b, '?') >= 0 {
		sep = '&'
	}
	for _, p := range ps {
		b = append(b, sep)
		b = appendQueryEscape(b, p.key)
		b = append(b, '=')
		b = appendQueryEscape(b, p.value)
		sep = '&'
	}
	return b
}

func joinURL(base, path string) string {
	return string(appendURL(nil, base, path))
}

func appendURL(b []byte, base, path string) []byte {
	b = append(b, base...)
	if base != "" && path != "" && path[0] != '/' {
		b = append(b, '/')
	}
	return append(b, path...)
}

// appendQueryEscape appends s escaped as url.QueryEscape does (and so as
// url.Values.Encode does): unreserved characters as they are, space as '+',
// every other byte as %XX.
func appendQueryEscape(b []byte, s string) []byte {
	const hex = "0123456789ABCDEF"
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9',
			c == '-', c == '_', c == '.', c == '~':
			b = append(b, c)
		case c == ' ':
			b = append(b, '+')
		default:
			b = append(b, '%', hex[c>>4], hex[c&15])
		}
	}
	return b
}

// isAbsolute reports whether u starts with http:// or https:// (any case).
func isAbsolute(u string) bool {
	if u == "" || u[0]|0x20 != 'h' { // the usual "/path", at once
		return false
	}
	return hasPrefixFold(u, "http://") || hasPrefixFold(u, "https://")
}

func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}
