package captcha_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/alovago/alova/captcha"
)

// storeRig drives a Store directly with explicit times: the Redis stores
// run on real sockets, so their tests move time by passing it in rather
// than by a clock.
type storeRig struct {
	t   *testing.T
	s   captcha.Store
	now time.Time
	n   int // challenges made
}

const (
	rigTTL      = 5 * time.Minute
	rigInterval = time.Minute
	rigBurst    = 3
	rigRefill   = 10 * time.Minute
	rigAttempts = 2
)

func newRig(t *testing.T, s captcha.Store) *storeRig {
	return &storeRig{t: t, s: s, now: time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)}
}

func (r *storeRig) advance(d time.Duration) { r.now = r.now.Add(d) }

// reservation is what Reserve returned.
type reservation struct {
	Code       string
	RetryAfter time.Duration
}

// reserve reserves key and returns the challenge id and the reservation.
func (r *storeRig) reserve(key string, reuse bool) (string, reservation) {
	r.t.Helper()
	r.n++
	id := fmt.Sprintf("%032x", r.n)
	code, wait, err := r.s.Reserve(context.Background(), key, captcha.ReserveArgs{Now: r.now, Challenge: id,
		Lease: 35 * time.Second, Interval: rigInterval, Burst: rigBurst, Refill: rigRefill, Reuse: reuse})
	if err != nil {
		r.t.Fatalf("Reserve(%q) = %v", key, err)
	}
	return id, reservation{code, wait}
}

// refused checks that a send for key is refused with the wait want.
func (r *storeRig) refused(key string, want time.Duration) {
	r.t.Helper()
	if _, res := r.reserve(key, false); res.RetryAfter != want {
		r.t.Fatalf("Reserve(%q) at +%v: RetryAfter %v, want %v", key, r.now.Sub(time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)), res.RetryAfter, want)
	}
}

func (r *storeRig) commit(key, id, digest string, reused bool) error {
	return r.s.Commit(context.Background(), key, captcha.CommitArgs{Now: r.now, Challenge: id, Digest: digest,
		Code: digest, Reused: reused, TTL: rigTTL, Interval: rigInterval, Refill: rigRefill})
}

// send reserves and commits a challenge holding digest, failing on refusal.
func (r *storeRig) send(key, digest string) string {
	r.t.Helper()
	id, res := r.reserve(key, false)
	if res.RetryAfter != 0 {
		r.t.Fatalf("Reserve(%q) refused: wait %v", key, res.RetryAfter)
	}
	if err := r.commit(key, id, digest, false); err != nil {
		r.t.Fatalf("Commit(%q) = %v", key, err)
	}
	return id
}

// send2 is send after the resend interval.
func (r *storeRig) send2(key, digest string) string {
	r.t.Helper()
	r.advance(rigInterval)
	return r.send(key, digest)
}

// verify checks Verify's answer.
func (r *storeRig) verify(key, id, digest string, want bool) {
	r.t.Helper()
	ok, err := r.s.Verify(context.Background(), key, captcha.VerifyArgs{Now: r.now, Challenge: id, Digest: digest, MaxAttempts: rigAttempts, Refill: rigRefill, Grace: time.Minute})
	if err != nil || ok != want {
		r.t.Fatalf("Verify(%q, %s, %q) = %v, %v; want %v, nil", key, id, digest, ok, err, want)
	}
}

