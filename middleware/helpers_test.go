package middleware_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"
)

// headerRecorder is a downstream that records the headers of each request.
type headerRecorder struct {
	*httptest.Server
	mu   sync.Mutex
	seen []http.Header
}

func newHeaderRecorder(t testing.TB) *headerRecorder {
	t.Helper()
	d := &headerRecorder{}
	d.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		d.mu.Lock()
		d.seen = append(d.seen, r.Header.Clone())
		d.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{}`))
	}))
	t.Cleanup(d.Close)
	return d
}

// last returns the headers of the last request the downstream saw.
func (d *headerRecorder) last(t testing.TB) http.Header {
	t.Helper()
	d.mu.Lock()
	defer d.mu.Unlock()
	if len(d.seen) == 0 {
		t.Fatal("the downstream saw no request")
	}
	return d.seen[len(d.seen)-1]
}

// testCtx returns a context that ends with the test, bounded to 10 s.
func testCtx(t testing.TB) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// decodeError decodes a JSON error answer and fails the test unless it has
// the shape {"error":{"code":…,"message":…}} with a non-empty message.
func decodeError(t testing.TB, rec *httptest.ResponseRecorder) string {
	t.Helper()
	if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
		t.Fatalf("Content-Type = %q, want application/json", ct)
	}
	var body struct {
		Error *struct {
			Code       string `json:"code"`
			Message    string `json:"message"`
			RetryAfter int    `json:"retry_after"`
		} `json:"error"`
	}
	dec := json.NewDecoder(bytes.NewReader(rec.Body.Bytes()))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&body); err != nil || body.Error == nil || body.Error.Message == "" {
		t.Fatalf("body %q is not a JSON error (err %v)", rec.Body.String(), err)
	}
	if ra := rec.Header().Get("Retry-After"); ra != "" && ra != strconv.Itoa(body.Error.RetryAfter) {
		t.Errorf("Retry-After header %q, body retry_after %d: they differ", ra, body.Error.RetryAfter)
	}
	return body.Error.Code
}
