package history

import (
	"testing"

	"go.uber.org/goleak"
)

// Run and DoorLatency start goroutines: none may outlive its test.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
