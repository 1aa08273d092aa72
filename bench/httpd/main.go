// Command httpd serves the peers that bench/http.sh measures the example
// server against, one per process:
//
//	httpd -role downstream -addr 127.0.0.1:9001
//	httpd -role floor      -addr 127.0.0.1:9002 -downstream http://127.0.0.1:9001
//	httpd -role floorlog   -addr 127.0.0.1:9004 -downstream http://127.0.0.1:9001 2>access.log
//	httpd -role ceiling    -addr 127.0.0.1:9003
//
// downstream is the product API every server under test calls: GET
// /products/{id} answers a small JSON product (the shape of the example
// server's demo downstream), after -latency. floor is the least a chi server
// doing the example's job can cost: the example's middleware minus the
// library and the access log, with a sync.Map of answer bodies in place of
// the cache and client (floor.go). floorlog is the floor plus the example
// server's access log: the same line per request, buffered the same way, to
// standard error as the example writes its log (accesslog.go). ceiling is a
// bare net/http handler that writes one fixed product: what net/http and the
// kernel cost with nothing else (ceiling.go).
//
// It serves until SIGINT or SIGTERM, then shuts down gracefully; floorlog
// then writes out its access log.
package main

import (
	"context"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "httpd:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("httpd", flag.ContinueOnError)
	role := fs.String("role", "", "what to serve: downstream, floor, floorlog or ceiling")
	addr := fs.String("addr", "127.0.0.1:0", "listen address")
	downstream := fs.String("downstream", "", "floor, floorlog: base URL of the downstream, e.g. http://127.0.0.1:9001")
	latency := fs.Duration("latency", 0, "downstream: wait this long before answering a product")
	if err := fs.Parse(args); err != nil {
		return err
	}
	var h http.Handler
	switch *role {
	case "downstream":
		h = downstreamHandler(*latency)
	case "floor", "floorlog":
		if *downstream == "" {
			return fmt.Errorf("-role %s needs -downstream", *role)
		}
		var log *accessLog
		if *role == "floorlog" {
			log = newAccessLog(os.Stderr)
			defer log.Close() // after the shutdown below: the last requests' lines too
		}
		h = floorHandler(*downstream, log)
	case "ceiling":
		h = ceilingHandler()
	default:
		return fmt.Errorf("-role: %q is none of downstream, floor, floorlog, ceiling", *role)
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	fmt.Fprintf(os.Stderr, "httpd: %s listening on %s\n", *role, ln.Addr())
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	select {
	case err := <-served:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return srv.Shutdown(sctx)
}
