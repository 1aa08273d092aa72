package main

import (
	"net/http/pprof"

	"github.com/go-chi/chi/v5"
)

// mountPprof serves the Go profiler under /debug/pprof/ on r (an admin
// router): the index, the named profiles (heap, goroutine, allocs, …), a CPU
// profile (/debug/pprof/profile?seconds=N), an execution trace, and symbol
// lookup, as net/http/pprof serves them. bench/http.sh takes its CPU profile
// of the product route here. A CPU profile or trace runs while the request
// waits (N seconds) and costs a few percent of the CPU meanwhile.
//
// Importing net/http/pprof also registers these handlers on
// http.DefaultServeMux, which this server never serves.
func mountPprof(r chi.Router) {
	r.Get("/debug/pprof/cmdline", pprof.Cmdline)
	r.Get("/debug/pprof/profile", pprof.Profile)
	r.Get("/debug/pprof/symbol", pprof.Symbol)
	r.Get("/debug/pprof/trace", pprof.Trace)
	r.Get("/debug/pprof/*", pprof.Index)
}
