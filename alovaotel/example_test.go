package alovaotel_test

import (
	"context"
	"fmt"
	"time"

	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/alovago/alova/alovaotel"
	"github.com/alovago/alova/cache"
)

// Ten reads of one product through an observed cache: one L1 miss (and one
// load), then nine L1 hits, as a manual reader collects them.
func Example() {
	reader := sdkmetric.NewManualReader()
	otl, err := alovaotel.New(alovaotel.Options{MeterProvider: sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))})
	if err != nil {
		panic(err)
	}
	tiers := cache.NewTiered(cache.NewMemoryStore(cache.MemoryOptions{}), nil, cache.TieredOptions{})
	defer tiers.Close()
	if _, err := otl.ObserveCache("products", tiers); err != nil {
		panic(err)
	}

	ctx := context.Background()
	load := func(context.Context) (cache.Entry, error) {
		return cache.Entry{Value: cache.StringValue(`{"id":"42"}`), TTL: time.Minute}, nil
	}
	for range 10 {
		if _, _, err := tiers.GetOrLoad(ctx, "product:42", load, cache.LoadOptions{}); err != nil {
			panic(err)
		}
	}

	var rm metricdata.ResourceMetrics
	if err := reader.Collect(ctx, &rm); err != nil {
		panic(err)
	}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			sum, ok := m.Data.(metricdata.Sum[int64])
			if !ok || (m.Name != "alova.cache.hits" && m.Name != "alova.cache.misses" && m.Name != "alova.cache.loads") {
				continue
			}
			for _, dp := range sum.DataPoints {
				if tier, _ := dp.Attributes.Value(alovaotel.CacheTierKey); tier.AsString() == "l2" {
					continue
				}
				fmt.Println(m.Name, label(dp.Attributes), dp.Value)
			}
		}
	}
	// Output:
	// alova.cache.hits name=products,tier=l1 9
	// alova.cache.misses name=products,tier=l1 1
	// alova.cache.loads name=products 1
}

// label prints a data point's attributes without their "alova.cache."
// prefix.
func label(s attribute.Set) string {
	out := ""
	for _, kv := range s.ToSlice() {
		if out != "" {
			out += ","
		}
		out += string(kv.Key)[len("alova.cache."):] + "=" + kv.Value.Emit()
	}
	return out
}
