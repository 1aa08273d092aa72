package captcha

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"strings"
)

// randRead is the source of every random byte: codes and reservation tokens.
// Tests replace it to prove codes come from it; crypto/rand.Read never fails
// (Go 1.24+: it crashes the program rather than return weak bytes).
var randRead = rand.Read

// charsetGenerator returns a generator of length characters drawn uniformly
// from charset.
func charsetGenerator(charset string, length int) func() string {
	chars := []rune(charset)
	n := uint32(len(chars))
	// Rejection sampling: accept a 32-bit draw only below the largest multiple
	// of n, so every character has exactly the same probability.
	limit := uint64(1<<32) - uint64(1<<32)%uint64(n)
	return func() string {
		var b strings.Builder
		b.Grow(length * 4)
		var buf [64]byte
		avail := 0
		for i := 0; i < length; {
			if avail < 4 {
				if _, err := randRead(buf[:]); err != nil {
					panic("captcha: crypto/rand failed: " + err.Error())
				}
				avail = len(buf)
			}
			v := binary.LittleEndian.Uint32(buf[len(buf)-avail:])
			avail -= 4
			if uint64(v) >= limit {
				continue
			}
			b.WriteRune(chars[v%n])
			i++
		}
		return b.String()
	}
}

// newToken returns a random challenge id: 16 bytes (128 bits) from
// crypto/rand, hex-encoded. It is also the reservation token of its send.
func newToken() string {
	var b [16]byte
	if _, err := randRead(b[:]); err != nil {
		panic("captcha: crypto/rand failed: " + err.Error())
	}
	return hex.EncodeToString(b[:])
}

// digest binds a code to its key: hex(SHA-256("alova-captcha/v1" ||
// uvarint(len(key)) || key || code)), the code lower-cased first when
// caseInsensitive. Stores compare digests, never codes, so how long a
// comparison takes says nothing about how close a guess was.
func digest(key, code string, caseInsensitive bool) string {
	if caseInsensitive {
		code = strings.ToLower(code)
	}
	h := sha256.New()
	var n [binary.MaxVarintLen64]byte
	h.Write([]byte("alova-captcha/v1"))
	h.Write(n[:binary.PutUvarint(n[:], uint64(len(key)))])
	h.Write([]byte(key))
	h.Write([]byte(code))
	var sum [sha256.Size]byte
	return hex.EncodeToString(h.Sum(sum[:0]))
}

// validChallenge reports whether s has the shape of a challenge (newToken's
// 32 lower-case hex digits), so a malformed one never reaches the store.
func validChallenge(s string) bool {
	if len(s) != 32 {
		return false
	}
	for i := range len(s) {
		if c := s[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}
