package e2e

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"golang.org/x/sys/unix"
)

const twoHosts = "e2e/testdata/two-hosts.yaml"

// TestFeatures runs the full up/check/down cycle on a lab with the less
// common corners of the format (router defaults, a dotted interface name
// with slash-form sysctls, jiffy-rounded *_ms sysctls, lo addresses, link
// vs interface mtu, an interface declared down, a bridge interface with STP).
func TestFeatures(t *testing.T) {
	requireRoot(t)
	t.Parallel()
	testLabUpDown(t, filepath.Join(repoRoot, "e2e/testdata/features.yaml"), "feat", "features")
}

// TestTwoHosts runs the full cycle on the small lab the other tests use.
func TestTwoHosts(t *testing.T) {
	requireRoot(t)
	t.Parallel()
	testLabUpDown(t, filepath.Join(repoRoot, twoHosts), "two", "two-hosts")
}

// TestExec: netlab exec runs the command inside the node and returns its
// exit status; an unknown node is a usage error (2); a lab that is not up
// fails with a clear message.
func TestExec(t *testing.T) {
	requireRoot(t)
	t.Parallel()
	l := newLab(t, twoHosts, "exec")
	l.up(t)

	for _, c := range []struct {
		argv []string
		code int
	}{
		{[]string{"true"}, 0},
		{[]string{"false"}, 1},
		{[]string{"sh", "-c", "exit 7"}, 7},
		{[]string{"sh", "-c", "kill -TERM $$"}, 128 + 15},
		{[]string{"ping", "-c1", "-W2", "10.77.0.2"}, 0},
		{[]string{"ping", "-c1", "-W2", "fd00:77::2"}, 0},
		{[]string{"ping", "-c1", "-W1", "10.77.0.99"}, 1}, // nobody has it
	} {
		r := netlab(t, append([]string{"exec", l.Name, "h1", "--"}, c.argv...)...)
		if r.code != c.code {
			t.Errorf("exec %q: exit %d, want %d\n%s", c.argv, r.code, c.code, r)
		}
	}

	// The command really runs in the node: it sees h1's eth0 with h1's MAC
	// and h1's marker on lo, and reads h1's own sysctls.
	r := mustNetlab(t, "exec", l.Name, "h1", "--", "ip", "-j", "-d", "link", "show")
	var links []ipLink
	decodeJSON(t, "ip -j link inside the node", r.stdout, &links)
	var sawEth0, sawMarker bool
	for _, x := range links {
		if x.IfName == "eth0" && x.Address == "02:00:00:77:00:01" && x.MTU == 1300 {
			sawEth0 = true
		}
		if x.IfName == "lo" && strings.HasPrefix(x.IfAlias, "netlab:"+l.Name+":") {
			sawMarker = true
		}
	}
	if !sawEth0 || !sawMarker {
		t.Errorf("exec ip link in h1 does not show h1's eth0 (02:00:00:77:00:01, mtu 1300) and marker:\n%s", r.stdout)
	}
	// stdout and stderr pass through separately.
	r = netlab(t, "exec", l.Name, "h2", "--", "sh", "-c", "echo out; echo err >&2; exit 3")
	if r.code != 3 || r.stdout != "out\n" || !strings.Contains(r.stderr, "err") {
		t.Errorf("exec stdio/exit passthrough:\n%s", r)
	}

	r = netlabIn(t, "hello from stdin\n", "exec", l.Name, "h2", "--", "cat")
	if r.code != 0 || r.stdout != "hello from stdin\n" {
		t.Errorf("exec stdin passthrough:\n%s", r)
	}

	// Unknown node: usage error, naming the node and the lab's nodes.
	r = netlab(t, "exec", l.Name, "nosuchnode", "--", "true")
	if r.code != 2 || !strings.Contains(r.stderr, "nosuchnode") || !strings.Contains(r.stderr, "h1") {
		t.Errorf("exec on an unknown node: want exit 2 naming the node and the lab's nodes:\n%s", r)
	}
	// A command that does not exist: 127, like a shell.
	r = netlab(t, "exec", l.Name, "h1", "--", "no-such-command-e2e")
	if r.code != 127 || !strings.Contains(r.stderr, "no-such-command-e2e") {
		t.Errorf("exec of a missing command: want exit 127 naming it:\n%s", r)
	}
	// A lab that is not up.
	other := labName(t, "execnone")
	r = netlab(t, "exec", other, "h1", "--", "true")
	if r.code == 0 || !strings.Contains(r.stderr, other) || !strings.Contains(r.stderr, "not up") {
		t.Errorf("exec on a lab that is not up: want a non-zero exit saying so:\n%s", r)
	}
	if r := netlab(t, "status", other); r.code == 0 || !strings.Contains(r.stderr, "not up") {
		t.Errorf("status of a lab that is not up: want a non-zero exit saying so:\n%s", r)
	}
	checkNothingOf(t, other)
}

