package nsutil

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// mountEntry is one mount of a mountinfo text and its propagation.
type mountEntry struct {
	ID     string // mount ID; "" when the directory is not a mount point
	Point  string // mount point
	Shared string // "shared:N", or "" when the mount is not shared
	Master string // "master:N" when the mount is a slave of peer group N
}

// parseMountinfo returns the mounts of a mountinfo text in its order.
func parseMountinfo(mountinfo string) []mountEntry {
	var out []mountEntry
	for _, line := range strings.Split(mountinfo, "\n") {
		// id parent major:minor root mountpoint options [optional...] - ...
		f := strings.Fields(line)
		if len(f) < 7 {
			continue
		}
		m := mountEntry{ID: f[0], Point: f[4]}
		for _, o := range f[6:] {
			if o == "-" {
				break
			}
			switch {
			case strings.HasPrefix(o, "shared:"):
				m.Shared = o
			case strings.HasPrefix(o, "master:"):
				m.Master = o
			}
		}
		out = append(out, m)
	}
	return out
}

// mountAt returns the mount on top of dir in a mountinfo text (the last
// line naming dir as its mount point), or a zero mountEntry when dir is not
// a mount point there. A mount that a later one on a parent directory
// shadows (/run/netns under a tmpfs mounted on /run afterwards) still has
// its line: visibleMount tells them apart.
func mountAt(mountinfo, dir string) mountEntry {
	var m mountEntry
	for _, e := range parseMountinfo(mountinfo) {
		if e.Point == dir {
			m = e
		}
	}
	return m
}

// visibleMount returns the mount that path lookup finds on dir: the one
// whose ID statx reports for dir (id; "" when unknown), if dir is its mount
// point, else a zero mountEntry (dir lives on a parent's mount, or does not
// exist: gone is "no such file"). Without an ID it falls back to mountAt.
func visibleMount(mountinfo, dir, id string, gone bool) mountEntry {
	if gone {
		return mountEntry{}
	}
	if id == "" {
		return mountAt(mountinfo, dir)
	}
	for _, e := range parseMountinfo(mountinfo) {
		if e.ID == id {
			if e.Point == dir {
				return e
			}
			return mountEntry{}
		}
	}
	return mountAt(mountinfo, dir)
}

// mountID returns the ID of the mount holding path (statx STATX_MNT_ID,
// Linux 5.8), "" when the kernel does not say, and whether path is missing.
func mountID(path string) (id string, gone bool) {
	var st unix.Statx_t
	err := unix.Statx(unix.AT_FDCWD, path, unix.AT_SYMLINK_NOFOLLOW, unix.STATX_MNT_ID, &st)
	if errors.Is(err, unix.ENOENT) {
		return "", true
	}
	if err != nil || st.Mask&unix.STATX_MNT_ID == 0 {
		return "", false
	}
	return strconv.FormatUint(st.Mnt_id, 10), false
}

// ownRunDir returns this process's mount on RunDir as path lookup finds
// it, from its mountinfo; ok is false when that cannot be read.
func ownRunDir() (m mountEntry, ok bool) {
	mi, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return mountEntry{}, false
	}
	id, gone := mountID(RunDir)
	return visibleMount(string(mi), RunDir, id, gone), true
}

// inheritedRunDir explains a RunDir that this mount namespace got from
// elsewhere without the means to send mounts back, as found BEFORE netlab
// (or `ip netns add`) touches it: a mount point that is private or a slave.
// ip and netlab always make RunDir a shared mount, so a private or slave one
// is a copy: a container runtime's bind mount of the host's /run/netns
// (Docker's default propagation is rprivate; rslave receives but does not
// send), or a mount namespace unshared with private or slave propagation.
// Namespaces mounted there would be seen in this mount namespace only: the
// directory's other users would find empty files under their names (which
// `ip netns` lists but cannot enter) and state saying the lab is up, and
// the lab would vanish when this mount namespace ends.
//
// In the initial pid namespace the pid-1 comparison of CheckRunDir decides
// (a private RunDir in pid 1's own mount namespace is the host's, and making
// it shared is what `ip netns add` does); hostPID says whether this process
// runs there. In a pid namespace of its own (a container) pid 1 is the
// container's init and shares this mount namespace, so that comparison
// passes and this one decides.
func inheritedRunDir(m mountEntry, hostPID bool) error {
	if hostPID || m.ID == "" || (m.Shared != "" && m.Master == "") {
		return nil
	}
	how := "private"
	if m.Master != "" {
		how = "a slave of peer group " + strings.TrimPrefix(m.Master, "master:") + " (it receives mounts but sends none back)"
	}
	return fmt.Errorf("%s is a mount point this mount namespace inherited without shared propagation (it is %s): it comes from outside this container (a bind mount of the host's %s, or a copy made by unshare -m), so namespaces created here would exist only in this container, leave empty files under their names outside it and vanish when it ends; give the container a /run of its own (docker run --tmpfs /run, no %s volume), or share it both ways (docker -v %s:%s:rshared, with the host's %s a shared mount); see docs/ci.md",
		RunDir, how, RunDir, RunDir, RunDir, RunDir, RunDir)
}

// rootlessHint is appended to RunDir errors in a user namespace, where a
// lab can only ever live inside the caller's own mount namespace.
func rootlessHint() string {
	if InitialUserNS() {
		return ""
	}
	return "; in a user namespace (rootless) mounts never propagate to the host: run netlab as the init of a pid namespace of your own with a private /run (unshare --user --map-root-user --mount --net --pid --fork --mount-proc, then mount -t tmpfs tmpfs /run; see docs/rootless.md)"
}
