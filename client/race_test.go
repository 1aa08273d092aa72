//go:build race

package client_test

// raceEnabled is true when the tests run with -race, which makes the
// 100k-entry test of the tag index too slow: it runs with fewer entries.
const raceEnabled = true
