//go:build race

package main

// raceEnabled is true when the tests run with -race, which makes miniredis
// about ten times slower.
const raceEnabled = true
