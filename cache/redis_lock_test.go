package cache

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// TestCRC16Slots: the slots Redis Cluster documents for a few keys.
func TestCRC16Slots(t *testing.T) {
	t.Parallel()
	if got := crc16("123456789"); got != 0x31c3 {
		t.Errorf("crc16(123456789) = %#x, want 0x31c3", got)
	}
	if got := crc16("1234", "56789"); got != 0x31c3 {
		t.Errorf("crc16(1234, 56789) = %#x, want 0x31c3", got)
	}
	for _, tc := range []struct {
		key  string
		slot int
	}{
		{"foo", 12182}, {"bar", 5061}, {"hello", 866},
		{"{user1000}.following", keySlot("user1000")}, {"foo{}{bar}", int(crc16("foo{}{bar}") % clusterSlots)},
	} {
		if got := keySlot(tc.key); got != tc.slot {
			t.Errorf("keySlot(%q) = %d, want %d", tc.key, got, tc.slot)
		}
	}
	tags := slotTags()
	for slot := range clusterSlots {
		if got := keySlot("{" + slotTag(slot) + "}"); got != slot {
			t.Fatalf("slot tag %q of slot %d hashes to %d", slotTag(slot), slot, got)
		}
		if tags[slot] > 1<<20 {
			t.Fatalf("slot tag of slot %d is %d, want a short one", slot, tags[slot])
		}
	}
}

// TestLeaseNameTogether: where one script may touch a key's value and its
// lease: anywhere on one server; on a Cluster in the value's slot (through
// the value's hash tag, or one of the lease's own), unless the prefix opens
// a "{" it does not close; on a Ring only with a shared hash tag.
func TestLeaseNameTogether(t *testing.T) {
	t.Parallel()
	// No connection is made: leaseName only looks at the kind of client.
	one := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"})
	cluster := redis.NewClusterClient(&redis.ClusterOptions{Addrs: []string{"127.0.0.1:1"}})
	ring := redis.NewRing(&redis.RingOptions{Addrs: map[string]string{"a": "127.0.0.1:1"}})
	t.Cleanup(func() { _, _, _ = one.Close(), cluster.Close(), ring.Close() })
	for _, tc := range []struct {
		name     string
		rdb      redis.UniversalClient
		prefix   string
		key      string
		together bool
		lease    string // "" when the lease has its usual name P+"~lock:"+key
	}{
		{"one server", one, "app:", "product:1", true, ""},
		{"cluster, no tag", cluster, "app:", "product:1", true, "app:~lock:{" + slotTag(keySlot("app:product:1")) + "}product:1"},
		{"cluster, tag in key", cluster, "app:", "{user:7}:cart", true, ""},
		{"cluster, tag in prefix", cluster, "{app}:", "product:1", true, ""},
		{"cluster, empty tag in prefix", cluster, "{}app:", "product:1", false, ""},
		{"cluster, open brace in prefix", cluster, "app{x:", "product}:1", false, ""},
		{"cluster, unclosed brace in key", cluster, "app:", "a{b", true, "app:~lock:{" + slotTag(keySlot("app:a{b")) + "}a{b"},
		{"ring, no tag", ring, "app:", "product:1", false, ""},
		{"ring, tag in key", ring, "app:", "{user:7}:cart", true, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRedis(tc.rdb, RedisOptions{KeyPrefix: tc.prefix})
			vk := tc.prefix + tc.key
			name, together := r.leaseName(tc.key, vk)
			want := tc.lease
			if want == "" {
				want = tc.prefix + lockInfix + tc.key
			}
			if name != want || together != tc.together {
				t.Fatalf("leaseName(%q) = %q, %v; want %q, %v", tc.key, name, together, want, tc.together)
			}
			if tc.rdb == cluster && together && keySlot(name) != keySlot(vk) {
				t.Errorf("lease %q in slot %d, value %q in slot %d", name, keySlot(name), vk, keySlot(vk))
			}
		})
	}
}

