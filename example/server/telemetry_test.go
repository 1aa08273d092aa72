package main

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/alovago/alova/alovaotel"
)

// scrape reads srv's /metrics (as the operator, from loopback) and returns
// its samples: series line → value.
func scrape(t *testing.T, srv *httptest.Server) map[string]float64 {
	t.Helper()
	st, h, body := call(t, srv, "GET", "/metrics", "", "")
	if st != http.StatusOK || !strings.HasPrefix(h.Get("Content-Type"), "text/plain") {
		t.Fatalf("GET /metrics = %d %s, want 200 text/plain", st, h.Get("Content-Type"))
	}
	out := map[string]float64{}
	for line := range strings.Lines(body) {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("/metrics line %q: %v", line, err)
		}
		out[line[:i]] = v
	}
	return out
}

// sample returns the value of the series called name whose labels include
// every one of labels (`k="v"`), failing unless there is exactly one.
func sample(t *testing.T, m map[string]float64, name string, labels ...string) float64 {
	t.Helper()
	var found []string
	var v float64
next:
	for series, val := range m {
		if !strings.HasPrefix(series, name+"{") {
			continue
		}
		for _, l := range labels {
			if !strings.Contains(series, l) {
				continue next
			}
		}
		found, v = append(found, series), val
	}
	if len(found) != 1 {
		t.Fatalf("/metrics has %d series %s%v: %q", len(found), name, labels, found)
	}
	return v
}

// TestMetricsCountWhatHappened: a scripted run (ten reads of one product,
// a code sent and a wrong code submitted), then /metrics says so.
func TestMetricsCountWhatHappened(t *testing.T) {
	t.Parallel()
	_, srv := newTestApp(t, testConfig(t))
	id := uniqueID()
	for i := range 10 {
		if st, _, body := call(t, srv, "GET", "/api/products/"+id, "", ""); st != http.StatusOK {
			t.Fatalf("read %d: GET /api/products/%s = %d %s", i, id, st, body)
		}
	}
	key := uniqueEmail()
	challenge := sendOK(t, srv, key)
	if st, _, body := call(t, srv, "POST", "/captcha/verify", "application/json",
		fmt.Sprintf(`{"key":%q,"challenge":%q,"code":"000000x"}`, key, challenge)); st/100 != 4 {
		t.Fatalf("verify of a wrong code = %d %s, want 4xx", st, body)
	}

	m := scrape(t, srv)
	products := `alova_cache_name="products"`
	for _, tc := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"alova_cache_misses_total", []string{products, `alova_cache_tier="l1"`}, 1},
		{"alova_cache_hits_total", []string{products, `alova_cache_tier="l1"`}, 9},
		// One read, one L2 miss: the look made again under the -lock-wait
		// lease, in the call that takes it ("get or lock"), is not a read
		// of its own.
		{"alova_cache_misses_total", []string{products, `alova_cache_tier="l2"`}, 1},
		{"alova_cache_l2_duration_seconds_count", []string{products, `alova_cache_op="get or lock"`, `alova_cache_outcome="miss"`}, 1},
		{"alova_cache_l2_duration_seconds_count", []string{products, `alova_cache_op="unlock"`, `alova_cache_outcome="ok"`}, 1},
		{"alova_cache_hits_total", []string{products, `alova_cache_tier="l2"`}, 0},
		{"alova_cache_loads_total", []string{products}, 1},
		{"alova_cache_l2_cooling_down", []string{products}, 0},
		{"alova_cache_l2_duration_seconds_count", []string{products, `alova_cache_op="set"`, `alova_cache_outcome="ok"`}, 1},
		{"alova_captcha_sends_total", []string{`alova_captcha_result="ok"`}, 1},
		{"alova_captcha_verifies_total", []string{`alova_captcha_result="invalid_code"`}, 1},
		{"alova_ratelimit_decisions_total", []string{`alova_ratelimit_name="captcha_ip"`, `alova_ratelimit_result="allowed"`}, 2},
	} {
		if got := sample(t, m, tc.name, tc.labels...); got != tc.want {
			t.Errorf("%s%v = %v, want %v", tc.name, tc.labels, got, tc.want)
		}
	}
}

