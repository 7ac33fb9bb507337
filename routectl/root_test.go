package routectl

// Root tests against the real kernel, with iproute2 (`ip -j route`,
// `ip -j rule`, `ip -j route get`) as the independent witness. Each test
// makes its own named namespaces rtctl-<pid>-<what> (so `ip -n` can see
// them) and deletes them; none runs in parallel.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

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
		// No DAD for link-local addresses either, so IPv6's own routes
		// settle as soon as a link is up (see settle). This runs on the
		// thread inside the new namespace: /proc/sys/net is its.
		for _, k := range []string{"all", "default"} {
			if err := os.WriteFile("/proc/sys/net/ipv6/conf/"+k+"/accept_dad", []byte("0"), 0); err != nil {
				return err
			}
		}
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

// settle waits until the kernel has made its IPv6 routes for devs (the
// local route of each one's link-local address, which comes last, once the
// link has carrier): tests that compare listings must not race addrconf.
func (n *testNS) settle(t *testing.T, devs ...string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		rs, err := n.c.Routes(bg, Filter{Family: unix.AF_INET6, Table: TableLocal})
		if err != nil {
			t.Fatal(err)
		}
		missing := slices.DeleteFunc(slices.Clone(devs), func(dev string) bool {
			return slices.ContainsFunc(rs, func(r Route) bool {
				return r.Type == TypeLocal && r.Dev == dev && r.To.Addr().IsLinkLocalUnicast()
			})
		})
		if len(missing) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no link-local address route for %q after 5s", missing)
		}
		time.Sleep(20 * time.Millisecond)
	}
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

