package cache

import (
	"context"
	"errors"
	"fmt"
	"slices"
)

// Set writes e under key: to L2 (unless ModeL1), then to L1 (unless ModeL2,
// which drops the key from L1 instead), and tells the other instances to
// drop their L1 copy (in every mode, unless NoInvalidation). An entry with
// TTL <= 0 is deleted instead. L1 is written even when L2 fails; the error
// then wraps [ErrUnavailable], and (unless ModeL1) a Delete of key is
// queued until L2 is back (see [TieredOptions].RecoveryQueue), so that no
// instance keeps an older copy.
func (t *Tiered) Set(ctx context.Context, key string, e Entry, mode Mode) error {
	err := t.write(ctx, key, e, mode, true)
	if err != nil && mode != ModeL1 {
		_ = t.requeue(ctx, err, []string{key}, nil, false) // recovery.go: drop the older copies once L2 is back
	}
	return err
}

// write is Set; publish says whether to announce the overwrite.
func (t *Tiered) write(ctx context.Context, key string, e Entry, mode Mode, publish bool) error {
	if e.TTL <= 0 {
		err := t.l2Delete(ctx, []string{key}, mode != ModeL1, publish)
		if t.l1 != nil {
			t.l1.Delete(key)
		}
		return err
	}
	ttl := t.jitter(e.TTL) + e.stale
	var announce *Invalidation
	if publish && t.announce {
		announce = &Invalidation{From: t.id, Keys: []string{key}}
	}
	var err error
	switch {
	case t.l2 != nil && mode != ModeL1:
		_, err = l2call(t, ctx, "set", func(ctx context.Context) (struct{}, error) {
			return struct{}{}, t.l2.Set(ctx, key, e.Value, ttl, e.Tags, announce)
		})
	case announce != nil:
		err = t.publish(ctx, *announce)
	}
	switch {
	case t.l1 == nil:
	case mode == ModeL2:
		t.l1.Delete(key)
	default:
		t.setL1(key, Item{Value: e.Value, Tags: slices.Clone(e.Tags)}, t.capL1(ttl, e.L1TTL))
	}
	return unavailable(ctx, "set", err)
}

// publish announces inv on L2's feed, through the guard.
func (t *Tiered) publish(ctx context.Context, inv Invalidation) error {
	_, err := l2call(t, ctx, "publish", func(ctx context.Context) (struct{}, error) {
		return struct{}{}, t.l2.Publish(ctx, inv)
	})
	return err
}

// Delete removes the keys from L2, then from L1, and tells the other
// instances to drop them from their L1 (unless NoInvalidation). Absent keys
// are not an error. When L2 fails, L1 is still cleared and the delete is
// queued until L2 is back (see [TieredOptions].RecoveryQueue): Delete then
// returns nil. Only when it cannot be queued (NoRecovery, the queue full)
// does the error wrap [ErrUnavailable]: the L2 copies may then live until
// their TTL ends.
func (t *Tiered) Delete(ctx context.Context, keys ...string) error {
	if len(keys) == 0 {
		return nil
	}
	err := t.l2Delete(ctx, keys, true, true)
	err = t.requeue(ctx, err, keys, nil, false) // recovery.go
	if t.l1 != nil {
		t.l1.Delete(keys...)
	}
	return err
}

// l2Delete deletes keys from L2 (if del) and announces it (if publish and
// invalidation is on), in one round trip.
func (t *Tiered) l2Delete(ctx context.Context, keys []string, del, publish bool) error {
	del = del && t.l2 != nil
	var announce *Invalidation
	if publish && t.announce {
		announce = &Invalidation{From: t.id, Keys: keys}
	}
	var err error
	switch {
	case del:
		_, err = l2call(t, ctx, "delete", func(ctx context.Context) (struct{}, error) {
			return struct{}{}, t.l2.Delete(ctx, keys, announce)
		})
	case announce != nil:
		err = t.publish(ctx, *announce)
	}
	return unavailable(ctx, "delete", err)
}

// DeleteTags removes every entry carrying any of the tags: in L2 (the keys
// its tag index lists), in this L1, and (unless NoInvalidation) in the L1 of
// every other instance sharing L2, which drop both the keys found in L2 and
// their own entries carrying the tags. When L2 fails, this L1 is still
// cleared and the tags are queued as with [Tiered.Delete]; the error wraps
// [ErrUnavailable] when they cannot be.
func (t *Tiered) DeleteTags(ctx context.Context, tags ...string) error {
	if len(tags) == 0 {
		return nil
	}
	var keys []string
	var err error
	if t.l2 != nil {
		var announce *Invalidation
		if t.announce {
			announce = &Invalidation{From: t.id, Tags: tags}
		}
		keys, err = l2call(t, ctx, "delete tags", func(ctx context.Context) ([]string, error) {
			return t.l2.DeleteTags(ctx, tags, announce)
		})
		err = t.requeue(ctx, err, nil, tags, false) // recovery.go
	}
	if t.l1 != nil {
		t.l1.Delete(keys...)
		t.l1.DeleteTags(tags...)
	}
	return unavailable(ctx, "delete tags", err)
}

