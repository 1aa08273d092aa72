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
	"testing/synctest"
	"time"

	"github.com/alovago/alova/client"
	"github.com/alovago/alova/lock"
	"github.com/alovago/alova/ratelimit"
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

// failing returns a Sender that fails with errs[n-1] on its n-th call (the
// last error repeating, nil meaning success), and the times of its calls.
// It needs no network, so it runs in a synctest bubble.
func failing(errs ...error) (client.Sender, *[]time.Time) {
	var mu sync.Mutex
	var calls []time.Time
	return client.SenderFunc(func(context.Context) (*client.Response, error) {
		mu.Lock()
		defer mu.Unlock()
		calls = append(calls, time.Now())
		if err := errs[min(len(calls), len(errs))-1]; err != nil {
			return nil, err
		}
		return client.NewResponse(http.StatusOK, nil, nil), nil
	}), &calls
}

// gapsOf returns the time between consecutive calls.
func gapsOf(calls []time.Time) []time.Duration {
	var g []time.Duration
	for i := 1; i < len(calls); i++ {
		g = append(g, calls[i].Sub(calls[i-1]))
	}
	return g
}

// status returns the *HTTPError the client returns for an answer with code
// and the header name: value (when name is not "").
func status(code int, header ...string) *client.HTTPError {
	h := http.Header{}
	for i := 0; i+1 < len(header); i += 2 {
		h.Set(header[i], header[i+1])
	}
	return &client.HTTPError{Method: http.MethodGet, URL: "http://downstream/", StatusCode: code, Header: h}
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

// TestRetryDefaults: the zero RetryOptions is alova's retry: 3 retries after
// the first try, 1 s apart, then the last error unchanged.
func TestRetryDefaults(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		last := status(http.StatusInternalServerError)
		s, calls := failing(status(http.StatusBadGateway), last)
		var rec recorder
		start := time.Now()
		_, err := client.Retry(s, client.RetryOptions{OnRetry: rec.onRetry, OnFail: rec.onFail}).Send(hookCtx(t))
		if err != last {
			t.Fatalf("Send = %v, want the last *HTTPError itself", err)
		}
		if len(*calls) != 4 {
			t.Fatalf("calls = %d, want 4 (1 try + 3 retries)", len(*calls))
		}
		if g := gapsOf(*calls); fmt.Sprint(g) != "[1s 1s 1s]" {
			t.Fatalf("gaps between attempts = %v, want [1s 1s 1s]", g)
		}
		if took := time.Since(start); took != 3*time.Second {
			t.Fatalf("Send took %s, want 3s", took)
		}
		if len(rec.retries) != 3 || len(rec.fails) != 1 || rec.fails[0].Attempt != 4 || rec.fails[0].Err != err {
			t.Fatalf("events: retries %+v, fails %+v; want 3 retries and one fail at attempt 4 with the returned error", rec.retries, rec.fails)
		}
		for i, e := range rec.retries {
			if e.Attempt != i+1 || e.Delay != time.Second || e.Err == nil {
				t.Fatalf("OnRetry #%d = %+v, want attempt %d, 1s and the error", i, e, i+1)
			}
		}
	})
}

// TestRetryAttemptsOne: "no retries" is one field, Attempts: 1.
func TestRetryAttemptsOne(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s, calls := failing(status(http.StatusServiceUnavailable))
		var rec recorder
		_, err := client.Retry(s, client.RetryOptions{Attempts: 1, OnRetry: rec.onRetry, OnFail: rec.onFail}).Send(hookCtx(t))
		if err == nil || len(*calls) != 1 || len(rec.retries) != 0 || len(rec.fails) != 1 || rec.fails[0].Attempt != 1 {
			t.Fatalf("Attempts 1: Send = %v after %d calls, retries %+v, fails %+v; want one call and one OnFail", err, len(*calls), rec.retries, rec.fails)
		}
	})
}

