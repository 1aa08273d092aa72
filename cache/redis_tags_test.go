package cache

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/alovago/alova/internal/testredis"
	"github.com/redis/go-redis/v9"
)

// tagSetKey returns the key of tag's set in r's index.
func tagSetKey(r *redisStore, tag string) string {
	return r.tags.shards[shardOf(tag)].base + "t:" + tag
}

// registry returns, sorted, the names in the registries of every shard of
// r, checking that each shard's lexical index holds the same names.
func registry(t *testing.T, rdb *redis.Client, r *redisStore) []string {
	t.Helper()
	ctx := context.Background()
	var all []string
	for _, sh := range r.tags.shards {
		reg := rdb.ZRange(ctx, sh.reg, 0, -1).Val()
		lex := rdb.ZRange(ctx, sh.lex, 0, -1).Val()
		slices.Sort(reg)
		if !slices.Equal(reg, lex) {
			t.Errorf("shard %s: registry %q, lexical index %q; want the same names", sh.base, reg, lex)
		}
		all = append(all, reg...)
	}
	slices.Sort(all)
	return all
}

// expire makes tag's set in r's index look expired: gone, and its name
// scored in the past, as if its keys' time had passed.
func expire(t *testing.T, rdb *redis.Client, r *redisStore, tag string) {
	t.Helper()
	ctx := context.Background()
	rdb.Del(ctx, tagSetKey(r, tag))
	if err := rdb.ZAddXX(ctx, r.tags.shards[shardOf(tag)].reg, redis.Z{Score: 1, Member: tag}).Err(); err != nil {
		t.Fatal(err)
	}
}

// countedStore returns a store on b under prefix p whose round trips h
// counts.
func countedStore(t *testing.T, b *backend, p string) (*redisStore, *testredis.RoundTrips) {
	t.Helper()
	opt := clientOptions(b.addr, b.db)
	opt.ReadTimeout, opt.WriteTimeout = 10*time.Second, 10*time.Second
	rdb := redis.NewClient(opt)
	t.Cleanup(func() { _ = rdb.Close() })
	h := &testredis.RoundTrips{}
	rdb.AddHook(h)
	return newRedis(rdb, RedisOptions{KeyPrefix: p, Timeout: testL2Timeout}), h
}

// TestRedisTagShards: tags spread over the shards, a write with tags in
// several shards is still one round trip, and deleting them two.
func TestRedisTagShards(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, b *backend) {
		ctx := context.Background()
		r, rt := countedStore(t, b, b.prefix(t))
		var tags []string
		shards := map[int]bool{}
		for i := range 64 {
			tag := fmt.Sprint("tag", i)
			tags = append(tags, tag)
			shards[shardOf(tag)] = true
		}
		if len(shards) < tagShards*3/4 {
			t.Errorf("64 tags landed in %d shards of %d", len(shards), tagShards)
		}
		before := rt.N()
		if err := r.Set(ctx, "k", StringValue("v"), time.Minute, tags, nil); err != nil {
			t.Fatal(err)
		}
		if n := rt.N() - before; n != 1 {
			t.Errorf("Set with tags in %d shards took %d round trips, want 1", len(shards), n)
		}
		for _, tag := range tags {
			if got := b.direct.ZRange(ctx, tagSetKey(r, tag), 0, -1).Val(); !slices.Equal(got, []string{"k"}) {
				t.Fatalf("set of %q = %q, want [k]", tag, got)
			}
		}
		if got, want := registry(t, b.direct, r), slices.Sorted(slices.Values(tags)); !slices.Equal(got, want) {
			t.Errorf("registry = %q, want %q", got, want)
		}
		_ = r.Set(ctx, "k2", StringValue("v"), time.Minute, []string{"tag7"}, nil)
		before = rt.N()
		keys, err := r.DeleteTags(ctx, []string{"tag3", "tag7", "tag40"}, &Invalidation{From: "me"})
		if err != nil || !slices.Equal(keys, []string{"k", "k2"}) {
			t.Errorf("DeleteTags = %q, %v; want [k k2]", keys, err)
		}
		if n := rt.N() - before; n != 2 {
			t.Errorf("DeleteTags over 3 shards took %d round trips, want 2", n)
		}
		known, _ := r.KnownTags(ctx, "tag")
		if len(known) != 61 || slices.Contains(known, "tag7") {
			t.Errorf("KnownTags after DeleteTags: %d names (tag7 in: %v), want 61 without tag7", len(known), slices.Contains(known, "tag7"))
		}
	})
}

