package main

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// TestBodyDeadline: a body that does not arrive within -body-timeout is cut
// off, and a body that did never shortens the handler's time: the request's
// context stays alive past the deadline (http.Server.ReadTimeout would
// cancel it).
func TestBodyDeadline(t *testing.T) {
	t.Parallel()
	const d = 300 * time.Millisecond
	handlerErr := make(chan error, 2)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, err := io.ReadAll(r.Body)
		if err != nil {
			handlerErr <- err
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		time.Sleep(3 * d) // a slow downstream, after the body arrived
		handlerErr <- r.Context().Err()
		w.WriteHeader(http.StatusOK)
	})
	srv := httptest.NewUnstartedServer(nil)
	srv.Config = newHTTPServer(testConfig(t, "-body-timeout", d.String()), h, discardLog)
	srv.Start()
	defer srv.Close()

	resp, err := http.Post(srv.URL, "text/plain", strings.NewReader("complete body"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if err := <-handlerErr; resp.StatusCode != http.StatusOK || err != nil {
		t.Errorf("whole body, handler slower than the deadline: %d, context error %v; want 200 and none", resp.StatusCode, err)
	}

	conn, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nonly part")
	start := time.Now()
	_ = conn.SetReadDeadline(start.Add(5 * time.Second))
	_, err = io.Copy(io.Discard, conn)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("a body 91 bytes short still holds the connection after 5 s")
	}
	if e := <-handlerErr; e == nil {
		t.Error("the handler read a short body without an error")
	}
	if took := time.Since(start); took > d+2*time.Second {
		t.Errorf("connection closed %v after a stalled body, want about %v", took, d)
	}
}