// DeleteTagsFunc removes, as DeleteTags does, every entry carrying any of
// the tags or any tag in use whose name starts with prefix and for which
// match reports true (match may be called more than once per name, from
// this goroutine only).
//
// It is meant for a small family of tags (hundreds), such as the client's
// hitSource patterns. On a [NewRedisStore] the names under prefix are watched:
// this process keeps the names it last read, and a version per shard that a
// new name bumps, so that it costs two round trips (three when a name
// appeared since the last call) instead of a listing of the names followed
// by DeleteTags. Give the family a hash tag in prefix, as in "hs:{re}:",
// so that its tags share one shard of the index, the only one read (see
// [NewRedisStore]); otherwise every shard is read. On another Shared tier it
// is KnownTags(prefix) followed by
// DeleteTags. When L2 fails, this L1 is still cleared and the tags and
// those matched in L1 (not those in use on other instances only) are
// queued as with [Tiered.DeleteTags]; the error wraps [ErrUnavailable] when
// they cannot be.
func (t *Tiered) DeleteTagsFunc(ctx context.Context, prefix string, match func(tag string) bool, tags ...string) error {
	drop := slices.Clone(tags)
	if t.l1 != nil {
		for _, tag := range t.l1.Tags(prefix) {
			if match(tag) {
				drop = append(drop, tag)
			}
		}
	}
	var keys []string
	var err error
	if t.l2 != nil {
		var announce *Invalidation
		if t.announce {
			announce = &Invalidation{From: t.id, Tags: tags}
		}
		type found struct{ keys, matched []string }
		var f found
		f, err = l2call(t, ctx, "delete tags", func(ctx context.Context) (found, error) {
			keys, matched, err := t.l2.DeleteTagsFunc(ctx, prefix, match, tags, announce)
			return found{keys, matched}, err
		})
		keys = f.keys
		drop = append(drop, f.matched...)
		err = t.requeue(ctx, err, nil, drop, false) // recovery.go
	}
	if t.l1 != nil {
		t.l1.Delete(keys...)
		t.l1.DeleteTags(drop...)
	}
	return unavailable(ctx, "delete tags", err)
}

// Clear drops every entry of L1, here and (unless NoInvalidation) on every
// other instance sharing L2. L2 entries are left to expire: a shared tier
// may hold other applications' keys, so the cache never scans and deletes
// them all; to retire them, change the key prefix or delete by tag. When
// L2 fails, the announcement is queued as with [Tiered.Delete].
func (t *Tiered) Clear(ctx context.Context) error {
	var err error
	if t.announce {
		err = t.publish(ctx, Invalidation{From: t.id, All: true})
		err = t.requeue(ctx, err, nil, nil, true) // recovery.go
	}
	if t.l1 != nil {
		t.l1.Purge()
	}
	return unavailable(ctx, "clear", err)
}

// KnownTags returns, sorted, the tags in use whose name starts with prefix
// (all for ""): those of live entries in L2 and those of this process's L1
// entries. When L2 fails it returns the L1 tags and an error wrapping
// [ErrUnavailable].
func (t *Tiered) KnownTags(ctx context.Context, prefix string) ([]string, error) {
	var tags []string
	if t.l1 != nil {
		tags = t.l1.Tags(prefix)
	}
	var err error
	if t.l2 != nil {
		var remote []string
		remote, err = l2call(t, ctx, "known tags", func(ctx context.Context) ([]string, error) {
			return t.l2.KnownTags(ctx, prefix)
		})
		tags = append(tags, remote...)
	}
	return sortedSet(tags), unavailable(ctx, "known tags", err)
}

// unavailable wraps an L2 failure of op for the caller of a write; the
// caller's own ctx error is returned as is.
func unavailable(ctx context.Context, op string, err error) error {
	switch {
	case err == nil, ctx.Err() != nil && errors.Is(err, ctx.Err()):
		return err
	case errors.Is(err, ErrUnavailable):
		return fmt.Errorf("cache: %s: %w", op, err)
	}
	return fmt.Errorf("cache: %s: %w: %w", op, ErrUnavailable, err)
}