// TestRedisTagListingPages: listing by prefix reads every shard in pages,
// prunes dead names on the way, and misses no name at the edges of a
// prefix's range.
func TestRedisTagListingPages(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, b *backend) {
		ctx := context.Background()
		r, rt := countedStore(t, b, b.prefix(t))
		r.tags.page = 3
		var want []string
		for i := range 120 {
			want = append(want, fmt.Sprintf("u/%03d", i))
		}
		// Names around the range of "u/": before, after, and with bytes
		// that a naive upper bound would miss.
		edges := []string{"u/\xff", "u/\xff\xff", "u0\xff", "u.", "u0", "u", "v"}
		want = append(want, "u/\xff", "u/\xff\xff")
		p := r.rdb.Pipeline()
		for i, tag := range append(slices.Clone(want), edges...) {
			r.queueTags(ctx, p, fmt.Sprint("k", i), time.Minute, []string{tag})
		}
		if _, err := p.Exec(ctx); err != nil {
			t.Fatal(err)
		}
		// A name whose set has expired is pruned when listed.
		expire(t, b.direct, r, "u/005")
		want = slices.DeleteFunc(want, func(s string) bool { return s == "u/005" })

		before := rt.N()
		got, err := r.KnownTags(ctx, "u/")
		slices.Sort(got)
		slices.Sort(want)
		if err != nil || !slices.Equal(got, want) {
			t.Errorf("KnownTags(u/) = %q, %v; want %q", got, err, want)
		}
		// 121 names over 16 shards in pages of 3: several round trips, each
		// for every shard with more to read.
		if n := rt.N() - before; n < 3 || n > 12 {
			t.Errorf("KnownTags took %d round trips, want a few", n)
		}
		if b.direct.ZScore(ctx, r.tags.shards[shardOf("u/005")].lex, "u/005").Err() != redis.Nil {
			t.Errorf("the dead name u/005 is still in the lexical index")
		}
		all, _ := r.KnownTags(ctx, "")
		if len(all) != len(want)+len(edges)-2 {
			t.Errorf("KnownTags(\"\") = %d names, want %d", len(all), len(want)+len(edges)-2)
		}
	})
}

func TestLexRange(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ prefix, from, to string }{
		{"", "-", "+"},
		{"ab", "[ab", "(ac"},
		{"a\xff", "[a\xff", "(b"},
		{"\xff\xff", "[\xff\xff", "+"},
	} {
		if from, to := lexRange(tc.prefix); from != tc.from || to != tc.to {
			t.Errorf("lexRange(%q) = %q, %q; want %q, %q", tc.prefix, from, to, tc.from, tc.to)
		}
	}
}

// TestRedisDeleteLargeTag: a tag set larger than a take's budget is renamed
// aside and drained in pages; every key is deleted, and nothing is left.
func TestRedisDeleteLargeTag(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, b *backend) {
		ctx := context.Background()
		p := b.prefix(t)
		r, _ := countedStore(t, b, p)
		r.tags.page, r.tags.budget = 7, 10
		pl := r.rdb.Pipeline()
		var want []string
		for i := range 60 {
			k := fmt.Sprintf("k%02d", i)
			want = append(want, k)
			pl.Set(ctx, p+k, "v", time.Minute)
			tags := []string{"big"}
			if i < 4 {
				tags = append(tags, "small")
			}
			r.queueTags(ctx, pl, k, time.Minute, tags)
		}
		if _, err := pl.Exec(ctx); err != nil {
			t.Fatal(err)
		}
		keys, err := r.DeleteTags(ctx, []string{"small", "big"}, nil)
		if err != nil || !slices.Equal(keys, want) {
			t.Errorf("DeleteTags = %q, %v; want the 60 keys", keys, err)
		}
		if left := b.direct.Keys(ctx, p+"*").Val(); len(left) != 0 {
			t.Errorf("keys left after DeleteTags: %q", left)
		}
	})
}

