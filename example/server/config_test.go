package main

import (
	"errors"
	"flag"
	"io"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

func TestParseConfig(t *testing.T) {
	t.Parallel()
	env := func(kv ...string) func(string) string {
		return func(k string) string {
			for i := 0; i+1 < len(kv); i += 2 {
				if kv[i] == k {
					return kv[i+1]
				}
			}
			return ""
		}
	}
	tests := []struct {
		name    string
		args    []string
		getenv  func(string) string
		check   func(t *testing.T, c config)
		wantErr string
	}{
		{name: "defaults", getenv: env(), check: func(t *testing.T, c config) {
			if c.Addr != ":8080" || c.IPLimit != 20 || c.ResendInterval != time.Minute || c.CodeTTL != 5*time.Minute ||
				c.CacheTTL != 5*time.Minute || c.Downstream != "" || c.RedisURL != "" || c.TrustedProxies != nil {
				t.Errorf("defaults = %+v", c)
			}
		}},
		{name: "PORT env", getenv: env("PORT", "9000"), check: func(t *testing.T, c config) {
			if c.Addr != ":9000" {
				t.Errorf("Addr = %q, want :9000", c.Addr)
			}
		}},
		{name: "flag beats PORT", args: []string{"-addr", "127.0.0.1:7000"}, getenv: env("PORT", "9000"),
			check: func(t *testing.T, c config) {
				if c.Addr != "127.0.0.1:7000" {
					t.Errorf("Addr = %q, want 127.0.0.1:7000", c.Addr)
				}
			}},
		{name: "REDIS_URL", getenv: env("REDIS_URL", " redis://r:6379/1 "), check: func(t *testing.T, c config) {
			if c.RedisURL != "redis://r:6379/1" {
				t.Errorf("RedisURL = %q", c.RedisURL)
			}
		}},
		{name: "trusted proxies", args: []string{"-trusted-proxies", "10.0.0.0/8, 192.168.1.1/32,,"}, getenv: env(),
			check: func(t *testing.T, c config) {
				if want := []string{"10.0.0.0/8", "192.168.1.1/32"}; !reflect.DeepEqual(c.TrustedProxies, want) {
					t.Errorf("TrustedProxies = %q, want %q", c.TrustedProxies, want)
				}
			}},
		{name: "captcha flags", args: []string{"-ip-limit", "5", "-resend-interval", "2s", "-code-ttl", "1m"}, getenv: env(),
			check: func(t *testing.T, c config) {
				if c.IPLimit != 5 || c.ResendInterval != 2*time.Second || c.CodeTTL != time.Minute {
					t.Errorf("got %d %v %v", c.IPLimit, c.ResendInterval, c.CodeTTL)
				}
			}},
		{name: "bad proxy", args: []string{"-trusted-proxies", "10.0.0.1"}, getenv: env(), wantErr: "not a CIDR"},
		{name: "bad downstream", args: []string{"-downstream", "ftp://x"}, getenv: env(), wantErr: "-downstream"},
		{name: "zero ip limit", args: []string{"-ip-limit", "0"}, getenv: env(), wantErr: "-ip-limit"},
		{name: "fail rate 1", args: []string{"-demo-fail-rate", "1"}, getenv: env(), wantErr: "-demo-fail-rate"},
		{name: "bad log format", args: []string{"-log-format", "xml"}, getenv: env(), wantErr: "-log-format"},
		{name: "stray argument", args: []string{"extra"}, getenv: env(), wantErr: "unexpected arguments"},
		{name: "unknown flag", args: []string{"-nope"}, getenv: env(), wantErr: "not defined"},
		{name: "server bounds", args: []string{"-body-timeout", "3s", "-idle-timeout", "20s", "-ip-window", "10s"}, getenv: env(),
			check: func(t *testing.T, c config) {
				if c.BodyTimeout != 3*time.Second || c.IdleTimeout != 20*time.Second || c.IPWindow != 10*time.Second {
					t.Errorf("got %v %v %v", c.BodyTimeout, c.IdleTimeout, c.IPWindow)
				}
			}},
		{name: "zero body timeout", args: []string{"-body-timeout", "0s"}, getenv: env(), wantErr: "-body-timeout"},
		{name: "sub-second ip window", args: []string{"-ip-window", "500ms"}, getenv: env(), wantErr: "-ip-window"},
		{name: "ADMIN_TOKEN", getenv: env("ADMIN_TOKEN", " 0123456789abcdef "), check: func(t *testing.T, c config) {
			if c.AdminToken != "0123456789abcdef" {
				t.Errorf("AdminToken = %q", c.AdminToken)
			}
		}},
		{name: "short ADMIN_TOKEN", getenv: env("ADMIN_TOKEN", "hunter2"), wantErr: "ADMIN_TOKEN: too short"},
		{name: "bad REDIS_URL", getenv: env("REDIS_URL", "localhost:6379"), wantErr: "REDIS_URL"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := parseConfig(tc.args, tc.getenv, io.Discard)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("parseConfig(%q) error = %v, want one containing %q", tc.args, err, tc.wantErr)
				}
				if strings.Contains(err.Error(), "hunter2") {
					t.Errorf("parseConfig error = %v: it shows ADMIN_TOKEN", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("parseConfig(%q): %v", tc.args, err)
			}
			tc.check(t, c)
		})
	}
}

