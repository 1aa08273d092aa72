package client

import (
	"crypto/sha256"
	"encoding/hex"
	"hash/maphash"
	"math/rand/v2"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
)

// keyBufs recycles the buffers cache keys are hashed from.
var keyBufs = sync.Pool{New: func() any { b := make([]byte, 0, 512); return &b }}

// hashKey derives a bounded cache key from what makes an answer: the HTTP
// method, the full URL (params already sorted), the headers set on the method
// (sorted, so the order they were set in does not matter), the values of the
// forwarded headers named in keyed (see hashKeyInto) and the body. Each
// part is length-prefixed, so no two different requests hash the same input.
// The key is the first 128 bits of a SHA-256, in hex: 32 characters.
func hashKey(verb, url string, h http.Header, body []byte, keyed []string, fwd http.Header) string {
	var out [32]byte
	hashKeyInto(&out, verb, url, h, body, keyed, fwd)
	return string(out[:])
}

// hashKeyInto is hashKey writing the key into out, with the values of the
// forwarded headers named in keyed (fwd's, unless h sets the header: the
// method's own value wins on the wire, and is in the key already).
func hashKeyInto(out *[32]byte, verb, url string, h http.Header, body []byte, keyed []string, fwd http.Header) {
	bp := keyBufs.Get().(*[]byte)
	b := (*bp)[:0]
	b = appendPart(b, verb)
	b = appendPart(b, url)
	if len(h) > 0 {
		var arr [16]string
		names := arr[:0]
		for k := range h {
			names = append(names, k)
		}
		slices.Sort(names)
		for _, k := range names {
			vs := h[k]
			b = appendPart(b, k)
			b = appendLen(b, len(vs))
			for _, v := range vs {
				b = appendPart(b, v)
			}
		}
	}
	for _, name := range keyed {
		var vs []string
		if len(h[name]) == 0 {
			vs = fwd[name]
		}
		b = appendPart(b, name)
		b = appendLen(b, len(vs))
		for _, v := range vs {
			b = appendPart(b, v)
		}
	}
	b = appendLen(b, len(body))
	b = append(b, body...)
	sum := sha256.Sum256(b)
	if cap(b) <= 64<<10 { // do not keep huge buffers alive
		*bp = b
		keyBufs.Put(bp)
	}
	hex.Encode(out[:], sum[:16])
}

func appendLen(b []byte, n int) []byte {
	return append(b, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
}

func appendPart(b []byte, s string) []byte {
	return append(appendLen(b, len(s)), s...)
}

// keyTable remembers, for the recent URLs a client sent to, the URL as a
// string and the key of a plain request to it (no header set on the method,
// no body, no value in a forwarded header that joins the key): for one
// client that key depends on the verb and the URL alone. A look-up costs a
// fraction of building the string and hashing, and the strings it hands out
// are its own, so what keeps them (the cache, net/http's connection pool)
// keeps nothing else alive. It stays the same size whatever the traffic:
// each URL has two slots it may live in (two choices from one hash), and a
// URL that finds both taken by others replaces one of them at random. Two
// choices keep a working set of up to a few thousand URLs almost free of
// such replacements, where one slot per URL made a fifth of 1,000 URLs
// evict each other on every round. A look-up compares the whole verb and
// URL, so a hostile URL can only evict, never alias.
type keyTable struct {
	seed  maphash.Seed
	slots [keySlots]atomic.Pointer[keySlot]
}

const keySlots = 8192 // a power of two

type keySlot struct {
	verb, url string
	key       string // of a plain request; "" until a send needs it
}

func newKeyTable() *keyTable { return &keyTable{seed: maphash.MakeSeed()} }

// lookup returns url as a string and, when needKey is set, the key of a
// plain request with verb to it, for a client whose forwarded headers named
// in keyed join the key. Without needKey the key returned may be "": the
// method has a key of its own, and the hash is left for a send that needs it.
func (t *keyTable) lookup(verb string, url []byte, keyed []string, needKey bool) (string, string) {
	h := maphash.Bytes(t.seed, url)
	a, b := &t.slots[h&(keySlots-1)], &t.slots[(h>>32)&(keySlots-1)]
	slot := a
	e := a.Load()
	if e == nil || e.url != string(url) || e.verb != verb {
		slot, e = b, b.Load()
		if e == nil || e.url != string(url) || e.verb != verb {
			e = nil
		}
	}
	if e != nil && (e.key != "" || !needKey) {
		return e.url, e.key
	}
	if e == nil {
		// A new URL: into an empty slot of its two, else over either.
		slot = a
		if a.Load() != nil && (b.Load() == nil || rand.Uint32()&1 == 1) {
			slot = b
		}
	}
	n := &keySlot{verb: verb, url: string(url)}
	if e != nil {
		n.url = e.url
	}
	if needKey {
		n.key = hashKey(verb, n.url, nil, nil, keyed, nil)
	}
	slot.Store(n)
	return n.url, n.key
}

// anyValue reports whether h has a value for any of the names.
func anyValue(h http.Header, names []string) bool {
	for _, n := range names {
		if len(h[n]) > 0 {
			return true
		}
	}
	return false
}
