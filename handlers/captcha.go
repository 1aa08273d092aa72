package handlers

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strconv"
	"time"

	"github.com/go-chi/chi/v5"
	chimw "github.com/go-chi/chi/v5/middleware"

	"github.com/alovago/alova/captcha"
	"github.com/alovago/alova/client"
	"github.com/alovago/alova/middleware"
	"github.com/alovago/alova/ratelimit"
)

// defaultMaxBodyBytes is the largest request body the captcha endpoints
// read when [CaptchaOptions.MaxBodyBytes] is zero: 1 KiB.
const defaultMaxBodyBytes = 1 << 10

// defaultRateLimit is the per-client limit of the captcha endpoints when
// [CaptchaOptions.Limiter] is nil: 20 requests per client IP per minute,
// over both endpoints together, counted in memory by each process.
const defaultRateLimit = 20

// CaptchaOptions configures [Captcha]. Deliver is required; every other
// field's zero value is a working default.
type CaptchaOptions struct {
	// Deliver builds the downstream call that delivers code to key (an SMS
	// gateway, a mail API) on c. Note the order: code first, then key, as in
	// captcha.DeliverFunc and alova's sendCaptcha. c is the request-scoped
	// client from the request's context (see middleware.Client), or one
	// bound to the request from Client; the call it builds is sent through
	// client.Retry with the options in Retry, so it is retried: make the
	// downstream call idempotent, or deduplicate it downstream. A delivery
	// that still fails, or a Deliver that returns nil or panics, answers 502
	// and is rolled back (the code is never valid; the key may ask again at
	// once). Required: Captcha panics without it.
	Deliver func(c *client.Client, code, key string) client.Sender

	// Client is the client Deliver gets when the request's context holds
	// none (no middleware.Client in front): it is bound to the request (see
	// client.Bind), so its calls are still cancelled with the request and
	// forward its request id. Default nil: the request's client, else a
	// client.New(client.Options{}) of the handler's own (no base URL, so
	// Deliver's URLs must be absolute).
	Client *client.Client

	// Retry configures the client.Retry around each delivery, with its
	// defaults: the zero value retries a failed delivery 3 times, 1 s apart
	// (set Multiplier for exponential backoff, Attempts: 1 to send once).
	// Retry-After answers from the downstream are honoured. The captcha provider bounds the whole
	// delivery by its DeliveryTimeout (30 s by default). Captcha panics if
	// the options are invalid (see client.Retry).
	Retry client.RetryOptions

	// MaxBodyBytes caps a request's body; a longer one answers 413.
	// Default 1 KiB, plenty for a key and a code.
	MaxBodyBytes int64

	// ValidateKey checks each request's key and returns the key to use
	// (possibly normalized, as [EmailKey] and [PhoneKey] do); a false answers
	// 422 "invalid_key". It runs on /send and /verify alike, so a normalized
	// key verifies what it sent. It must be safe for concurrent use.
	// Default [PrintableKey]: 1 to 254 printable characters, unchanged.
	ValidateKey func(key string) (string, bool)

	// OnVerified, when set, writes the answer of a successful /verify: the
	// code was right and is used up, and key (as ValidateKey returned it) is
	// proven to belong to the caller. It is where a login starts a session
	// or issues a token. The answer is already marked Cache-Control:
	// no-store; write errors with middleware.WriteError, never with an
	// internal error's text. It must be safe for concurrent use; a panic in
	// it is not recovered here. Default nil: 200 {"verified":true}.
	OnVerified func(w http.ResponseWriter, r *http.Request, key string)

	// Limiter limits each client to its points per window over both
	// endpoints together (one count per client IP by default), with
	// middleware.RateLimit: 429 "rate_limited" with Retry-After beyond it.
	// It guards what the provider cannot: one client sending codes to many
	// keys (SMS pumping), or guessing across many keys. Default nil: a
	// limiter of 20 requests per client IP per minute, in
	// memory, so each process counts on its own; give one on Redis
	// (ratelimit.NewRedisStore) to count across processes. Clients behind
	// one address (an office, a carrier's NAT) share its count.
	Limiter *ratelimit.Limiter

	// NoRateLimit turns the per-client limit off, for a server that limits
	// clients in front of these handlers. Captcha panics if it is set
	// together with Limiter. Default false.
	NoRateLimit bool

	// RateLimit configures the middleware around the limiter: its key
	// function (default middleware.KeyByIP, the client IP as chi's
	// ClientIPFrom* middlewares found it, else the TCP peer), and whether a
	// failed limiter store lets requests through (default: 503
	// "rate_limit_unavailable"). Its Logger defaults to Logger. Ignored with
	// NoRateLimit.
	RateLimit middleware.RateLimitOptions

	// Logger receives what the answers leave out: delivery and store errors,
	// panics in Deliver. Default slog.Default().
	Logger *slog.Logger
}