// TestRetryDefaultDelayAndCancel: cancelling during the 1 s wait returns at
// once with the ctx error.
func TestRetryDefaultDelayAndCancel(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s, calls := failing(status(http.StatusBadGateway))
		ctx, cancel := context.WithCancel(hookCtx(t))
		var got client.RetryEvent
		r := client.Retry(s, client.RetryOptions{OnRetry: func(e client.RetryEvent) {
			got = e
			time.AfterFunc(300*time.Millisecond, cancel) // cancel during the 1 s wait
		}})
		start := time.Now()
		_, err := r.Send(ctx)
		if took := time.Since(start); took != 300*time.Millisecond {
			t.Fatalf("Send returned %s after its start, want 300ms (at the cancel)", took)
		}
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Send = %v, want context.Canceled", err)
		}
		if got.Delay != time.Second || got.Attempt != 1 {
			t.Fatalf("OnRetry = %+v, want attempt 1 and the default 1s delay", got)
		}
		if len(*calls) != 1 {
			t.Fatalf("calls = %d, want 1", len(*calls))
		}
	})
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
			_, err := client.Retry(c.Get("/"), client.RetryOptions{Attempts: 3, Delay: time.Millisecond}).Send(hookCtx(t))
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

// TestRetryBackoffShapes: retry n waits Delay × Multiplier^(n−1), for the
// constant (1), doubling (2) and any other multiplier, and the attempts come
// exactly that far apart.
func TestRetryBackoffShapes(t *testing.T) {
	cases := []struct {
		multiplier float64
		want       string
	}{
		{0, "[100ms 100ms 100ms 100ms]"}, // the default: 1
		{1, "[100ms 100ms 100ms 100ms]"},
		{2, "[100ms 200ms 400ms 800ms]"},
		{3, "[100ms 300ms 900ms 2.7s]"},
		{0.5, "[100ms 50ms 25ms 12.5ms]"},
	}
	for _, tc := range cases {
		t.Run(fmt.Sprint(tc.multiplier), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				s, calls := failing(errors.New("connection reset"))
				var rec recorder
				_, _ = client.Retry(s, client.RetryOptions{Attempts: 5, Delay: 100 * time.Millisecond, Multiplier: tc.multiplier, OnRetry: rec.onRetry}).Send(hookCtx(t))
				var delays []time.Duration
				for _, e := range rec.retries {
					delays = append(delays, e.Delay)
				}
				if fmt.Sprint(delays) != tc.want {
					t.Fatalf("Multiplier %v: OnRetry delays = %v, want %s", tc.multiplier, delays, tc.want)
				}
				if g := gapsOf(*calls); fmt.Sprint(g) != tc.want {
					t.Fatalf("Multiplier %v: gaps between attempts = %v, want %s", tc.multiplier, g, tc.want)
				}
			})
		})
	}
}

func TestRetrySucceedsAfterFailures(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s, calls := failing(status(500), status(503), nil)
		var rec recorder
		resp, err := client.Retry(s, client.RetryOptions{Delay: 5 * time.Millisecond, Multiplier: 2, OnRetry: rec.onRetry, OnFail: rec.onFail}).Send(hookCtx(t))
		if err != nil || resp.StatusCode() != 200 {
			t.Fatalf("Send = %+v, %v; want 200", resp, err)
		}
		if len(rec.retries) != 2 || len(rec.fails) != 0 || len(*calls) != 3 {
			t.Fatalf("%d calls, retries %+v, fails %+v; want 3 calls, 2 retries and no fail", len(*calls), rec.retries, rec.fails)
		}
	})
}

