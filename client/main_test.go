package client_test

import (
	"testing"

	"go.uber.org/goleak"
)

// No test may leave a goroutine behind: shared calls, retries, lock renewal
// and the request-scoped clients' cancellation all end with their sends.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
