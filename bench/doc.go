// Package bench measures alova-go side by side with the libraries its users
// would pick instead, in one go test -bench run on one machine:
//
//   - L1 (in-process) hits: cache.Tiered against github.com/go-redis/cache/v9
//     (TinyLFU local cache), github.com/viccon/sturdyc and a raw
//     github.com/hashicorp/golang-lru/v2, on one key and on 10,000 keys read
//     in a Zipf mix;
//   - L2 (Redis) hits against a raw github.com/redis/go-redis/v9 GET and
//     go-redis/cache with its local cache off;
//   - a miss that loads from the origin, and a stampede of 1,000 goroutines
//     missing one key (origin calls reported as a metric);
//   - a GET through the full client, cached and uncached, against
//     github.com/go-resty/resty/v2 and plain net/http on a loopback server;
//   - the middleware's cost per request over bare github.com/go-chi/chi/v5;
//   - parallel variants of each (b.RunParallel).
//
// It is a module of its own, so the peers never become dependencies of the
// library. Run it with run.sh, which starts a loopback redis-server, runs the
// suite and writes RESULTS.md (through the report command in ./report).
// Without REDIS_URL the Redis cases are skipped with a message.
//
// http.sh measures the example server's product route with wrk against a
// chi floor and a static ceiling (./httpd) and alova 3.5.5 on Node (./node),
// and writes nothing: HTTP.md holds the figures of a run.
package bench
