package flight

import (
	"testing"

	"go.uber.org/goleak"
)

// Every call's goroutine ends with its call: none may outlive the tests.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
