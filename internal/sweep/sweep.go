// Package sweep paces the lazy clean-up of the in-memory stores (rate-limit
// windows, locks, captcha records). A map swept once every len(m) writes
// costs O(1) amortized per write, needs no goroutine (so nothing to close
// and nothing to leak), and holds at most about twice its live entries.
package sweep

// Min is the fewest calls between two sweeps, so that a small map is not
// scanned on every write.
const Min = 64

// Maybe counts a call in *calls and, once the calls since the last sweep
// reach len(m) (at least [Min]), deletes every entry of m for which dead
// reports true and resets the count. The caller holds the lock that guards
// m and *calls.
func Maybe[K comparable, V any](m map[K]V, calls *int, dead func(V) bool) {
	*calls++
	if *calls < max(len(m), Min) {
		return
	}
	*calls = 0
	for k, v := range m {
		if dead(v) {
			delete(m, k)
		}
	}
}
