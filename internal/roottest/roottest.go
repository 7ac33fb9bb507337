// Package roottest holds the one rule for tests that need root: skip with a
// reason as a normal user, fail when NETLAB_E2E_REQUIRED=1 (CI), where a
// skipped root test would be a test that never ran.
package roottest

import (
	"os"
	"testing"
)

// Need skips t without root, or fails it when NETLAB_E2E_REQUIRED=1.
func Need(t testing.TB) {
	t.Helper()
	if os.Geteuid() == 0 {
		return
	}
	if os.Getenv("NETLAB_E2E_REQUIRED") == "1" {
		t.Fatal("needs root (NETLAB_E2E_REQUIRED=1)")
	}
	t.Skip("needs root")
}
