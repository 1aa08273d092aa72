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
	"regexp"
	"slices"
	"strings"
	"sync/atomic"
	"time"
)

// Method is one request to send: alova's method instance. Build it from a
// [Client] (c.Get, c.Post, …), adjust it with the chainable setters, and send
// it with [Method.Send]; a Method is a [Sender], so server hooks wrap it.
//
// Setters change the method in place and return it. They must not run while
// the method is being sent; Send itself is safe to call concurrently and more
// than once (each call is an independent send), so a method may be built once
// and sent many times.
type Method struct {
	c      *Client
	verb   string
	path   string
	params []param // sorted by key; values of one key in the order added
	policy Policy
	force  bool
	share  int8 // 0: default for the verb, 1: on, -1: off
	key    string

	// The derived URL and key (see info): memo points to them once a send
	// has derived them, and setters clear it. The first derivation fills
	// the method's own first (claimed once, by inlineUsed), so that a
	// method built per send costs no allocation for it; it is never
	// written again, since a send still running (a background refresh)
	// may hold it. Later ones, after a setter, are allocations of their own.
	memo       atomic.Pointer[methodInfo]
	inlineUsed atomic.Bool
	first      methodInfo

	paramBuf [2]param // the first params, in the method's own allocation

	// What most methods sent from a handler leave unset lives apart, so
	// that a method built per send is a small allocation: nil until a
	// setter needs it. Read it with rare, write it with ext.
	more *methodMore
}

// methodMore is the part of a Method that most sends leave unset.
type methodMore struct {
	header    http.Header
	body      []byte
	reader    io.Reader // a stream body: never shared nor cached
	bodyErr   error     // a body that failed to encode; reported by Send
	meta      map[string]any
	name      string
	timeout   time.Duration
	sources   []any                                               // *Method, string or *regexp.Regexp
	transform func(context.Context, *Response) (*Response, error) // Method.Transform
	base      string                                              // Method.SetBaseURL, if hasBase
	hasBase   bool
}

// noMethodMore is what rare returns for a method without a methodMore. It is
// never written.
var noMethodMore methodMore

// rare returns m's methodMore for reading.
func (m *Method) rare() *methodMore {
	if m.more != nil {
		return m.more
	}
	return &noMethodMore
}

// ext returns m's methodMore for writing, creating it.
func (m *Method) ext() *methodMore {
	if m.more == nil {
		m.more = new(methodMore)
	}
	return m.more
}

// methodInfo is what Send derives from a method, computed once.
type methodInfo struct {
	url string // full URL with sorted params
	key string // cache key
}

// Target is something [Client.Invalidate] can drop from the cache: a
// [*Method], or what [ByName], [ByURLPrefix] and [ByURLMatch] return.
type Target interface{ target() }

func (*Method) target() {}

// reset drops the derived URL and key after a change.
func (m *Method) reset() { m.memo.Store(nil) }

// Param sets the query parameter key to value, replacing any value it had.
// Params are encoded sorted by key, so the order of calls never changes the
// URL nor the cache key.
func (m *Method) Param(key, value string) *Method {
	i, n := m.findParam(key)
	switch {
	case n == 1:
		m.params[i].value = value
	case n > 1:
		m.params[i].value = value
		m.params = slices.Delete(m.params, i+1, i+n)
	default:
		if m.params == nil {
			m.params = m.paramBuf[:0]
		}
		if i == len(m.params) { // the usual case: keys set in order, or the first
			m.params = append(m.params, param{key, value})
		} else {
			m.params = slices.Insert(m.params, i, param{key, value})
		}
	}
	m.reset()
	return m
}

// Params adds every value of v to the query parameters, after any the keys
// already have.
func (m *Method) Params(v url.Values) *Method {
	for k, vs := range v {
		for _, val := range vs {
			i, n := m.findParam(k)
			m.params = slices.Insert(m.params, i+n, param{k, val})
		}
	}
	m.reset()
	return m
}

// param is one query parameter.
type param struct{ key, value string }

// findParam returns where the values of key start in m.params and how many
// there are.
func (m *Method) findParam(key string) (i, n int) {
	i, _ = slices.BinarySearchFunc(m.params, key, func(p param, k string) int { return strings.Compare(p.key, k) })
	for n = 0; i+n < len(m.params) && m.params[i+n].key == key; n++ {
	}
	return i, n
}

// Header sets the request header key to value, replacing any value it had.
// Headers set on the method are part of the cache key.
func (m *Method) Header(key, value string) *Method {
	x := m.ext()
	if x.header == nil {
		x.header = http.Header{}
	}
	x.header.Set(key, value)
	m.reset()
	return m
}

