package handlers

import (
	"net/mail"
	"strings"
	"unicode"
	"unicode/utf8"
)

// maxKeyLength is the longest key [PrintableKey] accepts, in characters, and
// the longest e-mail address [EmailKey] accepts, in bytes (RFC 5321's path
// limit).
const maxKeyLength = 254

// PrintableKey is the default key validator of [CaptchaOptions.ValidateKey]:
// it accepts 1 to 254 characters of valid UTF-8, every one printable
// (unicode.IsPrint: letters, marks, numbers, punctuation, symbols and the
// ASCII space), with no space at either end, and returns the key unchanged.
// Control characters, invisible formatting characters (bidirectional
// overrides, zero-width joiners) and other spaces are refused, so a key reads
// the same in a log as it is stored.
func PrintableKey(key string) (string, bool) {
	if key == "" || !utf8.ValidString(key) || utf8.RuneCountInString(key) > maxKeyLength {
		return "", false
	}
	if key[0] == ' ' || key[len(key)-1] == ' ' {
		return "", false
	}
	for _, r := range key {
		if !unicode.IsPrint(r) {
			return "", false
		}
	}
	return key, true
}

// EmailKey is a key validator for e-mail addresses: it accepts a bare
// address ("ann@example.com": no display name, no angle brackets, no
// comments, no quoted local part, no IP-literal domain) of at most 254 bytes
// whose domain has at least two labels, and returns it in lower case.
//
// Lower-casing merges "Ann@Example.com" and "ann@example.com" into one key,
// so the resend interval and the attempt limit hold per mailbox rather than
// per spelling (otherwise each case variant would get its own code and its
// own resend budget). Domains are case-insensitive; local parts are too at
// virtually every mail provider, though RFC 5321 allows otherwise.
func EmailKey(key string) (string, bool) {
	if len(key) > maxKeyLength || strings.ContainsAny(key, " \t\r\n<>()\"[]\\,;") {
		return "", false
	}
	addr, err := mail.ParseAddress(key)
	if err != nil || addr.Name != "" || addr.Address != key {
		return "", false
	}
	at := strings.LastIndexByte(key, '@')
	if at < 1 {
		return "", false
	}
	domain := key[at+1:]
	if !strings.Contains(domain, ".") || strings.HasPrefix(domain, ".") || strings.HasSuffix(domain, ".") ||
		strings.Contains(domain, "..") {
		return "", false
	}
	for _, r := range key {
		if !unicode.IsPrint(r) {
			return "", false
		}
	}
	return strings.ToLower(key), true
}

// PhoneKey is a key validator for phone numbers in E.164 form: a "+", a
// country code that does not start with 0, and 7 to 15 digits in all. It
// ignores the spaces, hyphens, dots and parentheses people type
// ("+1 (555) 010-0000") and returns the bare form ("+15550100000"), so
// every spelling of a number is one key with one resend interval. Numbers
// without the "+" and country code are refused: a server cannot guess the
// country.
func PhoneKey(key string) (string, bool) {
	if len(key) > 32 || !strings.HasPrefix(key, "+") {
		return "", false
	}
	var b [16]byte
	n := 0
	b[n] = '+'
	n++
	for i := 1; i < len(key); i++ {
		switch c := key[i]; {
		case c >= '0' && c <= '9':
			if n == len(b) {
				return "", false // more than 15 digits
			}
			if n == 1 && c == '0' {
				return "", false // country codes never start with 0
			}
			b[n] = c
			n++
		case c == ' ' || c == '-' || c == '.' || c == '(' || c == ')':
		default:
			return "", false
		}
	}
	if digits := n - 1; digits < 7 {
		return "", false
	}
	return string(b[:n]), true
}
