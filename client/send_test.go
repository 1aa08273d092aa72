package client_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/alovago/alova/cache"
	"github.com/alovago/alova/client"
)

func TestSendOK(t *testing.T) {
	t.Parallel()
	d := newDownstream(t, nil)
	c := client.New(client.Options{BaseURL: d.URL + "/"})
	resp, err := c.Get("/items").Param("page", "2").Send(testCtx(t))
	if err != nil {
		t.Fatalf("Send: %v", err)
	}
	if resp.StatusCode() != http.StatusOK || resp.Source() != cache.TierOrigin {
		t.Errorf("got status %d source %v, want 200 MISS", resp.StatusCode(), resp.Source())
	}
	if got := resp.Header("Content-Type"); got != "application/json" {
		t.Errorf("Content-Type = %q", got)
	}
	e := decodeEcho(t, resp.Bytes())
	if e.Path != "/items" || e.Query != "page=2" {
		t.Errorf("downstream saw %s?%s, want /items?page=2", e.Path, e.Query)
	}
}

func TestHTTPError(t *testing.T) {
	t.Parallel()
	d := newDownstream(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Why", "gone")
		w.WriteHeader(http.StatusNotFound)
		_, _ = w.Write([]byte(`{"error":"no such item"}`))
	})
	c := client.New(client.Options{BaseURL: d.URL})
	_, err := c.Get("/items/9").Send(testCtx(t))
	wrapped := fmt.Errorf("handler: %w", fmt.Errorf("load: %w", err))
	var he *client.HTTPError
	if !errors.As(wrapped, &he) {
		t.Fatalf("errors.As(%v, *HTTPError) = false", wrapped)
	}
	if he.StatusCode != 404 || he.Method != "GET" || he.URL != d.URL+"/items/9" ||
		he.Header.Get("X-Why") != "gone" || string(he.Body) != `{"error":"no such item"}` {
		t.Errorf("HTTPError = %+v", he)
	}
	if strings.Contains(he.Error(), "no such item") {
		t.Errorf("Error() = %q leaks the body", he.Error())
	}
	if want := "client: GET " + d.URL + "/items/9: 404 Not Found"; he.Error() != want {
		t.Errorf("Error() = %q, want %q", he.Error(), want)
	}
}

func TestTimeouts(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	d := newDownstream(t, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	tests := []struct {
		name    string
		opts    client.Options
		timeout time.Duration // method's
	}{
		{"client timeout", client.Options{Timeout: 20 * time.Millisecond}, 0},
		{"method timeout overrides", client.Options{Timeout: time.Hour}, 20 * time.Millisecond},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.opts.BaseURL = d.URL
			c := client.New(tc.opts)
			start := time.Now()
			_, err := c.Get("/slow").Timeout(tc.timeout).Send(testCtx(t))
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("Send err = %v, want DeadlineExceeded", err)
			}
			if el := time.Since(start); el > 5*time.Second {
				t.Errorf("took %v, the timeout did not apply", el)
			}
		})
	}
	t.Run("caller context", func(t *testing.T) {
		c := client.New(client.Options{BaseURL: d.URL, Timeout: time.Hour})
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
		defer cancel()
		if _, err := c.Get("/slow").Send(ctx); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Send err = %v, want DeadlineExceeded", err)
		}
	})
}

func TestMaxResponseBytes(t *testing.T) {
	t.Parallel()
	d := newDownstream(t, func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte(strings.Repeat("x", 100)))
	})
	tests := []struct {
		limit   int64
		wantErr bool
	}{{100, false}, {99, true}, {0, false}}
	for _, tc := range tests {
		t.Run(fmt.Sprint(tc.limit), func(t *testing.T) {
			c := client.New(client.Options{BaseURL: d.URL, MaxResponseBytes: tc.limit})
			resp, err := c.Get("/big").Send(testCtx(t))
			if got := errors.Is(err, client.ErrBodyTooLarge); got != tc.wantErr {
				t.Fatalf("limit %d: err = %v, want ErrBodyTooLarge: %v", tc.limit, err, tc.wantErr)
			}
			if err == nil && len(resp.String()) != 100 {
				t.Errorf("body has %d bytes, want 100", len(resp.String()))
			}
		})
	}
}