// TestUpTwice: a second up of a running lab exits 3 saying it is already
// up, and changes nothing (same run, same namespaces, same state).
func TestUpTwice(t *testing.T) {
	requireRoot(t)
	t.Parallel()
	l := newLab(t, twoHosts, "twice")
	l.up(t)
	before := labStatus(t, l.Name)
	stateFile := filepath.Join(stateDirOf(l.Name), "state.json")
	snap0, err := os.ReadFile(stateFile)
	if err != nil {
		t.Fatalf("state snapshot: %v", err)
	}
	ino0 := nsInodes(t, l.Exp)
	alias0 := loAliases(t, l.Exp)
	roots := rootLinks(t)

	r := netlab(t, "up", l.File)
	if r.code != 3 || !strings.Contains(r.stderr, "already up") {
		t.Fatalf("second up: want exit 3 \"already up\":\n%s", r)
	}
	after := labStatus(t, l.Name)
	if after.RunID != before.RunID || after.Phase != "up" {
		t.Errorf("second up changed the lab: run %s -> %s, phase %s", before.RunID, after.RunID, after.Phase)
	}
	if snap1, err := os.ReadFile(stateFile); err != nil || !bytes.Equal(snap0, snap1) {
		t.Errorf("second up changed the state snapshot (err %v)", err)
	}
	for ns, ino := range nsInodes(t, l.Exp) {
		if ino0[ns] != ino {
			t.Errorf("namespace %s was replaced (inode %d -> %d)", ns, ino0[ns], ino)
		}
	}
	for ns, a := range loAliases(t, l.Exp) {
		if alias0[ns] != a {
			t.Errorf("namespace %s: marker %q -> %q", ns, alias0[ns], a)
		}
	}
	checkRootUntouched(t, roots)
	hs := openLab(t, l.Exp)
	waitLabOper(t, l.Exp, hs)
	checkNetlink(t, l.Exp, hs)
}

// nsInodes identifies each node's namespace (the nsfs inode behind its
// /run/netns mount).
func nsInodes(t testing.TB, e *expLab) map[string]uint64 {
	t.Helper()
	out := map[string]uint64{}
	for _, n := range e.Nodes {
		var st unix.Stat_t
		if err := unix.Stat(filepath.Join(netnsDir, n.NS), &st); err != nil {
			t.Fatalf("stat namespace %s: %v", n.NS, err)
		}
		out[n.NS] = st.Ino
	}
	return out
}

func loAliases(t testing.TB, e *expLab) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, n := range e.Nodes {
		h := openNS(t, n.NS)
		lo, err := h.h.LinkByName("lo")
		if err != nil {
			t.Fatal(err)
		}
		out[n.NS] = lo.Attrs().Alias
		h.close()
	}
	return out
}

