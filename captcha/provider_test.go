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
	"testing/synctest"
	"time"

	"github.com/alovago/alova/captcha"
)

// TestFlow walks send → resend too soon → resend after the interval → five
// wrong codes burn the second challenge → the first still works once →
// single use, with and without ReuseCode, in a synctest bubble (time.Sleep
// moves the bubble's clock at once).
func TestFlow(t *testing.T) {
	for _, reuse := range []bool{false, true} {
		t.Run(fmt.Sprintf("reuse=%v", reuse), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				ctx := context.Background()
				p := captcha.NewProvider(captcha.NewMemoryStore(), captcha.Options{Generator: seqGen(), ReuseCode: reuse})
				var ob outbox
				const key = "+15550001111"

				res, err := p.Send(ctx, key, ob.deliver)
				if err != nil {
					t.Fatalf("Send = %v", err)
				}
				if res.ExpiresIn != 5*time.Minute || res.ResendIn != time.Minute || len(res.Challenge) != 32 {
					t.Errorf("Send = %+v, want a 32-character challenge, 5m, 1m", res)
				}
				ch1, code1 := res.Challenge, ob.last(t)
				if ob.keys[0] != key {
					t.Errorf("deliver got key %q, want %q", ob.keys[0], key)
				}

				time.Sleep(10 * time.Second)
				_, err = p.Send(ctx, key, ob.deliver)
				wantTooSoon(t, err, 50*time.Second)
				if ob.count() != 1 {
					t.Fatalf("refused resend delivered: %v", ob.codes)
				}

				time.Sleep(50 * time.Second)
				ch2, code2 := mustSend(t, p, &ob, key)
				if ch2 == ch1 {
					t.Errorf("two sends returned the same challenge %q", ch1)
				}
				if reuse && code2 != code1 {
					t.Errorf("ReuseCode: resend delivered %q, want the same %q", code2, code1)
				}
				if !reuse && code2 == code1 {
					t.Errorf("resend delivered the same code %q, want a new one", code2)
				}

				for _, w := range []string{"nope1", "nope2", "nope3", "nope4", "nope5"} {
					wantVerify(t, p, key, ch2, w, captcha.ErrInvalidCode)
				}
				wantVerify(t, p, key, ch2, code2, captcha.ErrInvalidCode) // burned
				wantVerify(t, p, key, ch1, code1, nil)                    // another challenge
				wantVerify(t, p, key, ch1, code1, nil)                    // the one retry of a lost reply
				wantVerify(t, p, key, ch1, code1, captcha.ErrInvalidCode) // and no more
			})
		})
	}
}

// TestThirdPartyCannotBurn (issue 12, item 2): guesses without the victim's
// challenge, or on a challenge of the guesser's own, never burn the code the
// victim asked for; nor does the guesser's own send cancel it.
func TestThirdPartyCannotBurn(t *testing.T) {
	forEachBackend(t, func(t *testing.T, newStore func() captcha.Store) {
		p := captcha.NewProvider(newStore(), captcha.Options{ResendInterval: time.Millisecond})
		var victimPhone outbox
		const key = "+15550002222"
		victim, code := mustSend(t, p, &victimPhone, key)

		for _, ch := range []string{"", "nope", strings.Repeat("0", 32), strings.ToUpper(victim), victim + "0"} {
			for range 10 {
				wantVerify(t, p, key, ch, "000000", captcha.ErrInvalidCode)
			}
		}
		time.Sleep(2 * time.Millisecond) // past the 1 ms resend interval
		own, _ := mustSend(t, p, &victimPhone, key)
		for range 2 * captcha.DefaultMaxAttempts {
			wantVerify(t, p, key, own, "000000", captcha.ErrInvalidCode)
		}
		wantVerify(t, p, key, victim, code, nil)
	})
}

// Defaults of Options this file checks against (their docs state them).
const (
	defTTL    = 5 * time.Minute
	defBurst  = 5
	defRefill = 15 * time.Minute
	defDigits = 10 // len("0123456789")
)

