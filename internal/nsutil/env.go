package nsutil

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"syscall"

	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// Inode numbers of the initial namespaces (include/linux/proc_ns.h), fixed
// since Linux 3.8.
const (
	userInitIno = 0xEFFFFFFD
	pidInitIno  = 0xEFFFFFFC
)

// nsInode returns the inode of this process's namespace of a kind ("pid",
// "user"), or 0 when it cannot be read.
func nsInode(kind string) uint64 {
	fi, err := os.Stat("/proc/self/ns/" + kind)
	if err != nil {
		return 0
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return 0
	}
	return st.Ino
}

// InitialUserNS reports whether this process runs in the initial user
// namespace (true when that cannot be read). In another one (rootless: a
// user namespace that maps the user to root) netlab's capabilities count
// only for namespaces that user namespace owns.
func InitialUserNS() bool {
	ino := nsInode("user")
	return ino == 0 || ino == userInitIno
}

// initialPIDNS reports whether this process runs in the initial pid
// namespace (true when that cannot be read).
func initialPIDNS() bool {
	ino := nsInode("pid")
	return ino == 0 || ino == pidInitIno
}

// CheckNetnsReturn checks that a thread of this process may switch back
// into this process's own network namespace, which every Do needs after
// working in a node's namespace. setns(2) needs CAP_SYS_ADMIN in the user
// namespace that owns the target: a process in a user namespace of its own
// (unshare --user) that still shares the host's network namespace can enter
// the namespaces it creates but never return, so netlab stops before
// creating anything.
func CheckNetnsReturn() error {
	done := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		// setns to the namespace the thread is already in changes nothing,
		// whether it succeeds or not: the thread can be unlocked either way.
		defer runtime.UnlockOSThread()
		self, err := netns.Get()
		if err != nil {
			done <- fmt.Errorf("open this process's network namespace: %w", err)
			return
		}
		defer self.Close()
		done <- netns.Set(self)
	}()
	err := <-done
	if err == nil {
		return nil
	}
	if errors.Is(err, unix.EPERM) && !InitialUserNS() {
		return fmt.Errorf("this netlab runs in a user namespace that does not own its network namespace (unshare --user without --net): it could enter the lab's namespaces but never switch back (setns: %w); give it a network namespace of its own (unshare --user --map-root-user --net ...; see docs/rootless.md)", err)
	}
	return fmt.Errorf("switch back into this process's network namespace: %w", err)
}

// ErrReadOnlySysctl marks a sysctl the kernel makes read-only in the
// namespace at hand (mode 0444: e.g. net.core.rmem_max outside the initial
// network namespace).
var ErrReadOnlySysctl = errors.New("read-only in this network namespace")

// SysctlWritable checks that /proc/sys/<rel> may be opened for writing in
// the current thread's namespace (call it inside Do or Throwaway) without
// writing anything: a read-only /proc/sys (containers mount it so) fails with
// EROFS; a key the kernel makes read-only there with ErrReadOnlySysctl (and
// EACCES); an LSM rule (AppArmor's docker-default profile) with EACCES or
// EPERM.
func SysctlWritable(rel string) error {
	p, err := sysctlPath(rel)
	if err != nil {
		return err
	}
	f, err := os.OpenFile(p, os.O_WRONLY, 0)
	if err != nil {
		if fi, serr := os.Stat(p); serr == nil && fi.Mode().Perm()&0o222 == 0 && !errors.Is(err, unix.EROFS) {
			return fmt.Errorf("%w: %w", ErrReadOnlySysctl, err)
		}
		return err
	}
	return f.Close()
}
