package cache

import (
	"math/rand/v2"
	"testing"
)

// TestTinyLFUVictimRotates checks that a probation victim that turns a
// candidate away moves to probation's front, so that the next candidate
// meets another victim.
func TestTinyLFUVictimRotates(t *testing.T) {
	s := newSketch(8)
	var p tinyLFU
	held := map[uint64]*node{}
	p.init(4, s, func(e *node) { delete(held, e.hash) })
	p.setWindow(1)
	add := func(h uint64) {
		e := &node{hash: h, weight: 1}
		held[h] = e
		p.add(e)
	}
	for h := uint64(1); h <= 4; h++ {
		add(h)
	}
	// The window holds 4; probation 1, 2, 3, least recent first. Make 1
	// frequent: it wins against candidate 4 when 5 arrives.
	for range 5 {
		s.increment(1)
	}
	add(5)
	if held[4] != nil || held[1] == nil {
		t.Fatalf("candidate 4 admitted against frequent victim 1")
	}
	if got := p.q[qProbation].root.next; got != held[1] {
		t.Fatalf("victim 1 did not move to probation's front")
	}
	// The next candidate, 5, meets victim 2 (as frequent as it: rejected),
	// and 2 moves to the front in its turn.
	add(6)
	if held[5] != nil || p.q[qProbation].root.next != held[2] {
		t.Fatalf("next contest not against victim 2")
	}
}

// TestAdapterFollowsMovingHotSet checks that the adapter leaves its
// starting setting (a 1 % window with an admission margin) for a large
// window on a hot set that moves to fresh keys, where recency pays, and
// that it keeps the starting setting on a loop longer than the store.
func TestAdapterFollowsMovingHotSet(t *testing.T) {
	const entries = 1000
	s := newSketch(entries)
	var a adapter
	a.init(entries, s)
	rng := rand.New(rand.NewPCG(1, 2))
	mix := func(k uint64) uint64 { return (k + 1) * 0x9e3779b97f4a7c15 }
	choice := a.choice
	for i := range 200_000 {
		h := mix(uint64(i/(2*entries)*entries + rng.IntN(entries/2)))
		s.increment(h)
		if c := a.access(h); c >= 0 {
			choice = c
		}
	}
	if settings[choice].window < 0.6 {
		t.Errorf("moving hot set: window %v, want at least 0.6", settings[choice].window)
	}

	s = newSketch(entries)
	a = adapter{}
	a.init(entries, s)
	choice = a.choice
	for i := range 200_000 {
		h := mix(uint64(1<<20 + i%(entries*11/10)))
		s.increment(h)
		if c := a.access(h); c >= 0 {
			choice = c
		}
	}
	if settings[choice] != (setting{0.01, 1}) {
		t.Errorf("loop: setting %v, want a 1 %% window with margin 1", settings[choice])
	}
}