// Error codes of the captcha endpoints, in the "code" field of every error
// answer (see middleware.Error). They are part of the API: clients switch on
// them, so they never change meaning. The limiter's codes are
// middleware.CodeRateLimited and middleware.CodeRateLimitUnavailable.
const (
	// CodeInvalidJSON answers 400: the body is not one JSON object of the
	// expected shape (syntax error, wrong type, empty, or followed by more
	// data), or it is not valid UTF-8, or a string in it holds U+FFFD (the
	// mark of an invalid byte or a lone surrogate escape), so distinct raw
	// inputs never collapse onto one key.
	CodeInvalidJSON = "invalid_json"
	// CodeUnknownField answers 400: the body has a field the endpoint does
	// not take.
	CodeUnknownField = "unknown_field"
	// CodeMissingField answers 400: "key" (or, on /verify, "challenge" or
	// "code") is absent or null.
	CodeMissingField = "missing_field"
	// CodeBodyTooLarge answers 413: the body is over MaxBodyBytes.
	CodeBodyTooLarge = "body_too_large"
	// CodeUnsupportedMediaType answers 415: the Content-Type is not JSON.
	CodeUnsupportedMediaType = "unsupported_media_type"
	// CodeInvalidKey answers 422: ValidateKey refused the key.
	CodeInvalidKey = "invalid_key"
	// CodeInvalidCode answers 422 on /verify for every rejected code: a
	// wrong, empty, expired, used or burned code, a challenge that is not
	// the key's, or a key that has none. The answer is the same in every
	// case, so it tells nothing about the key.
	CodeInvalidCode = "invalid_code"
	// CodeResendTooSoon answers 429 on /send, with Retry-After: the key may
	// not get a code yet (one was sent less than the resend interval ago, or
	// the key spent its budget of codes; the wait is then at most the
	// provider's Refill, 15 minutes by default).
	CodeResendTooSoon = "resend_too_soon"
	// CodeDeliveryFailed answers 502 on /send: the delivery failed after its
	// retries; nothing was stored, and the key may ask again at once.
	CodeDeliveryFailed = "delivery_failed"
	// CodeStoreUnavailable answers 503, with Retry-After: the captcha store
	// (Redis) failed. On /send no usable code was sent; on /verify the code
	// may or may not have been accepted, and a retry with the same
	// challenge and code succeeds if it was (see captcha.Provider.Verify).
	CodeStoreUnavailable = "store_unavailable"
	// CodeSendUnconfirmed answers 503 on /send, with Retry-After (the
	// resend interval) and the "challenge" beside "error": the code was
	// delivered, but the store did not confirm it recorded it
	// (captcha.ErrSendUnconfirmed). The code may be on its way and valid:
	// a client should let the user type it and verify it with that
	// challenge, and ask again only after Retry-After.
	CodeSendUnconfirmed = "send_unconfirmed"
)

// Codes of the router's own answers, shared with the example server.
const (
	codeNotFound         = "not_found"          // 404: no such endpoint
	codeMethodNotAllowed = "method_not_allowed" // 405, with Allow: POST
)

// captchaHandler serves the two endpoints of one Provider.
type captchaHandler struct {
	p          *captcha.Provider
	deliver    func(c *client.Client, code, key string) client.Sender
	fallback   *client.Client
	retry      client.RetryOptions
	maxBody    int64
	validate   func(string) (string, bool)
	onVerified func(w http.ResponseWriter, r *http.Request, key string)
	log        *slog.Logger
}

// unbound is what client.FromContext returns for a context holding no
// client: one whose every send fails.
var unbound = client.FromContext(context.Background())

