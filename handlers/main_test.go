package handlers_test

import (
	"testing"

	"go.uber.org/goleak"
)

// No test may leave a goroutine behind: the middleware and handlers start
// none of their own, and every client call they make ends with its request.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
