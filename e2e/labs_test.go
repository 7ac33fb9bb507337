package e2e

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// TestLabs brings up every lab in labs/ and checks the kernel's state
// through netlink and through ip -j (tc and nft for shaped links and
// firewall rules), reachability with netlab exec (a ping the lab's
// firewall blocks must fail), status, and down; a lab that declares keys
// this kernel cannot apply (impair without netem) must be refused with
// exit 3 before anything is created.
func TestLabs(t *testing.T) {
	requireRoot(t)
	files, err := filepath.Glob(filepath.Join(repoRoot, "labs", "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var bases []string
	for _, f := range files {
		bases = append(bases, strings.TrimSuffix(filepath.Base(f), ".yaml"))
	}
	// The glob must find the shipped labs (a rename must not silently drop one).
	for _, want := range []string{"bridge-host", "contract", "switch", "veth-pair"} {
		if !slices.Contains(bases, want) {
			t.Errorf("labs/%s.yaml not found (found %v)", want, bases)
		}
	}
	short := regexp.MustCompile(`[^a-z0-9]`)
	for i, f := range files {
		base := bases[i]
		s := short.ReplaceAllString(base, "")
		if len(s) > 12 {
			s = s[:12]
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		spec, err := parseSpec(b)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		switch {
		case len(expect(spec).Refused) > 0:
			// Refused labs run one at a time, before the parallel ones (they
			// may declare host knobs, checked untouched).
			t.Run(base, func(t *testing.T) { testRefusedLab(t, f, "l"+s) })
			continue
		case spec.Host != nil:
			// Host knobs are global: one at a time.
			t.Run(base, func(t *testing.T) { testLabUpDown(t, f, "l"+s, base) })
			continue
		}
		t.Run(base, func(t *testing.T) {
			t.Parallel()
			testLabUpDown(t, f, "l"+s, base)
		})
	}
}

// testLabUpDown is the full cycle for one accepted lab.
func testLabUpDown(t *testing.T, file, short, base string, repl ...string) {
	l := newLab(t, file, short, repl...)
	e := l.Exp
	checkNothingOf(t, l.Name)
	before := rootLinks(t)
	hostBefore := map[string]string{}
	for p := range e.HostSysctls {
		hostBefore[p] = readHostSysctl(t, p)
	}

	r := l.up(t)
	for p, want := range e.HostSysctls {
		if got := readHostSysctl(t, p); !sysctlMatches(p, want, got) {
			t.Errorf("host /proc/sys/%s = %q while the lab is up, want %q", p, got, want)
		}
	}
	for _, n := range e.Nodes {
		if !strings.Contains(r.stdout, n.NS) {
			t.Errorf("up output does not name namespace %s:\n%s", n.NS, r.stdout)
		}
	}
	if !exists(stateDirOf(l.Name)) {
		t.Errorf("no state directory %s while the lab is up", stateDirOf(l.Name))
	}
	hs := openLab(t, e)
	waitLabOper(t, e, hs)
	checkNetlink(t, e, hs)
	checkIP(t, e)
	checkSysctls(t, e)
	checkDAD(t, e)
	checkStatus(t, e, hs, l.File)
	checkRootUntouched(t, before)
	hasFirewall := slices.ContainsFunc(e.Nodes, func(n *expNode) bool { return len(n.Firewall) > 0 })
	if hasFirewall {
		requireNft(t)
		checkFirewall(t, e)
	}
	checkShapes(t, e)

	// Every addressed node reaches every other node's addresses on its
	// segment, IPv4 and IPv6, through netlab exec.
	// A ping the lab's firewall rules block must get no answer.
	pings, blocked := 0, 0
	for _, seg := range e.segments() {
		for _, from := range seg {
			for _, to := range seg {
				if from.Node == to.Node || from.Addr.Is4() != to.Addr.Is4() {
					continue
				}
				pass, known := e.pingPasses(from, to)
				if !known {
					continue
				}
				pings++
				if !pass {
					blocked++
					if r := netlab(t, "exec", l.Name, from.Node, "--", "ping", "-c1", "-W1", to.Addr.String()); r.code == 0 {
						t.Errorf("%s (%s:%s) reaches %s (%s:%s) across firewall rules that block it:\n%s", from.Node, from.Node, from.Iface, to.Addr, to.Node, to.Iface, r)
					}
					continue
				}
				if r := netlab(t, "exec", l.Name, from.Node, "--", "ping", "-c1", "-W2", to.Addr.String()); r.code != 0 {
					t.Errorf("%s (%s:%s) cannot reach %s (%s:%s):\n%s", from.Node, from.Node, from.Iface, to.Addr, to.Node, to.Iface, r)
				}
			}
		}
	}
	switch base {
	case "switch":
		if pings < 12 { // 3 hosts x 2 others x (IPv4 + IPv6)
			t.Errorf("switch: only %d pings derived, want 12", pings)
		}
	case "bridge-host":
		if pings < 6 {
			t.Errorf("bridge-host: only %d pings derived, want 6", pings)
		}
	case "veth-pair":
		checkVethPairWire(t, l, hs)
	case "local-drop":
		if pings != 4 || blocked != 2 { // IPv4 and IPv6 both ways; IPv4 blocked both ways
			t.Errorf("local-drop: %d pings derived, %d of them blocked; want 4, 2", pings, blocked)
		}
	}

	// Down: nothing left, anywhere.
	r = mustNetlab(t, "down", l.Name)
	for _, n := range e.Nodes {
		if !strings.Contains(r.stdout, n.NS) {
			t.Errorf("down output does not name removed namespace %s:\n%s", n.NS, r.stdout)
		}
	}
	checkNothingOf(t, l.Name)
	checkHeldEmpty(t, hs)
	if hasFirewall {
		checkFirewallGone(t, hs)
	}
	checkRootUntouched(t, before)
	for p, old := range hostBefore {
		if got := readHostSysctl(t, p); got != old {
			t.Errorf("host /proc/sys/%s = %q after down, want the original %q", p, got, old)
		}
	}
	checkSecondDown(t, l.Name)
}

// checkVethPairWire proves that veth-pair's ping from veth0 to veth1's
// address crosses the veth: veth1 receives the echo request.
func checkVethPairWire(t *testing.T, l *testLab, hs map[string]*nsHandle) {
	t.Helper()
	n := l.Exp.node("h1")
	if n == nil || n.iface("veth0") == nil || n.iface("veth1") == nil {
		t.Fatalf("veth-pair: expected node h1 with veth0 and veth1")
	}
	rx := func() (pk, by uint64) {
		ls := ipLinks(t, n.NS, "-s")
		for _, x := range ls {
			if x.IfName == "veth1" && x.Stats64 != nil {
				return x.Stats64.RX.Packets, x.Stats64.RX.Bytes
			}
		}
		t.Fatalf("ip -s: no stats for veth1")
		return 0, 0
	}
	// A 1200-byte payload: background IPv6 traffic (RS, MLD) is far smaller,
	// so a byte delta of a whole echo request frame proves the echo crossed.
	const payload = 1200
	const frame = payload + 8 + 20 + 14
	p0, b0 := rx()
	nl0, _ := hs["h1"].h.LinkByName("veth1")
	r := netlab(t, "exec", l.Name, "h1", "--", "ping", "-c1", "-W1", "-s", "1200", "-I", "veth0", "10.0.0.2")
	if r.code != 0 {
		t.Fatalf("ping -I veth0 10.0.0.2 failed:\n%s", r)
	}
	p1, b1 := rx()
	if p1 <= p0 || b1-b0 < frame {
		t.Errorf("veth1 rx: packets %d -> %d, bytes %d -> %d; want at least one %d-byte echo request to have crossed the veth", p0, p1, b0, b1, frame)
	}
	nl1, err := hs["h1"].h.LinkByName("veth1")
	if err == nil && nl0 != nil && nl0.Attrs().Statistics != nil && nl1.Attrs().Statistics != nil {
		if d := nl1.Attrs().Statistics.RxBytes - nl0.Attrs().Statistics.RxBytes; d < frame {
			t.Errorf("netlink: veth1 rx_bytes grew by %d, want >= %d", d, frame)
		}
	}
}

// checkSecondDown: a second down succeeds and says there was nothing to do.
func checkSecondDown(t *testing.T, lab string) {
	t.Helper()
	r := mustNetlab(t, "down", lab)
	if !strings.Contains(r.stdout, "nothing to do") {
		t.Errorf("second down: want \"nothing to do\":\n%s", r)
	}
	r = mustNetlab(t, "down", lab, "-o", "json")
	var rep downJSON
	decodeJSON(t, "down -o json", r.stdout, &rep)
	if !rep.NothingToDo || len(rep.Removed) != 0 || rep.Lab != lab {
		t.Errorf("second down -o json: %+v; want nothing_to_do true, nothing removed", rep)
	}
	checkNothingOf(t, lab)
}

type downJSON struct {
	Lab         string   `json:"lab"`
	Removed     []string `json:"removed"`
	Skipped     []string `json:"skipped"`
	NothingToDo bool     `json:"nothing_to_do"`
	Restored    []struct {
		Path, Value string
	} `json:"restored"`
}

// testRefusedLab: a lab declaring keys this kernel cannot apply (impair
// without netem: TestImpair) is refused with exit 3,
// naming each refused key, and nothing is created: no namespace, no state,
// no host knob touched.
func testRefusedLab(t *testing.T, file, short string) {
	l := newLab(t, file, short)
	e := l.Exp
	mustNetlab(t, "validate", l.File)
	hostBefore := map[string]string{}
	for p := range e.HostSysctls {
		hostBefore[p] = readHostSysctl(t, p)
	}
	before := rootLinks(t)
	r := netlab(t, "up", l.File)
	if r.code != 3 {
		t.Fatalf("want exit 3 (refused: %v), got:\n%s", e.Refused, r)
	}
	for _, k := range e.Refused {
		if !strings.Contains(r.stderr, k) {
			t.Errorf("refusal does not name %s:\n%s", k, r.stderr)
		}
	}
	checkNothingOf(t, l.Name)
	checkRootUntouched(t, before)
	for p, v := range hostBefore {
		if got := readHostSysctl(t, p); got != v {
			t.Errorf("host sysctl %s changed %s -> %s by a refused up", p, v, got)
		}
	}
	if ledgerHolders(t, "")[l.Name] {
		t.Errorf("the host-knob ledger names refused lab %s", l.Name)
	}
	if r := netlab(t, "status", l.Name); r.code == 0 {
		t.Errorf("status of a refused lab succeeds:\n%s", r)
	}
}
