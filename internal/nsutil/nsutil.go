package nsutil

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// RunDir is where named network namespaces live (iproute2's convention, so
// `ip netns list` and `ip netns exec` see netlab's namespaces).
const RunDir = "/run/netns"

// nsfsMagic is NSFS_MAGIC from linux/magic.h.
const nsfsMagic = 0x6e736673

// Path returns the bind-mount path of a named namespace.
func Path(name string) string { return filepath.Join(RunDir, name) }

// Do runs fn on a locked OS thread switched into ns and switches back. If the
// switch back fails the thread stays locked, so the runtime ends it with the
// goroutine and no other goroutine ever runs in the wrong namespace.
func Do(ns netns.NsHandle, fn func() error) error {
	type result struct{ err error }
	done := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := netns.Get()
		if err != nil {
			runtime.UnlockOSThread()
			done <- result{fmt.Errorf("open current namespace: %w", err)}
			return
		}
		defer orig.Close()
		if err := netns.Set(ns); err != nil {
			runtime.UnlockOSThread()
			done <- result{fmt.Errorf("enter namespace: %w", err)}
			return
		}
		ferr := fn()
		if err := netns.Set(orig); err != nil {
			// Leave the thread locked: it dies with this goroutine.
			done <- result{errors.Join(ferr, fmt.Errorf("restore namespace (thread discarded): %w", err))}
			return
		}
		runtime.UnlockOSThread()
		done <- result{ferr}
	}()
	return (<-done).err
}

// Throwaway runs fn in a fresh, unnamed network namespace on a thread that is
// discarded afterwards: the namespace and everything fn made in it vanish.
// fn gets a netlink handle in that namespace. Used for preflight checks that
// must touch a real kernel but leave nothing behind.
func Throwaway(fn func(h *netlink.Handle) error) error {
	done := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread is discarded
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			done <- fmt.Errorf("unshare network namespace: %w", err)
			return
		}
		h, err := netlink.NewHandle(unix.NETLINK_ROUTE)
		if err != nil {
			done <- fmt.Errorf("netlink handle in throwaway namespace: %w", err)
			return
		}
		defer h.Close()
		done <- fn(h)
	}()
	return <-done
}

// Open opens a named namespace.
func Open(name string) (netns.NsHandle, error) {
	h, err := netns.GetFromPath(Path(name))
	if err != nil {
		return netns.None(), fmt.Errorf("open namespace %s: %w", name, err)
	}
	return h, nil
}

// Handle opens a netlink route handle inside ns. Close it when done: an open
// netlink socket keeps its namespace alive.
func Handle(ns netns.NsHandle) (*netlink.Handle, error) {
	h, err := netlink.NewHandleAt(ns, unix.NETLINK_ROUTE)
	if err != nil {
		return nil, fmt.Errorf("netlink handle: %w", err)
	}
	return h, nil
}

// ensureRunDir makes RunDir exist and be a shared mount point, as
// `ip netns add` does, so namespaces mounted there propagate to mount
// namespaces that share it.
func ensureRunDir() error {
	if err := os.MkdirAll(RunDir, 0o755); err != nil {
		return fmt.Errorf("create %s: %w", RunDir, err)
	}
	err := unix.Mount("", RunDir, "none", unix.MS_SHARED|unix.MS_REC, "")
	if err == nil {
		return nil
	}
	if !errors.Is(err, unix.EINVAL) {
		return fmt.Errorf("make %s a shared mount: %w", RunDir, err)
	}
	if err := unix.Mount(RunDir, RunDir, "none", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		return fmt.Errorf("bind-mount %s on itself: %w", RunDir, err)
	}
	if err := unix.Mount("", RunDir, "none", unix.MS_SHARED|unix.MS_REC, ""); err != nil {
		return fmt.Errorf("make %s a shared mount: %w", RunDir, err)
	}
	return nil
}

