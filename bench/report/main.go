// Command report turns the output of the bench suite's go test -bench run
// into RESULTS.md: one table per case with each library's ns/op, B/op and
// allocs/op (medians over -count runs) and the ratio of alova's time to
// each, then the targets of the suite checked against the figures.
//
//	go run ./report -in results.txt -machine machine.txt -cmd "…" > RESULTS.md
//
// machine.txt holds free-form lines about the machine (CPU, load, Go
// version), copied as a list.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// benchLine matches "BenchmarkCase/lib-2   1000   123 ns/op   4 B/op ...".
var benchLine = regexp.MustCompile(`^Benchmark([^/\s]+)/(\S+?)(?:-\d+)?\s+(\d+)\s+(.*)$`)

// row is one library's figures in one case: every run's value of each unit.
type row struct {
	name    string
	metrics map[string][]float64
}

func (r *row) median(unit string) (float64, bool) {
	v := slices.Clone(r.metrics[unit])
	if len(v) == 0 {
		return 0, false
	}
	sort.Float64s(v)
	if len(v)%2 == 1 {
		return v[len(v)/2], true
	}
	return (v[len(v)/2-1] + v[len(v)/2]) / 2, true
}

// spread is the largest distance of a run from the median, in percent.
func (r *row) spread(unit string) float64 {
	m, ok := r.median(unit)
	if !ok || m == 0 {
		return 0
	}
	var d float64
	for _, v := range r.metrics[unit] {
		d = max(d, math.Abs(v-m)/m*100)
	}
	return d
}

// benchCase is one top-level benchmark, its rows in order of appearance.
type benchCase struct {
	name string
	rows []*row
}

func (c *benchCase) row(name string) *row {
	for _, r := range c.rows {
		if r.name == name {
			return r
		}
	}
	return nil
}

// ref is the row the ratios are taken against: "alova" if present, else the
// first row naming alova.
func (c *benchCase) ref() *row {
	if r := c.row("alova"); r != nil {
		return r
	}
	for _, r := range c.rows {
		if strings.Contains(r.name, "alova") {
			return r
		}
	}
	return nil
}

func parse(in io.Reader) ([]*benchCase, error) {
	var cases []*benchCase
	byName := map[string]*benchCase{}
	sc := bufio.NewScanner(in)
	for sc.Scan() {
		m := benchLine.FindStringSubmatch(strings.TrimSpace(sc.Text()))
		if m == nil {
			continue
		}
		c := byName[m[1]]
		if c == nil {
			c = &benchCase{name: m[1]}
			byName[m[1]] = c
			cases = append(cases, c)
		}
		r := c.row(m[2])
		if r == nil {
			r = &row{name: m[2], metrics: map[string][]float64{}}
			c.rows = append(c.rows, r)
		}
		f := strings.Fields(m[4])
		for i := 0; i+1 < len(f); i += 2 {
			v, err := strconv.ParseFloat(f[i], 64)
			if err != nil {
				return nil, fmt.Errorf("%q: %v", sc.Text(), err)
			}
			r.metrics[f[i+1]] = append(r.metrics[f[i+1]], v)
		}
	}
	return cases, sc.Err()
}

// order is the order of the cases in the report; others come last.
var order = []string{
	"L1HitSameKey", "L1HitSmallValue", "L1HitZipf", "L1HitSameKeyParallel", "L1HitZipfParallel",
	"L1ReadThroughParallel",
	"L2Hit", "L2HitParallel", "L2HitSameKeyParallel",
	"MissLoad", "MissLoadRedis", "Stampede", "StampedeRedis",
	"ClientGet", "ClientGetParallel", "Middleware", "MiddlewareParallel",
}

func rank(name string) int {
	if i := slices.Index(order, name); i >= 0 {
		return i
	}
	return len(order)
}

