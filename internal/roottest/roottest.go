// Package roottest holds the one rule for tests that need root: skip with a
// reason as a normal user, fail when NETLAB_E2E_REQUIRED=1 (CI), where a
// skipped root test would be a test that never ran; and the descriptor
// counts the root tests' leak checks share.
package roottest

import (
	"os"
	"runtime"
	"slices"
	"testing"
	"time"
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

// OpenFDs maps this process's open descriptors to what they are
// ("socket:[123]", "net:[4026532]", a path). Finalizers of files that
// earlier tests dropped close descriptors at random moments, so it runs the
// garbage collector and lets finalizers run first.
func OpenFDs(t testing.TB) map[string]string {
	t.Helper()
	runtime.GC()
	time.Sleep(10 * time.Millisecond)
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, e := range ents {
		if target, err := os.Readlink("/proc/self/fd/" + e.Name()); err == nil {
			out[e.Name()] = target
		}
	}
	return out
}

// NewFDs lists the descriptors in after that were not open (as the same
// thing) in before.
func NewFDs(before, after map[string]string) []string {
	var out []string
	for fd, target := range after {
		if before[fd] != target {
			out = append(out, fd+" -> "+target)
		}
	}
	slices.Sort(out)
	return out
}

// CountFDs counts this process's open file descriptors, as they are now.
func CountFDs(t testing.TB) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}
