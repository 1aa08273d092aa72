package captcha

import (
	"context"
	"crypto/subtle"
	"sync"
	"time"

	"github.com/alovago/alova/internal/sweep"
)

// MemoryStore is a [Store] for a single process: a map under a mutex. It is
// safe for concurrent use. Use [RedisStore] as soon as more than one process
// serves the same keys, or the limits hold per process only.
//
// A key's record lives until nothing in it matters any more: its challenges
// expired, its resend interval passed and its budget of codes is full again
// (at most Burst·Refill after its last send). Dead records are removed
// lazily when their key is touched, and by a sweep that runs after as many
// writes as there are records, and at least 64 (amortised O(1) per write).
// No goroutine is started, so there is nothing to close.
type MemoryStore struct {
	mu      sync.Mutex
	records map[string]*memRecord
	writes  int // since the last sweep
}

var _ Store = (*MemoryStore)(nil)

type memRecord struct {
	challenges map[string]*memChallenge
	latest     string    // id of the latest committed challenge
	resendAt   time.Time // the key may send again from then
	token      string    // pending reservation, "" when none
	leaseEnd   time.Time
	budget     time.Time // g of the key's budget of codes (see Store.Reserve)
}

type memChallenge struct {
	digest   string
	code     string // kept for reuse
	expires  time.Time
	attempts int
	verified bool // answered true once; one retry left
}

// pending reports whether r's reservation is held at now.
func (r *memRecord) pending(now time.Time) bool {
	return r.token != "" && now.Before(r.leaseEnd)
}

// prune drops r's expired challenges.
func (r *memRecord) prune(now time.Time) {
	for id, c := range r.challenges {
		if !now.Before(c.expires) {
			delete(r.challenges, id)
		}
	}
}

// dead reports whether r holds nothing that matters at now.
func (r *memRecord) dead(now time.Time) bool {
	r.prune(now)
	return len(r.challenges) == 0 && !now.Before(r.resendAt) && !r.pending(now) && !now.Before(r.budget)
}

// NewMemoryStore returns an empty [MemoryStore].
func NewMemoryStore() *MemoryStore {
	return &MemoryStore{records: make(map[string]*memRecord)}
}

// get returns the live record of key, deleting a dead one. Call with s.mu held.
func (s *MemoryStore) get(key string, now time.Time) *memRecord {
	r := s.records[key]
	if r != nil && r.dead(now) {
		delete(s.records, key)
		return nil
	}
	return r
}

// wrote counts a write and now and then sweeps dead records (see package
// internal/sweep). Call with s.mu held.
func (s *MemoryStore) wrote(now time.Time) {
	sweep.Maybe(s.records, &s.writes, func(r *memRecord) bool { return r.dead(now) })
}

// Reserve implements [Store.Reserve].
func (s *MemoryStore) Reserve(ctx context.Context, key string, a ReserveArgs) (string, time.Duration, error) {
	if err := ctx.Err(); err != nil {
		return "", 0, storeError("reserve", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.get(key, a.Now)
	if r == nil {
		r = &memRecord{challenges: make(map[string]*memChallenge)}
		s.records[key] = r
	}
	if r.pending(a.Now) {
		return "", max(a.Interval, r.resendAt.Sub(a.Now)), nil
	}
	wait := max(r.resendAt.Sub(a.Now), budgetWait(r.budget, a.Now, a.Burst, a.Refill))
	if wait > 0 {
		return "", wait, nil
	}
	r.token, r.leaseEnd = a.Challenge, a.Now.Add(a.Lease)
	s.wrote(a.Now)
	if c := r.challenges[r.latest]; a.Reuse && c != nil && !c.verified && a.Now.Before(c.expires) {
		return c.code, 0, nil
	}
	return "", 0, nil
}

// budgetWait is how long a key whose budget stands at g must wait at now
// before it may get a code: g - now - (burst-1)·refill, or 0.
func budgetWait(g, now time.Time, burst int, refill time.Duration) time.Duration {
	if !g.After(now) {
		return 0
	}
	return max(g.Sub(now)-time.Duration(burst-1)*refill, 0)
}

// Commit implements [Store.Commit].
func (s *MemoryStore) Commit(ctx context.Context, key string, a CommitArgs) error {
	if err := ctx.Err(); err != nil {
		return storeError("commit", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.records[key]
	if r != nil && r.token != a.Challenge {
		if c := r.challenges[a.Challenge]; c != nil && c.digest == a.Digest {
			return nil // committed already: a repeated Commit
		}
	}
	if r == nil || r.token != a.Challenge {
		return errReservationLost
	}
	r.token, r.leaseEnd = "", time.Time{}
	if a.Reused {
		c := r.challenges[r.latest]
		if c == nil || c.verified || !a.Now.Before(c.expires) || subtle.ConstantTimeCompare([]byte(c.digest), []byte(a.Digest)) != 1 {
			return errReservationLost
		}
	}
	r.prune(a.Now)
	r.challenges[a.Challenge] = &memChallenge{digest: a.Digest, code: a.Code, expires: a.Now.Add(a.TTL)}
	r.latest = a.Challenge
	r.budget = maxTime(r.budget, a.Now).Add(a.Refill)
	r.resendAt = a.Now.Add(a.Interval)
	s.wrote(a.Now)
	return nil
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// Rollback implements [Store.Rollback].
func (s *MemoryStore) Rollback(ctx context.Context, key, challenge string) error {
	if err := ctx.Err(); err != nil {
		return storeError("rollback", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if r := s.records[key]; r != nil && r.token == challenge {
		r.token, r.leaseEnd = "", time.Time{}
	}
	return nil
}

// Verify implements [Store.Verify]. Digests are compared with
// crypto/subtle.ConstantTimeCompare.
func (s *MemoryStore) Verify(ctx context.Context, key string, a VerifyArgs) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, storeError("verify", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.get(key, a.Now)
	if r == nil {
		return false, nil
	}
	c := r.challenges[a.Challenge]
	if c == nil || !a.Now.Before(c.expires) {
		return false, nil
	}
	defer s.wrote(a.Now)
	match := subtle.ConstantTimeCompare([]byte(c.digest), []byte(a.Digest)) == 1
	if c.verified { // the one retry a verified challenge answers
		delete(r.challenges, a.Challenge)
		return match, nil
	}
	if match {
		clear(r.challenges)
		c.verified, c.code = true, ""
		if grace := a.Now.Add(a.Grace); grace.Before(c.expires) {
			c.expires = grace
		}
		r.challenges[a.Challenge] = c
		refund := a.Refill * time.Duration(a.MaxAttempts-c.attempts) / time.Duration(a.MaxAttempts)
		r.budget = maxTime(r.budget.Add(-refund), a.Now)
		return true, nil
	}
	c.attempts++
	if c.attempts >= a.MaxAttempts {
		delete(r.challenges, a.Challenge)
	}
	return false, nil
}