// TestRetryJitterWithinBounds checks alova's quiver formula: each wait is
// d + d × (s + rand × (e − s)) with d = Delay × Multiplier^(n−1), and the
// attempts come exactly that far apart.
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
			synctest.Test(t, func(t *testing.T) {
				const delay = 2 * time.Millisecond
				var rec recorder
				seen := map[time.Duration]bool{}
				for range 5 {
					s, calls := failing(errors.New("connection reset"))
					rec.retries = nil
					r := client.Retry(s, client.RetryOptions{Attempts: 5, Delay: delay, Multiplier: 2, StartQuiver: tc.start, EndQuiver: tc.end, OnRetry: rec.onRetry})
					if _, err := r.Send(hookCtx(t)); err == nil {
						t.Fatal("Send succeeded, want the error")
					}
					if len(rec.retries) != 4 {
						t.Fatalf("%d retries, want 4", len(rec.retries))
					}
					gaps := gapsOf(*calls)
					for i, e := range rec.retries {
						d := float64(delay) * float64(int(1)<<i)
						lo, hi := time.Duration(d*tc.lo), time.Duration(d*tc.hi)
						if e.Delay < lo || e.Delay > hi {
							t.Fatalf("retry %d waited %s, want within [%s, %s]", i+1, e.Delay, lo, hi)
						}
						if gaps[i] != e.Delay {
							t.Fatalf("retry %d came %s after the failure, want its %s wait", i+1, gaps[i], e.Delay)
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
		})
	}
}

func TestRetryMaxDelayCaps(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var rec recorder
		s, _ := failing(errors.New("timeout"))
		_, _ = client.Retry(s, client.RetryOptions{Attempts: 5, Delay: time.Millisecond, Multiplier: 3, StartQuiver: 1, MaxDelay: 5 * time.Millisecond, OnRetry: rec.onRetry}).Send(hookCtx(t))
		want := []time.Duration{2 * time.Millisecond, 5 * time.Millisecond, 5 * time.Millisecond, 5 * time.Millisecond}
		if len(rec.retries) != len(want) {
			t.Fatalf("%d retries, want %d", len(rec.retries), len(want))
		}
		for i, e := range rec.retries {
			if e.Delay != want[i] {
				t.Fatalf("retry %d waited %s, want %s (1ms×3^(n−1), doubled by StartQuiver 1, capped at 5ms)", i+1, e.Delay, want[i])
			}
		}
	})
}