func TestTransportError(t *testing.T) {
	t.Parallel()
	d := newDownstream(t, nil)
	url := d.URL
	d.Close()
	c := client.New(client.Options{BaseURL: url})
	_, err := c.Get("/x").Send(testCtx(t))
	var he *client.HTTPError
	if err == nil || errors.As(err, &he) {
		t.Fatalf("Send to a closed server: err = %v, want a transport error", err)
	}
}

func TestCustomHTTPClient(t *testing.T) {
	t.Parallel()
	d := newDownstream(t, nil)
	var seen []string
	var mu sync.Mutex
	hc := &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		mu.Lock()
		seen = append(seen, r.URL.String())
		mu.Unlock()
		return http.DefaultTransport.RoundTrip(r)
	})}
	c := client.New(client.Options{BaseURL: d.URL, HTTPClient: hc})
	if _, err := c.Get("/via").Send(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(seen) != 1 || seen[0] != d.URL+"/via" {
		t.Errorf("custom transport saw %q, want [%s/via]", seen, d.URL)
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func TestBeforeRequest(t *testing.T) {
	t.Parallel()
	d := newDownstream(t, nil)
	errNoToken := errors.New("no token")
	c := client.New(client.Options{
		BaseURL: d.URL,
		BeforeRequest: func(ctx context.Context, m *client.Method) error {
			if m.MetaValue("anonymous") == true {
				return nil
			}
			tok, _ := ctx.Value(tokenKey{}).(string)
			if tok == "" {
				return errNoToken
			}
			m.Header("Authorization", "Bearer "+tok).Param("signed", "1")
			return nil
		},
	})
	ctx := testCtx(t)

	m := c.Get("/me")
	resp, err := m.Send(context.WithValue(ctx, tokenKey{}, "t1"))
	if err != nil {
		t.Fatal(err)
	}
	e := decodeEcho(t, resp.Bytes())
	if got := e.Header["Authorization"]; len(got) != 1 || got[0] != "Bearer t1" || e.Query != "signed=1" {
		t.Errorf("downstream saw Authorization %q query %q", got, e.Query)
	}
	if m.Headers().Get("Authorization") != "" || m.URL() != d.URL+"/me" {
		t.Error("BeforeRequest changed the caller's method, not a copy")
	}

	before := d.calls.Load()
	_, err = c.Get("/me").Send(ctx)
	if !errors.Is(err, client.ErrRefused) || !errors.Is(err, errNoToken) {
		t.Fatalf("refused send: err = %v, want ErrRefused and errNoToken", err)
	}
	if d.calls.Load() != before {
		t.Error("a refused send went downstream")
	}
	if _, err := c.Get("/public").Meta("anonymous", true).Send(ctx); err != nil {
		t.Errorf("meta-driven hook: %v", err)
	}
}

type tokenKey struct{}

func TestOnSuccessOnErrorOnComplete(t *testing.T) {
	t.Parallel()
	d := newDownstream(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/envelope-error":
			_, _ = w.Write([]byte(`{"code":1}`))
		case "/fail":
			w.WriteHeader(http.StatusBadGateway)
		default:
			_, _ = w.Write([]byte(`{"code":0,"data":"v"}`))
		}
	})
	errBusiness := errors.New("business error")
	var mu sync.Mutex
	var completed []string
	c := client.New(client.Options{
		BaseURL: d.URL,
		OnSuccess: func(ctx context.Context, m *client.Method, resp *client.Response) (*client.Response, error) {
			if strings.Contains(resp.String(), `"code":1`) {
				return nil, errBusiness
			}
			return resp.WithBody([]byte(strings.ToUpper(resp.String()))), nil
		},
		OnError: func(ctx context.Context, m *client.Method, err error) (*client.Response, error) {
			if m.MetaValue("fallback") == true {
				return client.NewResponse(200, nil, []byte("fallback")), nil
			}
			return nil, nil // keep the error
		},
		OnComplete: func(ctx context.Context, m *client.Method, resp *client.Response, err error) {
			mu.Lock()
			defer mu.Unlock()
			completed = append(completed, fmt.Sprintf("%s ok=%v", m.URL()[len(d.URL):], err == nil))
		},
	})
	ctx := testCtx(t)

	resp, err := c.Get("/ok").Send(ctx)
	if err != nil || resp.String() != `{"CODE":0,"DATA":"V"}` {
		t.Errorf("OnSuccess transform: got %q, %v", resp.Bytes(), err)
	}
	if _, err := c.Get("/envelope-error").Send(ctx); !errors.Is(err, errBusiness) {
		t.Errorf("OnSuccess error: err = %v, want errBusiness", err)
	}
	var he *client.HTTPError
	if _, err := c.Get("/fail").Send(ctx); !errors.As(err, &he) || he.StatusCode != 502 {
		t.Errorf("OnError keeping the error: err = %v, want a 502 HTTPError", err)
	}
	resp, err = c.Get("/fail").Meta("fallback", true).Send(ctx)
	if err != nil || resp.String() != "fallback" {
		t.Errorf("OnError fallback: got %v, %v", resp, err)
	}
	mu.Lock()
	defer mu.Unlock()
	want := []string{"/ok ok=true", "/envelope-error ok=false", "/fail ok=false", "/fail ok=true"}
	if fmt.Sprint(completed) != fmt.Sprint(want) {
		t.Errorf("OnComplete saw %q, want %q", completed, want)
	}
}

