package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net/netip"
	"strings"
	"time"
)

// config is everything the server reads from its flags and environment.
type config struct {
	Addr           string        // -addr, env PORT
	RedisURL       string        // env REDIS_URL; "" = embedded miniredis
	Downstream     string        // -downstream; "" = the built-in demo downstream
	TrustedProxies []string      // -trusted-proxies, CIDR prefixes
	IPLimit        int           // -ip-limit, captcha requests per IPWindow per client IP
	ResendInterval time.Duration // -resend-interval
	CodeTTL        time.Duration // -code-ttl
	CacheTTL       time.Duration // -cache-ttl
	CacheSize      int           // -cache-size, L1 entries
	Retries        int           // -retries, for downstream calls
	RetryDelay     time.Duration // -retry-delay, first backoff step
	Timeout        time.Duration // -timeout, per downstream attempt
	DemoLatency    time.Duration // -demo-latency
	DemoFailRate   float64       // -demo-fail-rate
	LogFormat      string        // -log-format: text or json
	KeyPrefix      string        // -key-prefix, of every Redis key the server writes
	IPWindow       time.Duration // -ip-window, the window of -ip-limit
	BodyTimeout    time.Duration // -body-timeout, to receive a request's body
	IdleTimeout    time.Duration // -idle-timeout, of a keep-alive connection between requests
	RedisTimeout   time.Duration // -redis-timeout, of every Redis call of the stores
	AdminToken     string        // env ADMIN_TOKEN; "" = admin routes answer loopback clients only
	RefreshAhead   bool          // -refresh-ahead: products reloaded in the background before they expire
	LockWait       time.Duration // -lock-wait: distributed single-flight of products; 0 = off
	SoftTimeout    time.Duration // -soft-timeout: wait for a product reload before the last good answer; 0 = off
	HardTimeout    time.Duration // -hard-timeout: wait for a product load with no last good answer; 0 = off
	Revalidate     bool          // -revalidate: product reloads ask the downstream with the ETag (304s)
	StaleIfError   time.Duration // -stale-if-error: answer the kept product while the downstream fails; 0 = off
	Telemetry      bool          // -telemetry: OpenTelemetry metrics at /metrics (telemetry.go)
	TraceStdout    bool          // -trace-stdout: spans printed to stderr as JSON
	WriteTimeout   time.Duration // -write-timeout, of each write to a client
	ConnsPerIP     int           // -conns-per-ip, open connections per client address
}

// minAdminToken is the shortest ADMIN_TOKEN accepted: the admin routes are
// not rate limited, so the token must not be guessable.
const minAdminToken = 16

// usageHeader is printed by -h before the flags.
const usageHeader = `Usage: server [flags]

The alova-go example server: products from a downstream API through the
request-scoped client with L1+L2 caching, and verification codes (captcha).
With no setup it listens on :8080 with an embedded Redis and a built-in demo
downstream.

Environment:
  REDIS_URL    the Redis to use: redis://[user:pass@]host:port[/db],
               rediss://… (TLS), redis-cluster://[user:pass@]h1:p1,h2:p2
               (rediss-cluster:// over TLS) or h1:p1,h2:p2 (a cluster);
               go-redis options as query parameters (?dial_timeout=2s).
               Unset: an embedded Redis (miniredis) in this process, for
               demos only: in memory, lost at exit, shared with no one.
  ADMIN_TOKEN  when set (16 characters or more), the admin routes
               (DELETE /api/products/{id}/cache, /debug/*, /metrics, /demo/*)
               take "Authorization: Bearer <ADMIN_TOKEN>" from any address
               and refuse anything else. Unset, they answer loopback
               clients only (no proxy headers).
  PORT         listen on :$PORT when -addr is not given.

Flags:
`

