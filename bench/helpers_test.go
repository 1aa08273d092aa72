package bench

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// valueSize is the size of every cached value: a small JSON document.
const valueSize = 1024

// value is what every cache holds and every origin returns.
var value = func() []byte {
	v := make([]byte, valueSize)
	for i := range v {
		v[i] = 'a' + byte(i%26)
	}
	return v
}()

// hotKey is the key of the single-key cases.
const hotKey = "GET /products/42"

// numKeys is the key space of the Zipf cases; every cache is sized to hold
// all of them, so that every read is a hit.
const (
	numKeys  = 10_000
	capacity = 16_384
)

// zipfKeys is a pre-generated sequence of keys drawn from numKeys with a Zipf
// law (s = 1.1, v = 1), so that the loop picks a key by indexing only.
var zipfKeys, allKeys = zipfTrace(numKeys, 1.1, 1<<16, 1)

// zipfTrace returns n reads drawn from keys keys by a Zipf law of exponent
// s (v = 1) from a fixed seed, and the keys.
func zipfTrace(keys int, s float64, n int, seed uint64) (seq, all []string) {
	all = make([]string, keys)
	for i := range all {
		all[i] = "GET /products/" + strconv.Itoa(i)
	}
	z := rand.NewZipf(rand.New(rand.NewPCG(seed, seed+1)), s, 1, uint64(keys)-1)
	seq = make([]string, n)
	for i := range seq {
		seq[i] = all[z.Uint64()]
	}
	return seq, all
}

const zipfMask = 1<<16 - 1

// zipfStart hands each parallel goroutine its own starting point in zipfKeys.
var zipfStart atomic.Uint64

func nextZipfStart() int { return int(zipfStart.Add(7919) & zipfMask) }

// originLatency is how long the origin takes in the stampede cases.
const originLatency = time.Millisecond

// redisClients returns two clients on REDIS_URL: go-redis's defaults, and the
// same with ContextTimeoutEnabled (which lets cache.Tiered skip its watchdog
// goroutine). It skips b when REDIS_URL is unset and fails it when the server
// does not answer.
func redisClients(b *testing.B) (def, ctxTimeout *redis.Client) {
	b.Helper()
	url := os.Getenv("REDIS_URL")
	if url == "" {
		b.Skip("REDIS_URL not set: skipping the Redis cases (bench/run.sh starts a redis-server)")
	}
	mk := func(ctxDeadline bool) *redis.Client {
		opt, err := redis.ParseURL(url)
		if err != nil {
			b.Fatalf("REDIS_URL: %v", err)
		}
		opt.ContextTimeoutEnabled = ctxDeadline
		rdb := redis.NewClient(opt)
		b.Cleanup(func() { _ = rdb.Close() })
		if err := rdb.Ping(context.Background()).Err(); err != nil {
			b.Fatalf("REDIS_URL=%s does not answer: %v", url, err)
		}
		return rdb
	}
	return mk(false), mk(true)
}

var prefixSeq atomic.Uint64

// redisPrefix returns a key prefix unique to this benchmark run; every key
// under it is deleted when b ends.
func redisPrefix(b *testing.B, rdb *redis.Client) string {
	b.Helper()
	p := fmt.Sprintf("alova-bench:%d:%d:", os.Getpid(), prefixSeq.Add(1))
	b.Cleanup(func() {
		ctx := context.Background()
		iter := rdb.Scan(ctx, 0, p+"*", 1000).Iterator()
		var batch []string
		for iter.Next(ctx) {
			batch = append(batch, iter.Val())
			if len(batch) == 1000 {
				rdb.Unlink(ctx, batch...)
				batch = batch[:0]
			}
		}
		if len(batch) > 0 {
			rdb.Unlink(ctx, batch...)
		}
	})
	return p
}

// check fails b when got is not the value every cache holds.
func check(b *testing.B, got []byte) { checkLen(b, len(got)) }

// checkLen fails the benchmark unless n is the value's size.
func checkLen(b *testing.B, n int) {
	if n != valueSize {
		b.Fatalf("got %d bytes, want %d", n, valueSize)
	}
}