// Headers returns the method's request headers, for reading or changing in
// place (e.g. from [Options.BeforeRequest]). Forwarded headers of a
// request-scoped client are not in it: they are added on the way out.
func (m *Method) Headers() http.Header {
	x := m.ext()
	if x.header == nil {
		x.header = http.Header{}
	}
	m.reset()
	return x.header
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
	if v == nil && m.more == nil {
		m.reset()
		return m
	}
	x := m.ext()
	x.body, x.reader, x.bodyErr = nil, nil, nil
	switch b := v.(type) {
	case nil:
	case []byte:
		x.body = b
	case string:
		x.body = []byte(b)
	case json.RawMessage:
		x.body = b
	case url.Values:
		x.body = []byte(b.Encode())
		m.defaultType("application/x-www-form-urlencoded")
	case io.Reader:
		x.reader = b
	default:
		enc, err := json.Marshal(v)
		if err != nil {
			x.bodyErr = fmt.Errorf("%w: %T: %w", ErrEncodeBody, v, err)
			break
		}
		x.body = enc
		m.defaultType("application/json")
	}
	m.reset()
	return m
}

func (m *Method) defaultType(ct string) {
	if m.rare().header.Get("Content-Type") == "" {
		m.Header("Content-Type", ct)
	}
}

// Meta attaches a free-form value to the method under key, for the hooks to
// read with [Method.MetaValue] (alova's meta: "skip auth", "log as …"). Meta is
// not sent and not part of the cache key.
func (m *Method) Meta(key string, value any) *Method {
	x := m.ext()
	if x.meta == nil {
		x.meta = map[string]any{}
	}
	x.meta[key] = value
	return m
}

// MetaValue returns the meta value stored under key, or nil.
func (m *Method) MetaValue(key string) any { return m.rare().meta[key] }

// Name names the method, for [ByName] invalidation and as a hitSource other
// methods can refer to (see [Method.HitSource]). Default: none.
func (m *Method) Name(name string) *Method {
	m.ext().name = name
	return m
}

// Timeout bounds this method's downstream call, overriding
// [Options.Timeout]. Zero restores the client's timeout.
func (m *Method) Timeout(d time.Duration) *Method {
	m.ext().timeout = d
	return m
}

// Cache sets the method's cache policy (alova's cacheFor), overriding
// [Options.DefaultCache]: [CacheFor], [CacheUntil], [CacheFunc] (each with
// [Policy.L1], [Policy.L1For], [Policy.Version] or [Policy.Errors] as
// needed), [CacheControlled] or [NoCache].
func (m *Method) Cache(p Policy) *Method {
	m.policy = p
	return m
}

// Force makes a send skip the cache reads and go downstream; a successful
// answer then refreshes every tier the policy uses, L2 included (alova's
// forceRequest; its issue #624 is that it forgot L2). Default: off.
func (m *Method) Force(on bool) *Method {
	m.force = on
	return m
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
	m.share = -1
	if on {
		m.share = 1
	}
	return m
}

// CacheKey replaces the derived cache key (also the request-sharing key) with
// key; "" restores the derived one. Two methods with the same key share cache
// entries, so make it as specific as the answer: a key that leaves out the
// user of a per-user answer serves one user's answer to another.
func (m *Method) CacheKey(key string) *Method {
	m.key = key
	m.reset()
	return m
}

// HitSource names the sources of this method's cached answer (alova's
// hitSource): when a source gets a successful network answer (not a cache
// hit), this method's cache entries are dropped, in every process that shares
// the L2 tier. A source is a [*Method] (matching any send with its HTTP method
// and URL, whatever its body), a string (a method [Method.Name]) or a
// *regexp.Regexp (matched against method names). HitSource panics on any
// other type.
//
// The sources are kept as cache tags next to the entry, in L2 when the entry
// is there, so they hold across processes and restarts (alova keeps them in
// one process's memory: its issue #300). Patterns are looked up in the tags
// of L2 and of this process's L1, so a pattern on an L1-only entry
// ([Policy.L1]) is seen by this process only.
//
// Which caches a source's answer reaches is the source client's
// [Options.HitSourceScope]: every client's cache (the default), its own, or
// none.
//
// Cost: a successful network answer of a POST, PUT, PATCH or DELETE (or of
// any named method) runs one tag deletion on the cache (an L2 round trip and
// an invalidation message), plus a look-up of the patterns in use when the
// method is named. A GET, HEAD or OPTIONS is a source only when named, so
// that the cache misses of plain reads do not pay for it: name a read that
// others depend on.
func (m *Method) HitSource(sources ...any) *Method {
	for _, s := range sources {
		switch s.(type) {
		case *Method, string, *regexp.Regexp:
		default:
			panic(fmt.Sprintf("client: HitSource: unsupported source type %T (want *client.Method, string or *regexp.Regexp)", s))
		}
	}
	x := m.ext()
	x.sources = append(x.sources, sources...)
	return m
}

