// Package doclinks holds the test that every doc link ([Name],
// [pkg.Name], [Type.Method]) in the library's doc comments resolves to a
// declaration, as pkg.go.dev would link it.
package doclinks
