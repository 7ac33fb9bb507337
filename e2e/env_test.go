package e2e

import (
	"os"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// TestReadOnlyRuntimeDir: a runtime directory netlab cannot write is an
// environment problem (exit 3) named with its path, found before anything
// is created.
func TestReadOnlyRuntimeDir(t *testing.T) {
	requireRoot(t)
	dir := t.TempDir()
	if err := unix.Mount(dir, dir, "", unix.MS_BIND, ""); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = unix.Unmount(dir, unix.MNT_DETACH) })
	if err := unix.Mount("", dir, "", unix.MS_BIND|unix.MS_REMOUNT|unix.MS_RDONLY, ""); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(dir+"/probe", 0o700); err == nil {
		t.Fatal("the read-only bind mount is writable")
	}
	l := newLab(t, "labs/veth-pair.yaml", "rostate")
	r := netlab(t, "--state-dir", dir, "up", l.File)
	if r.code != 3 || !strings.Contains(r.stderr, dir) || !strings.Contains(r.stderr, "read-only") {
		t.Errorf("up with a read-only runtime directory: want exit 3 naming %s:\n%s", dir, r)
	}
	checkNothingOf(t, l.Name)
}