// Verb returns the method's HTTP method, e.g. "GET".
func (m *Method) Verb() string { return m.verb }

// URL returns the full URL the method is sent to: the base URL joined to the
// method's URL, then the params sorted by key.
func (m *Method) URL() string { return m.info().url }

// Key returns the method's cache key as it is now: [Method.CacheKey] if set,
// otherwise a hash of the HTTP method, the URL, the headers set on the method,
// the forwarded headers that can change the answer (see
// [Options.ForwardHeaders]; tracing headers never count) and the body.
func (m *Method) Key() string { return m.info().key }

// info computes (once) the derived URL and key. The URL is built on the
// stack; the client's key table hands out the URL and, for a plain request,
// the key, as strings it keeps (see keyTable): a method sent again and again
// with the same URL, as a handler builds one per request, costs no URL
// allocation and no hash.
func (m *Method) info() *methodInfo {
	if in := m.memo.Load(); in != nil {
		return in
	}
	// The first derivation fills the method's own methodInfo; sends of
	// the same method racing it, and any after a setter, allocate one.
	in := &m.first
	if !m.inlineUsed.CompareAndSwap(false, true) {
		in = new(methodInfo)
	}
	m.derive(in)
	m.memo.Store(in)
	return in
}

// derive computes m's URL and cache key into in.
func (m *Method) derive(in *methodInfo) {
	var buf [256]byte
	s, x := m.c.s, m.rare()
	verb := m.verb
	if x.transform != nil {
		verb += transformedVerb
	}
	in.key = m.key
	// A plain request (no key of its own, no header set, no body, no value
	// in a forwarded header that joins the key) takes its key from the
	// client's table; any other is hashed for itself.
	own := in.key == "" && (len(x.header) > 0 || len(x.body) > 0 || anyValue(m.c.fwd, s.keyed))
	var plainKey string
	in.url, plainKey = s.keys.lookup(verb, m.appendURL(buf[:0]), s.keyed, in.key == "" && !own)
	switch {
	case own:
		in.key = hashKey(verb, in.url, x.header, x.body, s.keyed, m.c.fwd)
	case in.key == "":
		in.key = plainKey
	}
}

// appendURL appends the full URL to b: the base URL joined to the path,
// then the sorted params.
func (m *Method) appendURL(b []byte) []byte {
	base := m.c.s.base
	if x := m.rare(); x.hasBase {
		base = x.base
	}
	if isAbsolute(m.path) {
		base = ""
	}
	b = appendURL(b, base, m.path)
	if len(m.params) == 0 {
		return b
	}
	// alova joins the params with '&' when the URL, base included, already
	// has a query.
	sep := byte('?')
	if bytes.IndexByte(b, '?') >= 0 {
		sep = '&'
	}
	for _, p := range m.params {
		b = append(b, sep)
		b = appendQueryEscape(b, p.key)
		b = append(b, '=')
		b = appendQueryEscape(b, p.value)
		sep = '&'
	}
	return b
}

func joinURL(base, path string) string {
	if base == "" || path == "" {
		return base + path
	}
	if path[0] == '/' {
		return base + path
	}
	return base + "/" + path
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
	return hasPrefixFold(u, "http://") || hasPrefixFold(u, "https://")
}

func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}

// shares reports whether the method takes part in request sharing.
func (m *Method) shares() bool {
	if m.rare().reader != nil {
		return false
	}
	if m.share != 0 {
		return m.share > 0
	}
	if m.c.s.noShare {
		return false
	}
	return m.verb != http.MethodPost && m.verb != http.MethodPatch
}

// effectivePolicy is the method's policy, or the default for its verb.
func (m *Method) effectivePolicy() Policy {
	if m.policy.kind != policyUnset {
		return m.policy
	}
	if p, ok := m.c.s.defaults[m.verb]; ok {
		return p
	}
	return NoCache
}

// clone returns a copy that can be changed without touching m (the copy
// BeforeRequest works on).
func (m *Method) clone() *Method {
	c := &Method{
		c:      m.c,
		verb:   m.verb,
		path:   m.path,
		policy: m.policy,
		force:  m.force,
		share:  m.share,
		key:    m.key,
	}
	if m.more != nil {
		x := *m.more
		x.header = x.header.Clone()
		x.meta = maps.Clone(x.meta)
		x.sources = slices.Clip(x.sources)
		c.more = &x
	}
	if m.params != nil {
		c.params = append(c.paramBuf[:0], m.params...)
	}
	return c
}
