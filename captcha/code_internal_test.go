package captcha

import (
	"crypto/rand"
	"encoding/binary"
	"math"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"
)

// stubRand replaces randRead with a reader returning the given 32-bit words
// (then zeros) for the test.
func stubRand(t *testing.T, words ...uint32) {
	t.Helper()
	var stream []byte
	for _, w := range words {
		stream = binary.LittleEndian.AppendUint32(stream, w)
	}
	old := randRead
	t.Cleanup(func() { randRead = old })
	randRead = func(b []byte) (int, error) {
		n := copy(b, stream)
		stream = stream[n:]
		clear(b[n:])
		return len(b), nil
	}
}

// TestGeneratorUsesRandReadAndRejects proves codes come from randRead (which
// is crypto/rand.Read) and that draws above the last multiple of the charset
// size are thrown away rather than folded (no modulo bias).
func TestGeneratorUsesRandReadAndRejects(t *testing.T) {
	tests := []struct {
		name    string
		charset string
		words   []uint32
		want    string
	}{
		{"digits", "0123456789", []uint32{7, 13, 4294967289, 21}, "7391"},
		{"rejects the top 6 values for 10", "0123456789", []uint32{math.MaxUint32, 4294967290, 5, 6, 7, 8}, "5678"},
		{"rejects nothing for 2^k", "ab", []uint32{math.MaxUint32, 0, 1, 2}, "baba"},
		{"unicode", "αβγ", []uint32{0, 1, 2, 3}, "αβγα"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			stubRand(t, tc.words...)
			if got := charsetGenerator(tc.charset, 4)(); got != tc.want {
				t.Errorf("code = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestRandReadIsCryptoRand(t *testing.T) {
	if reflect.ValueOf(randRead).Pointer() != reflect.ValueOf(rand.Read).Pointer() {
		t.Fatal("randRead is not crypto/rand.Read")
	}
}

// TestGeneratorDistribution: 400,000 characters from crypto/rand over a
// 10-character and a 200-character set; every character's frequency is within
// generous bounds (6 standard deviations).
func TestGeneratorDistribution(t *testing.T) {
	var big strings.Builder
	for r := rune(0x100); big.Len() < 1000 && utf8.RuneCountInString(big.String()) < 200; r++ {
		big.WriteRune(r)
	}
	for _, charset := range []string{"0123456789", big.String()} {
		n := utf8.RuneCountInString(charset)
		gen := charsetGenerator(charset, 8)
		counts := make(map[rune]int)
		const draws = 400_000
		for range draws / 8 {
			for _, r := range gen() {
				counts[r]++
			}
		}
		if len(counts) != n {
			t.Fatalf("charset of %d: %d distinct characters drawn", n, len(counts))
		}
		p := 1 / float64(n)
		mean, sd := draws*p, math.Sqrt(draws*p*(1-p))
		var chi2 float64
		for r, c := range counts {
			if math.Abs(float64(c)-mean) > 6*sd {
				t.Errorf("charset of %d: %q drawn %d times, want %.0f ± %.0f", n, r, c, mean, 6*sd)
			}
			chi2 += (float64(c) - mean) * (float64(c) - mean) / mean
		}
		// chi² with n-1 degrees of freedom has mean n-1 and sd √(2(n-1)).
		if df := float64(n - 1); chi2 > df+8*math.Sqrt(2*df) {
			t.Errorf("charset of %d: chi² = %.1f, want about %.0f", n, chi2, df)
		}
	}
}

func TestDigest(t *testing.T) {
	tests := []struct {
		name     string
		k1, c1   string
		k2, c2   string
		ci, same bool
	}{
		{"same", "k", "1234", "k", "1234", false, true},
		{"other code", "k", "1234", "k", "1235", false, false},
		{"other key", "k1", "1234", "k2", "1234", false, false},
		{"key/code boundary", "k1", "234", "k", "1234", false, false},
		{"case sensitive", "k", "AB", "k", "ab", false, false},
		{"case insensitive", "k", "AB", "k", "ab", true, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d1, d2 := digest(tc.k1, tc.c1, tc.ci), digest(tc.k2, tc.c2, tc.ci)
			if (d1 == d2) != tc.same {
				t.Errorf("digest(%q,%q) == digest(%q,%q) is %v, want %v", tc.k1, tc.c1, tc.k2, tc.c2, d1 == d2, tc.same)
			}
			if len(d1) != 64 {
				t.Errorf("len(digest) = %d, want 64", len(d1))
			}
		})
	}
}
