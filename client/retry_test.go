package client_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alovago/alova/client"
	"github.com/alovago/alova/lock"
	"github.com/alovago/alova/ratelimit"
	"github.com/sethvargo/go-retry"
)

// hookServer is a downstream for the hook tests: it numbers the requests it
// gets (from 1), records when each arrived and its body, and answers with
// handle.
type hookServer struct {
	*httptest.Server
	calls atomic.Int32

	mu       sync.Mutex
	arrivals []time.Time
	bodies   []string
}

func newHookServer(t testing.TB, handle func(n int, w http.ResponseWriter, r *http.Request)) *hookServer {
	t.Helper()
	s := &hookServer{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		s.mu.Lock()
		s.arrivals = append(s.arrivals, time.Now())
		s.bodies = append(s.bodies, string(body))
		s.mu.Unlock()
		handle(int(s.calls.Add(1)), w, r)
	}))
	t.Cleanup(s.Close)
	return s
}

// statuses answers the n-th request with codes[n-1], the last code repeating,
// and "ok" as the body of a 2xx.
func statuses(codes ...int) func(int, http.ResponseWriter, *http.Request) {
	return func(n int, w http.ResponseWriter, _ *http.Request) {
		code := codes[min(n, len(codes))-1]
		w.WriteHeader(code)
		if code < 300 {
			_, _ = io.WriteString(w, "ok")
		}
	}
}

// gaps returns the time between consecutive arrivals.
func (s *hookServer) gaps() []time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	var g []time.Duration
	for i := 1; i < len(s.arrivals); i++ {
		g = append(g, s.arrivals[i].Sub(s.arrivals[i-1]))
	}
	return g
}

// noWait is a backoff factory with zero waits, so the default budget can be
// tested without waiting the default second.
func noWait() retry.Backoff {
	return retry.BackoffFunc(func() (time.Duration, bool) { return 0, false })
}

// recorder collects the events of a Retry.
type recorder struct {
	mu      sync.Mutex
	retries []client.RetryEvent
	fails   []client.RetryEvent
}

func (r *recorder) onRetry(e client.RetryEvent) {
	r.mu.Lock()
	r.retries = append(r.retries, e)
	r.mu.Unlock()
}
func (r *recorder) onFail(e client.RetryEvent) {
	r.mu.Lock()
	r.fails = append(r.fails, e)
	r.mu.Unlock()
}

func hookCtx(t testing.TB) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestRetryDefaultBudgetIsThreeRetries(t *testing.T) {
	srv := newHookServer(t, statuses(http.StatusInternalServerError))
	c := client.New(client.Options{BaseURL: srv.URL})
	var rec recorder
	_, err := client.Retry(c.Get("/"), client.RetryOptions{NewBackoff: noWait, OnRetry: rec.onRetry, OnFail: rec.onFail}).Send(hookCtx(t))
	var he *client.HTTPError
	if !errors.As(err, &he) || he.StatusCode != http.StatusInternalServerError {
		t.Fatalf("Send = %v, want the last *HTTPError 500", err)
	}
	if n := srv.calls.Load(); n != 4 {
		t.Fatalf("downstream calls = %d, want 4 (1 try + 3 retries)", n)
	}
	if len(rec.retries) != 3 || len(rec.fails) != 1 || rec.fails[0].Attempt != 4 || rec.fails[0].Err != err {
		t.Fatalf("events: %d retries, fails %+v; want 3 retries and one fail at attempt 4 with the returned error", len(rec.retries), rec.fails)
	}
	for i, e := range rec.retries {
		if e.Attempt != i+1 || !errors.As(e.Err, &he) {
			t.Fatalf("OnRetry #%d = %+v, want attempt %d with the 500", i, e, i+1)
		}
	}
}