// CheckRunDir prepares RunDir as `ip netns add` does (see ensureRunDir) and
// then checks that a namespace mounted there is seen outside this process:
// when this process runs in a mount namespace of its own (unshare -m, a
// container that shares the host's pid namespace), its RunDir mount must be
// a peer of the one in the mount namespace of pid 1. Otherwise a named
// namespace would exist only in this mount namespace: invisible to `ip
// netns` elsewhere and gone, with the lab, when the last process in it
// exits. When pid 1's mounts cannot be read the check passes.
//
// Before touching RunDir it refuses one this mount namespace inherited
// without shared propagation while running in a pid namespace of its own
// (a container), where pid 1 shares this mount namespace and the comparison
// cannot tell (see inheritedRunDir).
func CheckRunDir() error {
	if m, ok := ownRunDir(); ok {
		if err := inheritedRunDir(m, initialPIDNS()); err != nil {
			return fmt.Errorf("%w%s", err, rootlessHint())
		}
	}
	if err := ensureRunDir(); err != nil {
		return err
	}
	mine, ok := ownRunDir()
	if !ok {
		return nil
	}
	theirs, err := os.ReadFile("/proc/1/mountinfo")
	if err != nil {
		return nil
	}
	id, group := mine.ID, mine.Shared
	id1, group1 := topMount(string(theirs), RunDir)
	// A mount belongs to one mount namespace: the same mount ID means the
	// same namespace as pid 1.
	if id != "" && id == id1 {
		return nil
	}
	if group != "" && group == group1 {
		return nil
	}
	why := "private or a slave"
	if group != "" {
		why = "shared, but not with pid 1's (" + group + ")"
	}
	return fmt.Errorf("%s does not propagate to the mount namespace of pid 1: this netlab runs in a mount namespace of its own where %s is %s, so namespaces created here would be invisible to `ip netns` outside it and would vanish when it ends; run netlab in the host's mount namespace, or unshare one that keeps shared propagation (unshare -m --propagation unchanged)%s",
		RunDir, RunDir, why, rootlessHint())
}

// topMount returns the mount ID and the shared peer group ("shared:N", or
// "" when not shared) of the mount on top of dir in a mountinfo text, or
// "", "" when dir is not a mount point there.
func topMount(mountinfo, dir string) (id, group string) {
	m := mountAt(mountinfo, dir)
	return m.ID, m.Shared
}

// ErrExists means a namespace of that name already exists.
var ErrExists = errors.New("namespace already exists")

// CreateNamed creates a network namespace, runs setup inside it (through a
// netlink handle in the new namespace) BEFORE its name is published, then
// publishes it as RunDir/name. On any error nothing is left behind. The
// returned handle must be closed by the caller.
func CreateNamed(name string, setup func(h *netlink.Handle) error) (netns.NsHandle, error) {
	ns, h, err := CreateNamedHandle(name, setup)
	if h != nil {
		h.Close()
	}
	return ns, err
}