// about describes each case above its table.
var about = map[string]string{
	"L1HitSameKey":          "One key held in process memory, read again and again (1 KiB value). alova = `cache.Tiered.GetOrLoad` with an L1 only; alova-l1 = the bare `cache.MemoryStore.Get` (alova's L1 store without the Tiered read path); otter = otter v2's `GetIfPresent`, raw (entry bound only, no expiry or tags); otter-ttl = the same with a per-entry expiry, which reads the clock on every hit as alova's store does; otter-ttl-sync = otter-ttl whose maintenance runs on the calling goroutine (`Executor: func(fn func()) { fn() }`, as the hit-ratio simulator runs it), so that, as in alova's store, the policy takes in the hits it is given: with the default executor a saturated benchmark drops nearly all of otter's hits (its drain takes no sample in a profile of L1HitZipfParallel); go-redis-cache = `Cache.Get` on its TinyLFU local cache; sturdyc = `GetOrFetch`; golang-lru = `Cache.Get`; copy-only is no cache, just the allocation and copy of 1 KiB that any cache handing out copies pays. go-redis-cache returns a copy of the value; alova hands out the cached value itself, which is immutable (`cache.Value`: read through `String`, `WriteTo`, or `Bytes`, which copies); sturdyc and golang-lru return the cached slice itself (a caller can change what every other caller gets).",
	"L1HitZipf":             "10,000 keys read in a Zipf mix (math/rand/v2 Zipf, s = 1.1, pre-generated sequence of 65,536 reads); every cache is sized to hold all keys, and the warm-up checks every key is a hit.",
	"L1HitSameKeyParallel":  "L1HitSameKey from GOMAXPROCS goroutines (`b.RunParallel`).",
	"L1HitZipfParallel":     "L1HitZipf from GOMAXPROCS goroutines, each from its own point of the sequence.",
	"L1ReadThroughParallel": "Reads of a Zipf law (s = 1.001) over 200,000 keys through a cache of 10,000 entries, each miss storing the key, from GOMAXPROCS goroutines (a pre-generated sequence of 2^20 reads, each goroutine from its own point). Unlike the L1Hit cases the caches must choose what to keep: hit-ratio is the share of reads that hit, so a cache that does less work per read by recording fewer of them shows what that costs.",
	"L2Hit":                 "One key read from Redis on loopback (no L1). alova = `cache.Tiered.GetOrLoad` with L2 only on go-redis's default client; alova-ctxtimeout = the same with `ContextTimeoutEnabled` (no L2 watchdog goroutine); alova-redis-store = the bare `cache.Redis.Get` (one plain GET: the value carries its expiry); go-redis-GET = `Client.Get(…).Bytes()`; go-redis-cache = `Cache.Get` with no local cache.",
	"L2HitParallel":         "10,000 keys read from Redis by 32 goroutines (`SetParallelism(16)`), each walking the keys from its own point, so two rarely read the same key at once.",
	"L2HitSameKeyParallel":  "One key read from Redis by 32 goroutines: alova's Tiered shares one Redis lookup among the concurrent readers of a key, the others make one round trip each.",
	"MissLoad":              "Every read is a new key: lookup, load from an origin that answers at once, store; in process memory only. golang-lru has no read-through call (Get, load, Add).",
	"MissLoadRedis":         "MissLoad with Redis as L2 behind the L1: L1 and Redis lookups, the load, writes to Redis and L1.",
	"Stampede":              "1,000 goroutines released together on a key no cache has, behind an origin that takes 1 ms; in process memory only. ns/op is the wall time from release until all have the value; origin-calls/op the average number of origin calls per stampede, max-origin-calls the worst stampede.",
	"StampedeRedis":         "Stampede with Redis as L2 behind the L1.",
	"ClientGet":             "A GET of a 1 KiB JSON answer from a loopback `httptest` server, each client with its defaults. alova = the full client without a cache (a method built and sent per call); alova-cached = the same client with an L1, so every send is an L1 hit; resty has no cache.",
	"ClientGetParallel":     "ClientGet from GOMAXPROCS goroutines. alova shares identical GETs in flight (fewer downstream calls); alova-noshare turns sharing off, like for like with resty and net/http.",
	"Middleware":            "One request through a chi router whose handler reads a URL param and answers 204, with a ResponseWriter that keeps nothing. The overhead of `middleware.Client` is a `+alova` row minus the row without `+alova`. chi+ctxvalue is the least any middleware that hands a value to handlers through the context can cost (one `context.WithValue`, one `r.WithContext`, which copies the ~250-byte `http.Request`). The request carries no X-Request-Id, so RequestID generates one (which the scoped client reads from the context when it sends; this handler sends nothing).",
	"MiddlewareParallel":    "Middleware from GOMAXPROCS goroutines.",
}