func TestUsageNamesTheEnvironment(t *testing.T) {
	t.Parallel()
	var out strings.Builder
	_, err := parseConfig([]string{"-h"}, func(string) string { return "" }, &out)
	if !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("parseConfig(-h) = %v, want flag.ErrHelp", err)
	}
	for _, want := range []string{"REDIS_URL", "ADMIN_TOKEN", "PORT", "demos only", "-body-timeout"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("-h output lacks %q:\n%s", want, out.String())
		}
	}
}

func TestParseRedisURL(t *testing.T) {
	t.Parallel()
	tests := []struct {
		url       string
		wantAddrs []string // for a cluster
		wantAddr  string   // for one server
		wantDB    int
		wantTLS   bool
		wantRead  time.Duration
		wantErr   string
	}{
		{url: "redis://127.0.0.1:6379/2", wantAddr: "127.0.0.1:6379", wantDB: 2, wantRead: redisIOTimeout},
		{url: "rediss://user:pw@cache.example:6380/0", wantAddr: "cache.example:6380", wantTLS: true, wantRead: redisIOTimeout},
		{url: "redis://127.0.0.1:6379/0?read_timeout=3s", wantAddr: "127.0.0.1:6379", wantRead: 3 * time.Second},
		{url: "redis-cluster://10.0.0.1:7000,10.0.0.2:7000,10.0.0.3:7000",
			wantAddrs: []string{"10.0.0.1:7000", "10.0.0.2:7000", "10.0.0.3:7000"}, wantRead: redisIOTimeout},
		{url: "rediss-cluster://u:p@10.0.0.1:7000,10.0.0.2:7000/?read_timeout=2s",
			wantAddrs: []string{"10.0.0.1:7000", "10.0.0.2:7000"}, wantTLS: true, wantRead: 2 * time.Second},
		{url: "10.0.0.1:7000, 10.0.0.2:7000", wantAddrs: []string{"10.0.0.1:7000", "10.0.0.2:7000"}, wantRead: redisIOTimeout},
		{url: "10.0.0.1:7000", wantErr: "want redis://"},
		{url: "memcached://x:1", wantErr: "unknown scheme"},
		{url: "redis-cluster://", wantErr: "at least one"},
		{url: "redis://h:1/0?bogus=1", wantErr: "REDIS_URL"},
		{url: "redis://u:secret@h:1/0?bogus=1", wantErr: "REDIS_URL"},
		{url: "redis://u:secret@h:port/0", wantErr: "REDIS_URL"},
		{url: "redis-cluster://u:secret@h:1,h:2?x=%zz", wantErr: "REDIS_URL"},
		{url: "localhost:6379", wantErr: "want redis://"},
		{url: "redis://u:secret@localhost:6379?dial_timeout=abc", wantErr: "dial_timeout"},
		{url: "redis-cluster://u:secret@h:1,h:2?read_timeout=soon", wantErr: "read_timeout"},
		{url: "http://x", wantErr: `unknown scheme "http"`},
	}
	for _, tc := range tests {
		t.Run(tc.url, func(t *testing.T) {
			target, err := parseRedisURL(tc.url)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("parseRedisURL(%q) error = %v, want one containing %q", tc.url, err, tc.wantErr)
				}
				if strings.Contains(err.Error(), "secret") {
					t.Errorf("parseRedisURL(%q) error = %v: it shows the password", tc.url, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("parseRedisURL(%q): %v", tc.url, err)
			}
			rdb := target.client()
			defer rdb.Close()
			switch c := rdb.(type) {
			case *redis.Client:
				o := c.Options()
				if tc.wantAddrs != nil || o.Addr != tc.wantAddr || o.DB != tc.wantDB || (o.TLSConfig != nil) != tc.wantTLS ||
					o.ReadTimeout != tc.wantRead || o.MaxRetries != redisMaxRetries {
					t.Errorf("parseRedisURL(%q) = client{Addr %q DB %d TLS %v Read %v Retries %d}", tc.url, o.Addr, o.DB,
						o.TLSConfig != nil, o.ReadTimeout, o.MaxRetries)
				}
			case *redis.ClusterClient:
				o := c.Options()
				if !reflect.DeepEqual(o.Addrs, tc.wantAddrs) || (o.TLSConfig != nil) != tc.wantTLS || o.ReadTimeout != tc.wantRead {
					t.Errorf("parseRedisURL(%q) = cluster{Addrs %q TLS %v Read %v}", tc.url, o.Addrs, o.TLSConfig != nil, o.ReadTimeout)
				}
			default:
				t.Fatalf("parseRedisURL(%q) = %T", tc.url, rdb)
			}
		})
	}
}