// CreateNamedHandle is CreateNamed that also returns the netlink handle
// setup used (opened inside the new namespace), so a caller that works on
// the namespace next needs no second switch into it. Close both.
func CreateNamedHandle(name string, setup func(h *netlink.Handle) error) (netns.NsHandle, *netlink.Handle, error) {
	if err := ensureRunDir(); err != nil {
		return netns.None(), nil, err
	}
	path := Path(name)
	f, err := os.OpenFile(path, os.O_RDONLY|os.O_CREATE|os.O_EXCL, 0o444)
	if err != nil {
		if errors.Is(err, os.ErrExist) {
			return netns.None(), nil, fmt.Errorf("namespace %s: %w", name, ErrExists)
		}
		return netns.None(), nil, fmt.Errorf("namespace %s: create mount point: %w", name, err)
	}
	f.Close()
	type result struct {
		h   netns.NsHandle
		nl  *netlink.Handle
		err error
	}
	done := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := netns.Get()
		if err != nil {
			runtime.UnlockOSThread()
			done <- result{netns.None(), nil, fmt.Errorf("open current namespace: %w", err)}
			return
		}
		defer orig.Close()
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			runtime.UnlockOSThread()
			done <- result{netns.None(), nil, fmt.Errorf("unshare: %w", err)}
			return
		}
		var nlh *netlink.Handle
		h, ferr := netns.Get()
		if ferr == nil {
			// A netlink socket belongs to the namespace it was opened in,
			// wherever it is used later.
			if nlh, ferr = netlink.NewHandle(unix.NETLINK_ROUTE); ferr != nil {
				ferr = fmt.Errorf("netlink handle: %w", ferr)
			} else {
				ferr = setup(nlh)
			}
		}
		if ferr == nil {
			src := fmt.Sprintf("/proc/%d/task/%d/ns/net", os.Getpid(), unix.Gettid())
			if err := unix.Mount(src, path, "none", unix.MS_BIND, ""); err != nil {
				ferr = fmt.Errorf("bind-mount %s: %w", path, err)
			}
		}
		if ferr != nil {
			if nlh != nil {
				nlh.Close()
				nlh = nil
			}
			if h.IsOpen() {
				h.Close()
				h = netns.None()
			}
		}
		if err := netns.Set(orig); err != nil {
			ferr = errors.Join(ferr, fmt.Errorf("restore namespace (thread discarded): %w", err))
			done <- result{h, nlh, ferr}
			return
		}
		runtime.UnlockOSThread()
		done <- result{h, nlh, ferr}
	}()
	r := <-done
	if r.err != nil {
		if r.nl != nil {
			r.nl.Close()
		}
		if r.h.IsOpen() {
			r.h.Close()
		}
		_ = unix.Unmount(path, unix.MNT_DETACH)
		_ = os.Remove(path)
		return netns.None(), nil, fmt.Errorf("namespace %s: %w", name, r.err)
	}
	return r.h, r.nl, nil
}

// IsMounted reports whether RunDir/name is a mounted namespace (nsfs), as
// opposed to a leftover empty file or nothing.
func IsMounted(name string) (bool, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(Path(name), &st); err != nil {
		if errors.Is(err, unix.ENOENT) {
			return false, nil
		}
		return false, err
	}
	return st.Type == nsfsMagic, nil
}

// DeleteNamed unpublishes a named namespace: lazy unmount, then unlink. The
// namespace itself dies when nothing else holds it. A missing name is not an
// error.
func DeleteNamed(name string) error {
	path := Path(name)
	if err := unix.Unmount(path, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("namespace %s: unmount: %w", name, err)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("namespace %s: remove %s: %w", name, path, err)
	}
	return nil
}

// List returns the names under RunDir.
func List() ([]string, error) {
	ents, err := os.ReadDir(RunDir)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, nil
		}
		return nil, err
	}
	var out []string
	for _, e := range ents {
		out = append(out, e.Name())
	}
	return out, nil
}

// sysctlPath turns a path relative to /proc/sys into an absolute one and
// refuses anything outside /proc/sys/net.
func sysctlPath(rel string) (string, error) {
	p := filepath.Clean(filepath.Join("/proc/sys", rel))
	if !strings.HasPrefix(p, "/proc/sys/net/") {
		return "", fmt.Errorf("sysctl %s is outside /proc/sys/net", rel)
	}
	return p, nil
}

// ReadSysctl reads /proc/sys/<rel> inside ns (rel must be under net/).
func ReadSysctl(ns netns.NsHandle, rel string) (string, error) {
	p, err := sysctlPath(rel)
	if err != nil {
		return "", err
	}
	var out string
	err = Do(ns, func() error {
		b, err := os.ReadFile(p)
		out = strings.TrimSpace(string(b))
		return err
	})
	return out, err
}

