package cache

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"
)

// Tuning of the recovery queue ([TieredOptions].RecoveryQueue).
const (
	defaultRecoveryQueue = 10_000
	// recoveryPoll is how often a non-empty queue tries L2 again.
	recoveryPoll = 100 * time.Millisecond
	// replayChunk bounds the keys or tags of one replayed L2 call.
	replayChunk = 256
)

// recovery is the queue of the invalidations that failed on L2, waiting to
// be replayed when it is back. Each name ("k" and a key, "t" and a tag, or
// "*" for a Clear) is queued once: a newer invalidation of it moves it to the
// end. Its zero value is ready; it is safe for concurrent use.
type recovery struct {
	mu      sync.Mutex
	seq     uint64
	latest  map[string]uint64 // name → seq of its newest op
	order   []pendingOp       // oldest first; an op whose seq is not latest[name] is gone
	tags    int               // tag names in latest
	running bool              // a replay goroutine is on

	n    atomic.Int64 // len(latest), for the read path
	tagN atomic.Int64 // tags, for the read path
}

// pendingOp is one queued invalidation.
type pendingOp struct {
	name string
	seq  uint64
}

// hides reports whether a read of key must not be answered by L2: its
// invalidation (or one of a tag, whose keys this process cannot know) waits
// to be replayed. It costs one atomic load while the queue is empty.
func (q *recovery) hides(key string) bool {
	if q.n.Load() == 0 {
		return false
	}
	if q.tagN.Load() > 0 {
		return true
	}
	q.mu.Lock()
	_, ok := q.latest["k"+key]
	q.mu.Unlock()
	return ok
}

// requeue queues the invalidation of keys, tags (or, with all, a Clear)
// whose L2 call failed with err, and returns the error for the caller: nil
// once queued; err itself when there was nothing to queue (no error, the
// caller's ctx ended, no L2, NoRecovery, or the Tiered is closed) or the
// queue was full (counted in RecoveryDropped).
func (t *Tiered) requeue(ctx context.Context, err error, keys, tags []string, all bool) error {
	if err == nil || t.l2 == nil || t.opts.NoRecovery || ctx.Err() != nil && errors.Is(err, ctx.Err()) {
		return err
	}
	names := make([]string, 0, len(keys)+len(tags)+1)
	for _, k := range keys {
		names = append(names, "k"+k)
	}
	for _, tag := range tags {
		names = append(names, "t"+tag)
	}
	if all {
		names = append(names, "*")
	}
	if len(names) == 0 {
		return err
	}
	q := &t.rq
	q.mu.Lock()
	defer q.mu.Unlock()
	fresh := 0
	for _, n := range names {
		if _, ok := q.latest[n]; !ok {
			fresh++
		}
	}
	if len(q.latest)+fresh > t.opts.RecoveryQueue {
		t.stats.recoveryDropped.Add(uint64(len(names)))
		t.log.Error("cache: recovery queue full, invalidation not queued: L2 copies may live until their TTL",
			"queued", len(q.latest), "cap", t.opts.RecoveryQueue)
		return err
	}
	if !q.running {
		if !t.bg.detach(context.Background(), t.replayLoop) {
			return err // closed
		}
		q.running = true
	}
	if q.latest == nil {
		q.latest = make(map[string]uint64)
	}
	for _, n := range names {
		if _, ok := q.latest[n]; !ok && n[0] == 't' {
			q.tags++
		}
		q.seq++
		q.latest[n] = q.seq
		q.order = append(q.order, pendingOp{n, q.seq})
	}
	q.n.Store(int64(len(q.latest)))
	q.tagN.Store(int64(q.tags))
	t.stats.recoveryQueued.Add(uint64(len(names)))
	t.log.Warn("cache: L2 unavailable, invalidation queued until it is back", "names", len(names), "queued", len(q.latest))
	return nil
}

