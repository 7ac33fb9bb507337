package labtest_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/netlabdev/netlab/internal/roottest"
	"github.com/netlabdev/netlab/lab"
	"github.com/netlabdev/netlab/labtest"
	"github.com/netlabdev/netlab/neighctl"
	"github.com/netlabdev/netlab/probe"
)

// Root tests: run them with `sudo NETLAB_E2E_REQUIRED=1 go test ./labtest
// -count=1 -v`. Every lab they bring up gets labtest's unique name; the
// child-process tests use a state directory of their own.

const agingLab = "../labs/arp-aging.yaml"

// TestParallelSameLab: several parallel tests start the same lab file at
// once; each gets its own namespaces (checked through netlink: the declared
// MAC and address, netlab's marker naming this lab), pings across and sees
// its own neighbour entry; afterwards every lab is gone.
func TestParallelSameLab(t *testing.T) {
	roottest.Need(t)
	const n = 4
	names := make([]string, n)
	t.Run("group", func(t *testing.T) {
		for i := range n {
			t.Run(strconv.Itoa(i), func(t *testing.T) {
				t.Parallel()
				l := labtest.Start(t, agingLab)
				names[i] = l.Name()
				checkNodeNetlink(t, l, "h1", "02:00:00:00:0a:01", "192.0.2.1/24")
				checkNodeNetlink(t, l, "h2", "02:00:00:00:0a:02", "192.0.2.2/24")
				h1 := l.Node("h1")
				if e := h1.MustNeighbor(t, "192.0.2.2"); e.State != neighctl.Absent {
					t.Errorf("before any traffic: %s %s", e.State, e.LLAddr)
				}
				h1.MustPing(t, "192.0.2.2")
				e := h1.MustNeighbor(t, "192.0.2.2")
				if e.State != neighctl.Reachable || e.LLAddr != "02:00:00:00:0a:02" || e.Dev != "eth0" {
					t.Errorf("after one ping: %s dev %s lladdr %s, want REACHABLE dev eth0 lladdr 02:00:00:00:0a:02", e.State, e.Dev, e.LLAddr)
				}
			})
		}
	})
	seen := map[string]bool{}
	for i, name := range names {
		if name == "" {
			t.Fatalf("test %d started no lab", i)
		}
		if !strings.HasPrefix(name, "arp-aging-") || len(name) > 32 {
			t.Errorf("lab name %q", name)
		}
		if seen[name] {
			t.Errorf("two tests got the lab name %s", name)
		}
		seen[name] = true
		checkGone(t, name, "/run/netlab")
	}
}

// checkNodeNetlink opens a node's namespace by its name and checks eth0's
// MAC and address and lo's marker through netlink.
func checkNodeNetlink(t *testing.T, l *labtest.Lab, node, mac, addr string) {
	t.Helper()
	n := l.Node(node)
	if want := l.Name() + "-" + node; n.Namespace() != want {
		t.Fatalf("namespace %q, want %q", n.Namespace(), want)
	}
	ns, err := n.OpenNS()
	if err != nil {
		t.Fatal(err)
	}
	defer ns.Close()
	// The handle is the same namespace as the name in /run/netns.
	var a, b unix.Stat_t
	if err := unix.Fstat(int(ns), &a); err != nil {
		t.Fatal(err)
	}
	if err := unix.Stat(filepath.Join("/run/netns", n.Namespace()), &b); err != nil || a.Ino != b.Ino {
		t.Fatalf("%s: handle inode %d, /run/netns inode %d (%v)", n.Namespace(), a.Ino, b.Ino, err)
	}
	h, err := netlink.NewHandleAt(ns, unix.NETLINK_ROUTE)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	lo, err := h.LinkByName("lo")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(lo.Attrs().Alias, "netlab:"+l.Name()+":") {
		t.Errorf("%s: lo alias %q is not this lab's marker", n.Namespace(), lo.Attrs().Alias)
	}
	eth0, err := h.LinkByName("eth0")
	if err != nil {
		t.Fatalf("%s: %v", n.Namespace(), err)
	}
	if got := eth0.Attrs().HardwareAddr.String(); got != mac {
		t.Errorf("%s: eth0 MAC %s, want %s", n.Namespace(), got, mac)
	}
	addrs, err := h.AddrList(eth0, unix.AF_INET)
	if err != nil {
		t.Fatal(err)
	}
	if len(addrs) != 1 || addrs[0].IPNet.String() != addr {
		t.Errorf("%s: eth0 addresses %v, want %s", n.Namespace(), addrs, addr)
	}
}

