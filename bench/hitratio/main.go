// Command hitratio replays synthetic access traces against in-process caches
// of equal entry capacity and prints their hit ratios as a Markdown table:
// alova-go's L1 (cache.MemoryStore), otter v2 (W-TinyLFU), golang-lru v2
// (LRU) and Belady's optimal policy with bypass (an upper bound no online
// policy reaches).
//
// Every trace is a sequence of reads; a read that misses stores the key
// (read-through). Traces are generated from fixed seeds, so two runs print
// the same table for the deterministic policies (otter's admission draws
// random numbers, so its figures may move in the fourth decimal).
//
// Usage, from bench/:
//
//	go run ./hitratio                 # every trace at 1,000 and 10,000 entries
//	go run ./hitratio -trace loop -cap 1000
package main

import (
	"container/heap"
	"flag"
	"fmt"
	"math"
	"math/rand"
	"os"
	"strconv"
	"strings"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
	"github.com/maypok86/otter/v2"

	"github.com/alovago/alova/cache"
)

// A trace is a named sequence of keys, built for one cache capacity.
type trace struct {
	name string
	gen  func(capacity int) []uint64
}

// reads is the length of the Zipf traces; the others are shorter.
const reads = 1_000_000

var traces = []trace{
	{"zipf-1.001", func(int) []uint64 { return zipf(1, 1.001, 1_000_000, reads) }},
	{"zipf-1.2", func(int) []uint64 { return zipf(2, 1.2, 1_000_000, reads) }},
	{"scan+hot", scanHot},
	{"loop-1.1x", func(c int) []uint64 { return loop(c*11/10, 500_000) }},
	{"loop+zipf", loopZipf},
	{"moving-hot", func(c int) []uint64 { return movingHot(c, 5*c) }},
	{"recency", recency},
	{"moving-hot-fast", func(c int) []uint64 { return movingHot(c, 2*c) }},
	{"moving-hot-slow", func(c int) []uint64 { return movingHot(c, 20*c) }},
	{"zipf-drift", zipfDrift},
	{"phases", phases},
	// Shapes added as a check against tuning to the rows above: the policy
	// changes of round 4 were measured on the rows above only.
	{"drift-slow-0.8", driftSlow},
	{"scan+drift", scanDrift},
}

// zipf draws n reads over keys [0, keys) with exponent s.
func zipf(seed int64, s float64, keys uint64, n int) []uint64 {
	z := rand.NewZipf(rand.New(rand.NewSource(seed)), s, 1, keys-1)
	out := make([]uint64, n)
	for i := range out {
		out[i] = z.Uint64()
	}
	return out
}

// scanHot mixes a Zipf s=1.1 hot set of 10×capacity keys with scans: every
// 20,000 reads one scan of 2×capacity keys never read before (a batch job,
// a crawler), one scanned read for every hot one while it lasts. 500,000
// reads in all.
func scanHot(c int) []uint64 {
	rng := rand.New(rand.NewSource(3))
	z := rand.NewZipf(rng, 1.1, 1, uint64(10*c-1))
	const n = 500_000
	out := make([]uint64, 0, n+4*c)
	next := uint64(1 << 40) // scanned keys: never reused
	for len(out) < n {
		for range 20_000 {
			out = append(out, z.Uint64())
		}
		for range 2 * c {
			out = append(out, z.Uint64(), next)
			next++
		}
	}
	return out[:n]
}

// loop reads keys [0, k) in order, over and over, n reads in all.
func loop(k, n int) []uint64 {
	out := make([]uint64, n)
	for i := range out {
		out[i] = uint64(i % k)
	}
	return out
}

// loopZipf alternates a loop over 1.5×capacity keys with a Zipf s=1.0001
// draw over 100×capacity others, read for read: a recurring job beside
// skewed traffic. 500,000 reads.
func loopZipf(c int) []uint64 {
	z := rand.NewZipf(rand.New(rand.NewSource(4)), 1.0001, 1, uint64(100*c-1))
	k := c * 3 / 2
	out := make([]uint64, 500_000)
	for i := range out {
		if i%2 == 0 {
			out[i] = uint64(i/2%k) + 1<<40
		} else {
			out[i] = z.Uint64()
		}
	}
	return out
}

// movingHot draws 90 % of reads uniformly from a hot set of capacity/2
// keys that moves to fresh keys every period reads, and 10 % from a Zipf
// s=1.2 tail over a million keys. 500,000 reads.
func movingHot(c, period int) []uint64 {
	rng := rand.New(rand.NewSource(5))
	z := rand.NewZipf(rng, 1.2, 1, 1_000_000-1)
	hot := c / 2
	out := make([]uint64, 500_000)
	for i := range out {
		if rng.Intn(10) == 0 {
			out[i] = z.Uint64()
			continue
		}
		phase := i / period
		out[i] = 1<<40 + uint64(phase*hot+rng.Intn(hot))
	}
	return out
}