// TestRetryFreshBudgetPerSend: each Send, including concurrent ones, gets the
// whole budget; a shared go-retry backoff would have spent it on the first.
func TestRetryFreshBudgetPerSend(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		type key struct{}
		var mu sync.Mutex
		calls := map[int]int{}
		s := client.Retry(client.SenderFunc(func(ctx context.Context) (*client.Response, error) {
			mu.Lock()
			calls[ctx.Value(key{}).(int)]++
			mu.Unlock()
			return nil, errors.New("boom")
		}), client.RetryOptions{Attempts: 3})
		var wg sync.WaitGroup
		for i := range 8 {
			wg.Go(func() { _, _ = s.Send(context.WithValue(hookCtx(t), key{}, i)) })
		}
		wg.Wait()
		for i := range 8 {
			if calls[i] != 3 {
				t.Fatalf("send %d made %d attempts, want 3", i, calls[i])
			}
		}
	})
	srv := newHookServer(t, statuses(http.StatusServiceUnavailable))
	m := client.Retry(client.New(client.Options{BaseURL: srv.URL}).Get("/"), client.RetryOptions{Attempts: 3, Delay: time.Millisecond})
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
	if err != nil || resp.StatusCode() != http.StatusCreated {
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
	past := time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC).Format(http.TimeFormat)
	cases := []struct {
		name      string
		err       error
		opts      client.RetryOptions
		wantCalls int
		wantDelay time.Duration // of the first retry, when there is one
	}{
		{"seconds on 429 are waited for", status(429, "Retry-After", "2"),
			client.RetryOptions{Attempts: 2, Delay: time.Millisecond}, 2, 2 * time.Second},
		{"a date on 503 is waited for", status(503, "Retry-After", "Sat, 01 Jan 2000 00:00:30 GMT"),
			client.RetryOptions{Attempts: 2, Delay: time.Millisecond}, 2, 30 * time.Second},
		{"a date over MaxDelay: give up at once", status(503, "Retry-After", "Sat, 01 Jan 2000 01:00:00 GMT"),
			client.RetryOptions{Delay: time.Millisecond, MaxDelay: 50 * time.Millisecond}, 1, 0},
		{"seconds over the default 1 minute bound: give up", status(429, "Retry-After", "61"),
			client.RetryOptions{Delay: time.Millisecond}, 1, 0},
		{"exactly 1 minute is waited for", status(429, "Retry-After", "60"),
			client.RetryOptions{Attempts: 2, Delay: time.Millisecond}, 2, time.Minute},
		{"a date in the past: the usual delay", status(503, "Retry-After", past),
			client.RetryOptions{Attempts: 2, Delay: 3 * time.Millisecond}, 2, 3 * time.Millisecond},
		{"unreadable value: the usual delay", status(429, "Retry-After", "soon"),
			client.RetryOptions{Attempts: 2, Delay: 3 * time.Millisecond}, 2, 3 * time.Millisecond},
		{"500 ignores Retry-After", status(500, "Retry-After", "3600"),
			client.RetryOptions{Attempts: 2, Delay: 3 * time.Millisecond}, 2, 3 * time.Millisecond},
		{"0 seconds: the usual delay is the longer", status(429, "Retry-After", "0"),
			client.RetryOptions{Attempts: 2, Delay: 3 * time.Millisecond}, 2, 3 * time.Millisecond},
		{"a rate limit's RetryAfter is waited for", fmt.Errorf("hook: %w", &ratelimit.LimitedError{Limit: 1, RetryAfter: 1500 * time.Millisecond}),
			client.RetryOptions{Attempts: 2, Delay: time.Millisecond}, 2, 1500 * time.Millisecond},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				// The bubble's clock starts at 2000-01-01 00:00:00 UTC, and
				// its time passes at once: waits of a minute are fine.
				s, calls := failing(tc.err)
				var rec recorder
				opts := tc.opts
				opts.OnRetry = rec.onRetry
				_, err := client.Retry(s, opts).Send(context.Background())
				if err != tc.err {
					t.Fatalf("Send = %v, want the attempt's error unchanged", err)
				}
				if len(*calls) != tc.wantCalls {
					t.Fatalf("calls = %d, want %d", len(*calls), tc.wantCalls)
				}
				if tc.wantCalls > 1 {
					if len(rec.retries) == 0 || rec.retries[0].Delay != tc.wantDelay {
						t.Fatalf("OnRetry = %+v, want a first wait of %s", rec.retries, tc.wantDelay)
					}
					if g := gapsOf(*calls); g[0] != tc.wantDelay {
						t.Fatalf("gap = %s, want %s", g[0], tc.wantDelay)
					}
				}
			})
		})
	}
	// Through a real downstream: the header is read from the answer.
	t.Run("real 429 asking for an hour", func(t *testing.T) {
		srv := newHookServer(t, func(n int, w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Retry-After", "3600")
			w.WriteHeader(http.StatusTooManyRequests)
		})
		_, err := client.Retry(client.New(client.Options{BaseURL: srv.URL}).Get("/"), client.RetryOptions{Delay: time.Millisecond}).Send(hookCtx(t))
		var he *client.HTTPError
		if !errors.As(err, &he) || he.StatusCode != 429 || srv.calls.Load() != 1 {
			t.Fatalf("Send = %v after %d calls, want the 429 after 1 (Retry-After over 1 minute)", err, srv.calls.Load())
		}
	})
}

