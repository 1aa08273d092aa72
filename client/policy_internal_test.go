package client

import (
	"net/http"
	"testing"
	"time"
)

// freshFor follows RFC 9111's freshness lifetime and age for a shared
// cache (sections 4.2.1 and 4.2.3), on the RFC's own forms.
func TestFreshFor(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	date := now.Format(http.TimeFormat)
	ago := func(d time.Duration) string { return now.Add(-d).Format(http.TimeFormat) }
	in := func(d time.Duration) string { return now.Add(d).Format(http.TimeFormat) }
	tests := []struct {
		name   string
		header http.Header
		want   time.Duration
	}{
		{"max-age", http.Header{"Cache-Control": {"max-age=60"}, "Date": {date}}, time.Minute},
		{"s-maxage wins over max-age in a shared cache", http.Header{"Cache-Control": {"max-age=60, s-maxage=30"}}, 30 * time.Second},
		{"max-age wins over Expires", http.Header{"Cache-Control": {"max-age=60"}, "Date": {date}, "Expires": {in(time.Hour)}}, time.Minute},
		{"Expires minus Date", http.Header{"Date": {date}, "Expires": {in(2 * time.Minute)}}, 2 * time.Minute},
		{"Expires without Date: the time received", http.Header{"Expires": {in(2 * time.Minute)}}, 2 * time.Minute},
		{"an invalid Expires means expired", http.Header{"Date": {date}, "Expires": {"0"}}, 0},
		{"Expires in the past", http.Header{"Date": {date}, "Expires": {ago(time.Minute)}}, -time.Minute},
		{"less the Age header", http.Header{"Cache-Control": {"max-age=60"}, "Age": {"20"}, "Date": {date}}, 40 * time.Second},
		{"less the time since Date when longer", http.Header{"Cache-Control": {"max-age=60"}, "Age": {"5"}, "Date": {ago(30 * time.Second)}}, 30 * time.Second},
		{"Expires and Age", http.Header{"Date": {date}, "Expires": {in(time.Minute)}, "Age": {"15"}}, 45 * time.Second},
		{"max-age=0", http.Header{"Cache-Control": {"max-age=0"}}, 0},
		{"quoted argument", http.Header{"Cache-Control": {`max-age="60"`}}, time.Minute},
		{"case-insensitive directive", http.Header{"Cache-Control": {"Max-Age=60"}}, time.Minute},
		{"the first valid max-age", http.Header{"Cache-Control": {"max-age=60", "max-age=10"}}, time.Minute},
		{"an invalid max-age is ignored", http.Header{"Cache-Control": {"max-age=-1, max-age=abc"}, "Date": {date}, "Expires": {in(time.Minute)}}, time.Minute},
		{"huge max-age is capped, not overflowed", http.Header{"Cache-Control": {"max-age=99999999999999999999"}}, (1 << 31) * time.Second},
		{"no-cache: check every use", http.Header{"Cache-Control": {"max-age=60, no-cache"}}, 0},
		{"no-store", http.Header{"Cache-Control": {"no-store, max-age=60"}}, 0},
		{"private: not for a shared cache", http.Header{"Cache-Control": {"private, max-age=60"}}, 0},
		{"no freshness information", http.Header{"Date": {date}, "Last-Modified": {ago(time.Hour)}}, 0},
	}
	for _, tc := range tests {
		if got := freshFor(tc.header, now); got != tc.want {
			t.Errorf("%s: freshFor(%v) = %v, want %v", tc.name, tc.header, got, tc.want)
		}
	}
	// The policy caps the lifetime at its max.
	r := &request{}
	resp := &Response{header: http.Header{"Cache-Control": {"max-age=3600"}}}
	if got := CacheFromHeaders(time.Minute).ttl(r, resp); got != time.Minute {
		t.Errorf("CacheFromHeaders(1m) of max-age=3600 = %v, want 1m", got)
	}
	if CacheFromHeaders(0).enabled() {
		t.Error("CacheFromHeaders(0) caches")
	}
}