// checkGone asserts that nothing of a lab is left: no namespace, no state
// directory, no lock file.
func checkGone(t *testing.T, name, stateDir string) {
	t.Helper()
	ents, _ := os.ReadDir("/run/netns")
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), name+"-") {
			t.Errorf("namespace %s left behind", e.Name())
		}
	}
	for _, p := range []string{filepath.Join(stateDir, name), filepath.Join(stateDir, ".locks", name+".lock")} {
		if _, err := os.Lstat(p); err == nil {
			t.Errorf("%s left behind", p)
		}
	}
}

// TestNodeOperations: each operation against a live lab, and errors that
// name the lab, the node and the object.
func TestNodeOperations(t *testing.T) {
	roottest.Need(t)
	l := labtest.Start(t, "../labs/router.yaml")
	ctx := t.Context()
	h1, r1, h2 := l.Node("h1"), l.Node("r1"), l.Node("h2")
	if got := l.Nodes(); strings.Join(got, " ") != "h1 h2 r1" {
		t.Errorf("nodes %v", got)
	}

	h1.MustPing(t, "198.51.100.10")
	h1.MustPing(t, "2001:db8:2::10")
	res, err := h1.Ping(ctx, "203.0.113.1", labtestPingOnce())
	if err != nil || res.Received != 0 || len(res.Replies) != 1 || res.Replies[0].Error == "" {
		t.Errorf("ping into r1's unreachable route: %+v, %v; want an ICMP error and no reply", res, err)
	}

	d := r1.MustRouteGet(t, "198.51.100.10 from 192.0.2.10 iif eth0")
	if d.Dev != "eth1" || d.Err != "" {
		t.Errorf("r1 forwards h1's packet via %s (%s), want eth1", d.Dev, d)
	}
	if d := r1.MustRouteGet(t, "203.0.113.1"); d.Type != "unreachable" {
		t.Errorf("r1 to 203.0.113.1: %s, want unreachable", d)
	}
	if d := h2.MustRouteGet(t, "2001:db8:1::10"); d.Via.String() != "fe80::ff:fe00:102" || d.Dev != "eth0" {
		t.Errorf("h2 to 2001:db8:1::10: %s, want via fe80::ff:fe00:102 dev eth0", d)
	}

	out := h1.MustExec(t, "ip", "-4", "-o", "addr", "show", "dev", "eth0")
	if !strings.Contains(out.Stdout, "192.0.2.10/24") {
		t.Errorf("ip addr in h1: %q", out.Stdout)
	}
	if o, err := h1.Exec(ctx, "false"); err != nil || o.ExitCode != 1 {
		t.Errorf("exec false: %+v, %v; want exit 1 and no error", o, err)
	}
	if _, err := h1.Exec(ctx, "no-such-program-labtest"); err == nil || !strings.Contains(err.Error(), "node h1: exec") {
		t.Errorf("exec of a missing program: %v", err)
	}

	if v := r1.MustSysctl(t, "net.ipv4.ip_forward"); v != "1" {
		t.Errorf("r1 ip_forward %q, want 1 (kind: router)", v)
	}
	h1.MustSetSysctl(t, "net.ipv4.conf.eth0.arp_accept", "1")
	if v := h1.MustSysctl(t, "net.ipv4.conf.eth0.arp_accept"); v != "1" {
		t.Errorf("arp_accept after set: %q", v)
	}
	if v := h2.MustSysctl(t, "net.ipv4.conf.eth0.arp_accept"); v != "0" {
		t.Errorf("h2's arp_accept %q: setting h1's changed another namespace", v)
	}

	a := r1.MustArping(t, "eth1", "198.51.100.10")
	if a.Received != 1 || a.Replies[0].LLAddr == "" {
		t.Errorf("arping h2 from r1: %+v", a)
	}
	// h2's entry for r1 exists on eth0 after the traffic (IPv4 and the
	// link-local IPv6 next hop); an address with no entry is Absent.
	es, err := h2.Neighbors(ctx)
	if err != nil || len(es) == 0 {
		t.Errorf("h2's neighbours: %v, %v", es, err)
	}
	if e := h2.MustNeighbor(t, "198.51.100.1%eth0"); e.State == neighctl.Absent || e.LLAddr != "02:00:00:00:01:02" {
		t.Errorf("h2's entry for r1: %s %s", e.State, e.LLAddr)
	}
	if e := h2.MustNeighbor(t, "198.51.100.99"); e.State != neighctl.Absent {
		t.Errorf("entry for nobody: %s", e.State)
	}

	// Errors name the lab, the node and the object.
	wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	_, err = h1.WaitNeighbor(wctx, "192.0.2.77", 100*time.Millisecond, neighctl.Reachable)
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "lab "+l.Name()+": node h1: neighbour 192.0.2.77: not REACHABLE within 100ms; observed ABSENT (+") {
		t.Errorf("wait for an entry that never comes: %v", err)
	}
	for what, err := range map[string]error{
		"unknown node": func() error { _, err := l.Node("h9").Ping(ctx, "192.0.2.1", labtestPingOnce()); return err }(),
		"bad address":  func() error { _, err := h1.Neighbor(ctx, "h2"); return err }(),
		"bad query":    func() error { _, err := r1.RouteGet(ctx, "203.0.113.1 via 192.0.2.1"); return err }(),
		"root sysctl":  func() error { _, err := h1.Sysctl(ctx, "net.ipv4.neigh.default.gc_thresh1"); return err }(),
		"no device":    func() error { _, err := h1.Arping(ctx, "eth9", "192.0.2.1", labtestArpingOnce()); return err }(),
	} {
		if err == nil || !strings.Contains(err.Error(), "lab "+l.Name()+": ") {
			t.Errorf("%s: %v", what, err)
		}
	}
	_, err = l.Node("h9").Exec(ctx, "true")
	if !errors.Is(err, lab.ErrUnknownNode) || !strings.Contains(err.Error(), `"h9" (nodes: h1, h2, r1)`) {
		t.Errorf("unknown node: %v", err)
	}

	// Down now: the namespaces go, and the cleanup has nothing left to do.
	l.MustDown(t)
	checkGone(t, l.Name(), "/run/netlab")
	if err := l.Down(ctx); err != nil {
		t.Errorf("second Down: %v", err)
	}
	if _, err := h1.Exec(ctx, "true"); err == nil {
		t.Error("exec in a lab that is down succeeded")
	}
}