func TestOnErrorReplacesError(t *testing.T) {
	t.Parallel()
	d := newDownstream(t, func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(500) })
	errMapped := errors.New("mapped")
	c := client.New(client.Options{BaseURL: d.URL,
		OnError: func(ctx context.Context, m *client.Method, err error) (*client.Response, error) {
			return nil, fmt.Errorf("%w: %w", errMapped, err)
		}})
	_, err := c.Get("/x").Send(testCtx(t))
	var he *client.HTTPError
	if !errors.Is(err, errMapped) || !errors.As(err, &he) {
		t.Errorf("err = %v, want errMapped wrapping the HTTPError", err)
	}
}

func TestDecode(t *testing.T) {
	t.Parallel()
	d := newDownstream(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/empty":
			w.WriteHeader(http.StatusNoContent)
		case "/bad":
			_, _ = w.Write([]byte("not json"))
		case "/404":
			w.WriteHeader(404)
		default:
			_, _ = w.Write([]byte(`{"id":7,"name":"pen"}`))
		}
	})
	type product struct {
		ID   int    `json:"id"`
		Name string `json:"name"`
	}
	c := client.New(client.Options{BaseURL: d.URL})
	ctx := testCtx(t)
	decode := func(m *client.Method) (product, error) {
		var p product
		resp, err := m.Send(ctx)
		if err != nil {
			return p, err
		}
		return p, resp.Decode(&p)
	}
	p, err := decode(c.Get("/p"))
	if err != nil || p != (product{7, "pen"}) {
		t.Errorf("Decode = %+v, %v", p, err)
	}
	if p, err := decode(c.Delete("/empty")); err != nil || p != (product{}) {
		t.Errorf("Decode(204) = %+v, %v; want zero, nil", p, err)
	}
	if _, err := decode(c.Get("/bad")); err == nil || !strings.HasPrefix(err.Error(), "client: decode") {
		t.Errorf("Decode(bad JSON) err = %v", err)
	}
}

func TestSenderFunc(t *testing.T) {
	t.Parallel()
	var s client.Sender = client.SenderFunc(func(ctx context.Context) (*client.Response, error) {
		return client.NewResponse(200, nil, []byte(`[1,2]`)), nil
	})
	resp, err := s.Send(testCtx(t))
	var got []int
	if err == nil {
		err = resp.Decode(&got)
	}
	if err != nil || fmt.Sprint(got) != "[1 2]" {
		t.Errorf("SenderFunc: %v, %v", got, err)
	}
}
