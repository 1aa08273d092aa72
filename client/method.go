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
//
// The *Method a hook gets (see [Options]) is the method sent or a copy of it
// with the same settings (see [Method.Send]): tell methods apart by their
// URL, Key, Name or meta, not by pointer.
type Method struct {
	c      *Client
	verb   string
	path   string
	policy Policy
	key    string
	force  bool
	share  int8 // 0: default for the verb, 1: on, -1: off

	// The query params, sorted by key, values of one key in the order
	// added (see paramList): the first np in pbuf, all of them in spill
	// once there are more. The method never points into itself, so that
	// one built and sent in a handler can live on the handler's stack (see
	// Send).
	np    uint8
	pbuf  [2]param
	spill []param

	// The derived URL and key (see info), and the copy of the method its
	// sends hand to hooks and to the cache (see onHeap), each valid while
	// its state is current (see filled). The method guards them with states
	// of its own because the compiler's escape analysis takes a sync.Mutex
	// or an atomic.Pointer in the method for a reason to move it to the
	// heap.
	firstState atomic.Uint32
	heapState  atomic.Uint32
	first      methodInfo
	heap       *Method

	// What most methods sent from a handler leave unset lives apart, so
	// that a method built per send is small: nil until a setter needs it.
	// Read it with rare, write it with ext.
	more *methodMore
}

// The states of Method.first and Method.heap (see filled).
const (
	unset = iota
	filling
	current
)

// filled returns the value in slot, guarded by state: the first caller to
// find it unset claims it, fills it with fill and publishes it; a caller
// that finds it being filled by another makes a value of its own, not kept.
// A setter empties it (state unset), never while a send runs.
func filled[T any](state *atomic.Uint32, slot *T, fill func() T) T {
	switch state.Load() {
	case current:
		return *slot
	case unset:
		if state.CompareAndSwap(unset, filling) {
			*slot = fill()
			state.Store(current)
			return *slot
		}
	}
	return fill()
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
	m.changed()
	if m.more == nil {
		m.more = new(methodMore)
	}
	return m.more
}

// methodInfo is what Send derives from a method (see info).
type methodInfo struct {
	url string // full URL with sorted params
	key string // cache key
}

// Target is something [Client.Invalidate] can drop from the cache: a
// [*Method], or what [ByName], [ByURLPrefix] and [ByURLMatch] return.
type Target interface{ target() }

func (*Method) target() {}

// reset drops the derived URL and key after a change that can move them.
func (m *Method) reset() {
	m.firstState.Store(unset)
	m.changed()
}

// changed drops the heap copy of the method as it was (see onHeap); every
// setter calls it, directly or through reset or ext. Setters never run
// during a send, so neither state is being filled.
func (m *Method) changed() {
	if m.heapState.Load() != unset {
		m.heap = nil
		m.heapState.Store(unset)
	}
}

// paramList returns the method's params, sorted by key. The slice may point
// into the method: never keep it in it.
func (m *Method) paramList() []param {
	if m.spill != nil {
		return m.spill
	}
	return m.pbuf[:m.np]
}

// Param sets the query parameter key to value, replacing any value it had.
// Params are encoded sorted by key, so the order of calls never changes the
// URL nor the cache key.
func (m *Method) Param(key, value string) *Method {
	ps := m.paramList()
	i, n := findParam(ps, key)
	switch {
	case n > 0:
		ps[i].value = value
		if n > 1 { // only Params adds a second value, and it spills
			m.spill = slices.Delete(m.spill, i+1, i+n)
		}
	case m.spill == nil && int(m.np) < len(m.pbuf):
		// The usual case: a first or second param, in the method.
		copy(m.pbuf[i+1:m.np+1], m.pbuf[i:m.np])
		m.pbuf[i] = param{key, value}
		m.np++
	default:
		m.spillParams(len(ps) + 1)
		m.spill = slices.Insert(m.spill, i, param{key, value})
	}
	m.reset()
	return m
}

// Params adds every value of v to the query parameters, after any the keys
// already have.
func (m *Method) Params(v url.Values) *Method {
	for k, vs := range v {
		for _, val := range vs {
			i, n := findParam(m.paramList(), k)
			m.spillParams(int(m.np) + len(vs))
			m.spill = slices.Insert(m.spill, i+n, param{k, val})
		}
	}
	m.reset()
	return m
}

// spillParams moves the params kept in the method to spill, with room for
// n; it does nothing once they are there. It copies the params, so that
// spill never points into the method.
func (m *Method) spillParams(n int) {
	if m.spill != nil {
		return
	}
	m.spill = make([]param, m.np, max(n, 2*len(m.pbuf)))
	copy(m.spill, m.pbuf[:m.np])
	m.pbuf, m.np = [len(m.pbuf)]param{}, 0
}

// param is one query parameter.
type param struct{ key, value string }

// findParam returns where the values of key start in ps, sorted by key, and
// how many there are.
func findParam(ps []param, key string) (i, n int) {
	i, _ = slices.BinarySearchFunc(ps, key, func(p param, k string) int { return strings.Compare(p.key, k) })
	for n = 0; i+n < len(ps) && ps[i+n].key == key; n++ {
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
	m.changed()
	return m
}

// Force makes a send skip the cache reads and go downstream; a successful
// answer then refreshes every tier the policy uses, L2 included (alova's
// forceRequest; its issue #624 is that it forgot L2). Default: off.
func (m *Method) Force(on bool) *Method {
	m.force = on
	m.changed()
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
	m.changed()
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

// info returns the derived URL and key, computed once until a setter
// changes the method. The URL is built on the stack; the client's key table
// hands out the URL and, for a plain request, the key, as strings it keeps
// (see keyTable): a method sent again and again with the same URL, as a
// handler builds one per request, costs no URL allocation and no hash.
//
// info returns a copy: a send still running when a setter changes the
// method (a background refresh) keeps what it started with.
func (m *Method) info() methodInfo {
	return filled(&m.firstState, &m.first, m.derive)
}

// cacheKey returns the method's cache key: the one set with CacheKey as it
// is, so that an L1 hit of such a method never builds its URL, or else the
// derived one.
func (m *Method) cacheKey() string {
	if m.key != "" {
		return m.key
	}
	return m.info().key
}

// derive computes m's URL and cache key.
func (m *Method) derive() (in methodInfo) {
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
	return in
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
	ps := m.paramList()
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
	if u == "" || u[0]|0x20 != 'h' { // the usual "/path", at once
		return false
	}
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

// copyOut returns a new copy of m, with m's derived URL and key if it has
// them. The copy's params are its own; its methodMore is m's.
func (m *Method) copyOut() *Method {
	h := &Method{c: m.c, verb: m.verb, path: m.path, policy: m.policy, force: m.force,
		share: m.share, key: m.key, np: m.np, pbuf: m.pbuf, spill: slices.Clone(m.spill), more: m.more}
	if m.firstState.Load() == current {
		h.first = m.first
		h.firstState.Store(current)
	}
	return h
}

// clone returns a copy that can be changed without touching m (the copy
// BeforeRequest works on).
func (m *Method) clone() *Method {
	c := m.copyOut()
	if m.more != nil {
		x := *m.more
		x.header = x.header.Clone()
		x.meta = maps.Clone(x.meta)
		x.sources = slices.Clip(x.sources)
		c.more = &x
	}
	return c
}