// ---- child processes --------------------------------------------------------

// Environment of the child-process helper test.
const (
	envChild    = "LABTEST_CHILD"
	envChildLab = "LABTEST_CHILD_LAB"
)

// TestHelperChild is not a test of its own (it returns at once): the tests
// below run this test binary again, with LABTEST_CHILD naming what it does
// after starting the lab in LABTEST_CHILD_LAB.
func TestHelperChild(t *testing.T) {
	mode := os.Getenv(envChild)
	if mode == "" {
		return
	}
	l := labtest.Start(t, os.Getenv(envChildLab))
	switch mode {
	case "fatal":
		t.Fatal("deliberate failure")
	case "error":
		t.Error("deliberate error")
	case "panic":
		panic("deliberate panic")
	case "subtest":
		t.Run("sub", func(t *testing.T) {
			l.Node("h1").MustPing(t, "192.0.2.99") // nobody has it: t.Fatal in a subtest
		})
	case "ok":
	default:
		t.Fatalf("unknown %s=%s", envChild, mode)
	}
}

// child is one finished run of TestHelperChild.
type child struct {
	pid    int
	code   int
	out    string
	labs   []string // the labs it said were up
	argv   []string
	failed bool
}

func (c child) String() string {
	return fmt.Sprintf("%s: exit %d\n%s", strings.Join(c.argv, " "), c.code, c.out)
}

var upLine = regexp.MustCompile(`labtest: lab (\S+) is up from `)

// runChild runs TestHelperChild in a child process: env is added to the
// environment (without netlab's own variables), wrap comes before the
// binary (setpriv ...), args after the test flags.
func runChild(t *testing.T, mode, labFile string, env, wrap, args []string) child {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	if len(wrap) > 0 {
		exe = readableCopy(t, exe)
	}
	abs, err := filepath.Abs(labFile)
	if err != nil {
		t.Fatal(err)
	}
	argv := append(append(append([]string{}, wrap...), exe, "-test.run=^TestHelperChild$", "-test.v", "-test.count=1"), args...)
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Dir = "/"
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if k != labtest.EnvRequired && k != labtest.EnvKeep && k != labtest.EnvStateDir && k != envChild && k != envChildLab {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, envChild+"="+mode, envChildLab+"="+abs)
	cmd.Env = append(cmd.Env, env...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err = cmd.Run()
	c := child{out: out.String(), argv: argv}
	if cmd.ProcessState != nil {
		c.pid, c.code = cmd.ProcessState.Pid(), cmd.ProcessState.ExitCode()
	}
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatalf("%s: %v\n%s", strings.Join(argv, " "), err, c.out)
	}
	for _, m := range upLine.FindAllStringSubmatch(c.out, -1) {
		c.labs = append(c.labs, m[1])
	}
	c.failed = strings.Contains(c.out, "--- FAIL: TestHelperChild")
	return c
}

