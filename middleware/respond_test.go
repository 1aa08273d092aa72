package middleware_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/alovago/alova/middleware"
)

// TestCacheControl (issue 12, item 10): a product answer written with
// WriteJSON may be cached by browsers and CDNs (no Cache-Control of ours,
// and one the handler set is kept); error answers are never stored.
func TestCacheControl(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		set   string // Cache-Control set by the handler before writing
		write func(w http.ResponseWriter)
		want  string
	}{
		{"WriteJSON", "", func(w http.ResponseWriter) { middleware.WriteJSON(w, http.StatusOK, map[string]int{"price": 42}) }, ""},
		{"WriteJSON keeps the handler's", "public, max-age=60",
			func(w http.ResponseWriter) { middleware.WriteJSON(w, http.StatusOK, map[string]int{"price": 42}) }, "public, max-age=60"},
		{"WriteError", "", func(w http.ResponseWriter) {
			middleware.WriteError(w, http.StatusBadGateway, middleware.Error{Code: "downstream_failed", Message: "m"})
		}, "no-store"},
		{"WriteError overrides a cacheable header", "public, max-age=60", func(w http.ResponseWriter) {
			middleware.WriteError(w, http.StatusNotFound, middleware.Error{Code: "not_found", Message: "m"})
		}, "no-store"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			rec := httptest.NewRecorder()
			if tc.set != "" {
				rec.Header().Set("Cache-Control", tc.set)
			}
			tc.write(rec)
			if got := rec.Header().Get("Cache-Control"); got != tc.want {
				t.Errorf("Cache-Control = %q, want %q", got, tc.want)
			}
			if got := rec.Header().Get("X-Content-Type-Options"); got != "nosniff" {
				t.Errorf("X-Content-Type-Options = %q, want nosniff", got)
			}
		})
	}
}

// A message with <, > or & reads as written: the answer is JSON marked
// nosniff, not HTML, so json.Marshal's \u003c escapes only garble it.
func TestWriteErrorNotHTMLEscaped(t *testing.T) {
	t.Parallel()
	rec := httptest.NewRecorder()
	middleware.WriteError(rec, http.StatusUnauthorized, middleware.Error{Code: "unauthorized", Message: "send Authorization: Bearer <ADMIN_TOKEN> & retry"})
	want := `{"error":{"code":"unauthorized","message":"send Authorization: Bearer <ADMIN_TOKEN> & retry"}}` + "\n"
	if got := rec.Body.String(); got != want {
		t.Fatalf("body = %s, want %s", got, want)
	}
}