// parseConfig reads the command line (without the program name) and the
// environment through getenv. Flag errors and -h output go to out.
func parseConfig(args []string, getenv func(string) string, out io.Writer) (config, error) {
	var (
		c       config
		proxies string
	)
	addr := ":8080"
	if p := getenv("PORT"); p != "" {
		addr = ":" + p
	}
	fs := flag.NewFlagSet("server", flag.ContinueOnError)
	fs.SetOutput(out)
	fs.StringVar(&c.Addr, "addr", addr, "listen address; when the flag is absent and env PORT is set, :$PORT")
	fs.StringVar(&c.Downstream, "downstream", "", "base URL of the real downstream (products and SMS gateway); switches the demo downstream off")
	fs.StringVar(&proxies, "trusted-proxies", "", "comma-separated CIDR prefixes of reverse proxies whose X-Forwarded-For is trusted (default: none, the TCP peer is the client)")
	fs.IntVar(&c.IPLimit, "ip-limit", 20, "requests per -ip-window per client IP on each captcha endpoint")
	fs.DurationVar(&c.ResendInterval, "resend-interval", 60*time.Second, "minimum time between two codes sent to one key")
	fs.DurationVar(&c.CodeTTL, "code-ttl", 5*time.Minute, "how long a code stays valid")
	fs.DurationVar(&c.CacheTTL, "cache-ttl", 5*time.Minute, "how long a product stays cached (L1 and L2)")
	fs.IntVar(&c.CacheSize, "cache-size", 10_000, "L1 (in-process) cache size in entries")
	fs.IntVar(&c.Retries, "retries", 3, "retries of a failed downstream call (after the first try)")
	fs.DurationVar(&c.RetryDelay, "retry-delay", 100*time.Millisecond, "delay before the first retry; it doubles on each retry")
	fs.DurationVar(&c.Timeout, "timeout", 2*time.Second, "timeout of one downstream attempt")
	fs.DurationVar(&c.DemoLatency, "demo-latency", 20*time.Millisecond, "demo downstream: latency of GET /products/{id}")
	fs.Float64Var(&c.DemoFailRate, "demo-fail-rate", 0, "demo downstream: fraction of calls answered 503, spread evenly (0.5 = every second call)")
	fs.StringVar(&c.LogFormat, "log-format", "text", "log format: text or json")
	fs.StringVar(&c.KeyPrefix, "key-prefix", "alova-example:", "prefix of every Redis key the server writes (cache:, captcha: and ratelimit: follow it); instances that share state must share it")
	fs.DurationVar(&c.IPWindow, "ip-window", time.Minute, "the window -ip-limit counts requests in")
	fs.DurationVar(&c.BodyTimeout, "body-timeout", 10*time.Second, "time a client has to send a request's body, from the end of its headers; past it the connection is closed")
	fs.DurationVar(&c.IdleTimeout, "idle-timeout", time.Minute, "how long a keep-alive connection may wait for its next request")
	fs.DurationVar(&c.RedisTimeout, "redis-timeout", 200*time.Millisecond, "bound of every Redis call of the cache, captcha and limiter stores")
	fs.BoolVar(&c.RefreshAhead, "refresh-ahead", true, "reload a product read in the last fifth of -cache-ttl in the background, so that no request waits for the downstream when it expires")
	fs.DurationVar(&c.LockWait, "lock-wait", 2*time.Second, "instances sharing the Redis make one downstream call for a product they all miss; the others wait up to this long for it (0 turns it off)")
	fs.DurationVar(&c.SoftTimeout, "soft-timeout", 0, "when a cached product has expired, wait at most this long for the downstream, then answer the last good product (kept an hour past -cache-ttl) while the call goes on in the background (0 turns it off)")
	fs.DurationVar(&c.HardTimeout, "hard-timeout", 0, "wait at most this long for the downstream when there is no last good product to answer, then 504 while the call goes on in the background (0: up to the retries and -timeout)")
	fs.BoolVar(&c.Revalidate, "revalidate", true, "a product reload sends the cached product's ETag (If-None-Match), and a 304 renews it without the downstream sending it again; -revalidate=false fetches it whole")
	fs.DurationVar(&c.StaleIfError, "stale-if-error", 10*time.Minute, "keep each product this long past -cache-ttl, and answer it (with a Warning header) while the downstream fails (5xx, timeout, refused), retrying it once a second in the background (0 turns it off)")
	fs.BoolVar(&c.Telemetry, "telemetry", true, "OpenTelemetry metrics of the cache, client, captcha and limiter, served in Prometheus text format at the admin route GET /metrics; -telemetry=false turns them off and the route away")
	fs.BoolVar(&c.TraceStdout, "trace-stdout", false, "with -telemetry: trace every request and its downstream sends, and print the spans to stderr as JSON (a demo of the spans; use an OTLP exporter in production)")
	fs.DurationVar(&c.WriteTimeout, "write-timeout", 10*time.Second, "time each write of an answer may take (a client that does not read blocks it); past it the connection is closed. It bounds each write, not the handler: a slow answer is not cut off")
	fs.IntVar(&c.ConnsPerIP, "conns-per-ip", 64, "open connections per client address (the TCP peer); more are closed at once. Peers in -trusted-proxies are not capped")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), usageHeader)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return config{}, err
	}
	if fs.NArg() > 0 {
		return config{}, fmt.Errorf("unexpected arguments: %q", fs.Args())
	}
	c.RedisURL = strings.TrimSpace(getenv("REDIS_URL"))
	c.AdminToken = strings.TrimSpace(getenv("ADMIN_TOKEN"))
	c.TrustedProxies = splitList(proxies)
	return c, c.validate()
}