// TestRetryDefaultDelayAndCancel: the default wait is 1 s, and cancelling
// during it returns at once with the ctx error.
func TestRetryDefaultDelayAndCancel(t *testing.T) {
	srv := newHookServer(t, statuses(http.StatusBadGateway))
	c := client.New(client.Options{BaseURL: srv.URL})
	ctx, cancel := context.WithCancel(hookCtx(t))
	var got client.RetryEvent
	s := client.Retry(c.Get("/"), client.RetryOptions{OnRetry: func(e client.RetryEvent) {
		got = e
		cancel() // cancel just before the 1 s wait
	}})
	start := time.Now()
	_, err := s.Send(ctx)
	if elapsed := time.Since(start); elapsed > 500*time.Millisecond {
		t.Fatalf("Send returned %s after the cancel, want at once", elapsed)
	}
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Send = %v, want context.Canceled", err)
	}
	if got.Delay != time.Second || got.Attempt != 1 {
		t.Fatalf("OnRetry = %+v, want attempt 1 and the default 1s delay", got)
	}
	if n := srv.calls.Load(); n != 1 {
		t.Fatalf("downstream calls = %d, want 1", n)
	}
}

func TestRetryWhichStatuses(t *testing.T) {
	cases := []struct {
		code      int
		wantCalls int32
	}{
		{http.StatusInternalServerError, 3},
		{http.StatusBadGateway, 3},
		{http.StatusServiceUnavailable, 3},
		{http.StatusGatewayTimeout, 3},
		{http.StatusTooManyRequests, 3},
		{http.StatusBadRequest, 1},
		{http.StatusUnauthorized, 1},
		{http.StatusForbidden, 1},
		{http.StatusNotFound, 1},
		{http.StatusConflict, 1},
		{http.StatusUnprocessableEntity, 1},
	}
	for _, tc := range cases {
		t.Run(strconv.Itoa(tc.code), func(t *testing.T) {
			t.Parallel()
			srv := newHookServer(t, statuses(tc.code))
			c := client.New(client.Options{BaseURL: srv.URL})
			_, err := client.Retry(c.Get("/"), client.RetryOptions{Retries: 2, Delay: time.Millisecond}).Send(hookCtx(t))
			var he *client.HTTPError
			if !errors.As(err, &he) || he.StatusCode != tc.code {
				t.Fatalf("Send = %v, want *HTTPError %d", err, tc.code)
			}
			if n := srv.calls.Load(); n != tc.wantCalls {
				t.Fatalf("status %d: downstream calls = %d, want %d", tc.code, n, tc.wantCalls)
			}
		})
	}
}

func TestRetrySucceedsAfterFailures(t *testing.T) {
	srv := newHookServer(t, statuses(500, 503, 200))
	c := client.New(client.Options{BaseURL: srv.URL})
	var rec recorder
	resp, err := client.Retry(c.Get("/"), client.RetryOptions{Delay: 5 * time.Millisecond, Multiplier: 2, OnRetry: rec.onRetry, OnFail: rec.onFail}).Send(hookCtx(t))
	if err != nil || resp.StatusCode != 200 || string(resp.Body) != "ok" {
		t.Fatalf("Send = %+v, %v; want 200 ok", resp, err)
	}
	want := []time.Duration{5 * time.Millisecond, 10 * time.Millisecond}
	if len(rec.retries) != 2 || rec.retries[0].Delay != want[0] || rec.retries[1].Delay != want[1] {
		t.Fatalf("OnRetry delays = %+v, want %v (delay × multiplier^(n−1))", rec.retries, want)
	}
	if len(rec.fails) != 0 {
		t.Fatalf("OnFail called %d times on a success", len(rec.fails))
	}
	for i, g := range srv.gaps() {
		if g < want[i] {
			t.Fatalf("gap before retry %d = %s, want at least %s", i+1, g, want[i])
		}
	}
}