// WriteSysctl writes /proc/sys/<rel> inside ns (rel must be under net/).
func WriteSysctl(ns netns.NsHandle, rel, value string) error {
	p, err := sysctlPath(rel)
	if err != nil {
		return err
	}
	return Do(ns, func() error { return writeFile(p, value) })
}

// SysctlWrite is one sysctl of a batch: Path relative to /proc/sys (under
// net/) and the Value to write. Got is filled with what the kernel kept
// (read back after the write).
type SysctlWrite struct {
	Path, Value, Got string
}

// WriteSysctls writes a batch of sysctls inside ns in order, with one switch
// into ns for the whole batch, reading each one back into its Got. It stops
// at the first failure and returns its index (-1 when all succeeded).
func WriteSysctls(ns netns.NsHandle, batch []SysctlWrite) (int, error) {
	failed := -1
	err := Do(ns, func() error {
		var err error
		failed, err = WriteSysctlsHere(batch)
		return err
	})
	if err != nil && failed < 0 {
		failed = 0
	}
	return failed, err
}

// WriteSysctlsHere is WriteSysctls in the calling thread's namespace: call
// it inside Do or a CreateNamed setup.
func WriteSysctlsHere(batch []SysctlWrite) (int, error) {
	for i := range batch {
		p, err := sysctlPath(batch[i].Path)
		if err != nil {
			return i, err
		}
		got, err := writeReadBack(p, batch[i].Value)
		if err != nil {
			return i, err
		}
		batch[i].Got = got
	}
	return -1, nil
}

// SysctlExists reports whether /proc/sys/<rel> exists in the current thread's
// namespace; call it inside Do or Throwaway.
func SysctlExists(rel string) bool {
	p, err := sysctlPath(rel)
	if err != nil {
		return false
	}
	_, err = os.Stat(p)
	return err == nil
}

// ReadHostSysctl and WriteHostSysctl work on the root namespace as seen by
// this process's main thread (host knobs).
func ReadHostSysctl(rel string) (string, error) {
	p, err := sysctlPath(rel)
	if err != nil {
		return "", err
	}
	b, err := os.ReadFile(p)
	return strings.TrimSpace(string(b)), err
}

// WriteHostSysctl writes a root-namespace sysctl.
func WriteHostSysctl(rel, value string) error {
	p, err := sysctlPath(rel)
	if err != nil {
		return err
	}
	return writeFile(p, value)
}

// writeReadBack writes a sysctl and reads it back through the same open
// file: one path lookup, not two. A lookup under /proc/sys costs time in
// proportion to the number of network namespaces (their same-named
// directories share one dentry hash chain), so with a thousand namespaces
// the opens, not the writes, are what sysctls cost.
func writeReadBack(p, value string) (string, error) {
	f, err := os.OpenFile(p, os.O_RDWR, 0)
	if err != nil {
		return "", err
	}
	defer f.Close()
	if _, err := f.WriteString(value); err != nil {
		return "", err
	}
	b, err := io.ReadAll(io.NewSectionReader(f, 0, 1<<20))
	if err != nil {
		return "", fmt.Errorf("read back: %w", err)
	}
	return strings.TrimSpace(string(b)), nil
}

func writeFile(p, value string) error {
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_TRUNC, 0)
	if err != nil {
		return err
	}
	if _, err := f.WriteString(value); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// Start starts cmd with its process inside ns (the child inherits the
// namespace of the locked thread that forks it). The caller waits for it.
func Start(ns netns.NsHandle, cmd *exec.Cmd) error {
	return Do(ns, cmd.Start)
}