func main() {
	in := flag.String("in", "results.txt", "go test -bench output")
	machine := flag.String("machine", "", "file of lines describing the machine")
	cmd := flag.String("cmd", "", "the command that produced -in")
	flag.Parse()

	f, err := os.Open(*in)
	if err != nil {
		fatal(err)
	}
	cases, err := parse(f)
	f.Close()
	if err != nil {
		fatal(err)
	}
	if len(cases) == 0 {
		fatal(fmt.Errorf("no benchmark lines in %s", *in))
	}
	slices.SortStableFunc(cases, func(a, b *benchCase) int { return rank(a.name) - rank(b.name) })
	w := bufio.NewWriter(os.Stdout)
	defer w.Flush()

	fmt.Fprintln(w, "# alova-go side-by-side benchmarks")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Generated by `bench/run.sh` from one `go test -bench` run (raw output in `bench/results.txt`). Figures are medians over the `-count` runs; ± is the largest distance of a run from the median. The ratio column is alova's time ÷ that row's time: below 1 alova is faster.")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "## Machine and command")
	fmt.Fprintln(w)
	if *machine != "" {
		b, err := os.ReadFile(*machine)
		if err != nil {
			fatal(err)
		}
		for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
			fmt.Fprintf(w, "- %s\n", l)
		}
	}
	if *cmd != "" {
		fmt.Fprintf(w, "- command: `%s`\n", *cmd)
	}
	fmt.Fprintln(w)

	writeTargets(w, cases)
	fmt.Fprintln(w, "Where alova misses a target, `bench/PROFILE.md` says where its time goes (CPU and allocation profiles of the same cases).")
	fmt.Fprintln(w)

	for _, c := range cases {
		fmt.Fprintf(w, "## %s\n\n", c.name)
		if a := about[c.name]; a != "" {
			fmt.Fprintf(w, "%s\n\n", a)
		}
		writeTable(w, c)
	}
}

// extraUnits are the custom metrics of a case, in a stable order.
func extraUnits(c *benchCase) []string {
	seen := map[string]bool{}
	var units []string
	for _, r := range c.rows {
		for u := range r.metrics {
			switch u {
			case "ns/op", "B/op", "allocs/op":
				continue
			}
			if !seen[u] {
				seen[u] = true
				units = append(units, u)
			}
		}
	}
	sort.Strings(units)
	return units
}

