// Package apitest holds two tests of the library's exported API: that it
// matches api.txt at the repository's root, so that every change to it is
// deliberate (run go test ./internal/apitest -update to accept one, and
// review the diff), and that every doc link ([Name], [pkg.Name],
// [Type.Method]) in its doc comments resolves, as pkg.go.dev would link it.
package apitest