func TestRootCloseNoLeak(t *testing.T) {
	n := routesNS(t, "close")
	n.c.Close() // this test opens its own
	ctx := bg

	before := roottest.OpenFDs(t)
	c, err := Open(n.ns)
	if err != nil {
		t.Fatal(err)
	}
	if opened := roottest.NewFDs(before, roottest.OpenFDs(t)); len(opened) < 3 {
		t.Errorf("Open opened %q; want the namespace dup and two netlink sockets", opened)
	}
	// Use every path once (the handle's sockets open lazily per protocol).
	if err := c.AddRoute(ctx, Route{To: mustPrefix("10.1.0.0/16"), Dev: "eth0"}); err != nil {
		t.Fatal(err)
	}
	if err := c.AddRule(ctx, Rule{Priority: 5, From: mustPrefix("10.1.0.0/16"), Table: 101}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Routes(ctx, Filter{}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Rules(ctx, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Get(ctx, Query{To: mustAddr("10.1.2.3"), OIF: "eth0"}); err != nil {
		t.Fatal(err)
	}
	if d, err := c.Get(ctx, Query{To: mustAddr("198.18.0.1")}); err != nil || d.Err == "" {
		t.Fatalf("Get of an unrouted address: %v, %v", d, err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if leaked := roottest.NewFDs(before, roottest.OpenFDs(t)); len(leaked) > 0 {
		t.Errorf("open after Close (and not before Open): %q", leaked)
	}

	// Everything fails after Close with ErrClosed, and nothing reaches any
	// kernel: a closed netlink.Handle would fall back to the calling
	// thread's namespace, the HOST's. Each change here is one the host's
	// kernel would refuse (no such device, a too long name), so a
	// regression fails this test without changing the host.
	const nodev = "rtctlnodev0"
	for name, err := range map[string]error{
		"AddRoute": c.AddRoute(ctx, Route{To: mustPrefix("198.18.99.0/24"), Dev: nodev}),
		"DelRoute": c.DelRoute(ctx, Route{To: mustPrefix("198.18.99.0/24"), Dev: nodev}),
		"AddRule":  c.AddRule(ctx, Rule{Priority: 5, From: mustPrefix("198.18.99.0/24"), IIF: "rtctlnodevtoolong0", Table: 101}),
		"DelRule":  c.DelRule(ctx, Rule{Priority: 5, From: mustPrefix("198.18.99.0/24"), IIF: "rtctlnodevtoolong0", Table: 101}),
		"Routes":   func() error { _, err := c.Routes(ctx, Filter{}); return err }(),
		"Rules":    func() error { _, err := c.Rules(ctx, 0); return err }(),
		"Get":      func() error { _, err := c.Get(ctx, Query{To: mustAddr("198.18.99.1"), OIF: nodev}); return err }(),
	} {
		if !errors.Is(err, ErrClosed) {
			t.Errorf("%s after Close: err = %v, want ErrClosed", name, err)
		}
	}

	// The Conn keeps its own reference: the caller may close its handle.
	dup, err := unix.Dup(int(n.ns))
	if err != nil {
		t.Fatal(err)
	}
	own := netns.NsHandle(dup)
	c2, err := Open(own)
	own.Close()
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	rs, err := c2.Routes(ctx, Filter{Table: TableMain})
	if err != nil || !slices.ContainsFunc(rs, func(r Route) bool { return r.To == mustPrefix("10.1.0.0/16") }) {
		t.Errorf("Routes after the caller closed its handle: %q, %v", rs, err)
	}
	if _, err := Open(netns.NsHandle(-1)); err == nil {
		t.Error("Open(-1) succeeded")
	}
}

// A cancelled context stops every method before it reaches the kernel.
func TestRootCancelled(t *testing.T) {
	n := routesNS(t, "cancel")
	ctx, cancel := context.WithCancel(bg)
	cancel()
	r := Route{To: mustPrefix("10.1.0.0/16"), Dev: "eth0"}
	for name, err := range map[string]error{
		"AddRoute": n.c.AddRoute(ctx, r),
		"DelRoute": n.c.DelRoute(ctx, r),
		"AddRule":  n.c.AddRule(ctx, Rule{Priority: 5, Family: unix.AF_INET}),
		"DelRule":  n.c.DelRule(ctx, Rule{Priority: 5, Family: unix.AF_INET}),
		"Routes":   func() error { _, err := n.c.Routes(ctx, Filter{}); return err }(),
		"Rules":    func() error { _, err := n.c.Rules(ctx, 0); return err }(),
		"Get":      func() error { _, err := n.c.Get(ctx, Query{To: mustAddr("10.1.1.1")}); return err }(),
	} {
		if !errors.Is(err, context.Canceled) {
			t.Errorf("%s with a cancelled context: %v", name, err)
		}
	}
	if out := n.ip(t, "route", "show", "10.1.0.0/16"); out != "" {
		t.Errorf("the route was added: %s", out)
	}
}

// An unnamed namespace works the same; `ip` runs inside it through
// nsutil.Start (it has no name for ip -n).
func TestRootUnnamed(t *testing.T) {
	roottest.Need(t)
	ns, err := nsutil.Unnamed()
	if err != nil {
		t.Fatal(err)
	}
	defer ns.Close()
	c, err := Open(ns)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ipIn := func(args ...string) string {
		t.Helper()
		cmd := exec.Command("ip", args...)
		var out, stderr strings.Builder
		cmd.Stdout, cmd.Stderr = &out, &stderr
		if err := nsutil.Start(ns, cmd); err != nil {
			t.Fatal(err)
		}
		if err := cmd.Wait(); err != nil {
			t.Fatalf("ip %s: %v: %s", strings.Join(args, " "), err, stderr.String())
		}
		return out.String()
	}
	ipIn("link", "set", "dev", "lo", "up")
	r := Route{To: mustPrefix("198.18.0.0/15"), Type: TypeBlackhole, Table: 101}
	if err := c.AddRoute(bg, r); err != nil {
		t.Fatal(err)
	}
	if out := ipIn("-j", "route", "show", "table", "101"); out != `[{"type":"blackhole","dst":"198.18.0.0/15","flags":[]}]`+"\n" {
		t.Errorf("ip route show table 101: %q", out)
	}
	rs, err := c.Routes(bg, Filter{Table: 101})
	if err != nil || len(rs) != 1 || rs[0].String() != "blackhole 198.18.0.0/15 table 101" {
		t.Errorf("Routes(table 101) = %q, %v", rs, err)
	}
	if err := c.AddRule(bg, Rule{Priority: 10, To: mustPrefix("198.18.0.0/15"), Table: 101}); err != nil {
		t.Fatal(err)
	}
	if out := ipIn("rule", "show", "pref", "10"); out != "10:\tfrom all to 198.18.0.0/15 lookup 101\n" {
		t.Errorf("ip rule show pref 10: %q", out)
	}
	d, err := c.Get(bg, Query{To: mustAddr("198.18.1.1")})
	if err != nil || d.Type != TypeBlackhole || d.Errno != "EINVAL" {
		t.Errorf("Get = %v, %v", d, err)
	}
	// Nothing of this reached the test's own namespace.
	host, err := netns.Get()
	if err != nil {
		t.Fatal(err)
	}
	defer host.Close()
	if same, _ := sameNS(host, ns); same {
		t.Fatal("Unnamed returned the test's own namespace")
	}
}

// sameNS reports whether two handles refer to the same namespace.
func sameNS(a, b netns.NsHandle) (bool, error) {
	var sa, sb unix.Stat_t
	if err := unix.Fstat(int(a), &sa); err != nil {
		return false, err
	}
	if err := unix.Fstat(int(b), &sb); err != nil {
		return false, err
	}
	return sa.Dev == sb.Dev && sa.Ino == sb.Ino, nil
}

// Methods are safe for concurrent use.
func TestRootConcurrent(t *testing.T) {
	n := routesNS(t, "conc")
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for i := range 8 {
		wg.Go(func() {
			r := Route{To: netip.PrefixFrom(netip.AddrFrom4([4]byte{10, byte(i), 0, 0}), 16), Via: mustAddr("192.0.2.2"), Table: uint32(100 + i%3)}
			ru := Rule{Priority: uint32(100 + i), To: r.To, Table: r.Table}
			for range 20 {
				if err := n.c.AddRoute(bg, r); err != nil {
					errs <- err
					return
				}
				if err := n.c.AddRule(bg, ru); err != nil {
					errs <- err
					return
				}
				if _, err := n.c.Routes(bg, Filter{}); err != nil {
					errs <- err
					return
				}
				if _, err := n.c.Rules(bg, 0); err != nil {
					errs <- err
					return
				}
				if d, err := n.c.Get(bg, Query{To: r.To.Addr().Next(), From: mustAddr("192.0.2.1")}); err != nil || d.Err != "" {
					errs <- fmt.Errorf("get: %v %v", d, err)
					return
				}
				if err := n.c.DelRule(bg, ru); err != nil {
					errs <- err
					return
				}
				if err := n.c.DelRoute(bg, r); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}
