package main

import (
	"fmt"
	"log/slog"
	"net/url"
	"strings"
)

// redactURL returns raw with its password, if any, written as "xxxxx"
// (url.URL.Redacted). A URL that does not parse is not returned at all.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "<unparsable URL>"
	}
	return u.Redacted()
}

// secrets returns what the log must never show: the passwords (and user
// infos) of -downstream and REDIS_URL, and ADMIN_TOKEN.
func (c config) secrets() []string {
	var out []string
	for _, raw := range []string{c.Downstream, c.RedisURL} {
		for _, one := range strings.Split(raw, ",") {
			u, err := url.Parse(strings.TrimSpace(one))
			if err != nil || u.User == nil {
				continue
			}
			if p, ok := u.User.Password(); ok && p != "" {
				out = append(out, p, url.QueryEscape(p), url.PathEscape(p))
			}
		}
	}
	if c.AdminToken != "" {
		out = append(out, c.AdminToken)
	}
	return out
}

// redactAttr returns a slog ReplaceAttr that writes every secret as "xxxxx"
// in string values (the message included) and in values of other kinds
// whose text holds one (an error quoting a URL).
func redactAttr(secrets []string) func([]string, slog.Attr) slog.Attr {
	var pairs []string
	for _, s := range secrets {
		if s != "" {
			pairs = append(pairs, s, "xxxxx")
		}
	}
	if len(pairs) == 0 {
		return nil
	}
	r := strings.NewReplacer(pairs...)
	return func(_ []string, a slog.Attr) slog.Attr {
		switch a.Value.Kind() {
		case slog.KindString:
			if s := a.Value.String(); r.Replace(s) != s {
				a.Value = slog.StringValue(r.Replace(s))
			}
		case slog.KindAny:
			if s := fmt.Sprint(a.Value.Any()); r.Replace(s) != s {
				a.Value = slog.StringValue(r.Replace(s))
			}
		}
		return a
	}
}