// TestRetryJitterWithinBounds checks alova's quiver formula: each wait is
// d + d × (s + rand × (e − s)) with d = Delay × Multiplier^(n−1), and the
// real gaps between attempts are at least the waits.
func TestRetryJitterWithinBounds(t *testing.T) {
	cases := []struct {
		name        string
		start, end  float64
		lo, hi      float64 // the wait over d
		wantVariety bool
	}{
		{"start and end", 0.5, 1, 1.5, 2, true},
		{"start only (end defaults to 1)", 0.25, 0, 1.25, 2, true},
		{"end only (start defaults to 0)", 0, 0.2, 1, 1.2, true},
		{"fixed extra", 0.5, 0.5, 1.5, 1.5, false},
		{"no jitter", 0, 0, 1, 1, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			const delay = 2 * time.Millisecond
			var rec recorder
			calls := 0
			var arrivals []time.Time
			s := client.Retry(client.SenderFunc(func(context.Context) (*client.Response, error) {
				calls++
				arrivals = append(arrivals, time.Now())
				return nil, errors.New("connection reset")
			}), client.RetryOptions{Retries: 4, Delay: delay, Multiplier: 2, StartQuiver: tc.start, EndQuiver: tc.end, OnRetry: rec.onRetry})
			seen := map[time.Duration]bool{}
			for range 5 {
				rec.retries, arrivals = nil, nil
				if _, err := s.Send(hookCtx(t)); err == nil {
					t.Fatal("Send succeeded, want the error")
				}
				if len(rec.retries) != 4 {
					t.Fatalf("%d retries, want 4", len(rec.retries))
				}
				for i, e := range rec.retries {
					d := float64(delay) * float64(int(1)<<i)
					lo, hi := time.Duration(d*tc.lo), time.Duration(d*tc.hi)
					if e.Delay < lo || e.Delay > hi {
						t.Fatalf("retry %d waited %s, want within [%s, %s]", i+1, e.Delay, lo, hi)
					}
					if gap := arrivals[i+1].Sub(arrivals[i]); gap < e.Delay {
						t.Fatalf("retry %d came %s after the failure, before its %s wait", i+1, gap, e.Delay)
					}
					seen[e.Delay] = true
				}
			}
			if tc.wantVariety && len(seen) < 10 {
				t.Fatalf("20 jittered waits took only %d distinct values", len(seen))
			}
			if !tc.wantVariety && len(seen) != 4 {
				t.Fatalf("waits without randomness took %d distinct values, want 4", len(seen))
			}
		})
	}
}

func TestRetryMaxDelayCaps(t *testing.T) {
	var rec recorder
	s := client.Retry(client.SenderFunc(func(context.Context) (*client.Response, error) {
		return nil, errors.New("timeout")
	}), client.RetryOptions{Retries: 4, Delay: time.Millisecond, Multiplier: 3, StartQuiver: 1, MaxDelay: 5 * time.Millisecond, OnRetry: rec.onRetry})
	_, _ = s.Send(hookCtx(t))
	want := []time.Duration{2 * time.Millisecond, 5 * time.Millisecond, 5 * time.Millisecond, 5 * time.Millisecond}
	for i, e := range rec.retries {
		if e.Delay != want[i] {
			t.Fatalf("retry %d waited %s, want %s (1ms×3^(n−1), doubled by StartQuiver 1, capped at 5ms)", i+1, e.Delay, want[i])
		}
	}
}

// TestRetryFreshBudgetPerSend: each Send, including concurrent ones, gets the
// whole budget; a shared go-retry backoff would have spent it on the first.
func TestRetryFreshBudgetPerSend(t *testing.T) {
	type key struct{}
	var mu sync.Mutex
	calls := map[int]int{}
	var factories atomic.Int32
	s := client.Retry(client.SenderFunc(func(ctx context.Context) (*client.Response, error) {
		mu.Lock()
		calls[ctx.Value(key{}).(int)]++
		mu.Unlock()
		return nil, errors.New("boom")
	}), client.RetryOptions{Retries: 2, NewBackoff: func() retry.Backoff {
		factories.Add(1)
		return retry.WithMaxRetries(1, noWait()) // stops after one retry: tighter than Retries
	}})
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() { _, _ = s.Send(context.WithValue(hookCtx(t), key{}, i)) })
	}
	wg.Wait()
	for i := range 8 {
		if calls[i] != 2 {
			t.Fatalf("send %d made %d attempts, want 2 (the backoff's own budget of one retry)", i, calls[i])
		}
	}
	if n := factories.Load(); n != 8 {
		t.Fatalf("NewBackoff called %d times, want once per Send (8)", n)
	}

	srv := newHookServer(t, statuses(http.StatusServiceUnavailable))
	m := client.Retry(client.New(client.Options{BaseURL: srv.URL}).Get("/"), client.RetryOptions{Retries: 2, Delay: time.Millisecond})
	for range 3 {
		_, _ = m.Send(hookCtx(t))
	}
	if n := srv.calls.Load(); n != 9 {
		t.Fatalf("3 sends of a wrapped method made %d calls, want 9 (3 each)", n)
	}
}