// TestDryRun: up --dry-run prints the plan (text and JSON) and creates
// nothing: no namespace, no state, not even a lock.
func TestDryRun(t *testing.T) {
	requireRoot(t)
	t.Parallel()
	l := newLab(t, twoHosts, "dry")
	roots := rootLinks(t)
	r := mustNetlab(t, "up", "--dry-run", l.File)
	for _, want := range []string{
		"ip netns add " + l.Name + "-h1",
		"ip netns add " + l.Name + "-h2",
		"ip -n " + l.Name + "-h1 link add name eth0 index 1048576 address 02:00:00:77:00:01 mtu 1300 type veth peer name eth0 netns " + l.Name + "-h2",
		"ip -n " + l.Name + "-h1 addr add 10.77.0.1/24 dev eth0",
		"ip -n " + l.Name + "-h2 addr add fd00:77::2/64 dev eth0 nodad",
		"ip -n " + l.Name + "-h2 link set dev eth0 up",
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("dry-run plan lacks %q:\n%s", want, r.stdout)
		}
	}
	r = mustNetlab(t, "up", "--dry-run", "-o", "json", l.File)
	var plan struct {
		Lab string   `json:"lab"`
		Ops []string `json:"ops"`
	}
	decodeJSON(t, "up --dry-run -o json", r.stdout, &plan)
	if plan.Lab != l.Name || len(plan.Ops) == 0 || !strings.HasPrefix(plan.Ops[0], "ip netns add "+l.Name+"-") {
		t.Errorf("dry-run JSON: %+v", plan)
	}
	checkNothingOf(t, l.Name)
	if p := filepath.Join(stateDir, ".locks", l.Name+".lock"); exists(p) {
		t.Errorf("dry-run left %s", p)
	}
	checkRootUntouched(t, roots)
	if r := netlab(t, "status", l.Name); r.code == 0 {
		t.Errorf("status after a dry run says the lab exists:\n%s", r)
	}
}

// TestConcurrentUp: several `netlab up` of one lab at once: the per-lab lock
// lets exactly one build it; the others exit 3 (already up) and change
// nothing; the lab is then complete and comes down cleanly.
func TestConcurrentUp(t *testing.T) {
	requireRoot(t)
	t.Parallel()
	l := newLab(t, twoHosts, "race")
	const n = 4
	results := make([]result, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = netlab(t, "up", l.File)
		}()
	}
	wg.Wait()
	ok := 0
	for _, r := range results {
		switch {
		case r.code == 0:
			ok++
		case r.code == 3 && strings.Contains(r.stderr, "already up"):
		default:
			t.Errorf("concurrent up: want exit 0 or 3 (already up):\n%s", r)
		}
	}
	if ok != 1 {
		t.Fatalf("%d of %d concurrent ups succeeded, want exactly 1", ok, n)
	}
	hs := openLab(t, l.Exp)
	waitLabOper(t, l.Exp, hs)
	checkNetlink(t, l.Exp, hs)
	checkIP(t, l.Exp)
	mustNetlab(t, "down", l.Name)
	checkNothingOf(t, l.Name)
	checkHeldEmpty(t, hs)
}

// TestExecRefusesForeignNamespace: exec enters a node's namespace only if it
// carries the lab's ownership marker (lab.openNode says so). Here the lab's
// namespace was replaced behind netlab's back (ip netns del, ip netns add):
// the command must not run in a namespace that is not netlab's.
func TestExecRefusesForeignNamespace(t *testing.T) {
	requireRoot(t)
	t.Parallel()
	l := newLab(t, twoHosts, "foreign")
	l.up(t)
	ns := l.Name + "-h1"
	if out, err := exec.Command("ip", "netns", "del", ns).CombinedOutput(); err != nil {
		t.Fatalf("ip netns del %s: %v\n%s", ns, err, out)
	}
	addForeignNS(t, ns)
	r := netlab(t, "exec", l.Name, "h1", "--", "sh", "-c", "echo RAN-IN-NODE")
	if r.code == 0 || strings.Contains(r.stdout, "RAN-IN-NODE") {
		t.Errorf("exec ran a command in %s, which has no netlab marker (not netlab's):\n%s", ns, r)
	}
	checkForeignIntact(t, ns)
	mustNetlab(t, "down", l.Name)
	checkForeignIntact(t, ns)
	checkNothingOf(t, l.Name, ns)
}