// TestTelemetryOff: -telemetry=false takes the route away.
func TestTelemetryOff(t *testing.T) {
	t.Parallel()
	_, srv := newTestApp(t, testConfig(t, "-telemetry=false"))
	if st, _, _ := call(t, srv, "GET", "/metrics", "", ""); st != http.StatusNotFound {
		t.Errorf("GET /metrics with -telemetry=false = %d, want 404", st)
	}
}

// TestTraceSpanPerSend: with -trace-stdout, a product read gets a server
// span and a client span per downstream send under it (in the caller's
// trace when it sends a sampled Traceparent), with the tier that answered;
// a caller's unsampled Traceparent gets no span at all.
func TestTraceSpanPerSend(t *testing.T) {
	t.Parallel()
	a, srv := newTestApp(t, testConfig(t, "-trace-stdout"))
	rec := tracetest.NewSpanRecorder()
	a.telemetry.tp.RegisterSpanProcessor(rec)

	read := func(id, traceparent string) {
		t.Helper()
		req, err := http.NewRequest(http.MethodGet, srv.URL+"/api/products/"+id, nil)
		if err != nil {
			t.Fatal(err)
		}
		if traceparent != "" {
			req.Header.Set("Traceparent", traceparent)
		}
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET /api/products/%s = %d, want 200", id, resp.StatusCode)
		}
	}
	const traceID = "4bf92f3577b34da6a3ce929d0e0e4736"
	for _, tc := range []struct {
		name, traceparent string
		tiers             []string // of the send spans, in order; nil: no span at all
	}{
		{"no Traceparent", "", []string{"MISS", "L1"}},
		{"sampled Traceparent", "00-" + traceID + "-00f067aa0ba902b7-01", []string{"MISS", "L1"}},
		{"unsampled Traceparent", "00-" + traceID + "-00f067aa0ba902b7-00", nil},
	} {
		// Not parallel: the subtests share the recorder.
		t.Run(tc.name, func(t *testing.T) {
			id := uniqueID()
			before := len(rec.Ended())
			read(id, tc.traceparent)
			read(id, tc.traceparent)
			spans := rec.Ended()[before:]
			if tc.tiers == nil {
				if len(spans) != 0 {
					t.Fatalf("%d spans, want none (first: %q)", len(spans), spans[0].Name())
				}
				return
			}
			var servers []sdktrace.ReadOnlySpan
			var tiers []string
			for _, s := range spans {
				switch s.SpanKind() {
				case trace.SpanKindServer:
					servers = append(servers, s)
					if tc.traceparent != "" && s.SpanContext().TraceID().String() != traceID {
						t.Errorf("server span in trace %v, want the caller's %s", s.SpanContext().TraceID(), traceID)
					}
				case trace.SpanKindClient:
					// A client span ends before its server span: its parent
					// is the next server span ended.
					tiers = append(tiers, "")
					for _, a := range s.Attributes() {
						if a.Key == alovaotel.SendTierKey {
							tiers[len(tiers)-1] = a.Value.AsString()
						}
					}
				}
			}
			if len(servers) != 2 || !slices.Equal(tiers, tc.tiers) {
				t.Fatalf("%d server spans, send tiers %q; want 2 and %q", len(servers), tiers, tc.tiers)
			}
			si := 0
			for _, s := range spans {
				switch s.SpanKind() {
				case trace.SpanKindServer:
					if s.Name() != "GET /api/products/{id}" {
						t.Errorf("server span name %q, want %q", s.Name(), "GET /api/products/{id}")
					}
					si++
				case trace.SpanKindClient:
					if want := servers[si].SpanContext(); s.Parent().SpanID() != want.SpanID() || s.SpanContext().TraceID() != want.TraceID() {
						t.Errorf("send span under %v in trace %v, want under the server span %v", s.Parent().SpanID(), s.SpanContext().TraceID(), want.SpanID())
					}
				}
			}
		})
	}
}
