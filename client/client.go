package client

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/alovago/alova/cache"
	"github.com/alovago/alova/internal/flight"
)

// defaultTimeout bounds a send when neither the method nor [Options.Timeout]
// sets a timeout.
const defaultTimeout = 10 * time.Second

// defaultMaxResponseBytes is the largest response body read when
// [Options.MaxResponseBytes] is zero: 32 MiB.
const defaultMaxResponseBytes = 32 << 20

// defaultForwardHeaders are the request headers a request-scoped client
// forwards when [Options.ForwardHeaders] is nil.
var defaultForwardHeaders = []string{"X-Request-Id", "Traceparent"}

// Options configures a [Client]. The zero value works: no base URL, a 10 s
// timeout, the shared tuned transport, no cache, request sharing on.
type Options struct {
	// BaseURL is joined to every relative method URL: BaseURL with one
	// trailing "/" trimmed, then the path with a leading "/". An absolute
	// method URL (http:// or https://) ignores it. Default: none.
	BaseURL string

	// Timeout bounds each downstream call (not a cache hit) when the method
	// sets no timeout of its own. Zero means 10 s. There is
	// no "no timeout" setting: a server should never wait forever; pick a long
	// one for long polls. The caller's context bounds every send as well.
	Timeout time.Duration

	// HTTPClient sends the requests. Default: a client on a transport shared
	// by every Client of the process, tuned for a server calling a few
	// downstream hosts (64 idle connections per host, 5 s dial and TLS
	// handshake timeouts, HTTP/2 when offered, proxies from the environment).
	HTTPClient *http.Client

	// Cache holds the cache tiers (see [cache.NewTiered]): L1 only, L2 only
	// or both. Nil means nothing is cached; request sharing works all the
	// same. The client does not close it.
	Cache *cache.Tiered

	// DefaultCache is the cache policy of the methods that set none, by HTTP
	// method (alova's global cacheFor: {GET: …, POST: …}), e.g.
	//
	//	DefaultCache: map[string]client.Policy{
	//		http.MethodGet:  client.CacheFor(5 * time.Minute),
	//		http.MethodPost: client.CacheFunc(ttlOf), // ttlOf(m, resp) reads the method
	//	}
	//
	// Verbs are matched without regard to case. A verb not in the map is not
	// cached unless the method sets a policy. Nil means {GET: CacheFor(5
	// min)}: GET answers through L1 and L2 when the tiers have both; an
	// empty non-nil map caches nothing by default. New copies the map.
	DefaultCache map[string]Policy

	// ForwardHeaders names the headers of the incoming request that a
	// request-scoped client (see [Bind]) copies onto every downstream
	// request, unless the method sets them itself. The tracing
	// headers (X-Request-Id, Traceparent, Tracestate, Baggage) stay out of
	// the cache key: they differ on every request and never change the
	// answer. Any other forwarded header (Authorization, Cookie, a tenant
	// id) can change the answer, so its value joins the cache key and the
	// request-sharing key: one caller's answer is never served to a caller
	// who forwarded another value. Nil means X-Request-Id and Traceparent
	// (the request id and the W3C trace context; when the incoming request
	// has no X-Request-Id, the id that [Bind]'s function finds is forwarded,
	// such as the one chi's RequestID generated); an empty non-nil slice
	// forwards nothing. An X-Request-Id, the client's or a generated one,
	// is forwarded only when it is 1 to 64 of the characters A-Z a-z 0-9
	// and - _ . : / + =: any other value is a client's bytes, not an id.
	ForwardHeaders []string

	// MaxResponseBytes caps the body read from a downstream answer; a larger
	// body fails the send with [ErrBodyTooLarge]. Zero means 32 MiB.
	MaxResponseBytes int64

	// BeforeRequest runs at the start of every send, cache hits included, on
	// the send's own copy of the method (alova's beforeRequest): it may add
	// headers or params, sign the request, read the method's meta; what it
	// changes applies to this send only. Returning an error
	// refuses the send: the error, wrapped, is the send's error and nothing
	// goes downstream. The cache key is computed after it, so headers it adds
	// are part of the key (a per-user Authorization header keeps users apart).
	// A hook that adds a value that changes on every send (a signature, a
	// nonce) should first freeze the key with m.CacheKey(m.Key()). Default: none.
	BeforeRequest func(ctx context.Context, m *Method) error

	// OnSuccess runs on every 2xx network answer, once per downstream call
	// (inside a shared call, with the method of the caller that started it),
	// before the answer is cached. What it returns is what is cached and
	// returned; an error it returns fails the send and caches nothing (use it
	// to turn a "200 {error: …}" envelope into an error). It does not run on
	// cache hits. Default: none.
	OnSuccess func(ctx context.Context, m *Method, resp *Response) (*Response, error)

	// OnError runs on every failed send: transport errors, [*HTTPError],
	// errors from BeforeRequest and OnSuccess, context errors. Returning a
	// response turns the failure into a success for this caller; such a
	// response is never cached nor shared, and goes through the method's
	// [Method.Transform] as a network answer does (alova's transform runs
	// on what its error hook answers). Returning (nil, err) keeps an
	// error (the same or another); returning (nil, nil) keeps the original
	// error. Default: none.
	OnError func(ctx context.Context, m *Method, err error) (*Response, error)

	// OnComplete runs at the end of every send, after OnError, with what the
	// caller is about to get (alova's onComplete). Default: none.
	OnComplete func(ctx context.Context, m *Method, resp *Response, err error)

	// OnCacheError is told when the client's own cache work for a send
	// fails: a hitSource invalidation, or an entry it cannot decode (which
	// is then loaded again). The send goes on as if the cache had missed: a
	// broken cache never fails a request. Failures of the tiers' reads and
	// writes are the tiers' to report: they count them in [cache.Stats] and
	// log them through [cache.TieredOptions].Logger. Default: ignored.
	OnCacheError func(ctx context.Context, err error)

	// NoShare turns request sharing off for every method that does not set
	// [Method.Share] itself (alova's shareRequest: false). Default false:
	// identical sends in flight share one downstream call (GET, HEAD,
	// OPTIONS, PUT and DELETE; see Method.Share).
	NoShare bool

	// HitSourceScope says which caches a successful network answer of this
	// client's methods invalidates through [Method.HitSource] (alova's
	// autoHitCache):
	//
	//   - "" or "global" (the default): the dependents in every cache a
	//     client of this process uses (every [cache.Tiered] given to [New]),
	//     and so, through their L2, in every process sharing them;
	//   - "self": the dependents in this client's own cache only (in every
	//     process sharing its L2); clients given the same cache.Tiered share
	//     their entries, and so their invalidations;
	//   - "off": none; hitSource declarations are kept but this client's
	//     answers do not act on them (alova's 'close').
	//
	// New panics on any other value.
	HitSourceScope string

	// CacheLogger, when not nil, receives a record for every cache hit of a
	// send (alova's cacheLogger), at level Info, with the tier, the HTTP
	// method, the method's Name, the entry's [Policy.Version] tag and its
	// cache key. A derived key is a hash
	// and reveals nothing; a key set with [Method.CacheKey] may hold
	// anything (a user id, a token), so it is logged as "sha256:" and the
	// first 16 hex digits of its hash. URLs are never logged: their query
	// may carry secrets. Default nil: nothing is logged.
	CacheLogger *slog.Logger

	// StartSend, when set, runs first in every [Method.Send] (cache hits
	// included, before BeforeRequest), with the method as the caller built
	// it. The context it returns is the one the send runs with: the hooks,
	// the loader and the downstream request get it (a tracing package puts
	// its span there). The func it returns, when not nil, runs last, after
	// OnComplete, with what the caller gets: the answer's Source names the
	// tier that answered. It is how alovaotel traces downstream sends; forwarded headers (the
	// incoming Traceparent among them) are not changed by it. Default nil:
	// no hook at all, and a send goes straight to the cache.
	StartSend func(ctx context.Context, m *Method) (context.Context, func(resp *Response, err error))
}