// Captcha returns an http.Handler serving alova's captcha endpoints on p, to
// mount on a chi router (or under http.StripPrefix):
//
//	r.Mount("/captcha", handlers.Captcha(codes, handlers.CaptchaOptions{
//		Deliver: func(c *client.Client, code, key string) client.Sender {
//			return c.Post("/sms/send", map[string]string{"to": key, "code": code})
//		},
//		OnVerified: startSession, // func(w, r, key): the login
//	}))
//
// POST /send {"key":"+15550100000"} makes a code for key and delivers it; it
// answers 200 {"challenge":"…","expires_in":300,"resend_in":60}: the
// challenge to send back with the code, and the seconds until the code
// expires and until the key may ask again. POST /verify
// {"key":"+15550100000","challenge":"…","code":"123456"} checks a code; on
// success the code is used up and OnVerified writes the answer (default 200
// {"verified":true}). A guess with a challenge the caller was not given
// counts against nothing, so nobody can burn a code someone else asked for.
//
// Both take a JSON object (Content-Type application/json or any
// application/*+json, valid UTF-8) of at most MaxBodyBytes, with no unknown
// field and nothing after it. Every answer is JSON, marked Cache-Control:
// no-store; every error has the shape {"error":{"code":…,"message":…}} with
// one of the Code constants, plus "retry_after" in seconds on 429 and 503
// (also sent as Retry-After). The statuses: 400 malformed body, 404, 405,
// 413, 415, 422 invalid key or (on /verify) invalid code, 429 resend too
// soon or over the per-client limit, 502 delivery failed, 503 store or
// limiter unavailable. A failed verify is one answer whatever the reason.
// Internal errors are logged, never sent; no input answers 500 or panics.
//
// A per-client limit is on unless NoRateLimit says otherwise (see
// [CaptchaOptions].Limiter): each client IP gets 20 requests
// a minute by default.
//
// Mounted on a chi router, a request with a method chi does not know at all
// (neither GET, POST nor any other standard method) is answered 405 by the
// parent router, before the mount, in the parent's format.
//
// Captcha panics if p or opts.Deliver is nil, opts.MaxBodyBytes is negative,
// opts.Retry is invalid, or both Limiter and NoRateLimit are set. The handler
// is safe for concurrent use.
func Captcha(p *captcha.Provider, opts CaptchaOptions) http.Handler {
	if p == nil {
		panic("handlers: Captcha with a nil *captcha.Provider")
	}
	if opts.Deliver == nil {
		panic("handlers: Captcha without CaptchaOptions.Deliver")
	}
	if opts.MaxBodyBytes < 0 {
		panic(fmt.Sprintf("handlers: CaptchaOptions.MaxBodyBytes = %d, want >= 0", opts.MaxBodyBytes))
	}
	if opts.NoRateLimit && opts.Limiter != nil {
		panic("handlers: CaptchaOptions with both Limiter and NoRateLimit")
	}
	if opts.Client == nil {
		opts.Client = client.New(client.Options{})
	}
	h := &captchaHandler{p: p, deliver: opts.Deliver, fallback: opts.Client, retry: opts.Retry,
		maxBody: opts.MaxBodyBytes, validate: opts.ValidateKey, onVerified: opts.OnVerified, log: opts.Logger}
	// client.Retry validates its options: let it panic here, not per request.
	func() {
		defer func() {
			if r := recover(); r != nil {
				panic(fmt.Sprintf("handlers: CaptchaOptions.Retry: %v", r))
			}
		}()
		client.Retry(client.SenderFunc(func(context.Context) (*client.Response, error) { return nil, nil }), h.retry)
	}()
	if h.maxBody == 0 {
		h.maxBody = defaultMaxBodyBytes
	}
	if h.validate == nil {
		h.validate = PrintableKey
	}
	if h.log == nil {
		h.log = slog.Default()
	}

	r := chi.NewRouter()
	r.NotFound(func(w http.ResponseWriter, _ *http.Request) {
		middleware.WriteError(w, http.StatusNotFound, middleware.Error{Code: codeNotFound,
			Message: "no such endpoint; use POST /send or POST /verify"})
	})
	r.MethodNotAllowed(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Allow", http.MethodPost)
		middleware.WriteError(w, http.StatusMethodNotAllowed, middleware.Error{Code: codeMethodNotAllowed,
			Message: "use POST"})
	})
	routes := chi.Router(r)
	if !opts.NoRateLimit {
		lim := opts.Limiter
		if lim == nil {
			lim = ratelimit.New(ratelimit.NewMemoryStore(), ratelimit.Options{Points: defaultRateLimit, Duration: time.Minute})
		}
		rl := opts.RateLimit
		if rl.Logger == nil {
			rl.Logger = h.log
		}
		routes = r.With(middleware.RateLimit(lim, rl))
	}
	routes.Post("/send", h.send)
	routes.Post("/verify", h.verify)
	return r
}

