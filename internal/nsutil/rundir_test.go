package nsutil

import (
	"strings"
	"testing"
)

// TestTopMount: the mount ID and peer group of the mount on top of a directory,
// read from mountinfo lines as the kernel writes them.
func TestTopMount(t *testing.T) {
	const shared = "41 26 254:0 /run/netns /run/netns rw,relatime shared:1 - ext4 /dev/vda rw\n"
	const private = "41 26 254:0 /run/netns /run/netns rw,relatime - ext4 /dev/vda rw\n"
	const slave = "41 26 254:0 /run/netns /run/netns rw,relatime master:1 - ext4 /dev/vda rw\n"
	const both = "52 41 254:0 /run/netns /run/netns rw,relatime shared:7 master:1 - ext4 /dev/vda rw\n"
	const nsMount = "60 41 0:4 net:[4026532300] /run/netns/a-h1 rw shared:9 - nsfs nsfs rw\n"
	const root = "26 1 254:0 / / rw,relatime shared:1 - ext4 /dev/vda rw\n"
	for _, c := range []struct{ name, mi, id, want string }{
		{"shared", root + shared + nsMount, "41", "shared:1"},
		{"private", root + private, "41", ""},
		{"slave", root + slave, "41", ""},
		{"shared and slave", root + both, "52", "shared:7"},
		{"the top mount wins", root + both + private, "41", ""},
		{"the top mount wins, shared", root + private + both, "52", "shared:7"},
		{"not a mount point", root + nsMount, "", ""},
		{"torn line", "41 26 254:0 /run/netns /run/netns", "", ""},
		{"empty", "", "", ""},
	} {
		if id, group := topMount(c.mi, RunDir); id != c.id || group != c.want {
			t.Errorf("%s: got %q %q, want %q %q", c.name, id, group, c.id, c.want)
		}
	}
}

// TestVisibleMount: the mount path lookup finds on /run/netns, told apart
// from one a later tmpfs on /run shadows (its line stays in mountinfo), by
// the mount ID statx reports for the directory.
func TestVisibleMount(t *testing.T) {
	const mi = "26 1 254:0 / / rw - ext4 /dev/vda rw\n" +
		"63 26 254:0 /run/netns /run/netns rw - ext4 /dev/vda rw\n" + // the host's, shadowed
		"65 26 0:39 / /run rw - tmpfs tmpfs rw\n" +
		"66 65 0:39 /netns /run/netns rw shared:2 - tmpfs tmpfs rw\n" +
		"67 66 0:4 net:[4026532250] /run/netns/a-h1 rw shared:3 - nsfs nsfs rw\n"
	for _, c := range []struct {
		name   string
		mi, id string
		gone   bool
		want   mountEntry
	}{
		{"own bind mount on top", mi, "66", false, mountEntry{ID: "66", Point: RunDir, Shared: "shared:2"}},
		{"directory on the tmpfs, shadowed mount below", mi[:strings.Index(mi, "66 ")], "65", false, mountEntry{}},
		{"missing directory under the tmpfs", mi[:strings.Index(mi, "66 ")], "", true, mountEntry{}},
		{"no mount ID: the last line", mi, "", false, mountEntry{ID: "66", Point: RunDir, Shared: "shared:2"}},
		{"unknown mount ID: the last line", mi, "99", false, mountEntry{ID: "66", Point: RunDir, Shared: "shared:2"}},
	} {
		if got := visibleMount(c.mi, RunDir, c.id, c.gone); got != c.want {
			t.Errorf("%s: got %+v, want %+v", c.name, got, c.want)
		}
	}
}

// TestInheritedRunDir: in a pid namespace of its own (a container) a
// /run/netns mount point that is private or a slave is refused, naming the
// directory and the way out; a shared one, no mount point, or the initial
// pid namespace (where the comparison with pid 1 decides) pass.
func TestInheritedRunDir(t *testing.T) {
	for _, c := range []struct {
		name    string
		m       mountEntry
		hostPID bool
		want    string // "" means no error
	}{
		{"not a mount point", mountEntry{}, false, ""},
		{"shared", mountEntry{ID: "66", Point: RunDir, Shared: "shared:2"}, false, ""},
		{"private", mountEntry{ID: "63", Point: RunDir}, false, "it is private"},
		{"slave", mountEntry{ID: "63", Point: RunDir, Master: "master:1"}, false, "a slave of peer group 1"},
		{"shared and slave", mountEntry{ID: "63", Point: RunDir, Shared: "shared:7", Master: "master:1"}, false, "a slave of peer group 1"},
		{"private on the host", mountEntry{ID: "63", Point: RunDir}, true, ""},
		{"slave on the host", mountEntry{ID: "63", Point: RunDir, Master: "master:1"}, true, ""},
	} {
		err := inheritedRunDir(c.m, c.hostPID)
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%s: unexpected error %v", c.name, err)
		case c.want != "" && err == nil:
			t.Errorf("%s: no error, want one saying %q", c.name, c.want)
		case c.want != "" && (!strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), RunDir) || !strings.Contains(err.Error(), "--tmpfs /run")):
			t.Errorf("%s: error %q does not say %q, name %s and the way out", c.name, err, c.want, RunDir)
		}
	}
}