// TestRetryPOST: wrapping is explicit, so a POST is retried, with its body.
func TestRetryPOST(t *testing.T) {
	srv := newHookServer(t, statuses(502, 500, 201))
	c := client.New(client.Options{BaseURL: srv.URL})
	resp, err := client.Retry(c.Post("/sms/send", map[string]string{"to": "+100"}), client.RetryOptions{Delay: time.Millisecond}).Send(hookCtx(t))
	if err != nil || resp.StatusCode != http.StatusCreated {
		t.Fatalf("Send = %v, %v; want 201", resp, err)
	}
	srv.mu.Lock()
	defer srv.mu.Unlock()
	if len(srv.bodies) != 3 {
		t.Fatalf("downstream got %d POSTs, want 3", len(srv.bodies))
	}
	for i, b := range srv.bodies {
		if b != `{"to":"+100"}` {
			t.Fatalf("POST %d body = %q, want the same JSON each time", i+1, b)
		}
	}
}

func TestRetryRetryAfter(t *testing.T) {
	t.Run("seconds on 429 are waited for", func(t *testing.T) {
		t.Parallel()
		srv := newHookServer(t, func(n int, w http.ResponseWriter, r *http.Request) {
			if n == 1 {
				w.Header().Set("Retry-After", "1")
				w.WriteHeader(http.StatusTooManyRequests)
				return
			}
			w.WriteHeader(http.StatusOK)
		})
		var rec recorder
		c := client.New(client.Options{BaseURL: srv.URL})
		resp, err := client.Retry(c.Get("/"), client.RetryOptions{Delay: time.Millisecond, OnRetry: rec.onRetry}).Send(hookCtx(t))
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("Send = %v, %v; want 200 after waiting", resp, err)
		}
		if len(rec.retries) != 1 || rec.retries[0].Delay != time.Second {
			t.Fatalf("OnRetry = %+v, want one 1s wait (Retry-After over the 1ms delay)", rec.retries)
		}
		if g := srv.gaps(); len(g) != 1 || g[0] < time.Second {
			t.Fatalf("gap = %v, want at least 1s", g)
		}
	})
	cases := []struct {
		name       string
		code       int
		retryAfter string
		opts       client.RetryOptions
		wantCalls  int32
		wantDelay  time.Duration // of the first retry, when there is one
	}{
		{"503 date far ahead is over MaxDelay: give up at once", 503, time.Now().Add(time.Hour).UTC().Format(http.TimeFormat),
			client.RetryOptions{Delay: time.Millisecond, MaxDelay: 50 * time.Millisecond}, 1, 0},
		{"429 seconds over the default 1 minute bound: give up", 429, "3600",
			client.RetryOptions{Delay: time.Millisecond}, 1, 0},
		{"503 date in the past: the usual delay", 503, time.Now().Add(-time.Hour).UTC().Format(http.TimeFormat),
			client.RetryOptions{Retries: 1, Delay: 3 * time.Millisecond}, 2, 3 * time.Millisecond},
		{"unreadable value: the usual delay", 429, "soon",
			client.RetryOptions{Retries: 1, Delay: 3 * time.Millisecond}, 2, 3 * time.Millisecond},
		{"500 ignores Retry-After", 500, "3600",
			client.RetryOptions{Retries: 1, Delay: 3 * time.Millisecond}, 2, 3 * time.Millisecond},
		{"0 seconds: the usual delay is the longer", 429, "0",
			client.RetryOptions{Retries: 1, Delay: 3 * time.Millisecond}, 2, 3 * time.Millisecond},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := newHookServer(t, func(n int, w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Retry-After", tc.retryAfter)
				w.WriteHeader(tc.code)
			})
			var rec recorder
			opts := tc.opts
			opts.OnRetry = rec.onRetry
			start := time.Now()
			_, err := client.Retry(client.New(client.Options{BaseURL: srv.URL}).Get("/"), opts).Send(hookCtx(t))
			var he *client.HTTPError
			if !errors.As(err, &he) || he.StatusCode != tc.code {
				t.Fatalf("Send = %v, want *HTTPError %d", err, tc.code)
			}
			if n := srv.calls.Load(); n != tc.wantCalls {
				t.Fatalf("downstream calls = %d, want %d", n, tc.wantCalls)
			}
			if tc.wantCalls == 1 && time.Since(start) > 2*time.Second {
				t.Fatalf("giving up took %s, want at once", time.Since(start))
			}
			if tc.wantCalls > 1 && (len(rec.retries) == 0 || rec.retries[0].Delay != tc.wantDelay) {
				t.Fatalf("OnRetry = %+v, want a first wait of %s", rec.retries, tc.wantDelay)
			}
		})
	}
}

