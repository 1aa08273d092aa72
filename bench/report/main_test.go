package main

import (
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	const out = `goos: linux
BenchmarkClientGet/net/http-2         	   100	      95000 ns/op	    8065 B/op	      72 allocs/op
BenchmarkClientGet/alova-2            	   100	     150000 ns/op	   11458 B/op	      98 allocs/op
BenchmarkClientGet/alova-2            	   100	     170000 ns/op	   11458 B/op	      98 allocs/op
BenchmarkClientGet/alova-2            	   100	     140000 ns/op	   11458 B/op	      98 allocs/op
BenchmarkStampede/alova-2             	    10	    3000000 ns/op	         1.000 max-origin-calls	         1.000 origin-calls/op	 1100550 B/op	    3643 allocs/op
PASS
`
	cases, err := parse(strings.NewReader(out))
	if err != nil {
		t.Fatal(err)
	}
	if len(cases) != 2 {
		t.Fatalf("parse found %d cases, want 2", len(cases))
	}
	c := cases[0]
	tests := []struct {
		row, unit string
		want      float64
	}{
		{"net/http", "ns/op", 95000},
		{"alova", "ns/op", 150000}, // the median of three runs
		{"alova", "allocs/op", 98},
	}
	for _, tc := range tests {
		r := c.row(tc.row)
		if r == nil {
			t.Fatalf("no row %q in %s", tc.row, c.name)
		}
		if got, _ := r.median(tc.unit); got != tc.want {
			t.Errorf("median(%s %s) = %v, want %v", tc.row, tc.unit, got, tc.want)
		}
	}
	if ref := c.ref(); ref == nil || ref.name != "alova" {
		t.Errorf("ref() = %v, want the alova row", ref)
	}
	if got := c.row("alova").spread("ns/op"); got < 13.3 || got > 13.4 {
		t.Errorf("spread = %v, want 13.3 (170000 is 13.3%% above 150000)", got)
	}
	if got, _ := cases[1].row("alova").median("max-origin-calls"); got != 1 {
		t.Errorf("max-origin-calls = %v, want 1", got)
	}
}
