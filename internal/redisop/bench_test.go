package redisop

import (
	"context"
	"testing"
	"time"
)

// BenchmarkDo is the fixed cost of a bound around a call that returns at
// once: a context with a deadline, plus, when watched, a goroutine hand-off.
func BenchmarkDo(b *testing.B) {
	fn := func(context.Context) (string, error) { return "v", nil }
	for _, watch := range []bool{false, true} {
		name := "ctxtimeout"
		if watch {
			name = "watched"
		}
		b.Run(name, func(b *testing.B) {
			bd := Bound{timeout: time.Second, watch: watch}
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Do(ctx, bd, fn); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(name+"-parallel", func(b *testing.B) {
			bd := Bound{timeout: time.Second, watch: watch}
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				ctx := context.Background()
				for pb.Next() {
					if _, err := Do(ctx, bd, fn); err != nil {
						b.Fatal(err)
					}
				}
			})
		})
	}
}
