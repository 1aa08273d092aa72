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
// serves the same keys, or the resend interval and attempt limit hold per
// process only.
//
// Expired records are removed lazily when their key is touched, and by a
// sweep that runs after as many writes as there are records, and at least 64
// (amortised O(1) per write). No goroutine is started, so there is nothing to close.
type MemoryStore struct {
	mu      sync.Mutex
	records map[string]*memRecord
	writes  int // since the last sweep
}

var _ Store = (*MemoryStore)(nil)

type memRecord struct {
	digest   string // "" when no valid code
	code     string // kept for reuse
	expires  time.Time
	attempts int
	resendAt time.Time
	token    string // pending reservation, "" when none
	leaseEnd time.Time
}

// valid reports whether r holds a code valid at now.
func (r *memRecord) valid(now time.Time) bool {
	return r.digest != "" && now.Before(r.expires)
}

// pending reports whether r's reservation is held at now.
func (r *memRecord) pending(now time.Time) bool {
	return r.token != "" && now.Before(r.leaseEnd)
}

// dead reports whether r holds nothing that matters at now.
func (r *memRecord) dead(now time.Time) bool {
	return !r.valid(now) && !now.Before(r.resendAt) && !r.pending(now)
}

// clearCode forgets r's code.
func (r *memRecord) clearCode() {
	r.digest, r.code, r.expires, r.attempts = "", "", time.Time{}, 0
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
func (s *MemoryStore) Reserve(ctx context.Context, key string, a ReserveArgs) (Reservation, error) {
	if err := ctx.Err(); err != nil {
		return Reservation{}, storeError("reserve", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.get(key, a.Now)
	if r == nil {
		r = &memRecord{}
		s.records[key] = r
	}
	if r.pending(a.Now) {
		return Reservation{RetryAfter: max(a.Interval, r.resendAt.Sub(a.Now))}, nil
	}
	if a.Now.Before(r.resendAt) {
		return Reservation{RetryAfter: r.resendAt.Sub(a.Now)}, nil
	}
	r.token, r.leaseEnd = a.Token, a.Now.Add(a.Lease)
	s.wrote(a.Now)
	var res Reservation
	if a.Reuse && r.valid(a.Now) {
		res.Code = r.code
	}
	return res, nil
}

// Commit implements [Store.Commit].
func (s *MemoryStore) Commit(ctx context.Context, key string, a CommitArgs) error {
	if err := ctx.Err(); err != nil {
		return storeError("commit", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.records[key]
	if r == nil || r.token != a.Token {
		return storeError("commit", ErrReservationLost)
	}
	r.token, r.leaseEnd = "", time.Time{}
	if a.Reused {
		if !r.valid(a.Now) || subtle.ConstantTimeCompare([]byte(r.digest), []byte(a.Digest)) != 1 {
			return storeError("commit", ErrReservationLost)
		}
	} else {
		r.digest, r.code, r.attempts = a.Digest, a.Code, 0
	}
	r.expires = a.Now.Add(a.TTL)
	r.resendAt = a.Now.Add(a.Interval)
	s.wrote(a.Now)
	return nil
}

// Rollback implements [Store.Rollback].
func (s *MemoryStore) Rollback(ctx context.Context, key, token string) error {
	if err := ctx.Err(); err != nil {
		return storeError("rollback", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if r := s.records[key]; r != nil && r.token == token {
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
	if r == nil || !r.valid(a.Now) {
		return false, nil
	}
	defer s.wrote(a.Now)
	if subtle.ConstantTimeCompare([]byte(r.digest), []byte(a.Digest)) == 1 {
		r.clearCode()
		return true, nil
	}
	r.attempts++
	if r.attempts >= a.MaxAttempts {
		r.clearCode()
	}
	return false, nil
}