// pending returns the queued ops, oldest first, dropping the gone ones from
// the queue's order; ok is false (and the replay goroutine marked ended)
// when there are none.
func (q *recovery) pending() (ops []pendingOp, ok bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	live := q.order[:0]
	for _, op := range q.order {
		if q.latest[op.name] == op.seq {
			live = append(live, op)
		}
	}
	clear(q.order[len(live):])
	q.order = live
	if len(live) == 0 {
		q.running = false
		return nil, false
	}
	return append([]pendingOp(nil), live...), true
}

// done removes the replayed ops that no newer invalidation has replaced.
func (q *recovery) done(ops []pendingOp) (n int) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for _, op := range ops {
		if q.latest[op.name] != op.seq {
			continue
		}
		delete(q.latest, op.name)
		if op.name[0] == 't' {
			q.tags--
		}
		n++
	}
	q.n.Store(int64(len(q.latest)))
	q.tagN.Store(int64(q.tags))
	return n
}

// stop marks the replay goroutine ended (Close).
func (q *recovery) stop() {
	q.mu.Lock()
	q.running = false
	q.mu.Unlock()
}

// replayLoop replays the queue until it is empty, trying again every
// recoveryPoll while L2 fails, or until ctx ends (Close: what is left is
// not replayed).
func (t *Tiered) replayLoop(ctx context.Context) {
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			t.rq.stop()
			return
		case <-timer.C:
		}
		ops, ok := t.rq.pending()
		if !ok {
			return
		}
		if t.replay(ctx, ops) {
			t.log.Info("cache: L2 is back, queued invalidations replayed", "ops", len(ops))
			timer.Reset(0)
			continue
		}
		timer.Reset(recoveryPoll)
	}
}

// replay carries out ops in order, consecutive keys (or tags) in one L2
// call of up to replayChunk, each announced to the other instances as the
// original call would have. It stops at the first failure and reports
// whether all were done. Its calls skip the breaker: they are the probe
// that tells L2 is back, and a success closes it.
func (t *Tiered) replay(ctx context.Context, ops []pendingOp) bool {
	for len(ops) > 0 {
		kind := ops[0].name[0]
		n := 1
		for n < len(ops) && n < replayChunk && ops[n].name[0] == kind && kind != '*' {
			n++
		}
		chunk := ops[:n]
		names := make([]string, n)
		for i, op := range chunk {
			names[i] = op.name[1:]
		}
		var announce *Invalidation
		if t.announce {
			announce = &Invalidation{From: t.id}
		}
		var op string
		var fn func(context.Context) error
		switch kind {
		case 'k':
			op = "delete"
			if announce != nil {
				announce.Keys = names
			}
			fn = func(ctx context.Context) error { return t.l2.Delete(ctx, names, announce) }
		case 't':
			op = "delete tags"
			if announce != nil {
				announce.Tags = names
			}
			fn = func(ctx context.Context) error { _, err := t.l2.DeleteTags(ctx, names, announce); return err }
		default:
			if announce == nil {
				break
			}
			op = "publish"
			announce.All = true
			fn = func(ctx context.Context) error { return t.l2.Publish(ctx, *announce) }
		}
		if fn != nil && !t.replayCall(ctx, op, fn) {
			return false
		}
		t.stats.recoveryReplayed.Add(uint64(t.rq.done(chunk)))
		ops = ops[n:]
	}
	return true
}

// replayCall makes one L2 call of the replay, told to OnL2Call; a success
// closes the breaker.
func (t *Tiered) replayCall(ctx context.Context, op string, fn func(context.Context) error) bool {
	start := time.Now()
	err := fn(ctx)
	if hook := t.opts.OnL2Call; hook != nil {
		hook(ctx, L2Call{Op: op, Duration: time.Since(start), Err: err})
	}
	if err != nil {
		return false
	}
	if t.brk.success() {
		t.log.Info("cache: L2 is back", "op", "replay "+op)
	}
	return true
}
