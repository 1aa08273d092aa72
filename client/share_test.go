package client_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/alovago/alova/client"
)

// gated is a downstream whose answers wait for release, and which tells when
// a request has arrived.
func gated(t *testing.T) (d *downstream, arrived chan struct{}, release chan struct{}) {
	t.Helper()
	arrived = make(chan struct{}, 1000)
	release = make(chan struct{})
	d = newDownstream(t, func(w http.ResponseWriter, r *http.Request) {
		arrived <- struct{}{}
		select {
		case <-release:
			w.Header().Set("X-Shared", "yes")
			_, _ = w.Write([]byte("answer"))
		case <-r.Context().Done():
		}
	})
	return d, arrived, release
}

// 1,000 identical GETs in flight at once make one downstream call. The
// transport is in-process, inside a synctest bubble, so the test knows when
// every sender is waiting (synctest.Wait) instead of sleeping and hoping.
func TestShare1000IdenticalGETs(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var calls atomic.Int64
		release := make(chan struct{})
		rt := roundTripFunc(func(r *http.Request) (*http.Response, error) {
			calls.Add(1)
			<-release
			return &http.Response{StatusCode: 200, Header: http.Header{"X-Shared": {"yes"}},
				Body: io.NopCloser(strings.NewReader("answer")), Request: r}, nil
		})
		c := client.New(client.Options{BaseURL: "http://downstream", HTTPClient: &http.Client{Transport: rt}})
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		const n = 1000
		resps := make([]*client.Response, n)
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() { resps[i], errs[i] = c.Get("/same").Param("q", "1").Send(ctx) })
		}
		synctest.Wait() // every sender is blocked: one in the transport, the rest on the shared call
		close(release)
		wg.Wait()
		if got := calls.Load(); got != 1 {
			t.Fatalf("downstream calls = %d, want 1", got)
		}
		for i := range n {
			if errs[i] != nil || resps[i].String() != "answer" || resps[i].Header("X-Shared") != "yes" {
				t.Fatalf("caller %d got %v, %v", i, resps[i], errs[i])
			}
		}
		// Each caller got its own copy.
		resps[0].Bytes()[0] = 'X'
		resps[0].Headers().Set("X-Shared", "changed")
		for i := 1; i < n; i++ {
			if resps[i].String() != "answer" || resps[i].Header("X-Shared") != "yes" {
				t.Fatalf("changing caller 0's answer changed caller %d's", i)
			}
		}
	})
}

func TestShareCancelOneWaiter(t *testing.T) {
	t.Parallel()
	d, arrived, release := gated(t)
	c := client.New(client.Options{BaseURL: d.URL})

	leaderCtx, cancelLeader := context.WithCancel(context.Background())
	defer cancelLeader()
	leaderErr := make(chan error, 1)
	go func() {
		_, err := c.Get("/slow").Send(leaderCtx)
		leaderErr <- err
	}()
	<-arrived

	type result struct {
		resp *client.Response
		err  error
	}
	other := make(chan result, 1)
	go func() {
		r, err := c.Get("/slow").Send(testCtx(t))
		other <- result{r, err}
	}()
	// Wait until the second caller has surely joined: its own downstream call
	// would reach the server, a joined one never does; the final call count
	// tells which happened.
	time.Sleep(100 * time.Millisecond)

	cancelLeader()
	select {
	case err := <-leaderErr:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("cancelled caller: err = %v, want context.Canceled", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the cancelled caller did not leave at once")
	}
	close(release)
	res := <-other
	if res.err != nil || res.resp.String() != "answer" {
		t.Fatalf("the remaining caller got %v, %v; want the answer", res.resp, res.err)
	}
	if got := d.calls.Load(); got != 1 {
		t.Errorf("downstream calls = %d, want 1 (the second caller joined the first)", got)
	}
}

func TestShareLastWaiterCancelsCall(t *testing.T) {
	t.Parallel()
	var cancelled atomic.Bool
	arrived := make(chan struct{}, 1)
	d := newDownstream(t, func(w http.ResponseWriter, r *http.Request) {
		arrived <- struct{}{}
		<-r.Context().Done()
		cancelled.Store(true)
	})
	c := client.New(client.Options{BaseURL: d.URL, Timeout: time.Hour})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { _, err := c.Get("/x").Send(ctx); done <- err }()
	<-arrived
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want Canceled", err)
	}
	eventually(t, "the downstream call to be cancelled", cancelled.Load)
}