// recency models strong temporal locality: each read is, with probability
// 0.7, a re-read of a key read a few reads ago (a geometric distance of mean
// capacity/2 back in the trace), else a new draw from a Zipf s=1.0001 over
// 1,000×capacity keys. 500,000 reads.
func recency(c int) []uint64 {
	rng := rand.New(rand.NewSource(6))
	z := rand.NewZipf(rng, 1.0001, 1, uint64(1000*c-1))
	out := make([]uint64, 500_000)
	mean := float64(c) / 2
	for i := range out {
		if i > 0 && rng.Float64() < 0.7 {
			d := int(rng.ExpFloat64()*mean) + 1
			out[i] = out[max(0, i-d)]
			continue
		}
		out[i] = z.Uint64()
	}
	return out
}

// zipfDrift draws from a Zipf s=1.0 over 100×capacity keys whose ranking
// slides by capacity/10 keys every 2×capacity reads: popular keys fade
// and new ones rise, as in a news feed. 500,000 reads.
func zipfDrift(c int) []uint64 {
	z := rand.NewZipf(rand.New(rand.NewSource(7)), 1.0001, 1, uint64(100*c-1))
	out := make([]uint64, 500_000)
	for i := range out {
		out[i] = z.Uint64() + uint64(i/(2*c)*(c/10))
	}
	return out
}

// driftSlow draws from a Zipf s=0.8 over 50×capacity keys whose ranking
// slides by capacity/50 keys every 5×capacity reads: a flatter, slower
// drift than zipfDrift's. 500,000 reads.
func driftSlow(c int) []uint64 {
	rng := rand.New(rand.NewSource(10))
	out := make([]uint64, 500_000)
	for i := range out {
		out[i] = zipfLike(rng, 0.8, 50*c) + uint64(i/(5*c)*max(1, c/50))
	}
	return out
}

// zipfLike draws a key in [0, n) with probability proportional to
// 1/(k+1)^s, for s < 1 (rand.Zipf needs s > 1), by inverting the
// continuous approximation of the distribution.
func zipfLike(rng *rand.Rand, s float64, n int) uint64 {
	u := rng.Float64()
	// CDF(x) ∝ (x+1)^(1−s) − 1 on [0, n).
	top := math.Pow(float64(n)+1, 1-s) - 1
	x := math.Pow(u*top+1, 1/(1-s)) - 1
	return uint64(min(max(x, 0), float64(n-1)))
}

// scanDrift is zipfDrift with scans: every 50,000 reads a scan of
// capacity keys never read before, interleaved one for one with the
// drifting reads. 500,000 reads.
func scanDrift(c int) []uint64 {
	base := zipfDrift(c)
	out := make([]uint64, 0, len(base))
	next := uint64(1 << 42)
	for i, k := range base {
		if len(out) >= len(base) {
			break
		}
		if i%50_000 < 2*c && i%2 == 1 && i >= 50_000 {
			out = append(out, next)
			next++
		}
		out = append(out, k)
	}
	return out[:min(len(out), len(base))]
}

// phases chains 100,000 reads of each of six shapes, as a day's traffic
// changes: Zipf s=1.001, the moving hot set, a loop of 1.1×capacity keys,
// strong temporal locality, scans beside hot traffic, then Zipf again.
func phases(c int) []uint64 {
	const n = 100_000
	var out []uint64
	out = append(out, zipf(8, 1.001, 1_000_000, n)...)
	out = append(out, movingHot(c, 5*c)[:n]...)
	for _, k := range loop(c*11/10, n) {
		out = append(out, k+1<<41)
	}
	out = append(out, recency(c)[:n]...)
	out = append(out, scanHot(c)[:n]...)
	out = append(out, zipf(9, 1.001, 1_000_000, n)...)
	return out
}

// A policy is an online cache under test: get reports a hit; set stores on
// a miss.
type policy struct {
	name string
	make func(capacity int) (get func(string) bool, set func(string))
}

