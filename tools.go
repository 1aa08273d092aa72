//go:build tools

// This file pins the modules the packages below are being built on, so that
// `go mod tidy` keeps them while those packages are still landing. It is
// removed once every dependency is imported by real code.
package alova

import (
	_ "github.com/alicebob/miniredis/v2"
	_ "github.com/go-chi/chi/v5"
	_ "github.com/hashicorp/golang-lru/v2"
	_ "github.com/redis/go-redis/v9"
	_ "github.com/sethvargo/go-retry"
	_ "go.uber.org/goleak"
	_ "golang.org/x/sync/singleflight"
)
