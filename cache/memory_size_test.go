package cache

import (
	"fmt"
	"runtime"
	"strconv"
	"testing"
	"time"
)

// TestMemoryPerEntry measures what an L1 entry costs beyond its key and
// value (docs/operations.md quotes it), and fails if it grows past a bound:
// run it with -v to see the figures.
func TestMemoryPerEntry(t *testing.T) {
	const n = 10000
	for _, tc := range []struct {
		name   string
		tagged bool
		max    int64 // bytes per entry
	}{
		{"untagged", false, 400},
		{"one tag (a client entry's URL tag)", true, 800},
	} {
		keys := make([]string, n)
		items := make([]Item, n)
		for i := range n {
			keys[i] = fmt.Sprintf("%032x", i)
			items[i] = Item{Value: StringValue("value " + strconv.Itoa(i))}
			if tc.tagged {
				items[i].Tags = []string{"client/url:http://api/products/" + strconv.Itoa(i)}
			}
		}
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		m := NewMemoryStore(MemoryOptions{MaxEntries: n})
		for i := range n {
			m.Set(keys[i], items[i], time.Hour)
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		per := (int64(after.HeapAlloc) - int64(before.HeapAlloc)) / n
		t.Logf("%s: %d bytes per entry beyond its key and value", tc.name, per)
		if per > tc.max {
			t.Errorf("%s: an L1 entry costs %d bytes beyond its key and value, want at most %d", tc.name, per, tc.max)
		}
		runtime.KeepAlive(m)
		runtime.KeepAlive(items)
	}
}