// guessBound is the package doc's bound on the guesses a key can take in
// any span of length d: every guess needs a challenge (at most MaxAttempts
// each), every challenge a code of the key's budget, and a challenge
// guessed within the span was sent at most TTL before it.
func guessBound(d time.Duration) int {
	return (defBurst + int((d+defTTL)/defRefill)) * captcha.DefaultMaxAttempts
}

// TestGuessingBound: at the defaults a key falls with a chance of at most
// 0.1% per day, from any number of addresses. The arithmetic of the package
// doc; then an attacker who may send and guess as fast as the provider lets
// it, for three simulated days, takes no more guesses than it counts.
func TestGuessingBound(t *testing.T) {
	codes := 1.0
	for range captcha.DefaultLength {
		codes *= defDigits
	}
	perDay := float64(guessBound(24*time.Hour)) / codes
	if perDay > 0.001 {
		t.Fatalf("defaults allow %d guesses a day: a %.4f%% chance, want at most 0.1%%", guessBound(24*time.Hour), 100*perDay)
	}
	t.Logf("bound at the defaults: %d guesses, %.4f%% per key per day", guessBound(24*time.Hour), 100*perDay)

	for _, strategy := range []string{"guess every challenge", "hoard challenges"} {
		t.Run(strategy, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				ctx := context.Background()
				p := captcha.NewProvider(captcha.NewMemoryStore(), captcha.Options{})
				var phone outbox // the victim's phone: the attacker never sees it
				const key = "+15550003333"
				start := time.Now()
				var guesses []time.Time
				codeOf := map[string]string{}
				guess := func(ch string) {
					for range captcha.DefaultMaxAttempts {
						guesses = append(guesses, time.Now())
						if p.Verify(ctx, key, ch, "000000") == nil {
							t.Fatal("a guess of 000000 succeeded")
						}
					}
					// The challenge is spent: even the right code fails now.
					wantVerify(t, p, key, ch, codeOf[ch], captcha.ErrInvalidCode)
				}
				var hoard []string
				guessHoard := func() {
					for _, ch := range hoard {
						guess(ch)
					}
					hoard = hoard[:0]
				}
				for time.Since(start) < 72*time.Hour {
					res, err := p.Send(ctx, key, phone.deliver)
					var tooSoon *captcha.ResendTooSoonError
					switch {
					case errors.As(err, &tooSoon):
						guessHoard() // before the oldest expires
						time.Sleep(tooSoon.RetryAfter)
						continue
					case err != nil:
						t.Fatalf("Send = %v", err)
					}
					codeOf[res.Challenge] = phone.last(t)
					hoard = append(hoard, res.Challenge)
					if strategy == "guess every challenge" || len(hoard) == int(defTTL/time.Minute) {
						guessHoard()
					}
				}
				guessHoard()
				most := 0
				for i := range guesses {
					n := 0
					for _, g := range guesses[i:] {
						if g.Sub(guesses[i]) < 24*time.Hour {
							n++
						}
					}
					most = max(most, n)
				}
				if most > guessBound(24*time.Hour) {
					t.Fatalf("%d guesses within 24 h, want at most %d", most, guessBound(24*time.Hour))
				}
				t.Logf("3 days: %d guesses, at most %d within 24 h (bound %d: %.4f%%); %d deliveries to the victim",
					len(guesses), most, guessBound(24*time.Hour), 100*float64(most)/codes, phone.count())
			})
		})
	}
}

