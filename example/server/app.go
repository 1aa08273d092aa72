package main

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/go-chi/chi/v5"
	chimw "github.com/go-chi/chi/v5/middleware"

	"github.com/alovago/alova/cache"
	"github.com/alovago/alova/client"
	"github.com/alovago/alova/middleware"
)

// app holds what the server creates once per process: Redis, the demo
// downstream, the cache tiers, the client and the captcha provider.
type app struct {
	cfg           config
	log           *slog.Logger
	redis         *redisConn
	demo          *demo // nil when -downstream is set
	downstreamURL string

	tiers   *cache.Tiered       // L1 in process, L2 in Redis
	api     *client.Client      // the downstream client, bound to each request by middleware
	retry   client.RetryOptions // for every downstream call
	captcha http.Handler        // /captcha/send and /captcha/verify

	productPolicy client.Policy // products.go
	telemetry     *telemetry    // telemetry.go; nil with -telemetry=false

	// access is the access log (accesslog.go). newApp leaves it nil (no
	// access log); run sets it before serving.
	access *accessLog
}

// newApp connects to Redis (or starts the embedded one), starts the demo
// downstream unless cfg.Downstream is set, and builds the library objects.
func newApp(cfg config, log *slog.Logger) (_ *app, err error) {
	a := &app{cfg: cfg, log: log, downstreamURL: cfg.Downstream}
	defer func() {
		if err != nil {
			_ = a.Close(context.Background())
		}
	}()
	if a.redis, err = openRedis(cfg.RedisURL); err != nil {
		return nil, err
	}
	if a.redis.embedded != nil {
		log.Warn("embedded Redis (miniredis): demo only: in memory, in this process, lost at exit and shared with no other instance; set REDIS_URL for anything else")
	}
	if cfg.Downstream == "" {
		if a.demo, err = startDemo(cfg.DemoLatency, cfg.DemoFailRate, log); err != nil {
			return nil, err
		}
		a.downstreamURL = a.demo.URL()
	}

	tieredOpts := cache.TieredOptions{Logger: log}
	clientOpts := client.Options{
		BaseURL:      a.downstreamURL,
		Timeout:      cfg.Timeout,
		DefaultCache: map[string]client.Policy{http.MethodGet: client.CacheFor(cfg.CacheTTL)},
	}
	if cfg.Telemetry {
		if a.telemetry, err = newTelemetry(cfg.TraceStdout); err != nil {
			return nil, err
		}
		tieredOpts.OnL2Call = a.telemetry.otl.CacheL2("products")
		clientOpts.StartSend = a.telemetry.otl.StartSend
	}
	a.tiers = cache.NewTiered(cache.NewMemoryStore(cache.MemoryOptions{MaxEntries: cfg.CacheSize}), cache.NewRedisStore(a.redis.Client, cache.RedisOptions{KeyPrefix: cfg.KeyPrefix + "cache:", Timeout: cfg.RedisTimeout}),
		tieredOpts)
	if a.telemetry != nil {
		if _, err = a.telemetry.otl.ObserveCache("products", a.tiers); err != nil {
			return nil, err
		}
	}
	clientOpts.Cache = a.tiers
	a.api = client.New(clientOpts)
	a.productPolicy = productPolicy(cfg)
	a.retry = client.RetryOptions{
		Attempts:   cfg.Retries + 1, // the first try and the retries
		Delay:      cfg.RetryDelay,
		Multiplier: 2,
		EndQuiver:  0.2, // up to 20% random extra per wait
		OnRetry: func(e client.RetryEvent) {
			log.Info("downstream call failed; retrying", "attempt", e.Attempt, "delay", e.Delay, "err", e.Err)
		},
	}
	a.captcha = a.captchaHandler()
	return a, nil
}

// Close releases everything newApp created. It is safe on a partly built app.
func (a *app) Close(ctx context.Context) error {
	var errs []error
	if a.tiers != nil {
		errs = append(errs, a.tiers.Close())
	}
	if a.demo != nil {
		errs = append(errs, a.demo.Close(ctx))
	}
	if a.redis != nil {
		errs = append(errs, a.redis.Close())
	}
	errs = append(errs, a.telemetry.Close(ctx))
	return errors.Join(errs...)
}

// Handler returns the server's routes.
func (a *app) Handler() http.Handler {
	r := chi.NewRouter()
	r.Use(a.telemetry.traced, nosniff, checkRequestID, chimw.RequestID, a.clientIP(), a.access.Handler, chimw.Recoverer, middleware.Client(a.api))
	r.NotFound(func(w http.ResponseWriter, _ *http.Request) { writeError(w, http.StatusNotFound, "not_found") })
	r.MethodNotAllowed(func(w http.ResponseWriter, _ *http.Request) {
		writeError(w, http.StatusMethodNotAllowed, "method_not_allowed")
	})

	r.Get("/healthz", a.healthz)
	r.Get("/api/products/{id}", a.getProduct)
	r.Mount("/captcha", a.captcha)
	// Admin routes: loopback only, or the ADMIN_TOKEN bearer (admin.go).
	r.Group(func(r chi.Router) {
		r.Use(adminGuard(a.cfg.AdminToken))
		r.Delete("/api/products/{id}/cache", a.invalidateProduct)
		r.Get("/debug/cache", a.debugCache)
		r.Get("/debug/runtime", debugRuntime)
		mountPprof(r)
		if a.telemetry != nil {
			r.Method(http.MethodGet, "/metrics", a.telemetry.metrics)
		}
		if a.demo != nil {
			r.Get("/demo/outbox", a.demo.handleOutbox)
			r.Get("/demo/stats", a.demo.handleStats)
			r.Post("/demo/down", a.demo.handleDown)
		}
	})
	return r
}

// clientIP picks chi's client-IP middleware: the TCP peer by default, or the
// first X-Forwarded-For hop outside -trusted-proxies when that is set. Never
// RealIP: it believes headers anyone can forge.
func (a *app) clientIP() func(http.Handler) http.Handler {
	if len(a.cfg.TrustedProxies) > 0 {
		return chimw.ClientIPFromXFF(a.cfg.TrustedProxies...)
	}
	return chimw.ClientIPFromRemoteAddr
}

// healthTimeout bounds the Redis ping of /healthz.
const healthTimeout = 500 * time.Millisecond

// healthz answers 200 {"status":"ok","redis":"embedded"|"external"} when Redis
// answers a PING, else 503 with "status":"unavailable".
func (a *app) healthz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), healthTimeout)
	defer cancel()
	if err := a.redis.Client.Ping(ctx).Err(); err != nil {
		a.log.Warn("healthz: redis ping failed", "err", err)
		middleware.WriteJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "unavailable", "redis": a.redis.Kind})
		return
	}
	middleware.WriteJSON(w, http.StatusOK, map[string]string{"status": "ok", "redis": a.redis.Kind})
}