// TestRetryTransportErrorsAndTimeouts: a refused connection and an attempt
// that times out are retried; the caller's own deadline is not.
func TestRetryTransportErrorsAndTimeouts(t *testing.T) {
	t.Run("connection refused", func(t *testing.T) {
		t.Parallel()
		dead := httptest.NewServer(http.NotFoundHandler())
		dead.Close()
		var rec recorder
		_, err := client.Retry(client.New(client.Options{BaseURL: dead.URL}).Get("/"), client.RetryOptions{Retries: 2, Delay: time.Millisecond, OnRetry: rec.onRetry}).Send(hookCtx(t))
		var ue *url.Error
		if !errors.As(err, &ue) || len(rec.retries) != 2 {
			t.Fatalf("Send = %v after %d retries, want a *url.Error after 2", err, len(rec.retries))
		}
	})
	t.Run("attempt timeout", func(t *testing.T) {
		t.Parallel()
		srv := newHookServer(t, func(n int, w http.ResponseWriter, r *http.Request) {
			if n == 1 {
				select {
				case <-r.Context().Done():
				case <-time.After(5 * time.Second):
				}
				return
			}
			w.WriteHeader(http.StatusOK)
		})
		c := client.New(client.Options{BaseURL: srv.URL})
		var rec recorder
		resp, err := client.Retry(c.Get("/").Timeout(100*time.Millisecond), client.RetryOptions{Delay: time.Millisecond, OnRetry: rec.onRetry}).Send(hookCtx(t))
		if err != nil || resp.StatusCode != 200 || srv.calls.Load() < 2 {
			t.Fatalf("Send = %v, %v after %d calls; want 200 after a retry", resp, err, srv.calls.Load())
		}
		if len(rec.retries) == 0 || !errors.Is(rec.retries[0].Err, context.DeadlineExceeded) {
			t.Fatalf("OnRetry = %+v, want the first attempt's timeout retried", rec.retries)
		}
	})
	t.Run("caller deadline", func(t *testing.T) {
		t.Parallel()
		srv := newHookServer(t, func(n int, w http.ResponseWriter, r *http.Request) {
			<-r.Context().Done()
		})
		ctx, cancel := context.WithTimeout(hookCtx(t), 50*time.Millisecond)
		defer cancel()
		var rec recorder
		_, err := client.Retry(client.New(client.Options{BaseURL: srv.URL}).Get("/"), client.RetryOptions{Delay: time.Millisecond, OnRetry: rec.onRetry, OnFail: rec.onFail}).Send(ctx)
		if !errors.Is(err, context.DeadlineExceeded) || len(rec.retries) != 0 || len(rec.fails) != 1 || rec.fails[0].Attempt != 1 {
			t.Fatalf("Send = %v after %d retries (fails %+v); want DeadlineExceeded after one attempt", err, len(rec.retries), rec.fails)
		}
	})
}

