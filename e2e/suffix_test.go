package e2e

import (
	"os/exec"
	"strings"
	"testing"
)

// TestSuffixSideBySide: one lab file brought up twice with different
// suffixes (as parallel CI jobs would) gives two labs with the same node
// names in different namespaces; each pings across on its own, and each
// comes down alone.
func TestSuffixSideBySide(t *testing.T) {
	requireRoot(t)
	t.Parallel()
	l := newLab(t, "labs/veth-pair.yaml", "suffix")
	a, b := l.Name+"-a", l.Name+"-b"
	t.Cleanup(func() { cleanupDown(t, a); cleanupDown(t, b) })
	mustNetlab(t, "up", "--suffix", "a", l.File)
	r := netlabIn(t, "", "up", l.File)
	if r.code != 0 {
		t.Fatalf("the unsuffixed lab next to it: %s", r)
	}
	cleanupDown(t, l.Name)
	cmd := exec.Command(netlabBin, "up", l.File)
	cmd.Env = append(cleanEnv(), "NETLAB_SUFFIX=b")
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "lab "+b+" is up") {
		t.Fatalf("NETLAB_SUFFIX=b netlab up: %v\n%s", err, out)
	}
	ns := ipNetns(t)
	for _, n := range []string{a + "-h1", b + "-h1"} {
		if _, ok := ns[n]; !ok {
			t.Errorf("namespace %s missing: %v", n, ns)
		}
	}
	for _, lab := range []string{a, b} {
		mustNetlab(t, "exec", lab, "h1", "--", "ping", "-c1", "-W2", "-I", "veth0", "10.0.0.2")
	}
	mustNetlab(t, "down", a)
	checkNothingOf(t, a)
	if _, ok := ipNetns(t)[b+"-h1"]; !ok {
		t.Errorf("down %s took %s with it", a, b)
	}
	mustNetlab(t, "down", b)
	checkNothingOf(t, b)
}
