//go:build race

package alovaotel_test

// raceEnabled is true when the tests run with -race.
const raceEnabled = true