// TestLockoutBoundedToMinutes: a stranger with any number of addresses asks
// for codes for the victim's key and burns each with wrong guesses, as fast
// as the provider lets it, for a day. Whenever the victim asks for a code,
// the wait it is told is at most Refill (15 minutes at the defaults), and
// once the stranger pauses for that long, the victim gets a code and logs
// in. (The day-long stop this replaces answered the victim with a wait of
// nearly 24 hours after 2 sends and 10 wrong guesses.)
func TestLockoutBoundedToMinutes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		p := captcha.NewProvider(captcha.NewMemoryStore(), captcha.Options{})
		var phone outbox
		const key = "+15550004444"

		// The reproduction: two sends a minute apart, each followed by 5
		// wrong guesses under the stranger's own challenge.
		attack := func() (sent bool) {
			res, err := p.Send(ctx, key, phone.deliver)
			if err != nil {
				return false
			}
			for range captcha.DefaultMaxAttempts {
				_ = p.Verify(ctx, key, res.Challenge, "000000")
			}
			return true
		}
		attack()
		time.Sleep(time.Minute)
		attack()
		time.Sleep(time.Second)
		worst := time.Duration(0)
		victimSend := func() (string, string, time.Duration) {
			res, err := p.Send(ctx, key, phone.deliver)
			var tooSoon *captcha.ResendTooSoonError
			if errors.As(err, &tooSoon) {
				worst = max(worst, tooSoon.RetryAfter)
				if tooSoon.RetryAfter > defRefill {
					t.Fatalf("the victim is told to wait %v, want at most %v", tooSoon.RetryAfter, defRefill)
				}
				return "", "", tooSoon.RetryAfter
			}
			if err != nil {
				t.Fatalf("victim's Send = %v", err)
			}
			return res.Challenge, phone.last(t), 0
		}
		if _, _, wait := victimSend(); wait > time.Minute {
			t.Fatalf("after the reproduction the victim waits %v, want at most the resend interval", wait)
		}

		// A day of it: the stranger sends and burns whenever it may; the
		// victim asks every 7 minutes.
		start := time.Now()
		next := start
		for time.Since(start) < 24*time.Hour {
			if !attack() {
				time.Sleep(time.Second)
			}
			if time.Now().After(next) {
				victimSend()
				next = time.Now().Add(7 * time.Minute)
			}
		}
		// The stranger pauses for Refill: the victim's wait runs out.
		_, _, wait := victimSend()
		time.Sleep(wait)
		ch, code, wait := victimSend()
		if wait != 0 {
			t.Fatalf("after waiting as told, the victim is told to wait %v more", wait)
		}
		wantVerify(t, p, key, ch, code, nil)
		t.Logf("longest wait a stranger imposed on the key in a day: %v (bound %v)", worst, defRefill)
	})
}

