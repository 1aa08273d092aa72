package main

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
)

func get(t *testing.T, url string) (int, http.Header, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, string(b)
}

func TestFloorCachesTheDownstreamAnswer(t *testing.T) {
	t.Parallel()
	down := httptest.NewServer(downstreamHandler(0))
	defer down.Close()
	srv := httptest.NewServer(floorHandler(down.URL))
	defer srv.Close()

	_, _, want := get(t, down.URL+"/products/42")
	for i, source := range []string{"MISS", "L1"} {
		status, h, body := get(t, srv.URL+"/api/products/42")
		if status != http.StatusOK || body != want || h.Get("X-Cache") != source {
			t.Errorf("GET #%d = %d %q X-Cache %q, want 200 %q X-Cache %q", i+1, status, body, h.Get("X-Cache"), want, source)
		}
	}
	if status, _, _ := get(t, srv.URL+"/api/products/missing-1"); status != http.StatusNotFound {
		t.Errorf("GET missing-1 = %d, want 404", status)
	}
	if status, _, _ := get(t, srv.URL+"/api/products/a.b"); status != http.StatusBadRequest {
		t.Errorf("GET a.b = %d, want 400", status)
	}
}

func TestCeilingAnswersOneProduct(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(ceilingHandler())
	defer srv.Close()
	status, h, body := get(t, srv.URL+"/api/products/7")
	if status != http.StatusOK || body != string(ceilingBody) || h.Get("Content-Type") != "application/json" {
		t.Errorf("GET = %d %q %q, want 200 %q application/json", status, body, h.Get("Content-Type"), ceilingBody)
	}
}
