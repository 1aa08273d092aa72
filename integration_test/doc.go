// Package integration holds the end-to-end tests of alova-go: they build the
// example server, start it as real processes next to real redis-server
// processes on loopback ports, and break things (kill Redis, fail the
// downstream, hang up) to check that the server degrades as documented.
//
// Run them with the rest of the suite:
//
//	go test -race ./integration_test/
//
// They need redis-server and redis-cli on PATH (.ci/run installs them); tests
// that need them skip with a message otherwise.
package integration
