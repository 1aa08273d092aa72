package client_test

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/alovago/alova/client"
)

func TestMethodURL(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		base  string
		build func(c *client.Client) *client.Method
		want  string
	}{
		{"relative with slash", "http://api", func(c *client.Client) *client.Method { return c.Get("/p") }, "http://api/p"},
		{"relative without slash", "http://api", func(c *client.Client) *client.Method { return c.Get("p") }, "http://api/p"},
		{"base trailing slash trimmed once", "http://api/v1/", func(c *client.Client) *client.Method { return c.Get("/p") }, "http://api/v1/p"},
		{"empty path", "http://api/", func(c *client.Client) *client.Method { return c.Get("") }, "http://api"},
		{"no base", "", func(c *client.Client) *client.Method { return c.Get("/p") }, "/p"},
		{"absolute ignores base", "http://api", func(c *client.Client) *client.Method { return c.Get("https://other/x") }, "https://other/x"},
		{"absolute any case", "http://api", func(c *client.Client) *client.Method { return c.Get("HTTP://other/x") }, "HTTP://other/x"},
		{"params sorted and encoded", "http://api", func(c *client.Client) *client.Method {
			return c.Get("/s").Param("q", "a b&c").Param("b", "2").Param("a", "1")
		}, "http://api/s?a=1&b=2&q=a+b%26c"},
		{"param replaces", "http://api", func(c *client.Client) *client.Method {
			return c.Get("/s").Param("a", "1").Param("a", "2")
		}, "http://api/s?a=2"},
		{"params add", "http://api", func(c *client.Client) *client.Method {
			return c.Get("/s").Params(url.Values{"z": {"1", "2"}}).Params(url.Values{"z": {"3"}})
		}, "http://api/s?z=1&z=2&z=3"},
		{"param replaces every value", "http://api", func(c *client.Client) *client.Method {
			return c.Get("/s").Params(url.Values{"a": {"1", "2"}, "b": {"0"}}).Param("a", "3")
		}, "http://api/s?a=3&b=0"},
		{"escaping", "http://api", func(c *client.Client) *client.Method {
			return c.Get("/s").Param("k/=&", "é +%~")
		}, "http://api/s?k%2F%3D%26=%C3%A9+%2B%25~"},
		{"path with query", "http://api", func(c *client.Client) *client.Method {
			return c.Get("/s?x=1").Param("a", "1")
		}, "http://api/s?x=1&a=1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := client.New(client.Options{BaseURL: tc.base})
			if got := tc.build(c).URL(); got != tc.want {
				t.Errorf("URL() = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestMethodVerbs(t *testing.T) {
	t.Parallel()
	d := newDownstream(t, nil)
	c := client.New(client.Options{BaseURL: d.URL})
	ctx := testCtx(t)
	tests := []struct {
		m    *client.Method
		want string
	}{
		{c.Get("/x"), http.MethodGet},
		{c.Head("/x"), http.MethodHead},
		{c.Options("/x"), http.MethodOptions},
		{c.Delete("/x"), http.MethodDelete},
		{c.Post("/x", nil), http.MethodPost},
		{c.Put("/x", nil), http.MethodPut},
		{c.Patch("/x", nil), http.MethodPatch},
		{c.Request("PROPFIND", "/x"), "PROPFIND"},
	}
	for _, tc := range tests {
		t.Run(tc.want, func(t *testing.T) {
			if got := tc.m.Verb(); got != tc.want {
				t.Errorf("Verb() = %q, want %q", got, tc.want)
			}
			if _, err := tc.m.Send(ctx); err != nil {
				t.Fatalf("Send: %v", err)
			}
			r, _ := d.lastRequest()
			if r.Method != tc.want || r.URL.Path != "/x" {
				t.Errorf("downstream got %s %s, want %s /x", r.Method, r.URL.Path, tc.want)
			}
		})
	}
}

func TestMethodBody(t *testing.T) {
	t.Parallel()
	d := newDownstream(t, nil)
	c := client.New(client.Options{BaseURL: d.URL})
	ctx := testCtx(t)
	tests := []struct {
		name     string
		body     any
		wantBody string
		wantType string
	}{
		{"nil", nil, "", ""},
		{"bytes", []byte("raw"), "raw", ""},
		{"string", "text", "text", ""},
		{"raw JSON", json.RawMessage(`{"a":1}`), `{"a":1}`, ""},
		{"form", url.Values{"b": {"2"}, "a": {"1"}}, "a=1&b=2", "application/x-www-form-urlencoded"},
		{"reader", strings.NewReader("stream"), "stream", ""},
		{"JSON value", map[string]any{"to": "x", "n": 1}, `{"n":1,"to":"x"}`, "application/json"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := c.Post("/b", tc.body).Send(ctx); err != nil {
				t.Fatalf("Send: %v", err)
			}
			r, body := d.lastRequest()
			if string(body) != tc.wantBody {
				t.Errorf("body = %q, want %q", body, tc.wantBody)
			}
			if got := r.Header.Get("Content-Type"); got != tc.wantType {
				t.Errorf("Content-Type = %q, want %q", got, tc.wantType)
			}
		})
	}

	t.Run("own content type kept", func(t *testing.T) {
		if _, err := c.Request(http.MethodPost, "/b").Header("Content-Type", "application/vnd+json").Body(map[string]int{"a": 1}).Send(ctx); err != nil {
			t.Fatalf("Send: %v", err)
		}
		r, _ := d.lastRequest()
		if got := r.Header.Get("Content-Type"); got != "application/vnd+json" {
			t.Errorf("Content-Type = %q, want the method's own", got)
		}
	})

	t.Run("JSON error reported by Send", func(t *testing.T) {
		before := d.calls.Load()
		_, err := c.Post("/b", make(chan int)).Send(ctx)
		var je *json.UnsupportedTypeError
		if !errors.As(err, &je) || !errors.Is(err, client.ErrEncodeBody) {
			t.Fatalf("Send err = %v, want ErrEncodeBody wrapping a *json.UnsupportedTypeError", err)
		}
		if d.calls.Load() != before {
			t.Error("a body that failed to encode was sent anyway")
		}
	})
}

func TestMethodHeadersAndMeta(t *testing.T) {
	t.Parallel()
	d := newDownstream(t, nil)
	c := client.New(client.Options{BaseURL: d.URL})
	m := c.Get("/h").Header("X-A", "1").Header("x-a", "2").Meta("auth", false)
	m.Header("X-B", "3")
	m.Headers().Add("X-C", "a copy") // changes nothing
	if got := m.MetaValue("auth"); got != false {
		t.Errorf("MetaValue(auth) = %v, want false", got)
	}
	if got := m.MetaValue("none"); got != nil {
		t.Errorf("MetaValue(none) = %v, want nil", got)
	}
	if _, err := m.Send(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	r, _ := d.lastRequest()
	if got := r.Header.Values("X-A"); len(got) != 1 || got[0] != "2" {
		t.Errorf("X-A = %q, want [2]", got)
	}
	if got := r.Header.Get("X-B"); got != "3" {
		t.Errorf("X-B = %q, want 3", got)
	}
	if got := r.Header.Get("X-C"); got != "" {
		t.Errorf("X-C = %q: a header added to the copy Headers returns was sent", got)
	}
}
