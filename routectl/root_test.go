package routectl

// Root tests against the real kernel, with iproute2 (`ip -j route`,
// `ip -j rule`, `ip -j route get`) as the independent witness. Each test
// makes its own named namespaces rtctl-<pid>-<what> (so `ip -n` can see
// them) and deletes them; none runs in parallel.

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/netlabdev/netlab/internal/nsutil"
	"github.com/netlabdev/netlab/internal/roottest"
)

// testNS is a named throwaway namespace and a Conn on it.
type testNS struct {
	name string
	ns   netns.NsHandle
	c    *Conn
}

// newNS makes rtctl-<pid>-<suffix>, runs setup in it (lo is up first),
// and opens a Conn. Cleanup closes both and deletes the name.
func newNS(t *testing.T, suffix string, setup func(h *netlink.Handle) error) *testNS {
	t.Helper()
	roottest.Need(t)
	name := fmt.Sprintf("rtctl-%d-%s", os.Getpid(), suffix)
	_ = nsutil.DeleteNamed(name) // a leftover of a killed run of this pid
	ns, err := nsutil.CreateNamed(name, func(h *netlink.Handle) error {
		lo, err := h.LinkByName("lo")
		if err != nil {
			return err
		}
		if err := h.LinkSetUp(lo); err != nil {
			return err
		}
		if setup == nil {
			return nil
		}
		return setup(h)
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ns.Close()
		if err := nsutil.DeleteNamed(name); err != nil {
			t.Errorf("cleanup: %v", err)
		}
	})
	c, err := Open(ns)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &testNS{name: name, ns: ns, c: c}
}

// vethPair is setup for newNS: a veth pair a <-> b inside the namespace,
// both up, with the given addresses (IPv6 without DAD).
func vethPair(a, b string, addrs map[string][]string) func(h *netlink.Handle) error {
	return func(h *netlink.Handle) error {
		v := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: a}, PeerName: b}
		if err := h.LinkAdd(v); err != nil {
			return fmt.Errorf("veth %s/%s: %w", a, b, err)
		}
		return upWithAddrs(h, []string{a, b}, addrs)
	}
}

// upWithAddrs adds addresses (nodad) to devs and sets them up.
func upWithAddrs(h *netlink.Handle, devs []string, addrs map[string][]string) error {
	for _, dev := range devs {
		l, err := h.LinkByName(dev)
		if err != nil {
			return err
		}
		for _, a := range addrs[dev] {
			addr, err := netlink.ParseAddr(a)
			if err != nil {
				return err
			}
			addr.Flags = unix.IFA_F_NODAD
			if err := h.AddrAdd(l, addr); err != nil {
				return fmt.Errorf("%s %s: %w", dev, a, err)
			}
		}
		if err := h.LinkSetUp(l); err != nil {
			return fmt.Errorf("%s up: %w", dev, err)
		}
	}
	return nil
}

// ip runs `ip -n NS args...` and returns its stdout.
func (n *testNS) ip(t *testing.T, args ...string) string {
	t.Helper()
	out, err := n.ipErr(args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// ipErr runs `ip -n NS args...`; a failure's error carries ip's stderr.
func (n *testNS) ipErr(args ...string) (string, error) {
	cmd := exec.Command("ip", append([]string{"-n", n.name}, args...)...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return string(out), fmt.Errorf("ip %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return string(out), nil
}

// ipJSON runs `ip -j -n NS args...` into v.
func (n *testNS) ipJSON(t *testing.T, v any, args ...string) {
	t.Helper()
	out := n.ip(t, append([]string{"-j"}, args...)...)
	if strings.TrimSpace(out) == "" {
		out = "[]"
	}
	if err := json.Unmarshal([]byte(out), v); err != nil {
		t.Fatalf("ip -j %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// sysctl writes a sysctl inside the namespace.
func (n *testNS) sysctl(t *testing.T, key, value string) {
	t.Helper()
	if err := nsutil.WriteSysctl(n.ns, key, value); err != nil {
		t.Fatal(err)
	}
}

var bg = context.Background()

func mustPrefix(s string) netip.Prefix { return netip.MustParsePrefix(s) }
func mustAddr(s string) netip.Addr     { return netip.MustParseAddr(s) }
