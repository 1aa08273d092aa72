package captcha_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alovago/alova/captcha"
)

// TestFlow walks send → resend too soon → resend after the interval → five
// wrong codes → burned → fresh send → verify → second verify, with and
// without ReuseCode, on every store.
func TestFlow(t *testing.T) {
	for _, reuse := range []bool{false, true} {
		t.Run(fmt.Sprintf("reuse=%v", reuse), func(t *testing.T) {
			forEachBackend(t, func(t *testing.T, newStore func() captcha.Store) {
				ctx := context.Background()
				clk := newClock()
				p := captcha.NewProvider(newStore(), captcha.Options{Now: clk.Now, Generator: seqGen(), ReuseCode: reuse})
				var ob outbox
				const key = "+15550001111"

				res, err := p.Send(ctx, key, ob.deliver)
				if err != nil {
					t.Fatalf("Send = %v", err)
				}
				if want := (captcha.SendResult{ExpiresIn: 5 * time.Minute, ResendIn: time.Minute}); res != want {
					t.Errorf("Send = %+v, want %+v", res, want)
				}
				code1 := ob.last(t)
				if ob.keys[0] != key {
					t.Errorf("deliver got key %q, want %q", ob.keys[0], key)
				}

				clk.Advance(10 * time.Second)
				_, err = p.Send(ctx, key, ob.deliver)
				var tooSoon *captcha.ResendTooSoonError
				if !errors.As(err, &tooSoon) || !errors.Is(err, captcha.ErrResendTooSoon) {
					t.Fatalf("resend after 10s = %v, want ResendTooSoonError", err)
				}
				if tooSoon.RetryAfter != 50*time.Second {
					t.Errorf("RetryAfter = %v, want 50s", tooSoon.RetryAfter)
				}
				if ob.count() != 1 {
					t.Fatalf("refused resend delivered: %v", ob.codes)
				}

				clk.Advance(51 * time.Second)
				code2 := mustSend(t, p, &ob, key)
				if reuse && code2 != code1 {
					t.Errorf("ReuseCode: resend delivered %q, want the same %q", code2, code1)
				}
				if !reuse && code2 == code1 {
					t.Errorf("resend delivered the same code %q, want a new one", code2)
				}

				wrong := []string{"nope1", "nope2", "nope3", "nope4", "nope5"}
				if !reuse {
					wrong[0] = code1 // the replaced code is a wrong code now
				}
				for _, w := range wrong {
					wantVerify(t, p, key, w, captcha.ErrInvalidCode)
				}
				wantVerify(t, p, key, code2, captcha.ErrInvalidCode) // burned

				_, err = p.Send(ctx, key, ob.deliver)
				if !errors.Is(err, captcha.ErrResendTooSoon) {
					t.Fatalf("send right after burn = %v, want ErrResendTooSoon (burning does not reset the interval)", err)
				}
				clk.Advance(61 * time.Second)
				code3 := mustSend(t, p, &ob, key)
				if code3 == code2 {
					t.Errorf("send after burn delivered the burned code %q", code3)
				}
				wantVerify(t, p, key, code3, nil)
				wantVerify(t, p, key, code3, captcha.ErrInvalidCode) // single use
			})
		})
	}
}

func TestExpiry(t *testing.T) {
	forEachBackend(t, func(t *testing.T, newStore func() captcha.Store) {
		clk := newClock()
		p := captcha.NewProvider(newStore(), captcha.Options{Now: clk.Now, TTL: time.Minute, ResendInterval: time.Second})
		var ob outbox
		a := mustSend(t, p, &ob, "a")
		b := mustSend(t, p, &ob, "b")
		clk.Advance(time.Minute - time.Millisecond)
		wantVerify(t, p, "a", a, nil)
		clk.Advance(time.Millisecond)
		wantVerify(t, p, "b", b, captcha.ErrInvalidCode)
	})
}