func TestRetryRefusedIsNotRetried(t *testing.T) {
	srv := newHookServer(t, statuses(200))
	var befores atomic.Int32
	c := client.New(client.Options{BaseURL: srv.URL, BeforeRequest: func(context.Context, *client.Method) error {
		befores.Add(1)
		return errors.New("no token")
	}})
	_, err := client.Retry(c.Get("/"), client.RetryOptions{Delay: time.Millisecond}).Send(hookCtx(t))
	if !errors.Is(err, client.ErrRefused) || befores.Load() != 1 || srv.calls.Load() != 0 {
		t.Fatalf("Send = %v with %d BeforeRequest runs; want ErrRefused after 1", err, befores.Load())
	}
}

// TestRetryReturnsLastErrorUnchanged: the very error value of the last
// attempt comes back, not a wrapper.
func TestRetryReturnsLastErrorUnchanged(t *testing.T) {
	errs := []error{errors.New("first"), errors.New("second"), errors.New("third")}
	n := 0
	s := client.Retry(client.SenderFunc(func(context.Context) (*client.Response, error) {
		n++
		return nil, errs[n-1]
	}), client.RetryOptions{Retries: 2, Delay: time.Millisecond})
	if _, err := s.Send(hookCtx(t)); err != errs[2] {
		t.Fatalf("Send = %v (%T), want the third attempt's error itself", err, err)
	}
	he := &client.HTTPError{Method: "GET", URL: "http://x", StatusCode: 500}
	s = client.Retry(client.SenderFunc(func(context.Context) (*client.Response, error) {
		return nil, fmt.Errorf("wrapped twice: %w", fmt.Errorf("once: %w", he))
	}), client.RetryOptions{Retries: 1, Delay: time.Millisecond})
	var got *client.HTTPError
	if _, err := s.Send(hookCtx(t)); !errors.As(err, &got) || got != he {
		t.Fatalf("errors.As(%v) = %v, want the *HTTPError through two wraps", err, got)
	}
}

func TestRetryShouldRetryAndNoRetry(t *testing.T) {
	t.Run("predicate replaces the defaults", func(t *testing.T) {
		srv := newHookServer(t, statuses(404))
		var attempts []int
		s := client.Retry(client.New(client.Options{BaseURL: srv.URL}).Get("/"), client.RetryOptions{
			Delay: time.Millisecond,
			ShouldRetry: func(err error, attempt int) bool {
				attempts = append(attempts, attempt)
				var he *client.HTTPError
				return errors.As(err, &he) && he.StatusCode == 404 && attempt < 5
			},
		})
		_, err := s.Send(hookCtx(t))
		if !errors.As(err, new(*client.HTTPError)) || srv.calls.Load() != 5 {
			t.Fatalf("Send = %v after %d calls, want the 404 after 5", err, srv.calls.Load())
		}
		if fmt.Sprint(attempts) != "[1 2 3 4 5]" {
			t.Fatalf("ShouldRetry saw attempts %v, want [1 2 3 4 5]", attempts)
		}
	})
	t.Run("predicate cannot outlive ctx", func(t *testing.T) {
		ctx, cancel := context.WithCancel(hookCtx(t))
		n := 0
		s := client.Retry(client.SenderFunc(func(ctx context.Context) (*client.Response, error) {
			n++
			cancel()
			return nil, ctx.Err()
		}), client.RetryOptions{Delay: time.Millisecond, ShouldRetry: func(error, int) bool { return true }})
		if _, err := s.Send(ctx); !errors.Is(err, context.Canceled) || n != 1 {
			t.Fatalf("Send = %v after %d attempts, want context.Canceled after 1", err, n)
		}
	})
	t.Run("NoRetry", func(t *testing.T) {
		srv := newHookServer(t, statuses(500))
		var rec recorder
		_, err := client.Retry(client.New(client.Options{BaseURL: srv.URL}).Get("/"), client.RetryOptions{NoRetry: true, Retries: 5, OnFail: rec.onFail}).Send(hookCtx(t))
		if err == nil || srv.calls.Load() != 1 || len(rec.fails) != 1 || rec.fails[0].Attempt != 1 {
			t.Fatalf("NoRetry: Send = %v after %d calls, fails %+v; want one call and one OnFail", err, srv.calls.Load(), rec.fails)
		}
	})
}

