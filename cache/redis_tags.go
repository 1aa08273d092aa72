package cache

import (
	"context"
	"crypto/rand"
	_ "embed"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/fnv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// The tag index of a [NewRedisStore] is spread over tagShards shards, each under
// a hash tag of its own ({tags:00} … {tags:15}), so that on Redis Cluster the
// tags of a busy application spread over as many slots, while each script
// still touches the keys of one slot only. A tag lives in the shard its name
// hashes to (FNV-1a).
//
// Every command is bounded: names and members are listed, pruned and taken
// in pages, never all at once, so that no command blocks Redis for long
// however many entries are tagged.
const (
	tagShards = 16
	// tagPage bounds the names one listing command returns and the members
	// one command pops from a tag set being emptied.
	tagPage = 256
	// tagTakeBudget bounds the members one take script returns; a tag set
	// larger than what is left of it is renamed aside and drained in pages.
	tagTakeBudget = 512
	// tagChunk bounds the tags one take script handles.
	tagChunk = 32
	// tagDelBatch bounds the commands of one round trip that deletes the
	// values found, so that each round trip fits in the store's Timeout.
	tagDelBatch = 8192
	// tagMsgBatch bounds the keys and tags of one invalidation message.
	tagMsgBatch = 1024
	// tagDrainTTL is how long a renamed tag set left behind by a deleter
	// that died lives.
	tagDrainTTL = time.Minute
)

// tagShard names the keys of one shard of the tag index.
type tagShard struct {
	base  string // P + "{tags:NN}:"; a tag set is base + "t:" + tag
	reg   string // tag names scored by the expiry of their set
	lex   string // the same names, score 0, in lexical order
	watch string // hash: watched prefix -> version
}

// tagIndex is the tag index of a redisStore, with the names under watched
// prefixes cached in process (see DeleteTagsFunc).
type tagIndex struct {
	shards [tagShards]tagShard
	// page and budget are tagPage and tagTakeBudget; tests lower them.
	page, budget int

	mu      sync.Mutex
	watched map[string]*tagWatch // by prefix
}

// tagWatch is what a process knows of the names under a watched prefix: per
// shard, the version it read and the live names listed then.
type tagWatch struct {
	version [tagShards]string
	names   [tagShards][]string
}

// newTagIndex returns the index of a store with key prefix p.
func newTagIndex(p string) *tagIndex {
	x := &tagIndex{page: tagPage, budget: tagTakeBudget, watched: map[string]*tagWatch{}}
	for i := range x.shards {
		base := fmt.Sprintf("%s{tags:%02d}:", p, i)
		x.shards[i] = tagShard{base: base, reg: base + "reg", lex: base + "lex", watch: base + "watch"}
	}
	return x
}

// shardOf returns the shard of tag: a hash of its name or, as Redis Cluster
// hashes keys, of its hash tag, the part between its first "{" and the
// next "}" when that part is not empty.
func shardOf(tag string) int {
	h := fnv.New32a()
	_, _ = h.Write([]byte(hashTag(tag)))
	return int(h.Sum32() % tagShards)
}

// hashTag returns what shardOf hashes of tag.
func hashTag(tag string) string {
	if i := strings.IndexByte(tag, '{'); i >= 0 {
		if j := strings.IndexByte(tag[i+1:], '}'); j > 0 {
			return tag[i+1 : i+1+j]
		}
	}
	return tag
}

// watchShards returns the shards that can hold tags starting with prefix:
// the shard of its hash tag when it has one, else all.
func watchShards(prefix string) []int {
	if hashTag(prefix) != prefix {
		return []int{shardOf(prefix)}
	}
	all := make([]int, tagShards)
	for i := range all {
		all[i] = i
	}
	return all
}

// byShard groups tags by shard.
func byShard(tags []string) [tagShards][]string {
	var g [tagShards][]string
	for _, t := range tags {
		s := shardOf(t)
		g[s] = append(g[s], t)
	}
	return g
}

// queueTags queues the tag index update of a key written for ttl: one
// script per shard its tags live in.
func (r *redisStore) queueTags(ctx context.Context, p redis.Pipeliner, key string, ttl time.Duration, tags []string) {
	if len(tags) == 0 {
		return
	}
	now := time.Now().UnixMilli()
	for i, group := range byShard(tags) {
		if len(group) == 0 {
			continue
		}
		sh := &r.tags.shards[i]
		keys := make([]string, 0, 3+len(group))
		keys = append(keys, sh.reg, sh.lex, sh.watch)
		args := make([]any, 0, 3+len(group))
		args = append(args, key, now, ttl.Milliseconds())
		for _, tag := range group {
			keys = append(keys, sh.base+"t:"+tag)
			args = append(args, tag)
		}
		// EVAL, not EVALSHA: a pipeline cannot fall back on NOSCRIPT.
		p.Eval(ctx, tagScript, keys, args...)
	}
}

// tagScript adds ARGV[1] (a key, living ARGV[3] ms from ARGV[2], the caller's
// clock in ms) to the tag sets KEYS[4..] of one shard, whose names ARGV[4..]
// it records in the shard's registry KEYS[1] (scored by the expiry of their
// set) and lexical index KEYS[2]. A tag set is a sorted set scored by each
// key's expiry, and expires with its longest-lived key; the registry and the
// lexical index expire with the last of the shard's sets. Each call prunes a
// bounded number of expired keys from each set it touches and of expired
// names from the shard, so both stay bounded without anyone listing them. A
// name new to the shard bumps the version, in the hash KEYS[3], of every
// watched prefix it starts with.
//
//go:embed lua/tag_add.lua
var tagScript string

// tagListScript lists one page of a shard's live tag names in the lexical
// range ARGV[2]..ARGV[3] (ZRANGEBYLEX syntax), at most ARGV[4] of them,
// pruning the names whose score has passed (ARGV[1] is the caller's clock
// in ms) and skipping the watched names whose set, ARGV[5] .. name, is gone
// (see tagTakeScript). It
// returns {version, cursor, more, names...}: cursor is the last name of the
// page, more is "1" when the page was full.
//
// With a watched prefix ARGV[6], it first records the watch in the hash
// KEYS[3] (initial version: the clock) and reads its version; when that
// equals ARGV[7], the version the caller already knows, it lists nothing.
// The sets it reads are not declared in KEYS (their names are data), but they
// share the shard's hash tag, so they live in its slot.
//
//go:embed lua/tag_list.lua
var tagListScript string

// tagTakeScript removes the tag sets KEYS[4..] of one shard, and returns
// {keys, drains}: the keys the sets held, at most ARGV[1] of them, and the
// sets too large for what was left of that budget, renamed aside (to ARGV[2]
// .. i, expiring after ARGV[3] ms) for the caller to drain in pages. Taking
// the members and deleting (or renaming) the set in one script means a key
// tagged meanwhile is either taken (and deleted) or lands in a fresh set.
//
// The names ARGV[4..] leave the shard's registry KEYS[1] and lexical index
// KEYS[2], unless they start with a prefix watched in KEYS[3]: those stay
// until their score passes, so that a set taken and filled again (a
// hitSource pattern's, typically) does not count as a new name.
//
//go:embed lua/tag_take.lua
var tagTakeScript string

// lexRange returns the ZRANGEBYLEX bounds of the names starting with prefix.
func lexRange(prefix string) (from, to string) {
	if prefix == "" {
		return "-", "+"
	}
	// The least string above every name starting with prefix: prefix with
	// its last byte below 0xff incremented and what follows cut.
	b := []byte(prefix)
	for i := len(b) - 1; i >= 0; i-- {
		if b[i] < 0xff {
			b[i]++
			return "[" + prefix, "(" + string(b[:i+1])
		}
	}
	return "[" + prefix, "+"
}

// listPage is one page of a shard's names, as tagListScript returns it.
type listPage struct {
	version string
	cursor  string
	more    bool
	names   []string
}

// queueList queues the listing of one page of shard i from from (see
// tagListScript); watch and known are the watched prefix and the version
// the caller knows ("" for none).
func (r *redisStore) queueList(ctx context.Context, p redis.Pipeliner, i int, from, to, watch, known string) *redis.Cmd {
	sh := &r.tags.shards[i]
	return p.Eval(ctx, tagListScript, []string{sh.reg, sh.lex, sh.watch},
		time.Now().UnixMilli(), from, to, r.tags.page, sh.base+"t:", watch, known)
}

// readPage reads what queueList's command returned.
func readPage(c *redis.Cmd) (listPage, error) {
	v, err := c.StringSlice()
	if err != nil {
		return listPage{}, err
	}
	if len(v) < 3 {
		return listPage{}, fmt.Errorf("tag listing: unexpected reply %q", v)
	}
	return listPage{version: v[0], cursor: v[1], more: v[2] == "1", names: v[3:]}, nil
}

// listRest pages on through the shards whose last page was full, one round
// trip per page for all of them, and adds the names found to names.
func (r *redisStore) listRest(ctx context.Context, prefix string, pages map[int]listPage, names *[tagShards][]string) error {
	_, to := lexRange(prefix)
	for len(pages) > 0 {
		cmds := make(map[int]*redis.Cmd, len(pages))
		err := r.pipe(ctx, func(p redis.Pipeliner) {
			for i, pg := range pages {
				cmds[i] = r.queueList(ctx, p, i, "("+pg.cursor, to, "", "")
			}
		})
		if err != nil {
			return err
		}
		next := map[int]listPage{}
		for i, c := range cmds {
			pg, err := readPage(c)
			if err != nil {
				return err
			}
			names[i] = append(names[i], pg.names...)
			if pg.more {
				next[i] = pg
			}
		}
		pages = next
	}
	return nil
}

// KnownTags returns, in no particular order, the tags currently carried by
// a live entry in Redis whose name starts with prefix (all of them for "").
// It reads each shard's lexical index of names in pages of at most 256
// names (one round trip per page for all the shards), pruning the names
// whose entries have all expired, so that no command takes long however
// many tags there are; listing the whole of a large index takes a round
// trip per 4,000 names or so.
func (r *redisStore) KnownTags(ctx context.Context, prefix string) ([]string, error) {
	from, to := lexRange(prefix)
	var names [tagShards][]string
	cmds := make([]*redis.Cmd, tagShards)
	err := r.pipe(ctx, func(p redis.Pipeliner) {
		for i := range cmds {
			cmds[i] = r.queueList(ctx, p, i, from, to, "", "")
		}
	})
	rest := map[int]listPage{}
	for i := 0; err == nil && i < len(cmds); i++ {
		var pg listPage
		if pg, err = readPage(cmds[i]); err == nil {
			names[i] = pg.names
			if pg.more {
				rest[i] = pg
			}
		}
	}
	if err == nil {
		err = r.listRest(ctx, prefix, rest, &names)
	}
	if err != nil {
		return nil, fmt.Errorf("cache: redis known tags: %w", err)
	}
	var out []string
	for _, n := range names {
		out = append(out, n...)
	}
	return out, nil
}

// DeleteTags deletes every value carrying any of the tags and the index of
// those tags, and publishes announce with the keys found: two round trips
// (one to take the keys of the tags from their shards, one to delete them
// and publish), more only for very large deletions (sets of over 512 keys
// are taken in pages of 256, and the values deleted in round trips of up
// to 8192). It returns the keys deleted, sorted and without duplicates.
func (r *redisStore) DeleteTags(ctx context.Context, tags []string, announce *Invalidation) ([]string, error) {
	if len(tags) == 0 {
		return nil, nil
	}
	keys, _, err := r.deleteTags(ctx, tags, nil, announce)
	return keys, err
}

// tagMatch asks deleteTags to also delete the tags starting with prefix that
// match accepts.
type tagMatch struct {
	prefix string
	match  func(string) bool
}

// DeleteTagsFunc deletes, as DeleteTags does, the values carrying any of tags
// or any live tag that starts with prefix and that match accepts. It returns
// the keys deleted and the tags match accepted; announce is published with
// both added.
//
// The names under prefix are watched: each shard keeps a version of them
// that a new name bumps, and this process keeps the names it last listed
// with the versions read then. So the first round trip takes the tags
// already known to match and reads the versions, the second deletes the
// values and publishes; only when a version changed does the first also
// list that shard's names, and one more round trip takes the new matches.
// It suits a family of few names (hundreds), such as hitSource patterns.
// When prefix holds a hash tag, the family lives in one shard, the only one
// read; otherwise every shard is (one script each, in the same round trip).
func (r *redisStore) DeleteTagsFunc(ctx context.Context, prefix string, match func(string) bool, tags []string, announce *Invalidation) (keys, matched []string, err error) {
	return r.deleteTags(ctx, tags, &tagMatch{prefix, match}, announce)
}

// deleteTags is DeleteTags and DeleteTagsFunc (when m is not nil).
func (r *redisStore) deleteTags(ctx context.Context, tags []string, m *tagMatch, announce *Invalidation) (keys, matched []string, err error) {
	var w tagWatch
	taken := map[string]bool{}
	for _, t := range tags {
		taken[t] = true
	}
	want := append([]string(nil), tags...)
	if m != nil {
		w = r.tags.known(m.prefix)
		for _, names := range w.names {
			for _, n := range names {
				if !taken[n] && m.match(n) {
					taken[n] = true
					want = append(want, n)
					matched = append(matched, n)
				}
			}
		}
	}
	token := drainToken()
	var drains []string
	var lists [tagShards]*redis.Cmd
	var takes []*redis.Cmd
	err = r.pipe(ctx, func(p redis.Pipeliner) {
		if m != nil {
			from, to := lexRange(m.prefix)
			for _, i := range watchShards(m.prefix) {
				lists[i] = r.queueList(ctx, p, i, from, to, m.prefix, w.version[i])
			}
		}
		takes = r.queueTakes(ctx, p, want, token)
	})
	if err == nil {
		keys, drains, err = readTakes(takes)
	}
	if err == nil && m != nil {
		var more []string
		more, err = r.relist(ctx, m, lists, &w, taken)
		matched = append(matched, more...)
		if err == nil && len(more) > 0 {
			var k, d []string
			err = r.pipe(ctx, func(p redis.Pipeliner) { takes = r.queueTakes(ctx, p, more, token+"n") })
			if err == nil {
				k, d, err = readTakes(takes)
			}
			keys, drains = append(keys, k...), append(drains, d...)
		}
	}
	if err == nil {
		err = r.drain(ctx, drains, &keys)
	}
	if err != nil && !errors.Is(err, redis.Nil) {
		return nil, nil, fmt.Errorf("cache: redis delete tags: %w", err)
	}
	keys = sortedSet(keys)
	if announce != nil && len(matched) > 0 {
		a := *announce
		a.Tags = append(append([]string(nil), a.Tags...), matched...)
		announce = &a
	}
	if err := r.deleteFound(ctx, keys, announce); err != nil {
		return keys, matched, fmt.Errorf("cache: redis delete tags: %w", err)
	}
	return keys, matched, nil
}

// known returns a copy of what this process knows of the names under the
// watched prefix.
func (x *tagIndex) known(prefix string) tagWatch {
	x.mu.Lock()
	defer x.mu.Unlock()
	if w := x.watched[prefix]; w != nil {
		return *w
	}
	return tagWatch{}
}

// relist updates w, and the process's copy, with the shards whose version
// changed (their first page came in lists; further pages cost a round trip
// each), and returns the names newly listed that m matches and that are not
// in taken (which it updates).
func (r *redisStore) relist(ctx context.Context, m *tagMatch, lists [tagShards]*redis.Cmd, w *tagWatch, taken map[string]bool) ([]string, error) {
	changed := false
	rest := map[int]listPage{}
	for i, c := range lists {
		if c == nil {
			continue
		}
		pg, err := readPage(c)
		if err != nil {
			return nil, err
		}
		if pg.version == w.version[i] {
			continue
		}
		changed = true
		w.version[i] = pg.version
		w.names[i] = pg.names
		if pg.more {
			rest[i] = pg
		}
	}
	if !changed {
		return nil, nil
	}
	if err := r.listRest(ctx, m.prefix, rest, &w.names); err != nil {
		return nil, err
	}
	r.tags.mu.Lock()
	cp := *w
	r.tags.watched[m.prefix] = &cp
	r.tags.mu.Unlock()
	var more []string
	for _, names := range w.names {
		for _, n := range names {
			if !taken[n] && m.match(n) {
				taken[n] = true
				more = append(more, n)
			}
		}
	}
	return more, nil
}

// drainToken returns a name, unique to one deletion, for the tag sets it
// renames aside.
func drainToken() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// queueTakes queues tagTakeScript for tags: per shard, one script per
// tagChunk tags. Renamed sets go to base + "x:" + token + ":" + chunk + ":".
func (r *redisStore) queueTakes(ctx context.Context, p redis.Pipeliner, tags []string, token string) []*redis.Cmd {
	var cmds []*redis.Cmd
	for i, group := range byShard(tags) {
		sh := &r.tags.shards[i]
		for c := 0; len(group) > 0; c++ {
			n := min(len(group), tagChunk)
			keys := make([]string, 0, 3+n)
			keys = append(keys, sh.reg, sh.lex, sh.watch)
			args := make([]any, 0, 3+n)
			args = append(args, r.tags.budget, fmt.Sprintf("%sx:%s:%d:", sh.base, token, c), tagDrainTTL.Milliseconds())
			for _, tag := range group[:n] {
				keys = append(keys, sh.base+"t:"+tag)
				args = append(args, tag)
			}
			cmds = append(cmds, p.Eval(ctx, tagTakeScript, keys, args...))
			group = group[n:]
		}
	}
	return cmds
}

// readTakes reads what queueTakes's commands returned.
func readTakes(cmds []*redis.Cmd) (keys, drains []string, err error) {
	for _, c := range cmds {
		v, err := c.Slice()
		if err != nil {
			return nil, nil, err
		}
		if len(v) != 2 {
			return nil, nil, fmt.Errorf("tag take: unexpected reply %v", v)
		}
		for j, dst := range []*[]string{&keys, &drains} {
			l, _ := v[j].([]any)
			for _, s := range l {
				if s, ok := s.(string); ok {
					*dst = append(*dst, s)
				}
			}
		}
	}
	return keys, drains, nil
}

// drain empties the renamed tag sets, tagPage members per command (one
// round trip per page for all of them), and adds their members to keys.
func (r *redisStore) drain(ctx context.Context, sets []string, keys *[]string) error {
	for len(sets) > 0 {
		cmds := make([]*redis.ZSliceCmd, len(sets))
		err := r.pipe(ctx, func(p redis.Pipeliner) {
			for i, s := range sets {
				cmds[i] = p.ZPopMin(ctx, s, int64(r.tags.page))
			}
		})
		if err != nil {
			return err
		}
		var next []string
		for i, c := range cmds {
			zs, err := c.Result()
			if err != nil && !errors.Is(err, redis.Nil) {
				return err
			}
			for _, z := range zs {
				if k, ok := z.Member.(string); ok {
					*keys = append(*keys, k)
				}
			}
			if len(zs) == r.tags.page {
				next = append(next, sets[i])
			}
		}
		sets = next
	}
	return nil
}

// deleteFound deletes the values of keys and publishes announce (if not
// nil) with the keys added, split into messages of at most tagMsgBatch keys
// and tags: one round trip, or one per tagDelBatch keys.
func (r *redisStore) deleteFound(ctx context.Context, keys []string, announce *Invalidation) error {
	var msgs []Invalidation
	if announce != nil && (len(keys) > 0 || len(announce.Keys) > 0 || len(announce.Tags) > 0 || announce.All) {
		msgs = splitMessage(*announce, keys)
	}
	for {
		n := min(len(keys), tagDelBatch)
		batch, rest := keys[:n], keys[n:]
		var send []Invalidation
		if len(rest) == 0 {
			send = msgs
		}
		if len(batch) == 0 && len(send) == 0 {
			return nil
		}
		err := r.pipe(ctx, func(p redis.Pipeliner) {
			for _, k := range batch {
				p.Del(ctx, r.prefix+k)
			}
			for _, m := range send {
				p.Publish(ctx, r.channel, encodeMessage(m))
			}
		})
		if err != nil || len(rest) == 0 {
			return err
		}
		keys = rest
	}
}

// splitMessage returns a with keys added, as messages of at most
// tagMsgBatch keys and tags each (at least one message).
func splitMessage(a Invalidation, keys []string) []Invalidation {
	all := append(append([]string(nil), a.Keys...), keys...)
	tags := a.Tags
	if len(all)+len(tags) <= tagMsgBatch {
		a.Keys = all
		return []Invalidation{a}
	}
	var out []Invalidation
	for len(all) > 0 || len(tags) > 0 {
		m := Invalidation{From: a.From, All: a.All && len(out) == 0}
		n := min(len(all), tagMsgBatch)
		m.Keys, all = all[:n], all[n:]
		n = min(len(tags), tagMsgBatch-len(m.Keys))
		m.Tags, tags = tags[:n], tags[n:]
		out = append(out, m)
	}
	return out
}