// Socket opens a NETLINK_ROUTE socket inside ns, subscribed to the given
// multicast groups (none for a plain request socket). Close it when done.
func Socket(ns netns.NsHandle, groups ...uint) (*nl.NetlinkSocket, error) {
	var s *nl.NetlinkSocket
	err := Do(ns, func() error {
		var err error
		s, err = nl.Subscribe(unix.NETLINK_ROUTE, groups...)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("netlink socket: %w", err)
	}
	return s, nil
}

// Unnamed creates a fresh network namespace that has no name: it lives as
// long as the returned handle (or anything inside it) stays open, so closing
// the handle removes it. Used by tests and short-lived probes.
func Unnamed() (netns.NsHandle, error) {
	type result struct {
		h   netns.NsHandle
		err error
	}
	done := make(chan result, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread is discarded
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			done <- result{netns.None(), fmt.Errorf("unshare network namespace: %w", err)}
			return
		}
		h, err := netns.Get()
		done <- result{h, err}
	}()
	r := <-done
	if r.err != nil {
		return netns.None(), fmt.Errorf("new namespace: %w", r.err)
	}
	return r.h, nil
}

// NetnsInode returns the inode that identifies the named namespace.
func NetnsInode(name string) (uint64, error) {
	var st unix.Stat_t
	if err := unix.Stat(Path(name), &st); err != nil {
		return 0, fmt.Errorf("namespace %s: %w", name, err)
	}
	return st.Ino, nil
}

// HeldByOthers returns the inodes of the network namespaces that other
// processes hold: as the namespace of one of their threads, as an open file
// descriptor, or as a second nsfs mount (in this mount namespace) besides
// its one name. A namespace nobody else holds dies with its name, and the
// kernel then removes its links in one batch; one somebody holds outlives
// it. (A socket created in a namespace also keeps it alive and is not
// visible here.)
func HeldByOthers() (map[uint64]bool, error) {
	out := map[uint64]bool{}
	self := os.Getpid()
	procs, err := os.ReadDir("/proc")
	if err != nil {
		return nil, fmt.Errorf("read /proc: %w", err)
	}
	// Namespace files all live on nsfs: an fd or a task's ns link whose
	// target is on that device and has a namespace's inode holds it. (A
	// readlink would not do: an fd opened through /run/netns/NAME reads
	// back as that path.)
	var self0 unix.Stat_t
	if err := unix.Stat("/proc/self/ns/net", &self0); err != nil {
		return nil, fmt.Errorf("stat /proc/self/ns/net: %w", err)
	}
	nsfs := self0.Dev
	note := func(p string) {
		var st unix.Stat_t
		if unix.Stat(p, &st) == nil && st.Dev == nsfs {
			out[st.Ino] = true
		}
	}
	for _, p := range procs {
		pid, err := strconv.Atoi(p.Name())
		if err != nil || pid == self {
			continue
		}
		base := filepath.Join("/proc", p.Name())
		tasks, _ := os.ReadDir(filepath.Join(base, "task"))
		for _, t := range tasks {
			note(filepath.Join(base, "task", t.Name(), "ns", "net"))
		}
		fds, _ := os.ReadDir(filepath.Join(base, "fd"))
		for _, fd := range fds {
			note(filepath.Join(base, "fd", fd.Name()))
		}
	}
	netRef := func(root string) (uint64, bool) {
		rest, ok := strings.CutPrefix(root, "net:[")
		if !ok || !strings.HasSuffix(rest, "]") {
			return 0, false
		}
		ino, err := strconv.ParseUint(strings.TrimSuffix(rest, "]"), 10, 64)
		return ino, err == nil
	}
	mi, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return nil, fmt.Errorf("read mountinfo: %w", err)
	}
	mounts := map[uint64]map[string]bool{}
	for _, line := range strings.Split(string(mi), "\n") {
		// id parent major:minor root mountpoint options ... - fstype ...
		f := strings.Fields(line)
		if len(f) < 5 {
			continue
		}
		if ino, ok := netRef(f[3]); ok {
			if mounts[ino] == nil {
				mounts[ino] = map[string]bool{}
			}
			mounts[ino][f[4]] = true
		}
	}
	for ino, at := range mounts {
		if len(at) > 1 { // mounted somewhere besides its own name
			out[ino] = true
		}
	}
	return out, nil
}
