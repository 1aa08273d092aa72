package alovaotel_test

import (
	"context"
	"fmt"
	"io"
	"net/http/httptest"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/otlptranslator"
	"github.com/redis/go-redis/v9"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"

	"github.com/alovago/alova/alovaotel"
	"github.com/alovago/alova/cache"
)

// Serving the metrics to Prometheus: the OpenTelemetry Prometheus exporter
// reads the meter provider alovaotel reports to, and promhttp serves its
// registry (mount it at /metrics). The names are the classic Prometheus ones
// (alova_cache_hits_total), asked for explicitly: the exporter's default
// depends on a global of the Prometheus library.
//
// Two reads of one key through an L1 and a Redis L2: the first misses both
// tiers and loads, the second is an L1 hit. The L1 hit ratio is
// hits{tier="l1"} / (hits{tier="l1"} + misses{tier="l1"}).
func Example_prometheus() {
	reg := prometheus.NewRegistry()
	exporter, err := otelprom.New(otelprom.WithRegisterer(reg),
		otelprom.WithTranslationStrategy(otlptranslator.UnderscoreEscapingWithSuffixes))
	if err != nil {
		panic(err)
	}
	otl, err := alovaotel.New(alovaotel.Options{MeterProvider: sdkmetric.NewMeterProvider(sdkmetric.WithReader(exporter))})
	if err != nil {
		panic(err)
	}
	metrics := promhttp.HandlerFor(reg, promhttp.HandlerOpts{}) // mux.Handle("/metrics", metrics)

	mr := miniredis.NewMiniRedis() // stands in for your Redis
	if err := mr.Start(); err != nil {
		panic(err)
	}
	defer mr.Close()
	rdb := redis.NewClient(&redis.Options{Addr: mr.Addr()})
	defer rdb.Close()
	tiers := cache.NewTiered(cache.NewMemoryStore(cache.MemoryOptions{}),
		cache.NewRedisStore(rdb, cache.RedisOptions{KeyPrefix: "app:cache:"}), cache.TieredOptions{})
	defer tiers.Close()
	if _, err := otl.ObserveCache("products", tiers); err != nil {
		panic(err)
	}

	ctx := context.Background()
	load := func(context.Context) (cache.Entry, error) {
		return cache.Entry{Value: cache.StringValue(`{"id":"42"}`), TTL: time.Minute}, nil
	}
	for range 2 {
		if _, _, err := tiers.GetOrLoad(ctx, "product:42", load, cache.LoadOptions{}); err != nil {
			panic(err)
		}
	}

	// What Prometheus scrapes, here the hit and miss counters without the
	// otel_scope_* labels the exporter adds to every series.
	rec := httptest.NewRecorder()
	metrics.ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body, _ := io.ReadAll(rec.Body)
	var lines []string
	for _, l := range strings.Split(string(body), "\n") {
		if strings.HasPrefix(l, "alova_cache_hits_total{") || strings.HasPrefix(l, "alova_cache_misses_total{") {
			lines = append(lines, scopeLabels.ReplaceAllString(l, ""))
		}
	}
	sort.Strings(lines)
	fmt.Println(strings.Join(lines, "\n"))
	// Output:
	// alova_cache_hits_total{alova_cache_name="products",alova_cache_tier="l1"} 1
	// alova_cache_hits_total{alova_cache_name="products",alova_cache_tier="l2"} 0
	// alova_cache_misses_total{alova_cache_name="products",alova_cache_tier="l1"} 1
	// alova_cache_misses_total{alova_cache_name="products",alova_cache_tier="l2"} 1
}

// scopeLabels matches the otel_scope_* labels the exporter adds to every
// series (the instrumentation scope's name, version and schema URL).
var scopeLabels = regexp.MustCompile(`,?otel_scope_[a-z_]+="[^"]*"`)
