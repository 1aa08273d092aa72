package integration

import (
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
)

// adminCall sends method url with the headers (name, value, …) and returns
// the status and the error code of a JSON error answer ("" otherwise).
func adminCall(t *testing.T, method, url string, headers ...string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	r := reply{Status: resp.StatusCode, Header: resp.Header}
	if resp.StatusCode >= 400 {
		if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
			t.Errorf("%s %s = %d with Content-Type %q, want a JSON error", method, url, resp.StatusCode, ct)
		}
		r.Body, _ = io.ReadAll(resp.Body)
		e, _ := r.JSON(t)["error"].(map[string]any)
		code, _ := e["code"].(string)
		return resp.StatusCode, code
	}
	return resp.StatusCode, ""
}

// outsideIP returns a non-loopback address of this machine, or "" when it has
// none.
func outsideIP() string {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return ""
	}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && !n.IP.IsLoopback() && n.IP.To4() != nil {
			return n.IP.String()
		}
	}
	return ""
}

// adminRoutes are the routes only an operator may call.
var adminRoutes = []struct{ method, path string }{
	{"DELETE", "/api/products/p1/cache"},
	{"GET", "/debug/cache"},
	{"GET", "/demo/stats"},
	{"GET", "/demo/outbox?key=a@example.com"},
}

// TestAdminRoutesAnswerLoopbackOnly: without ADMIN_TOKEN the admin routes
// answer loopback clients and refuse everyone else with 403, including a
// request a proxy on this host forwards (it carries X-Forwarded-For).
func TestAdminRoutesAnswerLoopbackOnly(t *testing.T) {
	t.Parallel()
	srv := startServer(t, "", "-addr", ":0")
	port := srv.URL[strings.LastIndex(srv.URL, ":")+1:]
	local := "http://127.0.0.1:" + port
	for _, rt := range adminRoutes {
		if st, code := adminCall(t, rt.method, local+rt.path); st >= 400 && code != "not_found" {
			t.Errorf("loopback %s %s = %d %s, want it answered", rt.method, rt.path, st, code)
		}
		if st, code := adminCall(t, rt.method, local+rt.path, "X-Forwarded-For", "203.0.113.7"); st != http.StatusForbidden || code != "forbidden" {
			t.Errorf("loopback with X-Forwarded-For %s %s = %d %s, want 403 forbidden", rt.method, rt.path, st, code)
		}
		if st, code := adminCall(t, rt.method, local+rt.path, "Forwarded", "for=203.0.113.7"); st != http.StatusForbidden || code != "forbidden" {
			t.Errorf("loopback with Forwarded %s %s = %d %s, want 403 forbidden", rt.method, rt.path, st, code)
		}
	}
	if st, _ := adminCall(t, "GET", local+"/healthz"); st != http.StatusOK {
		t.Errorf("GET /healthz = %d, want 200: it is not an admin route", st)
	}
	ip := outsideIP()
	if ip == "" {
		t.Log("no non-loopback address on this machine: the remote case is covered by the unit tests only")
		return
	}
	remote := "http://" + net.JoinHostPort(ip, port)
	for _, rt := range adminRoutes {
		if st, code := adminCall(t, rt.method, remote+rt.path); st != http.StatusForbidden || code != "forbidden" {
			t.Errorf("from %s: %s %s = %d %s, want 403 forbidden", ip, rt.method, rt.path, st, code)
		}
		if st, code := adminCall(t, rt.method, remote+rt.path, "Authorization", "Bearer anything-at-all-0123456789"); st != http.StatusForbidden {
			t.Errorf("from %s with a bearer token but no ADMIN_TOKEN: %s %s = %d %s, want 403", ip, rt.method, rt.path, st, code)
		}
	}
	if st, _ := adminCall(t, "GET", remote+"/api/products/p1"); st != http.StatusOK {
		t.Errorf("from %s: GET /api/products/p1 = %d, want 200", ip, st)
	}
}

// TestAdminRoutesTakeTheToken: with ADMIN_TOKEN set, the admin routes take
// that bearer token from any address and refuse anything else with 401,
// loopback included.
func TestAdminRoutesTakeTheToken(t *testing.T) {
	t.Parallel()
	const token = "test-admin-token-0123456789abcdef"
	srv := startServerEnv(t, []string{"REDIS_URL=", "ADMIN_TOKEN=" + token}, "-addr", ":0")
	port := srv.URL[strings.LastIndex(srv.URL, ":")+1:]
	bases := []string{"http://127.0.0.1:" + port}
	if ip := outsideIP(); ip != "" {
		bases = append(bases, "http://"+net.JoinHostPort(ip, port))
	}
	for _, base := range bases {
		for _, rt := range adminRoutes {
			for _, auth := range []string{"", "Bearer wrong-token", "Bearer " + token + "x", "Basic " + token, token, "Bearer"} {
				st, code := adminCall(t, rt.method, base+rt.path, "Authorization", auth)
				if st != http.StatusUnauthorized || code != "unauthorized" {
					t.Errorf("%s %s%s with Authorization %q = %d %s, want 401 unauthorized", rt.method, base, rt.path, auth, st, code)
				}
			}
			if st, code := adminCall(t, rt.method, base+rt.path, "Authorization", "Bearer "+token); st >= 400 && code != "not_found" {
				t.Errorf("%s %s%s with the token = %d %s, want it answered", rt.method, base, rt.path, st, code)
			}
			if st, code := adminCall(t, rt.method, base+rt.path, "Authorization", "bearer "+token, "X-Forwarded-For", "203.0.113.7"); st >= 400 && code != "not_found" {
				t.Errorf("%s %s%s with the token (lower-case scheme, forwarded) = %d %s, want it answered", rt.method, base, rt.path, st, code)
			}
		}
	}
}
