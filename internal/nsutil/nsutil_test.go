package nsutil

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/netlabdev/netlab/internal/roottest"
)

func nsID(t *testing.T, h netns.NsHandle) string {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Fstat(int(h), &st); err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("%d:%d", st.Dev, st.Ino)
}

func TestCreateNamedDoStartDelete(t *testing.T) {
	roottest.Need(t)
	name := fmt.Sprintf("nsutil-test-%d", os.Getpid())
	t.Cleanup(func() { _ = DeleteNamed(name) })

	// A failing setup leaves nothing behind: no mount, no file.
	_, err := CreateNamed(name, func(h *netlink.Handle) error { return errors.New("boom") })
	if err == nil || !strings.Contains(err.Error(), "boom") {
		t.Fatalf("CreateNamed with failing setup: err = %v", err)
	}
	if _, err := os.Lstat(Path(name)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("failed CreateNamed left %s behind (%v)", Path(name), err)
	}

	// Setup runs inside the new namespace before the name is published.
	ns, err := CreateNamed(name, func(h *netlink.Handle) error {
		lo, err := h.LinkByName("lo")
		if err != nil {
			return err
		}
		return h.LinkSetAlias(lo, "nsutil-test")
	})
	if err != nil {
		t.Fatal(err)
	}
	defer ns.Close()
	if mounted, err := IsMounted(name); err != nil || !mounted {
		t.Fatalf("IsMounted = %v, %v", mounted, err)
	}
	if _, err := CreateNamed(name, func(*netlink.Handle) error { return nil }); !errors.Is(err, ErrExists) {
		t.Fatalf("second CreateNamed: err = %v, want ErrExists", err)
	}

	// Do runs in the namespace and leaves the caller's namespace alone.
	self, err := netns.Get()
	if err != nil {
		t.Fatal(err)
	}
	defer self.Close()
	var inside string
	if err := Do(ns, func() error {
		cur, err := netns.Get()
		if err != nil {
			return err
		}
		defer cur.Close()
		inside = nsID(t, cur)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if inside != nsID(t, ns) {
		t.Fatalf("Do ran in %s, want %s", inside, nsID(t, ns))
	}

	// Sysctls resolve against the namespace, not the host.
	if err := WriteSysctl(ns, "net/ipv4/ip_forward", "1"); err != nil {
		t.Fatal(err)
	}
	if v, err := ReadSysctl(ns, "net/ipv4/ip_forward"); err != nil || v != "1" {
		t.Fatalf("ReadSysctl in ns = %q, %v", v, err)
	}
	if _, err := ReadSysctl(ns, "../kernel/hostname"); err == nil {
		t.Fatal("ReadSysctl outside /proc/sys/net succeeded")
	}

	// A child started with Start lives in the namespace.
	cmd := exec.Command("readlink", "/proc/self/ns/net")
	var out strings.Builder
	cmd.Stdout = &out
	if err := Start(ns, cmd); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatal(err)
	}
	var st unix.Stat_t
	if err := unix.Fstat(int(ns), &st); err != nil {
		t.Fatal(err)
	}
	if want := fmt.Sprintf("net:[%d]", st.Ino); strings.TrimSpace(out.String()) != want {
		t.Fatalf("child's namespace %q, want %q", strings.TrimSpace(out.String()), want)
	}

	if err := DeleteNamed(name); err != nil {
		t.Fatal(err)
	}
	if err := DeleteNamed(name); err != nil {
		t.Fatalf("second DeleteNamed: %v", err)
	}
	if _, err := os.Lstat(Path(name)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("DeleteNamed left %s", Path(name))
	}
}

// TestThrowaway: links made in a throwaway namespace never reach the caller's.
func TestThrowaway(t *testing.T) {
	roottest.Need(t)
	name := fmt.Sprintf("nlthrow%d", os.Getpid()%100000)
	err := Throwaway(func(h *netlink.Handle) error {
		return h.LinkAdd(&netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: name}, PeerName: name + "p"})
	})
	if err != nil {
		t.Fatal(err)
	}
	self, err := netns.Get()
	if err != nil {
		t.Fatal(err)
	}
	defer self.Close()
	h, err := Handle(self)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	if _, err := h.LinkByName(name); err == nil {
		t.Fatalf("%s from the throwaway namespace is visible here", name)
	}
}

// TestHeldByOthers: a named namespace nobody else uses is not held; a child
// process living in it holds it (its thread's namespace), and so does a
// child holding an fd opened through /run/netns; both stop holding it when
// they exit. Our own fds never count.
func TestHeldByOthers(t *testing.T) {
	roottest.Need(t)
	name := fmt.Sprintf("nsutil-held-%d", os.Getpid())
	ns, err := CreateNamed(name, func(*netlink.Handle) error { return nil })
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ns.Close(); _ = DeleteNamed(name) })
	ino, err := NetnsInode(name)
	if err != nil {
		t.Fatal(err)
	}
	held := func() bool {
		t.Helper()
		h, err := HeldByOthers()
		if err != nil {
			t.Fatal(err)
		}
		return h[ino]
	}
	if held() {
		t.Fatal("held before anybody uses it (our own fd must not count)")
	}
	// A process inside the namespace.
	inside := exec.Command("sleep", "30")
	if err := Start(ns, inside); err != nil {
		t.Fatal(err)
	}
	if !held() {
		t.Error("a process living in the namespace does not hold it")
	}
	_ = inside.Process.Kill()
	_ = inside.Wait()
	if held() {
		t.Error("still held after the process exited")
	}
	// A process outside holding an fd opened through the name (its readlink
	// shows the path, not net:[inode]).
	f, err := os.Open(Path(name))
	if err != nil {
		t.Fatal(err)
	}
	holder := exec.Command("sleep", "30")
	holder.ExtraFiles = []*os.File{f}
	if err := holder.Start(); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if !held() {
		t.Error("a process holding an fd to the namespace does not hold it")
	}
	_ = holder.Process.Kill()
	_ = holder.Wait()
	if held() {
		t.Error("still held after the fd holder exited")
	}
}
