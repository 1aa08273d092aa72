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

// BenchmarkDoWith is BenchmarkDo through DoWith with a plain function, as
// cache.RedisStore.Get calls it, with no caller deadline and with one that
// comes before the bound (no context of the Bound's own then).
func BenchmarkDoWith(b *testing.B) {
	get := func(_ context.Context, k string) (string, error) { return k, nil }
	for _, watch := range []bool{false, true} {
		for _, callerDeadline := range []bool{false, true} {
			name := "ctxtimeout"
			if watch {
				name = "watched"
			}
			if callerDeadline {
				name += "-caller-deadline"
			}
			b.Run(name, func(b *testing.B) {
				bd := Bound{timeout: time.Hour, watch: watch}
				ctx := context.Background()
				if callerDeadline {
					var cancel context.CancelFunc
					ctx, cancel = context.WithTimeout(ctx, time.Minute)
					defer cancel()
				}
				b.ReportAllocs()
				for b.Loop() {
					if _, err := DoWith(ctx, bd, "k", get); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