// TestRedisDeleteTagsFunc: the names under a watched prefix are read once,
// then taken in two round trips until a new name appears, which costs one
// more; with a hash tag in the prefix, the names live in one shard.
func TestRedisDeleteTagsFunc(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, b *backend) {
		for _, pfx := range []string{"re:", "re{w}:"} {
			t.Run(pfx, func(t *testing.T) { testDeleteTagsFunc(t, b, pfx) })
		}
	})
}

// testDeleteTagsFunc is TestRedisDeleteTagsFunc for a watched prefix pfx.
func testDeleteTagsFunc(t *testing.T, b *backend, pfx string) {
	ctx := context.Background()
	p := b.prefix(t)
	r, rt := countedStore(t, b, p)
	set := func(key string, tags ...string) {
		t.Helper()
		if err := r.Set(ctx, key, StringValue(key), time.Minute, tags, nil); err != nil {
			t.Fatal(err)
		}
	}
	match := func(tag string) bool { return strings.HasSuffix(tag, "!") }
	call := func(wantKeys, wantMatched []string, wantTrips int64) {
		t.Helper()
		before := rt.N()
		keys, matched, err := r.DeleteTagsFunc(ctx, pfx, match, []string{"name:x"}, &Invalidation{From: "me"})
		slices.Sort(matched)
		if wantMatched == nil { // only the shard relisted is certain
			wantMatched = matched
			if !slices.Contains(matched, pfx+"d!") {
				wantMatched = []string{pfx + "d!", "…"}
			}
		}
		if err != nil || !slices.Equal(keys, wantKeys) || !slices.Equal(matched, wantMatched) {
			t.Errorf("DeleteTagsFunc = %q, %q, %v; want %q, %q", keys, matched, err, wantKeys, wantMatched)
		}
		if n := rt.N() - before; n != wantTrips {
			t.Errorf("DeleteTagsFunc took %d round trips, want %d", n, wantTrips)
		}
	}
	set("a", pfx+"a!", "url:a")
	set("b", pfx+"b", "name:x")
	set("c", pfx+"c!")
	// First call: nothing known, so the names are listed and taken.
	call([]string{"a", "b", "c"}, []string{pfx + "a!", pfx + "c!"}, 3)
	// Known names, no new one: two round trips. A name whose set was
	// taken stays known (and matched) until its score passes, so that a
	// set taken and filled again bumps nothing.
	set("a2", pfx+"a!")
	call([]string{"a2"}, []string{pfx + "a!", pfx + "c!"}, 2)
	call(nil, []string{pfx + "a!", pfx + "c!"}, 2)
	// A new name bumps its shard's version: one more round trip.
	set("d", pfx+"d!")
	set("e", "url:e") // not under the prefix: no bump
	// The shard relisted keeps only its live names: whether a! and c! are
	// still matched depends on the shards they live in.
	call([]string{"d"}, nil, 3)
	set("d2", pfx+"d!")
	call([]string{"d2"}, nil, 2)
	if !slices.Contains(registry(t, b.direct, r), "url:e") {
		t.Errorf("url:e left the registry")
	}
}

func TestShardOfHashTag(t *testing.T) {
	t.Parallel()
	if a, b, c := shardOf("a{x}b"), shardOf("{x}"), shardOf("x"); a != b || b != c {
		t.Errorf("shardOf(a{x}b), shardOf({x}), shardOf(x) = %d, %d, %d; want one shard", a, b, c)
	}
	for tag, want := range map[string]string{"{}a": "{}a", "a{b": "a{b", "a}{b}": "b", "hs:{r}:x{1,2}": "r"} {
		if got := hashTag(tag); got != want {
			t.Errorf("hashTag(%q) = %q, want %q", tag, got, want)
		}
	}
	if n := len(watchShards("hs:{r}:")); n != 1 {
		t.Errorf("watchShards(hs:{r}:) = %d shards, want 1", n)
	}
	if n := len(watchShards("re:")); n != tagShards {
		t.Errorf("watchShards(re:) = %d shards, want %d", n, tagShards)
	}
}

