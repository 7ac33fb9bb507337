package nsutil

import "testing"

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