// readableCopy copies the test binary where any user can run it (go test
// builds it in a private directory), for a child that drops its uid.
func readableCopy(t *testing.T, exe string) string {
	t.Helper()
	dir := readableDir(t)
	b, err := os.ReadFile(exe)
	if err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(dir, filepath.Base(exe))
	if err := os.WriteFile(dst, b, 0o755); err != nil {
		t.Fatal(err)
	}
	return dst
}

// readableDir is a t.TempDir that any user can read.
func readableDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for d := dir; d != os.TempDir() && d != "/"; d = filepath.Dir(d) {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// checkChildLeftNothing asserts that a child's lab is gone: the one it
// named, and any namespace or state carrying its pid's id.
func checkChildLeftNothing(t *testing.T, c child, stateDir string) {
	t.Helper()
	if len(c.labs) != 1 {
		t.Fatalf("the child did not bring up one lab:\n%s", c)
	}
	checkGone(t, c.labs[0], stateDir)
	// Any lab of that process: <lab>-[test-]<pid36><5 random>-<node>.
	id := regexp.MustCompile(`-` + strconv.FormatInt(int64(c.pid), 36) + `[0-9a-z]{5}(-[a-z0-9_]+)?$`)
	ents, _ := os.ReadDir("/run/netns")
	for _, e := range ents {
		if id.MatchString(e.Name()) {
			t.Errorf("namespace %s of child %d left behind", e.Name(), c.pid)
		}
	}
	ents, _ = os.ReadDir(stateDir)
	for _, e := range ents {
		if e.Name() != ".locks" && e.Name() != "host-knobs.json" {
			t.Errorf("%s left in the state directory", e.Name())
		}
	}
	ents, _ = os.ReadDir(filepath.Join(stateDir, ".locks"))
	for _, e := range ents {
		if !strings.HasPrefix(e.Name(), ".") { // .host-knobs.lock is the ledger's
			t.Errorf("lock %s left behind", e.Name())
		}
	}
}

// TestFailingTestLeavesNothing: a test that fails (t.Fatal, t.Error, a
// t.Fatal in a subtest) or panics still takes its lab down: no namespace,
// no state, no lock.
func TestFailingTestLeavesNothing(t *testing.T) {
	roottest.Need(t)
	for mode, want := range map[string]string{
		"fatal":   "deliberate failure",
		"error":   "deliberate error",
		"panic":   "panic: deliberate panic",
		"subtest": "node h1: ping 192.0.2.99: no reply within 2s (1 sent",
	} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			stateDir := t.TempDir()
			c := runChild(t, mode, agingLab, []string{labtest.EnvStateDir + "=" + stateDir}, nil, nil)
			if c.code == 0 || !strings.Contains(c.out, want) {
				t.Fatalf("want a failing child saying %q:\n%s", want, c)
			}
			if !strings.Contains(c.out, "labtest: lab "+strings.Join(c.labs, "")+" is down: removed 2 namespace(s)") {
				t.Errorf("no teardown logged:\n%s", c)
			}
			checkChildLeftNothing(t, c, stateDir)
		})
	}
}