func TestShareSettings(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		build     func(c *client.Client) *client.Method
		wantCalls int64
	}{
		{"GET shared by default", func(c *client.Client) *client.Method { return c.Get("/x") }, 1},
		{"PUT shared by default", func(c *client.Client) *client.Method { return c.Put("/x", "b") }, 1},
		{"DELETE shared by default", func(c *client.Client) *client.Method { return c.Delete("/x") }, 1},
		{"GET share off", func(c *client.Client) *client.Method { return c.Get("/x").Share(false) }, 2},
		{"POST not shared by default", func(c *client.Client) *client.Method { return c.Post("/x", "b") }, 2},
		{"PATCH not shared by default", func(c *client.Client) *client.Method { return c.Patch("/x", "b") }, 2},
		{"POST share on", func(c *client.Client) *client.Method { return c.Post("/x", "b").Share(true) }, 1},
		{"reader body never shared", func(c *client.Client) *client.Method {
			return c.Put("/x", strings.NewReader("b")).Share(true)
		}, 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			d, arrived, release := gated(t)
			c := client.New(client.Options{BaseURL: d.URL})
			ctx := testCtx(t)
			var wg sync.WaitGroup
			for range 2 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					if _, err := tc.build(c).Send(ctx); err != nil {
						t.Errorf("Send: %v", err)
					}
				}()
			}
			<-arrived
			if tc.wantCalls == 2 {
				<-arrived // both must reach the server before either is answered
			} else {
				time.Sleep(100 * time.Millisecond) // time for the second to (wrongly) call
			}
			close(release)
			wg.Wait()
			if got := d.calls.Load(); got != tc.wantCalls {
				t.Errorf("downstream calls = %d, want %d", got, tc.wantCalls)
			}
		})
	}
}

func TestShareHTTPErrorIsCopied(t *testing.T) {
	t.Parallel()
	arrived := make(chan struct{}, 10)
	release := make(chan struct{})
	d := newDownstream(t, func(w http.ResponseWriter, r *http.Request) {
		arrived <- struct{}{}
		<-release
		w.WriteHeader(503)
		_, _ = w.Write([]byte("down"))
	})
	c := client.New(client.Options{BaseURL: d.URL})
	ctx := testCtx(t)
	errs := make([]error, 2)
	var wg sync.WaitGroup
	for i := range errs {
		wg.Add(1)
		go func() { defer wg.Done(); _, errs[i] = c.Get("/e").Send(ctx) }()
	}
	<-arrived
	time.Sleep(100 * time.Millisecond)
	close(release)
	wg.Wait()
	var a, b *client.HTTPError
	if !errors.As(errs[0], &a) || !errors.As(errs[1], &b) {
		t.Fatalf("errs = %v, want two HTTPErrors", errs)
	}
	if a == b {
		t.Error("both callers got the same *HTTPError")
	}
	a.Body[0] = 'X'
	if string(b.Body) != "down" {
		t.Errorf("changing one caller's error body changed the other's: %q", b.Body)
	}
	if got := d.calls.Load(); got != 1 {
		t.Errorf("downstream calls = %d, want 1", got)
	}
}

// A forced send does not join a call that started before it: that call may
// predate whatever made the caller force.
func TestShareForcedDoesNotJoinUnforced(t *testing.T) {
	t.Parallel()
	d, arrived, release := gated(t)
	c := client.New(client.Options{BaseURL: d.URL})
	ctx := testCtx(t)
	var wg sync.WaitGroup
	for _, force := range []bool{false, true} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := c.Get("/x").Force(force).Send(ctx); err != nil {
				t.Errorf("Send(force=%v): %v", force, err)
			}
		}()
		<-arrived // each reaches the server on its own
	}
	close(release)
	wg.Wait()
	if got := d.calls.Load(); got != 2 {
		t.Errorf("downstream calls = %d, want 2", got)
	}
}