func TestSplitMessage(t *testing.T) {
	t.Parallel()
	a := Invalidation{From: "me", Keys: []string{"k0"}, Tags: []string{"t0", "t1"}}
	if got := splitMessage(a, []string{"k1"}); len(got) != 1 || !slices.Equal(got[0].Keys, []string{"k0", "k1"}) {
		t.Errorf("splitMessage(small) = %+v", got)
	}
	var keys, tags []string
	for i := range 2000 {
		keys = append(keys, fmt.Sprint("k", i))
		tags = append(tags, fmt.Sprint("t", i))
	}
	got := splitMessage(Invalidation{From: "me", Tags: tags}, keys)
	var gotKeys, gotTags []string
	for _, m := range got {
		if m.From != "me" || len(m.Keys)+len(m.Tags) > tagMsgBatch {
			t.Errorf("message from %q with %d keys and tags", m.From, len(m.Keys)+len(m.Tags))
		}
		gotKeys, gotTags = append(gotKeys, m.Keys...), append(gotTags, m.Tags...)
	}
	if !slices.Equal(gotKeys, keys) || !slices.Equal(gotTags, tags) || len(got) != 4 {
		t.Errorf("splitMessage(2000 keys, 2000 tags): %d messages, keys and tags kept: %v %v", len(got),
			slices.Equal(gotKeys, keys), slices.Equal(gotTags, tags))
	}
}

// hideFunc is a Shared tier whose DeleteTagsFunc does it the slow way the
// interface's doc describes: KnownTags, then DeleteTags.
type hideFunc struct{ Shared }

func (h hideFunc) DeleteTagsFunc(ctx context.Context, prefix string, match func(string) bool, tags []string, announce *Invalidation) (keys, matched []string, err error) {
	known, err := h.KnownTags(ctx, prefix)
	if err != nil {
		return nil, nil, err
	}
	for _, tag := range known {
		if match(tag) {
			matched = append(matched, tag)
		}
	}
	all := append(slices.Clone(tags), matched...)
	if announce != nil {
		announce.Tags = all
	}
	if len(all) == 0 {
		return nil, nil, nil
	}
	keys, err = h.DeleteTags(ctx, all, announce)
	return keys, matched, err
}

// TestTieredDeleteTagsFunc: the entries carrying a matching tag go from L2
// and L1, with the store's fast path and without it.
func TestTieredDeleteTagsFunc(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, b *backend) {
		for _, tc := range []struct {
			name string
			wrap func(*redisStore) Shared
		}{
			{"watched", func(r *redisStore) Shared { return r }},
			{"fallback", func(r *redisStore) Shared { return hideFunc{r} }},
		} {
			t.Run(tc.name, func(t *testing.T) {
				ctx := context.Background()
				r, _ := countedStore(t, b, b.prefix(t))
				tr := NewTiered(NewMemoryStore(MemoryOptions{MaxEntries: 100}), tc.wrap(r), TieredOptions{NoJitter: true, NoInvalidation: true})
				t.Cleanup(func() { _ = tr.Close() })
				for k, tags := range map[string][]string{"a": {"re:a!"}, "b": {"re:b"}, "c": {"name:x"}, "l1": {"re:l1!"}} {
					mode := ModeAll
					if k == "l1" {
						mode = ModeL1
					}
					if err := tr.Set(ctx, k, Entry{Value: StringValue(k), TTL: time.Minute, Tags: tags}, mode); err != nil {
						t.Fatal(err)
					}
				}
				match := func(tag string) bool { return strings.HasSuffix(tag, "!") }
				if err := tr.DeleteTagsFunc(ctx, "re:", match, "name:x"); err != nil {
					t.Fatal(err)
				}
				for k, want := range map[string]bool{"a": false, "b": true, "c": false, "l1": false} {
					_, _, err := tr.Get(ctx, k, ModeAll)
					if got := err == nil; got != want {
						t.Errorf("after DeleteTagsFunc: Get(%q) found = %v, want %v", k, got, want)
					}
				}
			})
		}
	})
}
