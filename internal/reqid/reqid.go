// Package reqid says which request ids the library logs and forwards: an
// X-Request-Id from a client is any bytes a header may hold until checked.
package reqid

import "strings"

// Max is the longest request id accepted.
const Max = 64

// Valid reports whether id is an acceptable request id: 1 to Max of the
// characters A-Z a-z 0-9 and - _ . : / + =.
func Valid(id string) bool {
	if id == "" || len(id) > Max {
		return false
	}
	for i := range len(id) {
		c := id[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case strings.IndexByte("-_.:/+=", c) >= 0:
		default:
			return false
		}
	}
	return true
}
