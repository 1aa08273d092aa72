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
	Client redis.UniversalClient
	Kind   string // "embedded" or "external", as /healthz reports it
	mini   *miniredis.Miniredis
}

// Close closes the client and stops the embedded Redis, if any.
func (c *redisConn) Close() error {
	err := c.Client.Close()
	if c.mini != nil {
		c.mini.Close()
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
		mr := miniredis.NewMiniRedis()
		if err := mr.StartAddr("127.0.0.1:0"); err != nil {
			return nil, fmt.Errorf("embedded redis: %w", err)
		}
		rdb := redis.NewClient(&redis.Options{Addr: mr.Addr(), DialTimeout: redisDialTimeout,
			ReadTimeout: redisIOTimeout, WriteTimeout: redisIOTimeout, MaxRetries: redisMaxRetries,
			ContextTimeoutEnabled: true})
		return &redisConn{Client: rdb, Kind: "embedded", mini: mr}, nil
	}
	rdb, err := newRedisClient(rawURL)
	if err != nil {
		return nil, err
	}
	return &redisConn{Client: rdb, Kind: "external"}, nil
}

// newRedisClient builds the client for one of the URL forms of [openRedis].
func newRedisClient(rawURL string) (redis.UniversalClient, error) {
	scheme, rest, hasScheme := strings.Cut(rawURL, "://")
	switch {
	case !hasScheme:
		addrs := splitList(rawURL)
		if len(addrs) < 2 {
			return nil, errors.New("REDIS_URL: want redis://host:port, rediss://…, redis-cluster://h1:p1,h2:p2 or a comma-separated list of cluster addresses")
		}
		opt := &redis.ClusterOptions{Addrs: addrs, ContextTimeoutEnabled: true}
		applyDefaults(nil, &opt.DialTimeout, &opt.ReadTimeout, &opt.WriteTimeout, &opt.MaxRetries)
		return redis.NewClusterClient(opt), nil
	case scheme == "redis" || scheme == "rediss":
		opt, err := redis.ParseURL(rawURL)
		if err != nil {
			return nil, urlError(err)
		}
		u, _ := url.Parse(rawURL) // ParseURL has accepted it
		applyDefaults(u.Query(), &opt.DialTimeout, &opt.ReadTimeout, &opt.WriteTimeout, &opt.MaxRetries)
		opt.ContextTimeoutEnabled = true
		return redis.NewClient(opt), nil
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
			return nil, errors.New("REDIS_URL: redis-cluster:// needs at least one host:port")
		}
		q, err := url.ParseQuery(query)
		if err != nil {
			return nil, urlError(err)
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
			return nil, urlError(err)
		}
		applyDefaults(q, &opt.DialTimeout, &opt.ReadTimeout, &opt.WriteTimeout, &opt.MaxRetries)
		opt.ContextTimeoutEnabled = true
		return redis.NewClusterClient(opt), nil
	default:
		return nil, fmt.Errorf("REDIS_URL: unknown scheme %q (want redis, rediss, redis-cluster or rediss-cluster)", scheme)
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
