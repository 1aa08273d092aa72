package main

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
)

// redisConn is the Redis the server runs on: an embedded miniredis, or the
// external server or cluster named by REDIS_URL.
type redisConn struct {
	Client   redis.UniversalClient
	Kind     string               // "embedded" or "external", as /healthz reports it
	embedded *embeddedRedis       // nil when external
	mini     *miniredis.Miniredis // embedded.mr, for tests
}

// Close closes the client and stops the embedded Redis, if any.
func (c *redisConn) Close() error {
	err := c.Client.Close()
	if c.embedded != nil {
		c.embedded.Close()
	}
	return err
}

// Timeouts used when REDIS_URL does not set them: a server must notice a dead
// Redis quickly instead of hanging its requests on it.
const (
	redisDialTimeout = time.Second
	redisIOTimeout   = 500 * time.Millisecond
	redisMaxRetries  = 1
)

// openRedis connects to the Redis named by rawURL, or starts an embedded
// miniredis on a loopback port when rawURL is empty. It does not check that an
// external Redis answers: the server starts anyway and /healthz reports it.
//
// rawURL forms:
//
//	redis://[user:pass@]host:port[/db][?options]      one server
//	rediss://…                                         one server over TLS
//	redis-cluster://[user:pass@]h1:p1,h2:p2[?options]  a Redis Cluster (rediss-cluster:// over TLS)
//	h1:p1,h2:p2                                        a Redis Cluster, seed addresses
//
// Every client has ContextTimeoutEnabled, so that the cache's per-call L2
// timeout is enforced by go-redis itself (no watchdog goroutine per call).
// Options are go-redis's URL query parameters (dial_timeout, read_timeout,
// max_retries, pool_size, …).
func openRedis(rawURL string) (*redisConn, error) {
	if rawURL == "" {
		e, err := startEmbedded()
		if err != nil {
			return nil, err
		}
		rdb := redis.NewClient(&redis.Options{Addr: e.mr.Addr(), DialTimeout: redisDialTimeout,
			ReadTimeout: redisIOTimeout, WriteTimeout: redisIOTimeout, MaxRetries: redisMaxRetries,
			ContextTimeoutEnabled: true})
		return &redisConn{Client: rdb, Kind: "embedded", embedded: e, mini: e.mr}, nil
	}
	target, err := parseRedisURL(rawURL)
	if err != nil {
		return nil, err
	}
	return &redisConn{Client: target.client(), Kind: "external"}, nil
}

// redisTarget is a parsed REDIS_URL: the options of one server or of a
// cluster.
type redisTarget struct {
	single  *redis.Options        // redis://, rediss://
	cluster *redis.ClusterOptions // the cluster forms
}

// client returns a new client for t.
func (t redisTarget) client() redis.UniversalClient {
	if t.cluster != nil {
		return redis.NewClusterClient(t.cluster)
	}
	return redis.NewClient(t.single)
}

// parseRedisURL parses one of the URL forms of [openRedis] into client
// options with the server's defaults filled in. It connects to nothing, so
// the configuration is checked before anything starts. Its errors never hold
// the URL, which may hold a password.
func parseRedisURL(rawURL string) (redisTarget, error) {
	scheme, rest, hasScheme := strings.Cut(rawURL, "://")
	switch {
	case !hasScheme:
		addrs := splitList(rawURL)
		if len(addrs) < 2 {
			return redisTarget{}, errors.New("REDIS_URL: want redis://host:port, rediss://…, redis-cluster://h1:p1,h2:p2 or a comma-separated list of two or more cluster addresses")
		}
		opt := &redis.ClusterOptions{Addrs: addrs, ContextTimeoutEnabled: true}
		applyDefaults(nil, &opt.DialTimeout, &opt.ReadTimeout, &opt.WriteTimeout, &opt.MaxRetries)
		return redisTarget{cluster: opt}, nil
	case scheme == "redis" || scheme == "rediss":
		opt, err := redis.ParseURL(rawURL)
		if err != nil {
			return redisTarget{}, urlError(err)
		}
		u, err := url.Parse(rawURL)
		if err != nil {
			return redisTarget{}, urlError(err)
		}
		applyDefaults(u.Query(), &opt.DialTimeout, &opt.ReadTimeout, &opt.WriteTimeout, &opt.MaxRetries)
		opt.ContextTimeoutEnabled = true
		return redisTarget{single: opt}, nil
	case scheme == "redis-cluster" || scheme == "rediss-cluster":
		// Rewrite to go-redis's cluster URL: the first address is the host,
		// the others are addr= parameters.
		hosts, query, _ := strings.Cut(rest, "?")
		user := ""
		if at := strings.LastIndex(hosts, "@"); at >= 0 {
			user, hosts = hosts[:at+1], hosts[at+1:]
		}
		hosts = strings.TrimSuffix(hosts, "/")
		addrs := splitList(hosts)
		if len(addrs) == 0 {
			return redisTarget{}, errors.New("REDIS_URL: redis-cluster:// needs at least one host:port")
		}
		q, err := url.ParseQuery(query)
		if err != nil {
			return redisTarget{}, urlError(err)
		}
		for _, a := range addrs[1:] {
			q.Add("addr", a)
		}
		u := strings.TrimSuffix(scheme, "-cluster") + "://" + user + addrs[0]
		if len(q) > 0 {
			u += "?" + q.Encode()
		}
		opt, err := redis.ParseClusterURL(u)
		if err != nil {
			return redisTarget{}, urlError(err)
		}
		applyDefaults(q, &opt.DialTimeout, &opt.ReadTimeout, &opt.WriteTimeout, &opt.MaxRetries)
		opt.ContextTimeoutEnabled = true
		return redisTarget{cluster: opt}, nil
	default:
		return redisTarget{}, fmt.Errorf("REDIS_URL: unknown scheme %q (want redis, rediss, redis-cluster or rediss-cluster)", scheme)
	}
}

// urlError wraps an error about REDIS_URL without the URL itself, which may
// hold a password (url.Parse's errors quote it whole).
func urlError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	return fmt.Errorf("REDIS_URL: %w", err)
}

// applyDefaults sets the server's timeouts and retry count on the options
// the URL's query q leaves unset.
func applyDefaults(q url.Values, dial, read, write *time.Duration, retries *int) {
	if !q.Has("dial_timeout") {
		*dial = redisDialTimeout
	}
	if !q.Has("read_timeout") {
		*read = redisIOTimeout
	}
	if !q.Has("write_timeout") {
		*write = redisIOTimeout
	}
	if !q.Has("max_retries") {
		*retries = redisMaxRetries
	}
}