// traceHeaders are the forwarded headers that never join the cache key.
var traceHeaders = map[string]bool{"X-Request-Id": true, "Traceparent": true, "Tracestate": true, "Baggage": true}

// Client sends methods to downstream services, with caching, request sharing
// and hooks. Create one per process (or per downstream service) with [New] and
// share it: it is safe for concurrent use, and it owns the state that must be
// shared (connections, the in-flight map). For each incoming request a
// middleware derives a cheap request-scoped client with [Bind]. The zero
// Client is not usable: create one with New.
type Client struct {
	s *core
	// Set on request-scoped clients only.
	ctx    context.Context              // the incoming request's context
	fwd    http.Header                  // the incoming request's headers
	idFrom func(context.Context) string // finds a generated request id in ctx (see Bind)
	holder *scope                       // the allocation this Client lives in
}

// core is the process-wide state a Client and all its scoped clients share.
type core struct {
	base       string
	timeout    time.Duration
	hc         *http.Client
	tiers      *cache.Tiered     // nil: no caching
	defaults   map[string]Policy // by upper-case verb
	forward    []string          // canonical header names
	keyed      []string          // the forwarded names that join the cache key, sorted
	keys       *keyTable         // the keys of recent plain requests
	maxBody    int64
	chain      sendFunc // the hooks of every send (see buildChain); nil: none
	before     func(context.Context, *Method) error
	onSuccess  func(context.Context, *Method, *Response) (*Response, error)
	onCacheErr func(context.Context, error)
	flight     flight.Group[*Response]
	noShare    bool
	hitScope   string
	unbound    bool // the client FromContext answers when there is none
}

