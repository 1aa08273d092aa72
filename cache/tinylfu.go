package cache

// The queues of the policy an entry can be in.
const (
	qNone uint8 = iota
	qWindow
	qProbation
	qProtected
)

// node is an entry's place in the policy: the store's entries embed one
// and point it back at themselves (entry), the miniature simulations hold
// bare ones (entry nil).
type node struct {
	prev, next *node
	entry      *memEntry
	hash       uint64
	weight     uint64
	queue      uint8
	// stamp is the list's count of pushes when this node was pushed.
	stamp uint32
}

// lruList is an intrusive doubly linked list of entries, most recent first.
type lruList struct {
	root node
	// n counts the entries; pushes the pushes to the front, ever (it
	// wraps, harmlessly: only differences of it are used).
	n      int
	pushes uint32
}

func (l *lruList) init() { l.root.next, l.root.prev = &l.root, &l.root }

func (l *lruList) pushFront(e *node) {
	e.prev, e.next = &l.root, l.root.next
	e.next.prev = e
	l.root.next = e
	l.n++
	l.pushes++
	e.stamp = l.pushes
}

func (l *lruList) remove(e *node) {
	e.prev.next, e.next.prev = e.next, e.prev
	e.prev, e.next = nil, nil
	l.n--
}

// moveToFront makes e the most recent entry, unless fewer than an eighth of
// the list's entries went in front of it since it was last put there: the
// order of the most recent eighth is left as it was, which saves most moves
// of the entries read most (each writes two neighbours' memory) and changes
// no entry's turn to be evicted but at the far end of the list.
func (l *lruList) moveToFront(e *node) {
	if l.pushes-e.stamp < uint32(l.n/8) {
		return
	}
	l.remove(e)
	l.pushFront(e)
}

// back returns the least recent entry, or nil.
func (l *lruList) back() *node {
	if l.root.prev == &l.root {
		return nil
	}
	return l.root.prev
}

// tinyLFU is the W-TinyLFU eviction policy (Einziger, Friedman, Manes:
// "TinyLFU: a highly efficient cache admission policy"): a window in least
// recently used order in front of a main area (probation and protected, a
// segmented LRU). An entry leaving the window enters the main area only if
// the sketch says it is read more often than the entry it would evict.
// With a window of the whole capacity it is plain LRU; with a small one it
// keeps frequent keys through scans and loops. The caller picks the window
// (setWindow). Entries are weighed; the policy keeps the total within max.
// It is not safe for concurrent use.
type tinyLFU struct {
	q       [4]lruList // by queue; q[qNone] unused
	w       [4]uint64  // weight held by queue
	max     uint64
	window  uint64 // the window's share of max
	protMax uint64
	// margin is how much more often than the victim a candidate must have
	// been read to be admitted.
	margin uint64
	sketch *sketch
	// evicted is called with each entry the policy evicts, once it has
	// left the lists.
	evicted func(*node)
}

func (p *tinyLFU) init(max uint64, s *sketch, evicted func(*node)) {
	for i := range p.q {
		p.q[i].init()
	}
	p.max, p.sketch, p.evicted = max, s, evicted
	p.setWindow(max / 100)
}

// setWindow sets the window's weight and evicts or demotes what no longer fits.
func (p *tinyLFU) setWindow(w uint64) {
	p.window = min(w, p.max)
	p.protMax = (p.max - p.window) * 4 / 5
	p.demote()
	p.evict()
}

func (p *tinyLFU) total() uint64 { return p.w[qWindow] + p.w[qProbation] + p.w[qProtected] }

func (p *tinyLFU) link(e *node, q uint8) {
	e.queue = q
	p.q[q].pushFront(e)
	p.w[q] += e.weight
}

func (p *tinyLFU) unlink(e *node) {
	p.q[e.queue].remove(e)
	p.w[e.queue] -= e.weight
	e.queue = qNone
}

// add inserts e into the window, then evicts what exceeds the bounds.
func (p *tinyLFU) add(e *node) {
	p.link(e, qWindow)
	p.evict()
}

// replace puts e in old's place (a new version of the same key keeps the
// standing the key earned), then evicts what exceeds the bounds.
func (p *tinyLFU) replace(old, e *node) {
	q := old.queue
	p.unlink(old)
	p.link(e, q)
	p.demote()
	p.evict()
}

// remove takes e out of the policy, if it is in it.
func (p *tinyLFU) remove(e *node) {
	if e.queue != qNone {
		p.unlink(e)
	}
}

// touch records a read of e: a read in probation promotes it to protected.
func (p *tinyLFU) touch(e *node) {
	switch q := e.queue; q {
	case qWindow, qProtected:
		p.q[q].moveToFront(e)
	case qProbation:
		p.unlink(e)
		p.link(e, qProtected)
		p.demote()
	}
}

// demote moves protected's least recent entries to probation while
// protected exceeds its share.
func (p *tinyLFU) demote() {
	for p.w[qProtected] > p.protMax {
		d := p.q[qProtected].back()
		p.unlink(d)
		p.link(d, qProbation)
	}
}