// TestKeep: NETLAB_KEEP=1 or -netlab.keep leave the lab up after the test,
// and the log says how to inspect and remove it.
func TestKeep(t *testing.T) {
	roottest.Need(t)
	for name, how := range map[string]struct{ env, args []string }{
		"env":  {env: []string{labtest.EnvKeep + "=1"}},
		"flag": {args: []string{"-netlab.keep"}},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			stateDir := t.TempDir()
			c := runChild(t, "ok", agingLab, append([]string{labtest.EnvStateDir + "=" + stateDir}, how.env...), nil, how.args)
			if c.code != 0 || len(c.labs) != 1 {
				t.Fatalf("want a passing child with one lab:\n%s", c)
			}
			name := c.labs[0]
			t.Cleanup(func() {
				if _, err := lab.Down(context.Background(), name, lab.Options{StateDir: stateDir}); err != nil {
					t.Errorf("down %s: %v", name, err)
				}
				checkGone(t, name, stateDir)
			})
			for _, want := range []string{"keeping lab " + name + " up", "ip netns exec " + name + "-h1 ip neigh", "netlab --state-dir " + stateDir + " down " + name} {
				if !strings.Contains(c.out, want) {
					t.Errorf("the log lacks %q:\n%s", want, c)
				}
			}
			if strings.Contains(c.out, "is down") {
				t.Errorf("a kept lab was taken down:\n%s", c)
			}
			for _, node := range []string{"h1", "h2"} {
				if _, err := os.Stat(filepath.Join("/run/netns", name+"-"+node)); err != nil {
					t.Errorf("kept lab: %v", err)
				}
			}
		})
	}
}

// TestWithoutPrivileges: where a lab cannot run (here: capabilities
// dropped, or user nobody), Start skips the test with the reason, before
// creating anything; with NETLAB_E2E_REQUIRED=1 it fails it instead.
func TestWithoutPrivileges(t *testing.T) {
	var wraps = map[string][]string{}
	if os.Geteuid() == 0 {
		setpriv, err := exec.LookPath("setpriv")
		if err != nil {
			if os.Getenv(labtest.EnvRequired) == "1" {
				t.Fatalf("setpriv (util-linux) is needed to drop privileges: %v", err)
			}
			t.Skipf("setpriv (util-linux) is needed to drop privileges: %v", err)
		}
		wraps["no-caps"] = []string{setpriv, "--inh-caps=-all", "--bounding-set=-all", "--"}
		wraps["nobody"] = []string{setpriv, "--reuid=nobody", "--regid=nogroup", "--clear-groups", "--inh-caps=-all", "--bounding-set=-all", "--"}
	} else {
		wraps["unprivileged"] = nil // this process already is
	}
	dir := readableDir(t)
	labFile := filepath.Join(dir, "aging.yaml")
	if b, err := os.ReadFile(agingLab); err != nil {
		t.Fatal(err)
	} else if err := os.WriteFile(labFile, b, 0o644); err != nil {
		t.Fatal(err)
	}
	for name, wrap := range wraps {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			c := runChild(t, "ok", labFile, nil, wrap, nil)
			if c.code != 0 || !strings.Contains(c.out, "--- SKIP: TestHelperChild") || !strings.Contains(c.out, "missing privileges: CAP_NET_ADMIN") || !strings.Contains(c.out, "NETLAB_E2E_REQUIRED=1 makes this a failure") {
				t.Errorf("want a skip that names the missing capability:\n%s", c)
			}
			c = runChild(t, "ok", labFile, []string{labtest.EnvRequired + "=1"}, wrap, nil)
			if c.code != 1 || !c.failed || !strings.Contains(c.out, "missing privileges: CAP_NET_ADMIN") || !strings.Contains(c.out, "NETLAB_E2E_REQUIRED=1: a test that cannot run fails") {
				t.Errorf("want a failure with NETLAB_E2E_REQUIRED=1:\n%s", c)
			}
			if len(c.labs) != 0 {
				t.Errorf("a lab came up without privileges:\n%s", c)
			}
		})
	}
}

// TestInvalidLabFails: an invalid lab file fails the test (never skips it,
// privileges or not) with every problem at its file:line:col.
func TestInvalidLabFails(t *testing.T) {
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	if err := os.WriteFile(bad, []byte("name: bad\nnodes:\n  h1:\n    colour: blue\n  h-2: {}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	c := runChild(t, "ok", bad, nil, nil, nil)
	if c.code != 1 || !c.failed || !strings.Contains(c.out, "bad.yaml is not a valid lab") || !strings.Contains(c.out, "bad.yaml:4:5: nodes.h1: unknown key") {
		t.Errorf("want a failure naming file:line:col:\n%s", c)
	}
}

// labtestPingOnce and labtestArpingOnce are quick single probes.
func labtestPingOnce() probe.PingOptions {
	return probe.PingOptions{Count: 1, Timeout: 500 * time.Millisecond}
}

func labtestArpingOnce() probe.ArpingOptions {
	return probe.ArpingOptions{Count: 1, Timeout: 200 * time.Millisecond}
}