// sharedHTTPClient is the default HTTPClient of every Client.
var sharedHTTPClient = &http.Client{Transport: &http.Transport{
	Proxy: http.ProxyFromEnvironment,
	DialContext: (&net.Dialer{
		Timeout:   5 * time.Second,
		KeepAlive: 30 * time.Second,
	}).DialContext,
	ForceAttemptHTTP2:     true,
	MaxIdleConns:          512,
	MaxIdleConnsPerHost:   64,
	IdleConnTimeout:       90 * time.Second,
	TLSHandshakeTimeout:   5 * time.Second,
	ExpectContinueTimeout: time.Second,
}}

// New returns a client configured by opts (see [Options] for the defaults).
// It starts nothing and holds nothing that needs closing; the cache tiers are
// the caller's to close. New panics on an unknown [Options].HitSourceScope.
func New(opts Options) *Client {
	s := &core{
		base:       strings.TrimSuffix(opts.BaseURL, "/"),
		timeout:    opts.Timeout,
		hc:         opts.HTTPClient,
		maxBody:    opts.MaxResponseBytes,
		chain:      buildChain(&opts),
		before:     opts.BeforeRequest,
		onSuccess:  opts.OnSuccess,
		onCacheErr: opts.OnCacheError,
		noShare:    opts.NoShare,
		hitScope:   opts.HitSourceScope,
		keys:       newKeyTable(),
	}
	switch s.hitScope {
	case hitGlobal, hitSelf, hitOff:
	case "global":
		s.hitScope = hitGlobal
	default:
		panic(fmt.Sprintf("client: New: HitSourceScope %q (want \"global\", \"self\" or \"off\")", opts.HitSourceScope))
	}
	s.tiers = opts.Cache
	if s.timeout <= 0 {
		s.timeout = defaultTimeout
	}
	if s.hc == nil {
		s.hc = sharedHTTPClient
	}
	s.defaults = map[string]Policy{http.MethodGet: CacheFor(5 * time.Minute)}
	if opts.DefaultCache != nil {
		s.defaults = make(map[string]Policy, len(opts.DefaultCache))
		for verb, p := range opts.DefaultCache {
			s.defaults[strings.ToUpper(verb)] = p
		}
	}
	if s.tiers != nil {
		register(s.tiers)
	}
	if s.maxBody <= 0 {
		s.maxBody = defaultMaxResponseBytes
	}
	fw := opts.ForwardHeaders
	if fw == nil {
		fw = defaultForwardHeaders
	}
	for _, h := range fw {
		name := http.CanonicalHeaderKey(h)
		s.forward = append(s.forward, name)
		if !traceHeaders[name] {
			s.keyed = append(s.keyed, name)
		}
	}
	slices.Sort(s.keyed)
	return &Client{s: s}
}

// Request returns a method with the given HTTP verb (GET, POST, …, or any
// extension method) and URL, relative to [Options.BaseURL] or absolute.
func (c *Client) Request(verb, url string) *Method {
	return &Method{f: fields{c: c, verb: verb, path: url}}
}

// Get returns a GET method for url. GETs are cached by default (see
// [Options.DefaultCache]) and shared.
func (c *Client) Get(url string) *Method { return c.Request(http.MethodGet, url) }

// Head returns a HEAD method for url.
func (c *Client) Head(url string) *Method { return c.Request(http.MethodHead, url) }

// Options returns an OPTIONS method for url.
func (c *Client) Options(url string) *Method { return c.Request(http.MethodOptions, url) }

// Delete returns a DELETE method for url.
func (c *Client) Delete(url string) *Method { return c.Request(http.MethodDelete, url) }

// Post returns a POST method for url with body (see [Method.Body] for the
// accepted forms; nil sends none).
func (c *Client) Post(url string, body any) *Method {
	return c.Request(http.MethodPost, url).Body(body)
}

// Put returns a PUT method for url with body (see [Method.Body]).
func (c *Client) Put(url string, body any) *Method {
	return c.Request(http.MethodPut, url).Body(body)
}

// Patch returns a PATCH method for url with body (see [Method.Body]).
func (c *Client) Patch(url string, body any) *Method {
	return c.Request(http.MethodPatch, url).Body(body)
}

// cacheErr reports a cache failure to OnCacheError.
func (s *core) cacheErr(ctx context.Context, err error) {
	if s.onCacheErr != nil && err != nil {
		s.onCacheErr(ctx, err)
	}
}