func TestRetryable(t *testing.T) {
	wrap2 := func(err error) error { return fmt.Errorf("a: %w", fmt.Errorf("b: %w", err)) }
	cases := []struct {
		name string
		err  error
		want bool
	}{
		{"nil", nil, false},
		{"500", &client.HTTPError{StatusCode: 500}, true},
		{"503 wrapped", wrap2(&client.HTTPError{StatusCode: 503}), true},
		{"429", &client.HTTPError{StatusCode: 429}, true},
		{"400", &client.HTTPError{StatusCode: 400}, false},
		{"404 wrapped", wrap2(&client.HTTPError{StatusCode: 404}), false},
		{"transport", &url.Error{Op: "Get", URL: "http://x", Err: errors.New("connection refused")}, true},
		{"attempt timeout", &url.Error{Op: "Get", URL: "http://x", Err: context.DeadlineExceeded}, true},
		{"canceled", wrap2(context.Canceled), false},
		{"refused", wrap2(client.ErrRefused), false},
		{"body too large", wrap2(client.ErrBodyTooLarge), false},
		{"body not encodable", wrap2(client.ErrEncodeBody), false},
		{"rate limited", wrap2(&ratelimit.LimitedError{Limit: 1, RetryAfter: time.Second}), true},
		{"lock timeout", wrap2(lock.ErrTimeout), true},
		{"custom", errors.New("smtp: 421 try later"), true},
	}
	for _, tc := range cases {
		if got := client.Retryable(tc.err); got != tc.want {
			t.Errorf("Retryable(%s: %v) = %v, want %v", tc.name, tc.err, got, tc.want)
		}
	}
}

func TestRetryPanicsOnBadOptions(t *testing.T) {
	ok := client.SenderFunc(func(context.Context) (*client.Response, error) { return nil, nil })
	cases := []struct {
		name string
		next client.Sender
		opts client.RetryOptions
	}{
		{"nil sender", nil, client.RetryOptions{}},
		{"negative retries", ok, client.RetryOptions{Retries: -1}},
		{"negative delay", ok, client.RetryOptions{Delay: -time.Second}},
		{"negative multiplier", ok, client.RetryOptions{Multiplier: -2}},
		{"negative max delay", ok, client.RetryOptions{MaxDelay: -1}},
		{"negative quiver", ok, client.RetryOptions{StartQuiver: -0.1}},
		{"start above the default end", ok, client.RetryOptions{StartQuiver: 2}},
		{"start above end", ok, client.RetryOptions{StartQuiver: 0.8, EndQuiver: 0.5}},
		{"backoff and delay", ok, client.RetryOptions{NewBackoff: noWait, Delay: time.Second}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			defer func() {
				if r := recover(); r == nil {
					t.Errorf("Retry(%+v) did not panic", tc.opts)
				} else if s := fmt.Sprint(r); len(s) < 7 || s[:7] != "client:" {
					t.Errorf("panic %q lacks the package prefix", s)
				}
			}()
			client.Retry(tc.next, tc.opts)
		})
	}
}

// BenchmarkRetryOverhead is the cost Retry adds to a send that succeeds at
// once: a fresh budget (backoff) per send.
func BenchmarkRetryOverhead(b *testing.B) {
	resp := &client.Response{StatusCode: http.StatusOK}
	s := client.Retry(client.SenderFunc(func(context.Context) (*client.Response, error) { return resp, nil }), client.RetryOptions{})
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Send(ctx); err != nil {
			b.Fatal(err)
		}
	}
}