func TestReuseCode(t *testing.T) {
	forEachBackend(t, func(t *testing.T, newStore func() captcha.Store) {
		store := newStore()
		clk := newClock()
		p := captcha.NewProvider(store, captcha.Options{Now: clk.Now, ReuseCode: true, Length: 8})
		var ob outbox

		t.Run("expiry extended", func(t *testing.T) {
			c1 := mustSend(t, p, &ob, "ext")
			clk.Advance(4 * time.Minute)
			if c2 := mustSend(t, p, &ob, "ext"); c2 != c1 {
				t.Fatalf("resend = %q, want %q", c2, c1)
			}
			clk.Advance(4 * time.Minute) // 8 min after the first send
			wantVerify(t, p, "ext", c1, nil)
		})
		t.Run("attempts kept", func(t *testing.T) {
			c1 := mustSend(t, p, &ob, "att")
			for range 3 {
				wantVerify(t, p, "att", "x", captcha.ErrInvalidCode)
			}
			clk.Advance(61 * time.Second)
			mustSend(t, p, &ob, "att")
			for range 2 {
				wantVerify(t, p, "att", "x", captcha.ErrInvalidCode)
			}
			wantVerify(t, p, "att", c1, captcha.ErrInvalidCode) // 3 + 2 wrong: burned
		})
		t.Run("expired code not reused", func(t *testing.T) {
			c1 := mustSend(t, p, &ob, "exp")
			clk.Advance(5*time.Minute + time.Second)
			if c2 := mustSend(t, p, &ob, "exp"); c2 == c1 {
				t.Fatalf("resend after expiry reused %q", c1)
			}
		})
		t.Run("used during redelivery", func(t *testing.T) {
			c1 := mustSend(t, p, &ob, "race")
			clk.Advance(61 * time.Second)
			_, err := p.Send(context.Background(), "race", func(ctx context.Context, code, key string) error {
				if code != c1 {
					t.Errorf("redelivered %q, want %q", code, c1)
				}
				wantVerify(t, p, key, code, nil) // the first SMS arrives and is used meanwhile
				return nil
			})
			if !errors.Is(err, captcha.ErrReservationLost) || !errors.Is(err, captcha.ErrStore) {
				t.Fatalf("Send = %v, want ErrReservationLost wrapped in ErrStore", err)
			}
			wantVerify(t, p, "race", c1, captcha.ErrInvalidCode) // not resurrected
			if c3 := mustSend(t, p, &ob, "race"); c3 == c1 {     // at once: the lost send released the key
				t.Fatalf("send after lost reuse = %q, want a new code", c3)
			}
		})
	})
}

func TestDeliveryFailure(t *testing.T) {
	boom := errors.New("sms gateway down")
	forEachBackend(t, func(t *testing.T, newStore func() captcha.Store) {
		ctx := context.Background()
		clk := newClock()
		p := captcha.NewProvider(newStore(), captcha.Options{Now: clk.Now, Generator: seqGen()})

		t.Run("rollback", func(t *testing.T) {
			bad := outbox{fail: boom}
			_, err := p.Send(ctx, "k1", bad.deliver)
			if !errors.Is(err, captcha.ErrDelivery) || !errors.Is(err, boom) || errors.Is(err, captcha.ErrStore) {
				t.Fatalf("Send = %v, want ErrDelivery wrapping %v", err, boom)
			}
			undelivered := bad.last(t)
			wantVerify(t, p, "k1", undelivered, captcha.ErrInvalidCode)
			var ob outbox
			c := mustSend(t, p, &ob, "k1") // at once
			if c == undelivered {
				t.Fatalf("resend reused the undelivered code")
			}
			wantVerify(t, p, "k1", undelivered, captcha.ErrInvalidCode)
			wantVerify(t, p, "k1", c, nil)
		})
		t.Run("previous code stays valid", func(t *testing.T) {
			var ob outbox
			c1 := mustSend(t, p, &ob, "k2")
			clk.Advance(61 * time.Second)
			bad := outbox{fail: boom}
			if _, err := p.Send(ctx, "k2", bad.deliver); !errors.Is(err, captcha.ErrDelivery) {
				t.Fatalf("Send = %v, want ErrDelivery", err)
			}
			wantVerify(t, p, "k2", bad.last(t), captcha.ErrInvalidCode)
			wantVerify(t, p, "k2", c1, nil)
		})
		t.Run("panic", func(t *testing.T) {
			func() {
				defer func() {
					if recover() == nil {
						t.Error("deliver's panic did not propagate")
					}
				}()
				_, _ = p.Send(ctx, "k3", func(context.Context, string, string) error { panic("boom") })
			}()
			var ob outbox
			wantVerify(t, p, "k3", mustSend(t, p, &ob, "k3"), nil)
		})
		t.Run("caller hangs up after delivery", func(t *testing.T) {
			cctx, cancel := context.WithCancel(ctx)
			var code string
			_, err := p.Send(cctx, "k4", func(ctx context.Context, c, _ string) error {
				code = c
				cancel()
				return nil // delivered: must be committed anyway
			})
			if err != nil {
				t.Fatalf("Send = %v, want nil", err)
			}
			wantVerify(t, p, "k4", code, nil)
		})
		t.Run("deliver sees the timeout", func(t *testing.T) {
			q := captcha.NewProvider(newStore(), captcha.Options{Now: clk.Now, DeliveryTimeout: 20 * time.Millisecond})
			_, err := q.Send(ctx, "k5", func(ctx context.Context, _, _ string) error {
				<-ctx.Done()
				return ctx.Err()
			})
			if !errors.Is(err, captcha.ErrDelivery) || !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("Send = %v, want ErrDelivery wrapping DeadlineExceeded", err)
			}
		})
		t.Run("reservation lost", func(t *testing.T) {
			var late outbox
			var code1 string
			_, err := p.Send(ctx, "k6", func(ctx context.Context, code, key string) error {
				code1 = code
				// This delivery outlives its lease; another process takes over.
				clk.Advance(captcha.DefaultDeliveryTimeout + 6*time.Second)
				mustSend(t, p, &late, key)
				return nil
			})
			if !errors.Is(err, captcha.ErrReservationLost) || !errors.Is(err, captcha.ErrStore) {
				t.Fatalf("Send = %v, want ErrReservationLost wrapped in ErrStore", err)
			}
			wantVerify(t, p, "k6", code1, captcha.ErrInvalidCode)
			wantVerify(t, p, "k6", late.last(t), nil)
		})
	})
}