// TestRetryTransportErrorsAndTimeouts: a refused connection and an attempt
// that times out are retried; the caller's own deadline is not.
func TestRetryTransportErrorsAndTimeouts(t *testing.T) {
	t.Run("connection refused", func(t *testing.T) {
		t.Parallel()
		dead := httptest.NewServer(http.NotFoundHandler())
		dead.Close()
		var rec recorder
		_, err := client.Retry(client.New(client.Options{BaseURL: dead.URL}).Get("/"), client.RetryOptions{Attempts: 3, Delay: time.Millisecond, OnRetry: rec.onRetry}).Send(hookCtx(t))
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
		if err != nil || resp.StatusCode() != 200 || srv.calls.Load() < 2 {
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
	synctest.Test(t, func(t *testing.T) {
		errs := []error{errors.New("first"), errors.New("second"), errors.New("third")}
		s, _ := failing(errs...)
		if _, err := client.Retry(s, client.RetryOptions{Attempts: 3}).Send(hookCtx(t)); err != errs[2] {
			t.Fatalf("Send = %v (%T), want the third attempt's error itself", err, err)
		}
		he := &client.HTTPError{Method: "GET", URL: "http://x", StatusCode: 500}
		s, _ = failing(fmt.Errorf("wrapped twice: %w", fmt.Errorf("once: %w", he)))
		var got *client.HTTPError
		if _, err := client.Retry(s, client.RetryOptions{Attempts: 2}).Send(hookCtx(t)); !errors.As(err, &got) || got != he {
			t.Fatalf("errors.As(%v) = %v, want the *HTTPError through two wraps", err, got)
		}
		// An error not retried comes back as it is too: no go-retry wrapper.
		notFound := fmt.Errorf("lookup: %w", status(http.StatusNotFound))
		s, calls := failing(notFound)
		if _, err := client.Retry(s, client.RetryOptions{}).Send(hookCtx(t)); err != notFound || len(*calls) != 1 {
			t.Fatalf("Send = %v after %d calls, want the 404 itself after 1", err, len(*calls))
		}
	})
}

func TestRetryShouldRetry(t *testing.T) {
	t.Run("predicate replaces Retryable, Attempts still bounds", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			s, calls := failing(status(404))
			var seen []error
			r := client.Retry(s, client.RetryOptions{
				Attempts: 5,
				ShouldRetry: func(err error) bool {
					seen = append(seen, err)
					var he *client.HTTPError
					return errors.As(err, &he) && he.StatusCode == 404
				},
			})
			_, err := r.Send(hookCtx(t))
			if !errors.As(err, new(*client.HTTPError)) || len(*calls) != 5 || len(seen) != 5 {
				t.Fatalf("Send = %v after %d calls and %d ShouldRetry calls, want the 404 after 5 and 5", err, len(*calls), len(seen))
			}
		})
	})
	t.Run("predicate saying no", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			s, calls := failing(status(503))
			_, err := client.Retry(s, client.RetryOptions{ShouldRetry: func(error) bool { return false }}).Send(hookCtx(t))
			if err == nil || len(*calls) != 1 {
				t.Fatalf("Send = %v after %d calls, want the 503 after 1", err, len(*calls))
			}
		})
	})
	t.Run("predicate cannot outlive ctx", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			ctx, cancel := context.WithCancel(hookCtx(t))
			n := 0
			s := client.Retry(client.SenderFunc(func(ctx context.Context) (*client.Response, error) {
				n++
				cancel()
				return nil, ctx.Err()
			}), client.RetryOptions{ShouldRetry: func(error) bool { return true }})
			if _, err := s.Send(ctx); !errors.Is(err, context.Canceled) || n != 1 {
				t.Fatalf("Send = %v after %d attempts, want context.Canceled after 1", err, n)
			}
		})
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
		{"negative attempts", ok, client.RetryOptions{Attempts: -1}},
		{"negative delay", ok, client.RetryOptions{Delay: -time.Second}},
		{"negative multiplier", ok, client.RetryOptions{Multiplier: -2}},
		{"negative max delay", ok, client.RetryOptions{MaxDelay: -1}},
		{"negative quiver", ok, client.RetryOptions{StartQuiver: -0.1}},
		{"start above the default end", ok, client.RetryOptions{StartQuiver: 2}},
		{"start above end", ok, client.RetryOptions{StartQuiver: 0.8, EndQuiver: 0.5}},
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
	resp := client.NewResponse(http.StatusOK, nil, nil)
	s := client.Retry(client.SenderFunc(func(context.Context) (*client.Response, error) { return resp, nil }), client.RetryOptions{})
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Send(ctx); err != nil {
			b.Fatal(err)
		}
	}
}