func TestDeliveryFailure(t *testing.T) {
	boom := errors.New("sms gateway down")
	t.Run("rollback", func(t *testing.T) {
		forEachBackend(t, func(t *testing.T, newStore func() captcha.Store) {
			p := captcha.NewProvider(newStore(), captcha.Options{Generator: seqGen()})
			bad := outbox{fail: boom}
			_, err := p.Send(context.Background(), "k1", bad.deliver)
			if !errors.Is(err, captcha.ErrDelivery) || !errors.Is(err, boom) || errors.Is(err, captcha.ErrStore) {
				t.Fatalf("Send = %v, want ErrDelivery wrapping %v", err, boom)
			}
			var ob outbox
			ch, c := mustSend(t, p, &ob, "k1") // at once
			if c == bad.last(t) {
				t.Fatalf("resend reused the undelivered code")
			}
			wantVerify(t, p, "k1", ch, bad.last(t), captcha.ErrInvalidCode)
			wantVerify(t, p, "k1", ch, c, nil)
		})
	})
	// The rest needs the clock: a bubble each, and the memory store.
	ctx := context.Background()
	bubble := func(name string, f func(t *testing.T, p *captcha.Provider)) {
		t.Run(name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				f(t, captcha.NewProvider(captcha.NewMemoryStore(), captcha.Options{Generator: seqGen()}))
			})
		})
	}
	bubble("previous code stays valid", func(t *testing.T, p *captcha.Provider) {
		var ob outbox
		ch1, c1 := mustSend(t, p, &ob, "k2")
		time.Sleep(61 * time.Second)
		bad := outbox{fail: boom}
		if _, err := p.Send(ctx, "k2", bad.deliver); !errors.Is(err, captcha.ErrDelivery) {
			t.Fatalf("Send = %v, want ErrDelivery", err)
		}
		wantVerify(t, p, "k2", ch1, c1, nil)
	})
	bubble("panic", func(t *testing.T, p *captcha.Provider) {
		func() {
			defer func() {
				if recover() == nil {
					t.Error("deliver's panic did not propagate")
				}
			}()
			_, _ = p.Send(ctx, "k3", func(context.Context, string, string) error { panic("boom") })
		}()
		var ob outbox
		ch, c := mustSend(t, p, &ob, "k3")
		wantVerify(t, p, "k3", ch, c, nil)
	})
	bubble("caller hangs up after delivery", func(t *testing.T, p *captcha.Provider) {
		cctx, cancel := context.WithCancel(ctx)
		var code string
		res, err := p.Send(cctx, "k4", func(ctx context.Context, c, _ string) error {
			code = c
			cancel()
			return nil // delivered: must be committed anyway
		})
		if err != nil {
			t.Fatalf("Send = %v, want nil", err)
		}
		wantVerify(t, p, "k4", res.Challenge, code, nil)
	})
	bubble("deliver sees the timeout", func(t *testing.T, p *captcha.Provider) {
		start := time.Now()
		_, err := p.Send(ctx, "k5", func(ctx context.Context, _, _ string) error {
			<-ctx.Done()
			return ctx.Err()
		})
		if !errors.Is(err, captcha.ErrDelivery) || !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Send = %v, want ErrDelivery wrapping DeadlineExceeded", err)
		}
		if d := time.Since(start); d != 30*time.Second {
			t.Errorf("delivery cut after %v, want %v", d, 30*time.Second)
		}
	})
	bubble("reservation lost", func(t *testing.T, p *captcha.Provider) {
		var late outbox
		var code1 string
		_, err := p.Send(ctx, "k6", func(ctx context.Context, code, key string) error {
			code1 = code
			// This delivery outlives its lease; another process takes over.
			time.Sleep(30*time.Second + 6*time.Second)
			mustSend(t, p, &late, key)
			return nil
		})
		if !errors.Is(err, captcha.ErrStore) || errors.Is(err, captcha.ErrSendUnconfirmed) {
			t.Fatalf("Send = %v, want ErrStore (reservation lost), not ErrSendUnconfirmed", err)
		}
		if code1 == late.last(t) {
			t.Fatal("the lost send and the late one delivered the same code")
		}
	})
}