// TestSendInProgress: while a delivery runs, other sends are refused with
// the resend interval as the wait, and the previous code still verifies.
func TestSendInProgress(t *testing.T) {
	forEachBackend(t, func(t *testing.T, newStore func() captcha.Store) {
		clk := newClock()
		p := captcha.NewProvider(newStore(), captcha.Options{Now: clk.Now})
		var ob outbox
		c1 := mustSend(t, p, &ob, "k")
		clk.Advance(time.Minute)
		_, err := p.Send(context.Background(), "k", func(ctx context.Context, code, key string) error {
			clk.Advance(time.Second)
			_, err := p.Send(ctx, key, ob.deliver)
			var tooSoon *captcha.ResendTooSoonError
			if !errors.As(err, &tooSoon) || tooSoon.RetryAfter != time.Minute {
				t.Errorf("send during delivery = %v, want ResendTooSoonError{1m}", err)
			}
			wantVerify(t, p, key, c1, nil)
			return nil
		})
		if err != nil {
			t.Fatalf("Send = %v", err)
		}
	})
}

// TestRace: two providers on one store (two Redis clients: two processes)
// race 50 sends for one key; exactly one delivers.
func TestRace(t *testing.T) {
	forEachBackend(t, func(t *testing.T, newStore func() captcha.Store) {
		providers := []*captcha.Provider{
			captcha.NewProvider(newStore(), captcha.Options{}),
			captcha.NewProvider(newStore(), captcha.Options{}),
		}
		const n = 50
		var delivered, refused atomic.Int64
		allRefused := make(chan struct{})
		deliver := func(ctx context.Context, _, _ string) error {
			delivered.Add(1)
			select { // hold the reservation until every other send was refused
			case <-allRefused:
			case <-time.After(5 * time.Second):
			}
			return nil
		}
		start := make(chan struct{})
		var wg sync.WaitGroup
		errs := make(chan error, n)
		for i := range n {
			wg.Go(func() {
				<-start
				_, err := providers[i%2].Send(context.Background(), "race", deliver)
				var tooSoon *captcha.ResendTooSoonError
				if errors.As(err, &tooSoon) && tooSoon.RetryAfter > 0 {
					if refused.Add(1) == n-1 {
						close(allRefused)
					}
				} else if err != nil {
					errs <- err
				}
			})
		}
		close(start)
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Errorf("Send = %v", err)
		}
		if delivered.Load() != 1 || refused.Load() != n-1 {
			t.Fatalf("delivered %d, refused %d; want 1 and %d", delivered.Load(), refused.Load(), n-1)
		}
	})
}

// TestBruteForce: 10,000 random guesses, 8 at a time, against one 4-digit
// code; the real code is among them after the first five. None succeeds.
// (miniredis runs each script in a fresh Lua VM, ~0.5 ms a call under -race:
// with -short it gets 1,000 guesses.)
func TestBruteForce(t *testing.T) {
	forEachBackend(t, func(t *testing.T, newStore func() captcha.Store) {
		total := 10_000
		if testing.Short() && strings.HasSuffix(t.Name(), "/miniredis") {
			total = 1_000
		}
		p := captcha.NewProvider(newStore(), captcha.Options{})
		var ob outbox
		code := mustSend(t, p, &ob, "victim")
		guess := func() string { return fmt.Sprintf("%04d", rand.IntN(10000)) }
		for range 5 { // the first five guesses miss (else a success would be luck, not a bug)
			g := guess()
			for g == code {
				g = guess()
			}
			wantVerify(t, p, "victim", g, captcha.ErrInvalidCode)
		}
		const workers = 8
		var successes, otherErrs atomic.Int64
		var next atomic.Int64
		next.Store(5)
		var wg sync.WaitGroup
		for range workers {
			wg.Go(func() {
				for i := next.Add(1); i <= int64(total); i = next.Add(1) {
					g := guess()
					if i%1000 == 0 {
						g = code
					}
					switch err := p.Verify(context.Background(), "victim", g); {
					case err == nil:
						successes.Add(1)
					case !errors.Is(err, captcha.ErrInvalidCode):
						otherErrs.Add(1)
					}
				}
			})
		}
		wg.Wait()
		if successes.Load() != 0 || otherErrs.Load() != 0 {
			t.Fatalf("%d guesses: %d successes, %d other errors; want 0 and 0", total, successes.Load(), otherErrs.Load())
		}
	})
}

