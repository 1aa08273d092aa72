package client

import (
	"context"
	"errors"
	"fmt"
)

// InvalidateAll drops every cached answer of every client (alova's
// invalidateCache() without arguments): for each cache a client of this
// process uses (every [cache.Tiered] given to [New]), it deletes from L2
// every entry a client wrote (each carries a URL tag: one look-up of the tag
// registry and one tag deletion, in time linear in the number of entries),
// then empties L1 here and, through the invalidation feed, in every process
// sharing that L2 ([cache.Tiered.Clear]), negative entries and L1-only ones
// included. Keys in L2 that no client wrote (a direct GetOrLoad's) are left
// alone. Processes on another Redis, or caches no client uses, are not
// touched. The errors of every cache are joined; an L2 failure leaves that
// L2's entries to expire by themselves, while L1 is emptied all the same.
func InvalidateAll(ctx context.Context) error {
	var errs []error
	for _, t := range registered() {
		known, err := t.KnownTags(ctx, tagURL)
		if err != nil {
			errs = append(errs, fmt.Errorf("client: invalidate all: %w", err))
		}
		if len(known) > 0 {
			if err := t.DeleteTags(ctx, known...); err != nil {
				errs = append(errs, fmt.Errorf("client: invalidate all: %w", err))
			}
		}
		if err := t.Clear(ctx); err != nil {
			errs = append(errs, fmt.Errorf("client: invalidate all: %w", err))
		}
	}
	return errors.Join(errs...)
}