// evict moves the window's overflow to probation, each entry admitted only
// if it is more frequent than the victim it would evict, then evicts the
// least recent entries until the total is within max. A victim in
// probation that wins against a candidate moves to probation's front, so
// that the next candidate meets another victim: without it, one entry
// read often long ago (a hot key that has gone cold: its count stays high
// until the sketch halves) turns away every candidate until the sketch
// ages, while the entries behind it, perhaps read less often than the
// candidates, are never weighed.
func (p *tinyLFU) evict() {
	for p.w[qWindow] > p.window {
		c := p.q[qWindow].back()
		p.unlink(c)
		p.link(c, qProbation)
		if p.total() <= p.max {
			continue
		}
		v := p.q[qProbation].back()
		if v == c {
			v = p.q[qProtected].back()
		}
		if v != nil && p.sketch.estimate(c.hash) > p.sketch.estimate(v.hash)+p.margin {
			c = v
		} else if v != nil && v.queue == qProbation {
			p.q[qProbation].remove(v)
			p.q[qProbation].pushFront(v)
		}
		p.drop(c)
	}
	for p.total() > p.max {
		v := p.q[qProbation].back()
		if v == nil {
			v = p.q[qProtected].back()
		}
		if v == nil {
			v = p.q[qWindow].back()
		}
		p.drop(v)
	}
}

func (p *tinyLFU) drop(e *node) {
	p.unlink(e)
	p.evicted(e)
}

// A setting is a choice of window size, in parts of the capacity, and
// admission margin.
type setting struct {
	window float64
	margin uint64
}

// settings are those the miniature simulations compare: from TinyLFU's
// 1 % window (frequency pays) to plain LRU (recency pays), and at 1 % a
// stricter admission, which keeps a loop longer than the store from
// churning through it.
var settings = [...]setting{{0.01, 0}, {0.01, 1}, {0.1, 0}, {0.3, 0}, {0.6, 0}, {1, 0}}

// adapter picks the window of a tinyLFU by miniature simulation
// (Waldspurger et al., "Cache Modeling and Optimization using Miniature
// Simulations", USENIX ATC 2017): a sample of the keys, chosen by hash, is
// replayed against small copies of the policy, one per setting in
// settings, each scaled down by the sampling rate. Hits decay by half each
// period. The store keeps its setting until another copy has hit
// significantly more than the current one: by more than twice the square
// root of the reads on which the two disagreed (one hit, the other missed),
// a sign test at about 2 standard deviations. Copies that hit within noise
// of each other thus do not toggle the store's setting on sampling noise,
// and a copy that pulls ahead clearly (a hot set has moved, a loop has
// begun) takes over within a fraction of a period, as the choice is
// checked 64 times a period. It is not safe for concurrent use.
type adapter struct {
	sims      [len(settings)]miniSim
	threshold uint64 // a key is sampled if its sampling hash is below
	seen      int
	period    int
	choice    int
	// split[i][j] counts the sampled reads on which copy i hit and copy j
	// missed, decaying with the hits.
	split [len(settings)][len(settings)]int32
}

// miniSim is one scaled-down copy of the policy, holding keys only.
type miniSim struct {
	p    tinyLFU
	held map[uint64]*node
	hits int
}

// adapterSample is the capacity of the miniature simulations, in entries
// (fewer if the store holds fewer). 2,048 (a store of up to 2,048 entries
// simulated whole) did not hold the rows 512 misses: over three runs,
// zipf-drift at 10k scored −0.002 to −0.011 against LRU (512: −0.001 to
// −0.016) and moving-hot-slow −0.005 to −0.008 (512: −0.003 to −0.009),
// for 76 more bytes per entry.
const adapterSample = 512

// adapterChecks is how many times a period the adapter compares the
// copies.
const adapterChecks = 64

func (a *adapter) init(entries int, s *sketch) {
	rate := min(1, max(float64(adapterSample)/float64(entries), 1.0/64))
	size := max(1, int(float64(entries)*rate+0.5))
	a.threshold = uint64(rate * (1 << 32))
	a.period = 4 * size
	a.choice = 1
	for i := range a.sims {
		sim := &a.sims[i]
		sim.held = make(map[uint64]*node, size)
		sim.p.init(uint64(size), s, func(e *node) { delete(sim.held, e.hash) })
		sim.p.setWindow(max(1, uint64(settings[i].window*float64(size)+0.5)))
		sim.p.margin = settings[i].margin
	}
}

// access replays a read (or a write) of the key of hash h, if sampled, and
// reports a new choice of setting, or -1.
func (a *adapter) access(h uint64) int {
	if (h*0x94d049bb133111eb)>>32 >= a.threshold {
		return -1
	}
	var hit [len(settings)]bool
	for i := range a.sims {
		sim := &a.sims[i]
		if e := sim.held[h]; e != nil {
			sim.hits++
			hit[i] = true
			sim.p.touch(e)
			continue
		}
		e := &node{hash: h, weight: 1}
		sim.held[h] = e
		sim.p.add(e)
	}
	for i := range hit {
		if hit[i] {
			for j := range hit {
				if !hit[j] {
					a.split[i][j]++
				}
			}
		}
	}
	if a.seen++; a.seen%max(1, a.period/adapterChecks) != 0 {
		return -1
	}
	c := a.choice
	best, lead := c, 0
	for i := range a.sims {
		// lead is hits[i] − hits[c]; split[i][c] + split[c][i] the reads
		// on which they disagreed.
		l := a.sims[i].hits - a.sims[c].hits
		if l > lead && l*l > 4*int(a.split[i][c]+a.split[c][i]) {
			best, lead = i, l
		}
	}
	if a.seen >= a.period {
		a.seen = 0
		for i := range a.sims {
			a.sims[i].hits /= 2
			for j := range a.split[i] {
				a.split[i][j] /= 2
			}
		}
	}
	if best == c {
		return -1
	}
	a.choice = best
	return best
}