// TestConcurrentWrongAttempts: MaxAttempts wrong codes sent at once burn the
// code; no increment is lost.
func TestConcurrentWrongAttempts(t *testing.T) {
	forEachBackend(t, func(t *testing.T, newStore func() captcha.Store) {
		p := captcha.NewProvider(newStore(), captcha.Options{MaxAttempts: 20})
		var ob outbox
		code := mustSend(t, p, &ob, "k")
		var wg sync.WaitGroup
		for range 20 {
			wg.Go(func() { _ = p.Verify(context.Background(), "k", "wrong") })
		}
		wg.Wait()
		wantVerify(t, p, "k", code, captcha.ErrInvalidCode)
	})
}

func TestCaseInsensitive(t *testing.T) {
	tests := []struct {
		name            string
		caseInsensitive bool
		want            error
	}{
		{"insensitive accepts lower case", true, nil},
		{"sensitive refuses lower case", false, captcha.ErrInvalidCode},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := captcha.NewProvider(captcha.NewMemoryStore(), captcha.Options{Charset: "ABCDEFGH", Length: 8, CaseInsensitive: tc.caseInsensitive})
			var ob outbox
			code := mustSend(t, p, &ob, "k")
			if strings.ToUpper(code) != code || strings.Trim(code, "ABCDEFGH") != "" {
				t.Fatalf("code %q not drawn from ABCDEFGH", code)
			}
			wantVerify(t, p, "k", strings.ToLower(code), tc.want)
		})
	}
}

func TestKeysAreSeparate(t *testing.T) {
	forEachBackend(t, func(t *testing.T, newStore func() captcha.Store) {
		p := captcha.NewProvider(newStore(), captcha.Options{Generator: func() string { return "same" }})
		var ob outbox
		mustSend(t, p, &ob, "a")
		mustSend(t, p, &ob, "b") // a's interval does not hold b back
		wantVerify(t, p, "a", "same", nil)
		wantVerify(t, p, "a", "same", captcha.ErrInvalidCode)
		wantVerify(t, p, "b", "same", nil)
	})
}

func TestInvalidInput(t *testing.T) {
	p := captcha.NewProvider(captcha.NewMemoryStore(), captcha.Options{})
	var ob outbox
	if _, err := p.Send(context.Background(), "", ob.deliver); !errors.Is(err, captcha.ErrInvalidKey) {
		t.Errorf(`Send("") = %v, want ErrInvalidKey`, err)
	}
	if ob.count() != 0 {
		t.Errorf("Send with an empty key delivered")
	}
	wantVerify(t, p, "", "1234", captcha.ErrInvalidCode)
	code := mustSend(t, p, &ob, "k")
	wantVerify(t, p, "k", "", captcha.ErrInvalidCode)
	wantVerify(t, p, "k", code, nil)

	empty := captcha.NewProvider(captcha.NewMemoryStore(), captcha.Options{Generator: func() string { return "" }})
	if _, err := empty.Send(context.Background(), "k", ob.deliver); err == nil {
		t.Errorf("Send with a Generator returning \"\" = nil, want an error")
	}
	if ob.count() != 1 {
		t.Errorf("an empty code was delivered")
	}
}

func TestNewProviderPanics(t *testing.T) {
	tests := []struct {
		name  string
		store captcha.Store
		opts  captcha.Options
	}{
		{"nil store", nil, captcha.Options{}},
		{"negative TTL", captcha.NewMemoryStore(), captcha.Options{TTL: -time.Second}},
		{"negative length", captcha.NewMemoryStore(), captcha.Options{Length: -1}},
		{"negative attempts", captcha.NewMemoryStore(), captcha.Options{MaxAttempts: -1}},
		{"one character", captcha.NewMemoryStore(), captcha.Options{Charset: "aaaa"}},
		{"repeated character", captcha.NewMemoryStore(), captcha.Options{Charset: "abca"}},
		{"both cases, case-insensitive", captcha.NewMemoryStore(), captcha.Options{Charset: "abcA", CaseInsensitive: true}},
		{"invalid UTF-8", captcha.NewMemoryStore(), captcha.Options{Charset: "ab\xff"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			defer func() {
				r := recover()
				if s, _ := r.(string); !strings.HasPrefix(s, "captcha: ") {
					t.Fatalf("NewProvider panicked with %v, want a \"captcha: \" message", r)
				}
			}()
			captcha.NewProvider(tc.store, tc.opts)
		})
	}
}
