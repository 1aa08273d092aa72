// Command server is the alova-go example: a chi server that calls a
// downstream product API through the request-scoped client with L1 (in
// process) and L2 (Redis) caching, and serves verification codes (captcha)
// delivered through an SMS gateway with retries.
//
// It needs no setup:
//
//	go run ./example/server
//
// runs it on :8080 with an embedded Redis (miniredis, for demos only: in
// memory and in this process) and a built-in demo downstream on a loopback
// port of its own. Set REDIS_URL to use a real Redis or Redis Cluster, and
// -downstream to call a real downstream. The admin routes (cache purge,
// /debug/* with the Go profiler, /demo/*) answer loopback clients only, or
// the bearer token of ADMIN_TOKEN when it is set. See README.md for a tour
// with curl, and run it with -h for the flags and the environment.
//
// Every startup error (a bad flag, REDIS_URL or ADMIN_TOKEN, a busy address)
// is printed as "server: …" and exits with status 1.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stderr); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return
		}
		fmt.Fprintln(os.Stderr, "server:", err)
		os.Exit(1)
	}
}

// shutdownTimeout bounds the graceful shutdown: requests still running after
// it are cut off.
const shutdownTimeout = 10 * time.Second

// run starts the server and serves until ctx ends, then shuts down
// gracefully: it stops accepting connections, waits for the requests in
// flight, and closes the cache, Redis and the demo downstream.
func run(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer) error {
	cfg, err := parseConfig(args, getenv, stderr)
	if err != nil {
		return err
	}
	// The log is buffered (one write per 100 ms, not one per request) and
	// flushed last, after the "stopped" line.
	logBuf := newLogBuffer(stderr)
	defer logBuf.Close()
	log := newLogger(cfg.LogFormat, logBuf, cfg.secrets()...)
	redis.SetLogger(redisLogger{log})
	a, err := newApp(cfg, log)
	if err != nil {
		return err
	}
	a.access = newAccessLog(cfg.LogFormat, logBuf)
	defer func() {
		cctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
		defer cancel()
		if err := a.Close(cctx); err != nil {
			log.Error("close", "err", err)
		}
		log.Info("stopped")
	}()

	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return err
	}
	ln = limitConns(ln, cfg.ConnsPerIP, cfg.WriteTimeout, cfg.trustedPrefixes())
	srv := newHTTPServer(cfg, a.Handler(), log)
	log.Info("listening", "addr", ln.Addr().String(), "redis", a.redis.Kind, "downstream", redactURL(a.downstreamURL))

	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	select {
	case err := <-served:
		return err
	case <-ctx.Done():
	}
	log.Info("shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	return nil
}

// redisLogger sends go-redis's own messages (reconnects, pool errors) to slog.
type redisLogger struct{ log *slog.Logger }

func (l redisLogger) Printf(ctx context.Context, format string, v ...any) {
	l.log.WarnContext(ctx, "redis: "+fmt.Sprintf(format, v...))
}

// newLogger returns the server's logger, in format (text or json), which
// writes every secret in secrets as "xxxxx" wherever it shows up: in a
// message or in any attribute, errors included.
func newLogger(format string, w io.Writer, secrets ...string) *slog.Logger {
	opts := &slog.HandlerOptions{ReplaceAttr: redactAttr(secrets)}
	if format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}
