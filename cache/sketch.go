package cache

import "math/bits"

// sketch is a count-min sketch of 4-bit counters: the frequency of a key
// among recent reads, estimated in little space. The counters halve each
// time the additions reach the sample size (ten reads per entry), so that
// a key read often long ago ages out. It is not safe for concurrent use.
type sketch struct {
	table  []uint64 // 16 counters of 4 bits per word
	mask   uint64
	adds   int
	sample int
}

func newSketch(entries int) *sketch {
	words := uint64(1) << bits.Len64(uint64(max(entries, 8)-1))
	return &sketch{table: make([]uint64, words), mask: words - 1, sample: 10 * max(entries, 8)}
}

// slot returns the word and the bit offset of the i-th counter of a key of
// hash h.
func (s *sketch) slot(h uint64, i int) (int, uint) {
	x := (h + uint64(i)*0x9e3779b97f4a7c15) * 0xbf58476d1ce4e5b9
	x ^= x >> 31
	return int(x & s.mask), uint(x>>60) << 2
}

// estimate returns the frequency of the key of hash h (0 to 15).
func (s *sketch) estimate(h uint64) uint64 {
	f := uint64(15)
	for i := range 4 {
		w, off := s.slot(h, i)
		f = min(f, s.table[w]>>off&15)
	}
	return f
}

// increment counts one read of the key of hash h, raising only its
// smallest counters (conservative update).
func (s *sketch) increment(h uint64) {
	f := s.estimate(h)
	if f == 15 {
		return
	}
	for i := range 4 {
		w, off := s.slot(h, i)
		if s.table[w]>>off&15 == f {
			s.table[w] += 1 << off
		}
	}
	if s.adds++; s.adds >= s.sample {
		for i, w := range s.table {
			s.table[i] = w >> 1 & 0x7777777777777777
		}
		s.adds /= 2
	}
}