// TestSendInProgress: while a delivery runs, other sends are refused with
// the resend interval as the wait, and the previous code still verifies.
func TestSendInProgress(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := captcha.NewProvider(captcha.NewMemoryStore(), captcha.Options{})
		var ob outbox
		ch1, c1 := mustSend(t, p, &ob, "k")
		time.Sleep(time.Minute)
		_, err := p.Send(context.Background(), "k", func(ctx context.Context, code, key string) error {
			time.Sleep(time.Second)
			_, err := p.Send(ctx, key, ob.deliver)
			wantTooSoon(t, err, time.Minute)
			wantVerify(t, p, key, ch1, c1, nil)
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
			case <-time.After(10 * time.Second):
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

// TestBruteForce: 1,000 random guesses, 8 at a time, against one challenge;
// the real code is among them after the first five. None succeeds. Any
// error other than ErrInvalidCode fails the test with its text.
func TestBruteForce(t *testing.T) {
	forEachBackend(t, func(t *testing.T, newStore func() captcha.Store) {
		const total = 1_000
		p := captcha.NewProvider(newStore(), captcha.Options{})
		var ob outbox
		ch, code := mustSend(t, p, &ob, "victim")
		guess := func() string { return fmt.Sprintf("%06d", rand.IntN(1_000_000)) }
		for range 5 { // the first five guesses miss (else a success would be luck, not a bug)
			g := guess()
			for g == code {
				g = guess()
			}
			wantVerify(t, p, "victim", ch, g, captcha.ErrInvalidCode)
		}
		const workers = 8
		var successes atomic.Int64
		var next atomic.Int64
		next.Store(5)
		var mu sync.Mutex
		var otherErrs []error
		var wg sync.WaitGroup
		for range workers {
			wg.Go(func() {
				for i := next.Add(1); i <= total; i = next.Add(1) {
					g := guess()
					if i%100 == 0 {
						g = code
					}
					switch err := p.Verify(context.Background(), "victim", ch, g); {
					case err == nil:
						successes.Add(1)
					case !errors.Is(err, captcha.ErrInvalidCode):
						mu.Lock()
						otherErrs = append(otherErrs, err)
						mu.Unlock()
					}
				}
			})
		}
		wg.Wait()
		for i, err := range otherErrs[:min(len(otherErrs), 5)] {
			t.Errorf("error %d of %d: %v", i+1, len(otherErrs), err)
		}
		if successes.Load() != 0 || len(otherErrs) != 0 {
			t.Fatalf("%d guesses: %d successes, %d other errors; want 0 and 0", total, successes.Load(), len(otherErrs))
		}
	})
}

// TestConcurrentWrongAttempts: MaxAttempts wrong codes sent at once burn the
// challenge; no increment is lost.
func TestConcurrentWrongAttempts(t *testing.T) {
	forEachBackend(t, func(t *testing.T, newStore func() captcha.Store) {
		p := captcha.NewProvider(newStore(), captcha.Options{MaxAttempts: 20})
		var ob outbox
		ch, code := mustSend(t, p, &ob, "k")
		var wg sync.WaitGroup
		for range 20 {
			wg.Go(func() { _ = p.Verify(context.Background(), "k", ch, "wrong") })
		}
		wg.Wait()
		wantVerify(t, p, "k", ch, code, captcha.ErrInvalidCode)
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
			ch, code := mustSend(t, p, &ob, "k")
			if strings.ToUpper(code) != code || strings.Trim(code, "ABCDEFGH") != "" {
				t.Fatalf("code %q not drawn from ABCDEFGH", code)
			}
			wantVerify(t, p, "k", ch, strings.ToLower(code), tc.want)
		})
	}
}

func TestKeysAreSeparate(t *testing.T) {
	forEachBackend(t, func(t *testing.T, newStore func() captcha.Store) {
		p := captcha.NewProvider(newStore(), captcha.Options{Generator: func() string { return "same" }})
		var ob outbox
		a, _ := mustSend(t, p, &ob, "a")
		b, _ := mustSend(t, p, &ob, "b")                         // a's interval does not hold b back
		wantVerify(t, p, "b", a, "same", captcha.ErrInvalidCode) // a's challenge is not b's
		wantVerify(t, p, "a", a, "same", nil)
		wantVerify(t, p, "a", a, "same", nil) // the one retry
		wantVerify(t, p, "a", a, "same", captcha.ErrInvalidCode)
		wantVerify(t, p, "b", b, "same", nil)
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
	ch, code := mustSend(t, p, &ob, "k")
	wantVerify(t, p, "", ch, code, captcha.ErrInvalidCode)
	wantVerify(t, p, "k", ch, "", captcha.ErrInvalidCode)
	wantVerify(t, p, "k", "", code, captcha.ErrInvalidCode)
	wantVerify(t, p, "k", ch, code, nil)

	empty := captcha.NewProvider(captcha.NewMemoryStore(), captcha.Options{Generator: func() string { return "" }})
	if _, err := empty.Send(context.Background(), "k", ob.deliver); err == nil || !strings.HasPrefix(err.Error(), "captcha: ") {
		t.Errorf("Send with a Generator returning \"\" = %v, want a captcha error", err)
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
		{"TTL over a day", captcha.NewMemoryStore(), captcha.Options{TTL: 25 * time.Hour}},
		{"negative length", captcha.NewMemoryStore(), captcha.Options{Length: -1}},
		{"negative attempts", captcha.NewMemoryStore(), captcha.Options{MaxAttempts: -1}},
		{"negative burst", captcha.NewMemoryStore(), captcha.Options{Burst: -1}},
		{"negative refill", captcha.NewMemoryStore(), captcha.Options{Refill: -1}},
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
