package client_test

import (
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/alovago/alova/cache"
	"github.com/alovago/alova/client"
)

// whoami is a downstream answering "user:<Authorization>", counting calls,
// with the Cache-Control and Vary headers a test asks for.
func whoami(t *testing.T, cacheControl, vary string, hold <-chan struct{}) *downstream {
	t.Helper()
	return newDownstream(t, func(w http.ResponseWriter, r *http.Request) {
		if hold != nil {
			<-hold
		}
		if cacheControl != "" {
			w.Header().Set("Cache-Control", cacheControl)
		}
		if vary != "" {
			w.Header().Set("Vary", vary)
		}
		_, _ = w.Write([]byte("user:" + r.Header.Get("Authorization")))
	})
}

// incomingAs is an incoming request of user with the given Authorization.
func incomingAs(auth string) *http.Request {
	r := httptest.NewRequest(http.MethodGet, "/me", nil)
	r.Header.Set("Authorization", auth)
	r.Header.Set("X-Request-Id", "id-"+auth)
	return r
}

// The attack: with Authorization forwarded, user B asked for /me after user
// A and got A's answer from the cache. A forwarded header that can change
// the answer is part of the cache key.
func TestForwardedAuthorizationJoinsTheKey(t *testing.T) {
	d := whoami(t, "", "", nil)
	tr := cache.NewTiered(cache.NewMemoryStore(cache.MemoryOptions{}), nil, cache.TieredOptions{})
	api := client.New(client.Options{BaseURL: d.URL, Cache: tr,
		ForwardHeaders: []string{"X-Request-Id", "Authorization"}})
	for _, step := range []struct {
		auth string
		want cache.Tier
	}{{"Bearer alice", cache.TierOrigin}, {"Bearer bob", cache.TierOrigin}, {"Bearer alice", cache.TierL1}, {"Bearer bob", cache.TierL1}} {
		c := bound(api, incomingAs(step.auth))
		send(t, c.Get("/me"), "user:"+step.auth, step.want)
	}
	// The request id stays out of the key: two requests of one user share.
	a1 := bound(api, incomingAs("Bearer carol"))
	a2r := incomingAs("Bearer carol")
	a2r.Header.Set("X-Request-Id", "another id")
	a2 := bound(api, a2r)
	if a1.Get("/me").Key() != a2.Get("/me").Key() {
		t.Error("two requests of one user with different request ids got different cache keys")
	}
	// A header the method sets itself wins over the forwarded one, on the
	// wire and in the key.
	own := bound(api, incomingAs("Bearer mallory")).Get("/me").Header("Authorization", "Bearer alice")
	send(t, own, "user:Bearer alice", cache.TierOrigin)
}

// The attack: with NoCache, concurrent callers of different users shared
// one downstream call, so B got A's answer.
func TestForwardedAuthorizationJoinsTheSharingKey(t *testing.T) {
	hold := make(chan struct{})
	var once sync.Once
	release := func() { once.Do(func() { close(hold) }) }
	t.Cleanup(release)
	d := whoami(t, "", "", hold)
	api := client.New(client.Options{BaseURL: d.URL, ForwardHeaders: []string{"Authorization"}})
	var wg sync.WaitGroup
	got := make([]string, 2)
	for i, auth := range []string{"Bearer alice", "Bearer bob"} {
		wg.Go(func() {
			resp, err := bound(api, incomingAs(auth)).Get("/me").Cache(client.NoCache).Send(testCtx(t))
			if err != nil {
				t.Error(err)
				return
			}
			got[i] = resp.String()
		})
	}
	eventually(t, "both calls downstream (not shared)", func() bool { return d.calls.Load() == 2 })
	release()
	wg.Wait()
	if got[0] != "user:Bearer alice" || got[1] != "user:Bearer bob" {
		t.Errorf("answers = %q, want each user's own", got)
	}
}

// An answer the downstream marks private or no-store is not cached unless
// the policy opts out; Vary: * and a Vary on a per-request header are not
// cached either.
func TestCacheControlAndVary(t *testing.T) {
	tests := []struct {
		name, cacheControl, vary string
		policy                   client.Policy
		cached                   bool
	}{
		{"plain", "", "", client.CacheFor(time.Minute), true},
		{"private", "private, max-age=60", "", client.CacheFor(time.Minute), false},
		{"no-store", "no-store", "", client.CacheFor(time.Minute), false},
		{"private with a field", `private="Set-Cookie"`, "", client.CacheFor(time.Minute), false},
		{"public", "public, max-age=60", "", client.CacheFor(time.Minute), true},
		{"private, opted out", "private", "", client.CacheFor(time.Minute).IgnoreCacheControl(), true},
		{"vary *", "", "*", client.CacheFor(time.Minute), false},
		{"vary traceparent", "", "Accept, traceparent", client.CacheFor(time.Minute), false},
		{"vary accept-encoding", "", "Accept-Encoding", client.CacheFor(time.Minute), true},
		{"vary authorization (in the key)", "", "Authorization", client.CacheFor(time.Minute), true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := whoami(t, tc.cacheControl, tc.vary, nil)
			tr := cache.NewTiered(cache.NewMemoryStore(cache.MemoryOptions{}), nil, cache.TieredOptions{})
			api := client.New(client.Options{BaseURL: d.URL, Cache: tr, ForwardHeaders: []string{"Authorization"}})
			c := bound(api, incomingAs("Bearer alice"))
			want := cache.TierOrigin
			send(t, c.Get("/me").Cache(tc.policy), "user:Bearer alice", want)
			if tc.cached {
				want = cache.TierL1
			}
			send(t, c.Get("/me").Cache(tc.policy), "user:Bearer alice", want)
		})
	}
}
