// Package integration holds the end-to-end tests of alova-go: they build the
// example server, start it as real processes next to real redis-server
// processes on loopback ports, and break things (kill Redis, fail the
// downstream, hang up, send slowly, call admin routes from elsewhere) to
// check that the server degrades as documented.
//
// Run them with the rest of the suite:
//
//	go test -race ./integration_test/
//
// The server is built inside the first test that needs it, after the test
// has read every source file it is built from: go test keys its cache on
// the files a test reads, so a change anywhere in the server's sources
// reruns these tests instead of printing a stale "(cached)".
//
// They need redis-server and redis-cli on PATH (.ci/run installs them);
// tests that need them skip with a message otherwise. Every redis-server
// they start is killed when its test ends, or when the test binary exits,
// however it exits (see internal/testredis).
package integration