// TestStore checks the Store contract on every store, with explicit times.
func TestStore(t *testing.T) {
	tests := []struct {
		name string
		run  func(r *storeRig)
	}{
		{"resend interval", func(r *storeRig) {
			r.send("k", "d1")
			r.advance(10 * time.Second)
			r.refused("k", 50*time.Second)
			r.advance(50 * time.Second)
			r.send("k", "d2")
		}},
		{"a reservation holds the key for its lease", func(r *storeRig) {
			r.reserve("k", false)
			r.advance(34 * time.Second)
			r.refused("k", rigInterval)
			r.advance(time.Second)
			r.send("k", "d")
		}},
		{"rollback releases at once", func(r *storeRig) {
			id, _ := r.reserve("k", false)
			if err := r.s.Rollback(context.Background(), "k", id); err != nil {
				r.t.Fatal(err)
			}
			r.send("k", "d")
		}},
		{"commit without the reservation is lost", func(r *storeRig) {
			r.reserve("k", false)
			if err := r.commit("k", fmt.Sprintf("%032x", 999), "d", false); !errors.Is(err, captcha.ErrStore) {
				r.t.Fatalf("Commit = %v, want ErrStore (reservation lost)", err)
			}
		}},
		{"expiry", func(r *storeRig) {
			a := r.send("a", "da")
			b := r.send("b", "db")
			r.advance(rigTTL - time.Millisecond)
			r.verify("a", a, "da", true)
			r.advance(time.Millisecond)
			r.verify("b", b, "db", false)
		}},
		{"challenges are separate; a success ends them all", func(r *storeRig) {
			c1 := r.send("k", "d1")
			r.advance(rigInterval)
			c2 := r.send("k", "d2")
			r.verify("k", c1, "d2", false) // the other challenge's code
			r.verify("k", c2, "d1", false)
			r.verify("k", c2, "d2", true)
			r.verify("k", c1, "d1", false) // ended by c2's success
		}},
		{"MaxAttempts burns only its challenge", func(r *storeRig) {
			victim := r.send("k", "dv")
			r.advance(rigInterval)
			guesser := r.send("k", "dg")
			for range rigAttempts {
				r.verify("k", guesser, "x", false)
			}
			r.verify("k", guesser, "dg", false) // burned
			r.verify("k", victim, "dv", true)
		}},
		{"an unknown challenge counts nothing", func(r *storeRig) {
			c := r.send("k", "d")
			for i := range 3 * rigAttempts {
				r.verify("k", fmt.Sprintf("%032x", 1000+i), "d", false)
			}
			r.verify("k", c, "d", true)
			r.advance(rigInterval)
			r.send("k", "d")
		}},
		{"budget of codes: a burst, then one per refill", func(r *storeRig) {
			for range rigBurst {
				r.send("k", "d")
				r.advance(rigInterval)
			}
			// g = start + 3·refill; now = start + 3·interval.
			r.refused("k", rigBurst*rigRefill-rigBurst*rigInterval-(rigBurst-1)*rigRefill)
			r.send("other", "d")
			r.advance(rigRefill - rigBurst*rigInterval)
			r.send("k", "d") // one code earned back
			r.advance(rigInterval)
			r.refused("k", rigRefill-rigInterval)
		}},
		{"a verified code gives back its unused attempts", func(r *storeRig) {
			var last string
			for range rigBurst {
				last = r.send("k", "d")
				r.advance(rigInterval)
			}
			r.verify("k", last, "d", true) // at the first try: the whole code back
			r.send("k", "d")
		}},
		{"wrong codes do not lock the key beyond the budget", func(r *storeRig) {
			c := r.send("k", "d")
			for range rigAttempts {
				r.verify("k", c, "x", false)
			}
			r.advance(rigInterval)
			r.send("k", "d") // burning a challenge costs nothing more than its send
		}},
		{"a verified challenge answers one retry", func(r *storeRig) {
			c := r.send("k", "d")
			r.verify("k", c, "d", true)
			r.verify("k", c, "d", true)  // the retry of a lost reply
			r.verify("k", c, "d", false) // and no more
			c2 := r.send2("k", "d2")
			r.verify("k", c2, "d2", true)
			r.verify("k", c2, "x", false) // a wrong code ends the grace
			r.verify("k", c2, "d2", false)
			c3 := r.send2("k", "d3")
			r.verify("k", c3, "d3", true)
			r.advance(time.Minute) // the grace
			r.verify("k", c3, "d3", false)
		}},
		{"a repeated commit changes nothing", func(r *storeRig) {
			id, _ := r.reserve("k", false)
			for range 3 {
				if err := r.commit("k", id, "d", false); err != nil {
					r.t.Fatalf("Commit #n = %v, want nil", err)
				}
			}
			r.advance(rigInterval)
			r.send("k", "d")
			r.send2("k", "d") // the repeats spent one code, not three
		}},
		{"reuse", func(r *storeRig) {
			c1 := r.send("k", "d1")
			r.advance(rigInterval)
			id, res := r.reserve("k", true)
			if res.Code != "d1" {
				r.t.Fatalf("Reserve(Reuse) code %q, want d1", res.Code)
			}
			if err := r.commit("k", id, "d1", true); err != nil {
				r.t.Fatalf("Commit(Reused) = %v", err)
			}
			r.verify("k", id, "d1", true)
			r.verify("k", c1, "d1", false) // one use for the code
		}},
		{"reuse of an expired code", func(r *storeRig) {
			r.send("k", "d1")
			r.advance(rigTTL)
			if _, res := r.reserve("k", true); res.Code != "" {
				r.t.Fatalf("Reserve(Reuse) after expiry = %q, want a new code", res.Code)
			}
		}},
		{"reuse lost: the code was used while redelivered", func(r *storeRig) {
			c1 := r.send("k", "d1")
			r.advance(rigInterval)
			id, _ := r.reserve("k", true)
			r.verify("k", c1, "d1", true)
			if err := r.commit("k", id, "d1", true); !errors.Is(err, captcha.ErrStore) {
				r.t.Fatalf("Commit(Reused) = %v, want ErrStore (reservation lost)", err)
			}
			r.verify("k", id, "d1", false)
			r.send("k", "d2") // released at once
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			forEachBackend(t, func(t *testing.T, newStore func() captcha.Store) {
				tc.run(newRig(t, newStore()))
			})
		})
	}
}
