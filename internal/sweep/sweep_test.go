package sweep

import "testing"

func TestMaybeSweepsAfterLenCalls(t *testing.T) {
	t.Parallel()
	m := map[int]bool{}
	for i := range 100 {
		m[i] = i%2 == 0 // even keys are dead
	}
	calls := 0
	dead := func(d bool) bool { return d }
	for range 99 {
		Maybe(m, &calls, dead)
	}
	if len(m) != 100 {
		t.Fatalf("swept after 99 calls on a map of 100: len = %d, want 100", len(m))
	}
	Maybe(m, &calls, dead)
	if len(m) != 50 || calls != 0 {
		t.Fatalf("after the 100th call: len = %d, calls = %d; want 50, 0", len(m), calls)
	}
	for k, d := range m {
		if d {
			t.Fatalf("dead entry %d survived the sweep", k)
		}
	}
}

func TestMaybeWaitsMinOnSmallMaps(t *testing.T) {
	t.Parallel()
	m := map[string]int{"a": 0}
	calls := 0
	for range Min - 1 {
		Maybe(m, &calls, func(int) bool { return true })
	}
	if len(m) != 1 {
		t.Fatalf("a small map was swept before %d calls", Min)
	}
	Maybe(m, &calls, func(int) bool { return true })
	if len(m) != 0 {
		t.Fatalf("a small map was not swept after %d calls", Min)
	}
}
