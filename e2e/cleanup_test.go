package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"syscall"
	"testing"
	"time"
)

type cleanupJSON struct {
	DryRun bool `json:"dry_run"`
	Labs   []struct {
		Lab        string   `json:"lab"`
		Reason     string   `json:"reason"`
		Namespaces []string `json:"namespaces"`
		Action     string   `json:"action"`
	} `json:"labs"`
}

func (c cleanupJSON) find(lab string) (reason, action string, ns int, ok bool) {
	for _, l := range c.Labs {
		if l.Lab == lab {
			return l.Reason, l.Action, len(l.Namespaces), true
		}
	}
	return "", "", 0, false
}

// TestCleanup: `netlab cleanup` finds a lab whose up was killed (crashed),
// a lab whose state directory was lost (orphaned namespaces, found by their
// markers) and leaves a healthy lab and a foreign namespace with a
// netlab-like name (no marker, a veth inside) alone; --dry-run changes
// nothing; naming a lab removes it whatever its state. Not parallel: it
// looks at every lab on the machine.
func TestCleanup(t *testing.T) {
	requireRoot(t)
	crashed, orphan, healthy := labName(t, "clcrash"), labName(t, "clorphan"), labName(t, "clhealthy")
	dir := t.TempDir()
	write := func(name, text string) string {
		f := filepath.Join(dir, name+".yaml")
		if err := os.WriteFile(f, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cleanupDown(t, name) })
		return f
	}
	// A foreign namespace named like a node of the crashed lab, with a veth.
	foreign := crashed + "-x"
	if out, err := exec.Command("ip", "netns", "add", foreign).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add: %v\n%s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", foreign).Run() })
	if out, err := exec.Command("ip", "-n", foreign, "link", "add", "name", "e", "type", "veth", "peer", "name", "w").CombinedOutput(); err != nil {
		t.Fatalf("ip link add: %v\n%s", err, out)
	}

	// crashed: up of a 100-node chain killed once half its namespaces exist.
	cf := write(crashed, chainLab(crashed, 100, "41"))
	cmd := exec.Command(netlabBin, "up", "--wait", "0", cf)
	cmd.Env = cleanEnv()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); countNetns(crashed) < 51 && time.Now().Before(deadline); {
		time.Sleep(time.Millisecond)
	}
	_ = cmd.Process.Signal(syscall.SIGKILL)
	_ = cmd.Wait()
	// orphaned: up, then its runtime state is lost.
	mustNetlab(t, "up", "--wait", "0", write(orphan, chainLab(orphan, 3, "41")))
	if err := os.RemoveAll(stateDirOf(orphan)); err != nil {
		t.Fatal(err)
	}
	// healthy.
	mustNetlab(t, "up", "--wait", "0", write(healthy, chainLab(healthy, 3, "41")))

	var dry cleanupJSON
	decodeJSON(t, "cleanup --dry-run", mustNetlab(t, "cleanup", "--dry-run", "-o", "json").stdout, &dry)
	for _, c := range []struct{ lab, reason, action string }{
		{crashed, "crashed", "remove"},
		{orphan, "orphaned", "remove"},
		{healthy, "up", "skip: up (use --all or name it)"},
	} {
		reason, action, ns, ok := dry.find(c.lab)
		if !ok || reason != c.reason || action != c.action || ns == 0 {
			t.Errorf("dry run: %s: found=%v reason %q action %q namespaces %d; want %q, %q\n%+v", c.lab, ok, reason, action, ns, c.reason, c.action, dry)
		}
	}
	// /run/netns holds the foreign one, the marked ones, and at most one
	// mount point per up worker (2 per CPU) that the kill left unmounted
	// (not a namespace: down removes it from the journal's record, cleanup
	// does not count it).
	if reason, _, ns, _ := dry.find(crashed); reason != "" {
		files := countNetns(crashed)
		if ns > files-1 || ns < files-1-2*runtime.NumCPU() {
			t.Errorf("dry run counts %d marked namespaces of %s; /run/netns has %d entries (one foreign, at most %d unmounted)", ns, crashed, files, 2*runtime.NumCPU())
		}
	}
	if countNetns(orphan) != 3 || !exists(stateDirOf(crashed)) {
		t.Fatal("--dry-run changed something")
	}

	var run cleanupJSON
	decodeJSON(t, "cleanup", mustNetlab(t, "cleanup", "-o", "json").stdout, &run)
	for _, l := range []string{crashed, orphan} {
		if _, action, _, _ := run.find(l); action != "removed" {
			t.Errorf("cleanup: %s: action %q, want removed", l, action)
		}
	}
	checkNothingOf(t, crashed, foreign)
	checkNothingOf(t, orphan)
	if countNetns(healthy) != 3 || !exists(stateDirOf(healthy)) {
		t.Errorf("cleanup touched the healthy lab %s", healthy)
	}
	// The foreign namespace and its veth are untouched.
	var links []ipLink
	ipJSON(t, &links, "-n", foreign, "link", "show")
	if len(links) != 3 { // lo, e, w
		t.Errorf("foreign namespace %s: %d links after cleanup, want 3 (lo, e, w)", foreign, len(links))
	}
	// --all would remove the healthy lab too, and still never the foreign
	// namespace (dry run: other labs on this machine are not ours to remove).
	var all cleanupJSON
	decodeJSON(t, "cleanup --all --dry-run", mustNetlab(t, "cleanup", "--all", "--dry-run", "-o", "json").stdout, &all)
	if _, action, _, _ := all.find(healthy); action != "remove" {
		t.Errorf("cleanup --all --dry-run: healthy lab %s: action %q, want remove", healthy, action)
	}
	for _, l := range all.Labs {
		for _, ns := range l.Namespaces {
			if ns == foreign {
				t.Errorf("cleanup --all --dry-run lists the foreign namespace %s under lab %s", foreign, l.Lab)
			}
		}
	}
	// Naming a healthy lab removes it.
	mustNetlab(t, "cleanup", healthy)
	checkNothingOf(t, healthy)
	if r := netlab(t, "cleanup", "--all", healthy); r.code != 2 {
		t.Errorf("cleanup --all with a name: want exit 2:\n%s", r)
	}
}