// sendRequest is the body of POST /send.
type sendRequest struct {
	Key *string `json:"key"`
}

func (q *sendRequest) fields() []*string { return []*string{q.Key} }

// sendResponse is the answer of a successful POST /send.
type sendResponse struct {
	Challenge string `json:"challenge"`
	ExpiresIn int    `json:"expires_in"`
	ResendIn  int    `json:"resend_in"`
}

// unconfirmedResponse is the answer of a /send whose code went out but whose
// record the store did not confirm.
type unconfirmedResponse struct {
	Error     middleware.Error `json:"error"`
	Challenge string           `json:"challenge"`
}

// verifyRequest is the body of POST /verify.
type verifyRequest struct {
	Key       *string `json:"key"`
	Challenge *string `json:"challenge"`
	Code      *string `json:"code"`
}

func (q *verifyRequest) fields() []*string { return []*string{q.Key, q.Challenge, q.Code} }

// verifyResponse is the default answer of a successful POST /verify.
type verifyResponse struct {
	Verified bool `json:"verified"`
}

func (h *captchaHandler) send(w http.ResponseWriter, r *http.Request) {
	var req sendRequest
	if !h.decode(w, r, &req) {
		return
	}
	if req.Key == nil {
		missing(w, "key")
		return
	}
	key, ok := h.validate(*req.Key)
	if !ok {
		invalidKey(w)
		return
	}
	c := h.client(r)
	res, err := h.p.Send(r.Context(), key, func(ctx context.Context, code, key string) error {
		return h.deliverOnce(ctx, c, code, key)
	})
	if errors.Is(err, captcha.ErrSendUnconfirmed) {
		h.logErr(r, slog.LevelError, "captcha send unconfirmed: the code went out, the store did not confirm it", "send", err)
		w.Header().Set("Cache-Control", "no-store")
		w.Header().Set("Retry-After", strconv.Itoa(max(ceilSeconds(res.ResendIn), 1)))
		middleware.WriteJSON(w, http.StatusServiceUnavailable, unconfirmedResponse{
			Error: middleware.Error{Code: CodeSendUnconfirmed,
				Message:    "a code may be on its way: verify it with this challenge; ask again only after retry_after",
				RetryAfter: max(ceilSeconds(res.ResendIn), 1)},
			Challenge: res.Challenge,
		})
		return
	}
	if err != nil {
		h.fail(w, r, "send", err)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	middleware.WriteJSON(w, http.StatusOK, sendResponse{
		Challenge: res.Challenge,
		ExpiresIn: ceilSeconds(res.ExpiresIn),
		ResendIn:  ceilSeconds(res.ResendIn),
	})
}

func (h *captchaHandler) verify(w http.ResponseWriter, r *http.Request) {
	var req verifyRequest
	if !h.decode(w, r, &req) {
		return
	}
	switch {
	case req.Key == nil:
		missing(w, "key")
		return
	case req.Challenge == nil:
		missing(w, "challenge")
		return
	case req.Code == nil:
		missing(w, "code")
		return
	}
	key, ok := h.validate(*req.Key)
	if !ok {
		invalidKey(w)
		return
	}
	if err := h.p.Verify(r.Context(), key, *req.Challenge, *req.Code); err != nil {
		h.fail(w, r, "verify", err)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	if h.onVerified != nil {
		h.onVerified(w, r, key)
		return
	}
	middleware.WriteJSON(w, http.StatusOK, verifyResponse{Verified: true})
}

// client returns the client Deliver builds on: the request's, else the
// fallback bound to the request.
func (h *captchaHandler) client(r *http.Request) *client.Client {
	c := client.FromContext(r.Context())
	if c == unbound {
		return client.FromContext(client.Bind(r, h.fallback, chimw.GetReqID).Context())
	}
	return c
}

// errDeliverPanicked and errNilSender are the delivery errors of a Deliver
// that misbehaved.
var (
	errDeliverPanicked = errors.New("handlers: Deliver panicked")
	errNilSender       = errors.New("handlers: Deliver returned a nil client.Sender")
)

// deliverOnce builds the delivery with Deliver and sends it through Retry.
// A panic in Deliver or in the send becomes an error (so the provider rolls
// back and the client gets 502 rather than a dropped connection), except
// http.ErrAbortHandler, which is re-raised.
func (h *captchaHandler) deliverOnce(ctx context.Context, c *client.Client, code, key string) (err error) {
	defer func() {
		if v := recover(); v != nil {
			if v == http.ErrAbortHandler {
				panic(v)
			}
			h.log.LogAttrs(ctx, slog.LevelError, "handlers: Deliver panicked",
				slog.Any("panic", v), slog.String("stack", string(debug.Stack())))
			err = fmt.Errorf("%w: %v", errDeliverPanicked, v)
		}
	}()
	s := h.deliver(c, code, key)
	if s == nil {
		return errNilSender
	}
	_, err = client.Retry(s, h.retry).Send(ctx)
	return err
}

// fail answers a Send or Verify error, in the order the captcha package
// documents, and logs what the answer leaves out.
func (h *captchaHandler) fail(w http.ResponseWriter, r *http.Request, op string, err error) {
	var tooSoon *captcha.ResendTooSoonError
	switch {
	case errors.Is(err, captcha.ErrInvalidKey):
		invalidKey(w)
	case errors.As(err, &tooSoon):
		middleware.WriteError(w, http.StatusTooManyRequests, middleware.Error{Code: CodeResendTooSoon,
			Message:    "this key cannot get another code yet; wait before asking again",
			RetryAfter: tooSoon.RetryAfterSeconds()})
	case errors.Is(err, captcha.ErrResendTooSoon): // a store that returned the bare sentinel
		middleware.WriteError(w, http.StatusTooManyRequests, middleware.Error{Code: CodeResendTooSoon,
			Message: "this key cannot get another code yet; wait before asking again", RetryAfter: 1})
	case errors.Is(err, captcha.ErrDelivery): // before ErrStore: a failed rollback matches both
		level := slog.LevelWarn
		if errors.Is(err, captcha.ErrStore) || errors.Is(err, errDeliverPanicked) || errors.Is(err, errNilSender) {
			level = slog.LevelError
		}
		h.logErr(r, level, "captcha delivery failed", op, err)
		middleware.WriteError(w, http.StatusBadGateway, middleware.Error{Code: CodeDeliveryFailed,
			Message: "the code could not be delivered; try again"})
	case errors.Is(err, captcha.ErrStore):
		h.logErr(r, slog.LevelError, "captcha store failed", op, err)
		unavailable(w)
	case errors.Is(err, captcha.ErrInvalidCode):
		middleware.WriteError(w, http.StatusUnprocessableEntity, middleware.Error{Code: CodeInvalidCode,
			Message: "the code is wrong, expired or already used"})
	default: // nothing the captcha package documents: never a success, never a 500
		h.logErr(r, slog.LevelError, "captcha failed unexpectedly", op, err)
		unavailable(w)
	}
}

func (h *captchaHandler) logErr(r *http.Request, level slog.Level, msg, op string, err error) {
	h.log.LogAttrs(r.Context(), level, "handlers: "+msg, slog.String("op", op),
		slog.String("request_id", chimw.GetReqID(r.Context())), slog.Any("err", err))
}

func unavailable(w http.ResponseWriter) {
	middleware.WriteError(w, http.StatusServiceUnavailable, middleware.Error{Code: CodeStoreUnavailable,
		Message: "the service is unavailable; try again shortly", RetryAfter: 1})
}

func missing(w http.ResponseWriter, field string) {
	middleware.WriteError(w, http.StatusBadRequest, middleware.Error{Code: CodeMissingField,
		Message: "the field " + field + " is required"})
}

func invalidKey(w http.ResponseWriter) {
	middleware.WriteError(w, http.StatusUnprocessableEntity, middleware.Error{Code: CodeInvalidKey,
		Message: "the key is not acceptable"})
}

// ceilSeconds returns d in whole seconds, rounded up.
func ceilSeconds(d time.Duration) int {
	return int((d + time.Second - 1) / time.Second)
}
