package main

import (
	"net/http"
	"runtime/metrics"

	"github.com/alovago/alova/middleware"
)

// runtimeSamples are the runtime/metrics that GET /debug/runtime reports,
// under the JSON names of [runtimeStats].
var runtimeSamples = []string{
	"/sched/goroutines:goroutines",
	"/gc/heap/live:bytes",
	"/memory/classes/heap/objects:bytes",
	"/memory/classes/total:bytes",
	"/gc/cycles/total:gc-cycles",
}

// runtimeStats is the body of GET /debug/runtime.
type runtimeStats struct {
	Goroutines uint64 `json:"goroutines"`
	// HeapLive is the heap the last GC found reachable: the figure that
	// grows when something leaks, without the garbage of the moment.
	HeapLive uint64 `json:"heap_live_bytes"`
	// HeapObjects is the heap in use now, live objects and garbage not yet
	// swept.
	HeapObjects uint64 `json:"heap_objects_bytes"`
	// Total is all the memory the Go runtime has mapped (what it may hold
	// in RSS).
	Total    uint64 `json:"runtime_total_bytes"`
	GCCycles uint64 `json:"gc_cycles"`
}

// debugRuntime answers GET /debug/runtime (an admin route): the process's
// goroutines and heap, read from runtime/metrics, which does not stop the
// world, so it is cheap to poll every few seconds (bench/soak.sh does, to
// catch leaks).
func debugRuntime(w http.ResponseWriter, _ *http.Request) {
	s := make([]metrics.Sample, len(runtimeSamples))
	for i, name := range runtimeSamples {
		s[i].Name = name
	}
	metrics.Read(s)
	v := func(i int) uint64 {
		if s[i].Value.Kind() != metrics.KindUint64 {
			return 0 // not supported by this Go version
		}
		return s[i].Value.Uint64()
	}
	middleware.WriteJSON(w, http.StatusOK, runtimeStats{
		Goroutines: v(0), HeapLive: v(1), HeapObjects: v(2), Total: v(3), GCCycles: v(4),
	})
}
