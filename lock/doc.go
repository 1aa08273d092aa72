// Package lock takes named locks that several goroutines — or, on Redis,
// several processes — contend for: the lock behind client.Atomize (alova's
// atomize).
//
// A [Store] is the small store-specific primitive (try once, extend,
// release, each under a random token); [Acquire] builds the waiting on top of
// it, the same for every store:
//
//	locks := lock.NewRedisStore(rdb, lock.RedisOptions{})
//	lease, err := lock.Acquire(ctx, locks, []string{"orders"}, lock.Options{})
//	if err != nil { … } // errors.Is(err, lock.ErrTimeout) after 5 s
//	defer lease.Release(context.WithoutCancel(ctx))
//
// # Safety
//
// Each acquisition gets its own random token (crypto/rand), and a lock is
// only extended or released under its token, so a holder whose lock expired
// can never release the lock someone else took since. Every lock has a TTL,
// so a crashed holder blocks the others for at most that long; a live holder
// renews its locks in the background until it releases them (unless
// [Options].NoRenew is set). Several names are locked in sorted order, so two
// callers asking for the same names in different orders cannot deadlock.
//
// # Stores
//
// [NewRedisStore] locks across processes with one Redis (SET NX PX, compare-
// and-delete in Lua) under a key prefix ("alova:lock:" by default), every call
// bounded by [RedisOptions].Timeout (200 ms by default), so a hung Redis costs
// an Acquire or a Release that long, not the client's own timeouts and
// retries. It is not Redlock, so a Redis failover may lose a lock.
// [NewMemoryStore] locks within one process.
package lock