var policies = []policy{
	{"alova-go", func(c int) (func(string) bool, func(string)) {
		m := cache.NewMemoryStore(cache.MemoryOptions{MaxEntries: c})
		it := cache.Item{Value: cache.StringValue("v")}
		return func(k string) bool { _, ok := m.Get(k); return ok },
			func(k string) { m.Set(k, it, time.Hour) }
	}},
	{"otter v2", func(c int) (func(string) bool, func(string)) {
		o := otter.Must(&otter.Options[string, string]{MaximumSize: c, Executor: func(fn func()) { fn() }})
		return func(k string) bool { _, ok := o.GetIfPresent(k); return ok },
			func(k string) { o.Set(k, "v") }
	}},
	{"golang-lru", func(c int) (func(string) bool, func(string)) {
		l, _ := lru.New[string, string](c)
		return func(k string) bool { _, ok := l.Get(k); return ok },
			func(k string) { l.Add(k, "v") }
	}},
}

func main() {
	only := flag.String("trace", "", "replay only the traces whose name contains this")
	capFlag := flag.Int("cap", 0, "replay only at this capacity (default: 1,000 and 10,000)")
	flag.Parse()
	caps := []int{1_000, 10_000}
	if *capFlag > 0 {
		caps = []int{*capFlag}
	}
	fmt.Print("| capacity | trace | reads |")
	for _, p := range policies {
		fmt.Printf(" %s |", p.name)
	}
	fmt.Println(" optimal | alova − max(otter, LRU) |")
	fmt.Print("|--:|---|--:|" + strings.Repeat("--:|", len(policies)+2) + "\n")
	for _, c := range caps {
		for _, tr := range traces {
			if !strings.Contains(tr.name, *only) {
				continue
			}
			ids := tr.gen(c)
			keys := make([]string, len(ids))
			for i, id := range ids {
				keys[i] = "k" + strconv.FormatUint(id, 36)
			}
			fmt.Printf("| %d | %s | %d |", c, tr.name, len(keys))
			ratios := make([]float64, len(policies))
			for i, p := range policies {
				ratios[i] = replay(p, c, keys)
				fmt.Printf(" %.4f |", ratios[i])
			}
			fmt.Printf(" %.4f | %+.4f |\n", belady(c, ids), ratios[0]-max(ratios[1], ratios[2]))
		}
	}
}

// replay runs keys through a fresh cache of p and returns its hit ratio.
func replay(p policy, c int, keys []string) float64 {
	get, set := p.make(c)
	hits := 0
	for _, k := range keys {
		if get(k) {
			hits++
		} else {
			set(k)
		}
	}
	return float64(hits) / float64(len(keys))
}

// belady returns the hit ratio of the optimal policy with bypass: on a miss
// the cache keeps the c keys (the new one included) whose next read comes
// soonest, so a key never read again, or read after all it holds, is not
// stored.
func belady(c int, ids []uint64) float64 {
	const never = int(^uint(0) >> 1)
	next := make([]int, len(ids))
	last := make(map[uint64]int, len(ids)/4)
	for i := len(ids) - 1; i >= 0; i-- {
		if j, ok := last[ids[i]]; ok {
			next[i] = j
		} else {
			next[i] = never
		}
		last[ids[i]] = i
	}
	held := make(map[uint64]int, c) // key → its next read
	h := &farthest{}
	hits := 0
	for i, id := range ids {
		if _, ok := held[id]; ok {
			hits++
			held[id] = next[i]
			heap.Push(h, use{next[i], id})
			continue
		}
		if next[i] == never {
			continue
		}
		if len(held) >= c {
			// The held key read last; stale heap items are skipped.
			top := (*h)[0]
			for held[top.id] != top.at {
				heap.Pop(h)
				top = (*h)[0]
			}
			if top.at < next[i] {
				continue // bypass: everything held is read sooner
			}
			heap.Pop(h)
			delete(held, top.id)
		}
		held[id] = next[i]
		heap.Push(h, use{next[i], id})
		if h.Len() > 4*c { // drop stale items now and then
			live := (*h)[:0]
			for _, u := range *h {
				if at, ok := held[u.id]; ok && at == u.at {
					live = append(live, u)
				}
			}
			*h = live
			heap.Init(h)
		}
	}
	return float64(hits) / float64(len(ids))
}

// use is a key and the position of its next read.
type use struct {
	at int
	id uint64
}

// farthest is a max-heap of uses by position.
type farthest []use

func (h farthest) Len() int           { return len(h) }
func (h farthest) Less(i, j int) bool { return h[i].at > h[j].at }
func (h farthest) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *farthest) Push(x any)        { *h = append(*h, x.(use)) }
func (h *farthest) Pop() any {
	old := *h
	u := old[len(old)-1]
	*h = old[:len(old)-1]
	return u
}

func init() {
	flag.Usage = func() {
		fmt.Fprintln(os.Stderr, "usage: go run ./hitratio [-trace name] [-cap n]")
		flag.PrintDefaults()
	}
}
