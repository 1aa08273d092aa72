package bench

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
	"github.com/maypok86/otter/v2"

	"github.com/alovago/alova/cache"
)

// The read-through mix: reads of a Zipf law (s = 1.001) over mixKeys keys,
// through a cache of mixCapacity entries, each miss storing the key, as a
// Tiered does. Unlike the L1Hit cases, the caches must choose what to keep,
// so a policy that learns less from the reads it is too busy to record
// shows it in its hit ratio.
const (
	mixKeys     = 200_000
	mixCapacity = 10_000
)

var mixTrace = sync.OnceValue(func() []string {
	seq, _ := zipfTrace(mixKeys, 1.001, 1<<20, 3)
	return seq
})

// mixImpl is one cache in the read-through mix: read reports a hit, set
// stores the key after a miss.
type mixImpl struct {
	name string
	make func() (read func(string) bool, set func(string))
}

var mixImpls = []mixImpl{
	{"alova-l1", func() (func(string) bool, func(string)) {
		m := cache.NewMemoryStore(cache.MemoryOptions{MaxEntries: mixCapacity})
		it := cache.Item{Value: cache.ValueOf(smallValue)}
		return func(k string) bool { _, ok := m.Get(k); return ok },
			func(k string) { m.Set(k, it, time.Hour) }
	}},
	{"otter-ttl", func() (func(string) bool, func(string)) {
		return otterMix(nil)
	}},
	{"otter-ttl-sync", func() (func(string) bool, func(string)) {
		return otterMix(func(fn func()) { fn() })
	}},
	{"golang-lru", func() (func(string) bool, func(string)) {
		c, _ := lru.New[string, []byte](mixCapacity)
		return func(k string) bool { _, ok := c.Get(k); return ok },
			func(k string) { c.Add(k, smallValue) }
	}},
}

func otterMix(executor func(func())) (func(string) bool, func(string)) {
	c := otter.Must(&otter.Options[string, []byte]{
		MaximumSize:      mixCapacity,
		ExpiryCalculator: otter.ExpiryWriting[string, []byte](time.Hour),
		Executor:         executor,
	})
	return func(k string) bool { _, ok := c.GetIfPresent(k); return ok },
		func(k string) { c.Set(k, smallValue) }
}

// BenchmarkL1ReadThroughParallel runs the read-through mix from GOMAXPROCS
// goroutines, each from its own point of the trace, and reports the hit
// ratio beside the time per read: what a saturated server's L1 gives for
// what it costs.
func BenchmarkL1ReadThroughParallel(b *testing.B) {
	trace := mixTrace()
	mask := len(trace) - 1
	for _, impl := range mixImpls {
		b.Run(impl.name, func(b *testing.B) {
			read, set := impl.make()
			for _, k := range trace[:len(trace)/4] { // warm up
				if !read(k) {
					set(k)
				}
			}
			var hits, reads atomic.Int64
			var start atomic.Int64
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				i := int(start.Add(104_729))
				h, n := 0, 0
				for pb.Next() {
					k := trace[i&mask]
					if read(k) {
						h++
					} else {
						set(k)
					}
					n++
					i++
				}
				hits.Add(int64(h))
				reads.Add(int64(n))
			})
			b.ReportMetric(float64(hits.Load())/float64(reads.Load()), "hit-ratio")
		})
	}
}
