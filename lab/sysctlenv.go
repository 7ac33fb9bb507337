package lab

import (
	"cmp"
	"errors"
	"os"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/netlabdev/netlab/internal/nsutil"
)

// sysctlRefusal is a sysctl key the environment does not let netlab open
// for writing, found by preflight before anything is created.
type sysctlRefusal struct {
	key string
	err error
}

// sysctlsUnwritable turns the keys preflight could not open for writing
// (where: "in a node's namespace", "on the host") into one environment
// error, or nil when there are none. A read-only /proc/sys is how
// containers mount it (Docker and Podman without --privileged); a refused
// open of a writable file is an LSM such as AppArmor's docker-default
// profile, or a key only the initial user namespace may change.
func sysctlsUnwritable(where string, refused []sysctlRefusal) error {
	if len(refused) == 0 {
		return nil
	}
	var keys, readOnly []string
	var first, firstReadOnly error
	for _, r := range refused {
		if errors.Is(r.err, nsutil.ErrReadOnlySysctl) {
			readOnly = append(readOnly, r.key)
			firstReadOnly = cmp.Or(firstReadOnly, r.err)
			continue
		}
		keys = append(keys, r.key)
		first = cmp.Or(first, r.err)
	}
	switch {
	case errors.Is(first, unix.EROFS):
		return envErrorf("/proc/sys is read-only here, so netlab cannot set the lab's sysctls %s (%s): %w; a container mounts /proc/sys read-only unless it runs with --privileged or --security-opt systempaths=unconfined (see docs/ci.md)",
			where, strings.Join(keys, ", "), first)
	case len(readOnly) > 0:
		return envErrorf("sysctls %s are read-only %s on this kernel (%w): the kernel lets only the initial network namespace change them",
			strings.Join(readOnly, ", "), where, firstReadOnly)
	}
	hint := "an LSM (AppArmor's docker-default profile denies writes under /proc/sys/net: --security-opt apparmor=unconfined or --privileged; see docs/ci.md)"
	if !nsutil.InitialUserNS() {
		hint = "this netlab runs in a user namespace, which may change only the sysctls of namespaces it owns (see docs/rootless.md)"
	}
	return envErrorf("sysctls %s cannot be written %s: %w; this environment refuses them: %s",
		strings.Join(keys, ", "), where, first, hint)
}

// notInitialNetns explains a missing host sysctl under neigh/default: the
// kernel registers net.ipv4.neigh.default.* and net.ipv6.neigh.default.*
// in the initial network namespace only, so their absence (with the
// directory itself gone) means this netlab runs in another one, e.g. a
// container with a network of its own. It returns nil for other keys and
// when the initial namespace's directory is there.
func notInitialNetns(key, path string) error {
	if !strings.HasPrefix(path, "net/ipv4/neigh/default/") && !strings.HasPrefix(path, "net/ipv6/neigh/default/") {
		return nil
	}
	if _, err := os.Stat("/proc/sys/net/ipv4/neigh/default"); err == nil || !errors.Is(err, os.ErrNotExist) {
		return nil
	}
	way := "run it in the host's network namespace (docker run --network host, or no unshare --net) or use a lab without host.sysctls (see docs/ci.md)"
	if !nsutil.InitialUserNS() {
		way = "in a user namespace (rootless) host knobs cannot be set at all, since the host's network namespace belongs to the initial user namespace: use a lab without host.sysctls, or run netlab as root (see docs/rootless.md)"
	}
	return envErrorf("host sysctl %s: this netlab runs in a network namespace other than the host's initial one (no /proc/sys/net/ipv4/neigh/default), and the kernel has the neighbour tables' default.* knobs only there; %s", key, way)
}

// userNSHidden completes a "sysctl does not exist" message in a user
// namespace: the kernel leaves some keys out of the network namespaces a
// non-initial user namespace owns (net.core.xfrm_*, net.ipv6.route.*,
// measured on 6.18), so a key that exists for root may be missing here.
func userNSHidden() string {
	if nsutil.InitialUserNS() {
		return ""
	}
	return "; this netlab runs in a user namespace, and the kernel hides some sysctls (net.core.xfrm_*, net.ipv6.route.*) from network namespaces a user namespace owns (see docs/rootless.md)"
}