// validate checks everything that can be checked before starting: flag
// ranges, REDIS_URL's form and options, ADMIN_TOKEN's length. Its errors
// never quote REDIS_URL or ADMIN_TOKEN, which hold secrets.
func (c config) validate() error {
	var errs []error
	if c.RedisURL != "" {
		if _, err := parseRedisURL(c.RedisURL); err != nil {
			errs = append(errs, err)
		}
	}
	if c.AdminToken != "" && len(c.AdminToken) < minAdminToken {
		errs = append(errs, fmt.Errorf("ADMIN_TOKEN: too short (%d characters); use %d or more, e.g. openssl rand -hex 32",
			len(c.AdminToken), minAdminToken))
	}
	for _, p := range c.TrustedProxies {
		if _, err := netip.ParsePrefix(p); err != nil {
			errs = append(errs, fmt.Errorf("-trusted-proxies: %q is not a CIDR prefix (e.g. 10.0.0.0/8)", p))
		}
	}
	if c.Downstream != "" && !strings.HasPrefix(c.Downstream, "http://") && !strings.HasPrefix(c.Downstream, "https://") {
		errs = append(errs, fmt.Errorf("-downstream: %q is not an http(s) URL", redactURL(c.Downstream)))
	}
	ranges := []struct {
		name string
		ok   bool
	}{
		{"-ip-limit", c.IPLimit > 0},
		{"-resend-interval", c.ResendInterval > 0},
		{"-code-ttl", c.CodeTTL > 0},
		{"-cache-ttl", c.CacheTTL > 0},
		{"-cache-size", c.CacheSize > 0},
		{"-retries", c.Retries >= 0},
		{"-retry-delay", c.RetryDelay > 0},
		{"-timeout", c.Timeout > 0},
		{"-demo-latency", c.DemoLatency >= 0},
		{"-demo-fail-rate", c.DemoFailRate >= 0 && c.DemoFailRate < 1},
		{"-ip-window", c.IPWindow >= time.Second},
		{"-body-timeout", c.BodyTimeout > 0},
		{"-idle-timeout", c.IdleTimeout > 0},
		{"-redis-timeout", c.RedisTimeout > 0},
		{"-lock-wait", c.LockWait >= 0},
		{"-soft-timeout", c.SoftTimeout >= 0},
		{"-hard-timeout", c.HardTimeout >= 0},
		{"-stale-if-error", c.StaleIfError >= 0},
		{"-write-timeout", c.WriteTimeout > 0},
		{"-conns-per-ip", c.ConnsPerIP > 0},
	}
	for _, p := range ranges {
		if !p.ok {
			errs = append(errs, fmt.Errorf("%s: out of range", p.name))
		}
	}
	if c.LogFormat != "text" && c.LogFormat != "json" {
		errs = append(errs, fmt.Errorf("-log-format: %q is neither text nor json", c.LogFormat))
	}
	return errors.Join(errs...)
}

// trustedPrefixes returns -trusted-proxies parsed (validate checked them).
func (c config) trustedPrefixes() []netip.Prefix {
	var out []netip.Prefix
	for _, p := range c.TrustedProxies {
		if pp, err := netip.ParsePrefix(p); err == nil {
			out = append(out, pp)
		}
	}
	return out
}

// splitList splits a comma-separated list, dropping blanks.
func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}
