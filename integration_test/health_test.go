package integration

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/alovago/alova/internal/testredis"
)

func TestHealthzFollowsRedis(t *testing.T) {
	rs := testredis.Server(t)
	srv := startServer(t, rs.URL())

	health := func() (int, map[string]any) {
		r := do(t, "GET", srv.URL+"/healthz", nil)
		return r.Status, r.JSON(t)
	}
	if st, body := health(); st != http.StatusOK || body["status"] != "ok" || body["redis"] != "external" {
		t.Fatalf("GET /healthz = %d %v, want 200 ok external", st, body)
	}
	rs.Kill()
	if st, body := health(); st != http.StatusServiceUnavailable || body["status"] != "unavailable" {
		t.Fatalf("Redis killed: GET /healthz = %d %v, want 503 unavailable", st, body)
	}
	rs.Restart()
	eventually(t, 5*time.Second, "/healthz back to 200 after Redis restarted", func() bool {
		st, _ := health()
		return st == http.StatusOK
	})
}

func TestEmbeddedRedisAndGracefulShutdown(t *testing.T) {
	srv := startServer(t, "")
	r := do(t, "GET", srv.URL+"/healthz", nil)
	if body := r.JSON(t); r.Status != http.StatusOK || body["redis"] != "embedded" {
		t.Fatalf("GET /healthz = %d %s, want 200 embedded", r.Status, r.Body)
	}
	if err := srv.Stop(); err != nil {
		t.Fatalf("SIGTERM: %v, want a clean exit", err)
	}
	for _, want := range []string{`msg="shutting down"`, "msg=stopped"} {
		if !strings.Contains(srv.Log(), want) {
			t.Errorf("log lacks %s", want)
		}
	}
}