func writeTable(w io.Writer, c *benchCase) {
	extra := extraUnits(c)
	ref := c.ref()
	var refNs float64
	if ref != nil {
		refNs, _ = ref.median("ns/op")
	}
	overhead := strings.HasPrefix(c.name, "Middleware")
	// A middleware case compares each "X+alova" row with its "X" row, not
	// every row with one reference.
	fmt.Fprint(w, "| library | ns/op | ± | B/op | allocs/op |")
	if overhead {
		fmt.Fprint(w, " cost over the row without its last +part (ns, allocs) |")
	} else {
		fmt.Fprint(w, " alova ÷ this |")
	}
	for _, u := range extra {
		fmt.Fprintf(w, " %s |", u)
	}
	fmt.Fprintln(w)
	fmt.Fprint(w, "|---|--:|--:|--:|--:|--:|")
	for range extra {
		fmt.Fprint(w, "--:|")
	}
	fmt.Fprintln(w)
	for _, r := range c.rows {
		ns, _ := r.median("ns/op")
		bop, _ := r.median("B/op")
		allocs, _ := r.median("allocs/op")
		name := r.name
		if r == ref && !overhead {
			name = "**" + name + "**"
		}
		fmt.Fprintf(w, "| %s | %s | %.0f%% | %s | %s |", name, num(ns), r.spread("ns/op"), num(bop), num(allocs))
		var base *row
		if i := strings.LastIndex(r.name, "+"); i > 0 {
			base = c.row(r.name[:i])
		}
		switch {
		case overhead && base != nil && base != r:
			dns, da := delta(r, base)
			fmt.Fprintf(w, " %+.0f ns, %+.0f |", dns, da)
		case overhead:
			fmt.Fprint(w, " |")
		case ref != nil && ns > 0:
			fmt.Fprintf(w, " %.2f |", refNs/ns)
		default:
			fmt.Fprint(w, " – |")
		}
		for _, u := range extra {
			if v, ok := r.median(u); ok {
				fmt.Fprintf(w, " %s |", num(v))
			} else {
				fmt.Fprint(w, " – |")
			}
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintln(w)
}

// delta returns r's median time and allocations minus base's.
func delta(r, base *row) (ns, allocs float64) {
	a, _ := r.median("ns/op")
	b, _ := base.median("ns/op")
	x, _ := r.median("allocs/op")
	y, _ := base.median("allocs/op")
	return a - b, x - y
}

func num(v float64) string {
	switch {
	case v == 0:
		return "0"
	case v >= 100 || v == math.Trunc(v):
		return strconv.FormatFloat(math.Round(v), 'f', -1, 64)
	case v >= 10:
		return strconv.FormatFloat(v, 'f', 1, 64)
	default:
		return strconv.FormatFloat(v, 'f', 2, 64)
	}
}

// writeTargets checks the suite's targets against the medians.
func writeTargets(w io.Writer, cases []*benchCase) {
	byName := map[string]*benchCase{}
	for _, c := range cases {
		byName[c.name] = c
	}
	fmt.Fprintln(w, "## Targets")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| target | case | measured | met |")
	fmt.Fprintln(w, "|---|---|--:|:-:|")
	ratio := func(target, cs, ours, peer string, limit float64) {
		c := byName[cs]
		if c == nil || c.row(ours) == nil || c.row(peer) == nil {
			return
		}
		a, _ := c.row(ours).median("ns/op")
		b, _ := c.row(peer).median("ns/op")
		fmt.Fprintf(w, "| %s | %s (%s ÷ %s) | %.2f | %s |\n", target, cs, ours, peer, a/b, yes(a/b <= limit))
	}
	for _, cs := range []string{"L1HitSameKey", "L1HitSmallValue", "L1HitZipf", "L1HitSameKeyParallel", "L1HitZipfParallel"} {
		ratio("L1 hit ≤ 0.8 × go-redis/cache local hit", cs, "alova", "go-redis-cache", 0.8)
	}
	for _, cs := range []string{"L1HitSameKey", "L1HitSmallValue", "L1HitZipf", "L1HitSameKeyParallel", "L1HitZipfParallel"} {
		ratio("L1 hit ≤ 1.0 × sturdyc", cs, "alova", "sturdyc", 1.0)
	}
	for _, cs := range []string{"L1HitSameKeyParallel", "L1HitZipfParallel"} {
		ratio("L1 store's parallel hit ≥ 0.9 × otter's throughput (time ≤ 1.11 ×)", cs, "alova-l1", "otter-ttl", 1/0.9)
		ratio("(the same against otter doing the same policy work)", cs, "alova-l1", "otter-ttl-sync", 1/0.9)
	}
	if c := byName["L1ReadThroughParallel"]; c != nil {
		for _, peer := range []string{"otter-ttl", "otter-ttl-sync", "golang-lru"} {
			if c.row("alova-l1") == nil || c.row(peer) == nil {
				continue
			}
			a, _ := c.row("alova-l1").median("hit-ratio")
			b, _ := c.row(peer).median("hit-ratio")
			fmt.Fprintf(w, "| L1 hit ratio under parallel load ≥ %s's | L1ReadThroughParallel (alova-l1 − %s) | %+.4f | %s |\n", peer, peer, a-b, yes(a >= b))
		}
	}
	for _, cs := range []string{"L2Hit", "L2HitParallel"} {
		ratio("L2 hit ≤ 1.1 × raw go-redis GET", cs, "alova", "go-redis-GET", 1.1)
		ratio("L2 hit ≤ 1.1 × raw go-redis GET", cs, "alova-ctxtimeout", "go-redis-GET", 1.1)
		ratio("(reference: both reads bounded by 200 ms)", cs, "alova-ctxtimeout", "go-redis-GET-timeout", 1.1)
	}
	for _, cs := range []string{"ClientGet", "ClientGetParallel"} {
		c := byName[cs]
		if c == nil || c.row("alova-cached") == nil {
			continue
		}
		ns, _ := c.row("alova-cached").median("ns/op")
		allocs, _ := c.row("alova-cached").median("allocs/op")
		fmt.Fprintf(w, "| cached send ≤ 300 ns and ≤ 2 allocs, method built per send | %s (alova-cached) | %.0f ns, %.0f allocs | %s |\n", cs, ns, allocs, yes(ns <= 300 && allocs <= 2))
	}
	for _, cs := range []string{"Stampede", "StampedeRedis"} {
		c := byName[cs]
		if c == nil {
			continue
		}
		for _, r := range c.rows {
			if !strings.HasPrefix(r.name, "alova") {
				continue
			}
			worst := slices.Max(append([]float64{0}, r.metrics["max-origin-calls"]...))
			fmt.Fprintf(w, "| stampede = 1 origin call | %s (%s, worst stampede of all runs) | %.0f | %s |\n", cs, r.name, worst, yes(worst == 1))
		}
	}
	for _, cs := range []string{"Middleware", "MiddlewareParallel"} {
		c := byName[cs]
		if c == nil {
			continue
		}
		for _, pair := range [][2]string{{"chi+alova", "chi"}, {"chi+RequestID+alova", "chi+RequestID"}, {"chi+alova", "chi+ctxvalue"}} {
			r, base := c.row(pair[0]), c.row(pair[1])
			if r == nil || base == nil {
				continue
			}
			dns, da := delta(r, base)
			target, met := "middleware ≤ 150 ns and ≤ 2 allocs over bare chi", yes(dns <= 150 && da <= 2)
			if pair[1] == "chi+ctxvalue" {
				target, met = "(reference, no target: alova over the least a context-binding middleware costs)", "–"
			}
			fmt.Fprintf(w, "| %s | %s (%s − %s) | %+.0f ns, %+.0f allocs | %s |\n", target, cs, pair[0], pair[1], dns, da, met)
		}
	}
	// The paired benchmarks report the median per-request difference
	// within each iteration (delta-ns/op), which a drifting load spoils less.
	for _, cs := range []string{"MiddlewarePaired", "MiddlewarePairedParallel"} {
		c := byName[cs]
		if c == nil {
			continue
		}
		for _, name := range []string{"chi->chi+alova", "chi+RequestID->chi+RequestID+alova", "chi+ctxvalue->chi+alova", "chi->chi"} {
			r := c.row(name)
			if r == nil {
				continue
			}
			dns, _ := r.median("delta-ns/op")
			da, _ := r.median("delta-allocs/op")
			target, met := "middleware ≤ 150 ns and ≤ 2 allocs over bare chi (paired)", yes(dns <= 150 && da <= 2)
			switch name {
			case "chi+ctxvalue->chi+alova":
				target, met = "(reference: alova over a bare WithValue + WithContext middleware, paired)", "–"
			case "chi->chi":
				target, met = "(control: bare chi paired with itself; should be ≈ 0)", "–"
			}
			fmt.Fprintf(w, "| %s | %s (%s) | %+.0f ns, %+.0f allocs | %s |\n", target, cs, name, dns, da, met)
		}
	}
	fmt.Fprintln(w)
}

func yes(ok bool) string {
	if ok {
		return "yes"
	}
	return "**no**"
}

func fatal(err error) {
	fmt.Fprintln(os.Stderr, "report:", err)
	os.Exit(1)
}
