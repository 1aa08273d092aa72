package cache

import "testing"

func TestBreaker(t *testing.T) {
	t.Parallel()
	const cool = 100
	type step struct {
		at     int64
		op     string // "allow", "ok", "fail"
		want   bool   // allow: allowed; ok: recovered; fail: opened
		isOpen bool   // open(at) after the step
	}
	tests := []struct {
		name  string
		steps []step
	}{
		{"failures below threshold keep it closed", []step{
			{1, "fail", false, false}, {2, "fail", false, false}, {3, "ok", false, false},
			{4, "fail", false, false}, {5, "fail", false, false}, {6, "allow", true, false},
		}},
		{"threshold opens, cool-down skips, one probe, success closes", []step{
			{1, "fail", false, false}, {2, "fail", false, false}, {3, "fail", true, true},
			{50, "allow", false, true}, {102, "allow", false, true},
			{103, "allow", true, true},  // the probe
			{104, "allow", false, true}, // others wait while it runs
			{105, "ok", true, false}, {106, "allow", true, false},
		}},
		{"failed probe reopens", []step{
			{1, "fail", false, false}, {2, "fail", false, false}, {3, "fail", true, true},
			{103, "allow", true, true}, {110, "fail", false, true},
			{150, "allow", false, true}, {210, "allow", true, true},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := &breaker{threshold: 3, cooldown: cool}
			for i, s := range tc.steps {
				var got bool
				switch s.op {
				case "allow":
					got = b.allow(s.at)
				case "ok":
					got = b.success()
				case "fail":
					got = b.failure(s.at)
				}
				if got != s.want || b.open(s.at) != s.isOpen {
					t.Fatalf("step %d (%s at %d) = %v, open %v; want %v, open %v", i, s.op, s.at, got, b.open(s.at), s.want, s.isOpen)
				}
			}
		})
	}
}