// TestGetOrLock: the three answers of the read-or-lease, in one round trip
// each once the script is loaded, and the value and time left as Get reads
// them; a value the cache did not write is a miss whose lease is taken.
func TestGetOrLock(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, b *backend) {
		ctx := context.Background()
		p := b.prefix(t)
		r, rt := countedStore(t, b, p)
		other := newRedis(b.rdb, RedisOptions{KeyPrefix: p, Timeout: testL2Timeout})
		if err := r.Set(ctx, "k", StringValue("v"), 10*time.Second, []string{"tag"}, nil); err != nil {
			t.Fatal(err)
		}
		_, _, _, _ = r.getOrLock(ctx, "warm", time.Second) // loads the script
		if _, _, _, err := r.getOrLock(ctx, "warm", time.Second); !errors.Is(err, ErrMiss) {
			t.Fatalf("getOrLock(warm) while held = %v, want ErrMiss", err)
		}

		start, began := rt.N(), time.Now()
		v, left, unlock, err := r.getOrLock(ctx, "k", time.Second)
		if err != nil || unlock != nil || v.String() != "v" {
			t.Fatalf("getOrLock(k) = %q, %v, %v; want the value and no lease", v, unlock != nil, err)
		}
		gv, gleft, _ := r.Get(ctx, "k")
		// The Get comes later: it finds at most as much time left (to the
		// millisecond Redis counts in), less by no more than the time
		// between them.
		between := time.Since(began)
		if gv.String() != v.String() || gleft > left+time.Millisecond || left-gleft > between+time.Millisecond || left <= 9*time.Second {
			t.Errorf("getOrLock(k) left %v, Get %q left %v, %v apart: want the same but for the time between", left, gv, gleft, between)
		}
		if n := rt.N() - start; n != 2 {
			t.Errorf("getOrLock and Get = %d round trips, want 2", n)
		}

		start = rt.N()
		_, _, unlock, err = r.getOrLock(ctx, "cold", time.Minute)
		if !errors.Is(err, ErrMiss) || unlock == nil {
			t.Fatalf("getOrLock(cold) = lease %v, %v; want ErrMiss and the lease", unlock != nil, err)
		}
		if n := rt.N() - start; n != 1 {
			t.Errorf("a miss that takes the lease = %d round trips, want 1", n)
		}
		if rel, err := other.TryLock(ctx, "cold", time.Minute); rel != nil || err != nil {
			t.Fatalf("TryLock(cold) of another instance while leased = %v, %v; want nil, nil", rel != nil, err)
		}
		_, _, again, err := other.getOrLock(ctx, "cold", time.Minute)
		if !errors.Is(err, ErrMiss) || again != nil {
			t.Fatalf("getOrLock(cold) of another instance while leased = lease %v, %v; want ErrMiss, none", again != nil, err)
		}
		if err := unlock(ctx); err != nil {
			t.Fatal(err)
		}
		_, _, again, err = other.getOrLock(ctx, "cold", time.Minute)
		if !errors.Is(err, ErrMiss) || again == nil {
			t.Fatalf("getOrLock(cold) after unlock = lease %v, %v; want ErrMiss and the lease", again != nil, err)
		}
		_ = again(ctx)

		// A foreign value under the key: a miss, and the lease is taken.
		if err := b.direct.Set(ctx, p+"foreign", "not ours", time.Minute).Err(); err != nil {
			t.Fatal(err)
		}
		_, _, unlock, err = r.getOrLock(ctx, "foreign", time.Minute)
		if !errors.Is(err, ErrMiss) || unlock == nil {
			t.Fatalf("getOrLock(foreign) = lease %v, %v; want ErrMiss and the lease", unlock != nil, err)
		}
		_ = unlock(ctx)

		// The lease lives ttl.
		_, _, unlock, _ = r.getOrLock(ctx, "short", 200*time.Millisecond)
		name, _ := r.leaseName("short", p+"short")
		if pttl := b.direct.PTTL(ctx, name).Val(); pttl <= 0 || pttl > 200*time.Millisecond {
			t.Errorf("PTTL of the lease = %v, want (0, 200ms]", pttl)
		}
		_ = unlock(ctx)
	})
}

// TestGetThenLock: where one script cannot touch the value and the lease
// (getThenLock), a holder that wrote and released just before the lease is
// seen by the GET after it: the value, and the lease released; a holder's
// write is seen while it still holds the lease; a cold key gets the lease.
func TestGetThenLock(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, b *backend) {
		ctx := context.Background()
		p := b.prefix(t)
		r := newRedis(b.rdb, RedisOptions{KeyPrefix: p, Timeout: testL2Timeout})
		name, _ := r.leaseName("k", p+"k")
		// The holder writes just before our lease command reaches Redis.
		b.rdb.AddHook(writeBefore{cmd: "set", key: name, write: func() {
			b.plant(t, p+"k", "theirs", time.Minute)
		}})
		v, _, unlock, err := r.getThenLock(ctx, "k", name, time.Minute)
		if err != nil || unlock != nil || v.String() != "theirs" {
			t.Fatalf("getThenLock = %q, lease %v, %v; want their value, no lease", v, unlock != nil, err)
		}
		if n := b.direct.Exists(ctx, name).Val(); n != 0 {
			t.Errorf("the lease is still held after the value was found")
		}
		held, err := r.TryLock(ctx, "k", time.Minute)
		if err != nil || held == nil {
			t.Fatalf("TryLock(k) = %v, %v", held != nil, err)
		}
		v, _, unlock, err = r.getThenLock(ctx, "k", name, time.Minute)
		if err != nil || unlock != nil || v.String() != "theirs" {
			t.Fatalf("getThenLock while held = %q, lease %v, %v; want their value, no lease", v, unlock != nil, err)
		}
		_ = held(ctx)
		_, _, unlock, err = r.getThenLock(ctx, "cold", p+lockInfix+"cold", time.Minute)
		if !errors.Is(err, ErrMiss) || unlock == nil {
			t.Fatalf("getThenLock(cold) = lease %v, %v; want ErrMiss and the lease", unlock != nil, err)
		}
		_ = unlock(ctx)
	})
}

// writeBefore is a go-redis hook that calls write, once, before the first
// command named cmd on key.
type writeBefore struct {
	cmd, key string
	write    func()
}

func (h writeBefore) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h writeBefore) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	done := false
	return func(ctx context.Context, cmd redis.Cmder) error {
		if !done && cmd.Name() == h.cmd && len(cmd.Args()) > 1 && fmt.Sprint(cmd.Args()[1]) == h.key {
			done = true
			h.write()
		}
		return next(ctx, cmd)
	}
}

func (h writeBefore) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next
}
