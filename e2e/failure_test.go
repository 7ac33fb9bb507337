package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// A lab with two hosts and one link; SYSCTLS is replaced by a test.
const failLab = `name: fail
nodes:
  h1:
    sysctls:
      SYSCTLS
    interfaces:
      eth0: {addresses: [10.82.0.1/24]}
  h2:
    interfaces:
      eth0: {addresses: [10.82.0.2/24]}
links:
  - endpoints: [h1:eth0, h2:eth0]
`

// kernelRejects reports whether writing value to a sysctl (path relative to
// /proc/sys) fails in a fresh child namespace: the precondition that makes a
// "the kernel rejects it" test meaningful.
func kernelRejects(t *testing.T, path, value string) bool {
	t.Helper()
	cmd := exec.Command("unshare", "-n", "sh", "-c", `printf %s "$2" > "/proc/sys/$1"`, "sh", path, value)
	return cmd.Run() != nil
}

// TestUpFailsMidwayRollsBack: a sysctl value the kernel rejects at write
// time (validate cannot know) makes up fail with exit 1 after namespaces and
// links were created; the error names the node, the sysctl and the kernel's
// reason, and the rollback leaves nothing: no namespace, no state, no link.
func TestUpFailsMidwayRollsBack(t *testing.T) {
	requireRoot(t)
	t.Parallel()
	for _, c := range []struct {
		name, short, key, probe string
		// after: a plan line that must have been applied before the failure
		after string
	}{
		// per-interface: written after the veth pair exists
		{"interface", "failif", "net.ipv6.conf.eth0.hop_limit", "net/ipv6/conf/lo/hop_limit", "link add name eth0"},
		// node-wide: written right after the namespace exists
		{"node", "failnode", "net.ipv6.conf.all.hop_limit", "net/ipv6/conf/all/hop_limit", "ip netns add"},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			if !kernelRejects(t, c.probe, "0") {
				t.Fatalf("precondition: the kernel accepts %s=0 in a child namespace; pick another rejected value", c.probe)
			}
			l := newLabText(t, failLab, c.short, "SYSCTLS", c.key+": 0")
			mustNetlab(t, "validate", l.File)
			roots := rootLinks(t)
			r := netlab(t, "up", "-v", l.File)
			if r.code != 1 {
				t.Fatalf("want exit 1 (the kernel rejects %s=0), got:\n%s", c.key, r)
			}
			for _, want := range []string{"node h1", c.key, "invalid argument"} {
				if !strings.Contains(r.stderr, want) {
					t.Errorf("error does not name %q:\n%s", want, r.stderr)
				}
			}
			// The failure happened midway: earlier steps ran (so the
			// rollback had something to undo).
			if !strings.Contains(r.stderr, c.after) {
				t.Errorf("verbose log shows no %q before the failure:\n%s", c.after, r.stderr)
			}
			checkNothingOf(t, l.Name)
			checkRootUntouched(t, roots)
			if r := netlab(t, "status", l.Name); r.code == 0 {
				t.Errorf("status after a rolled-back up:\n%s", r)
			}
			r = mustNetlab(t, "down", l.Name, "-o", "json")
			var rep downJSON
			decodeJSON(t, "down -o json", r.stdout, &rep)
			if !rep.NothingToDo {
				t.Errorf("down after a rolled-back up: %+v, want nothing_to_do", rep)
			}
			// The same lab without the bad sysctl comes up under the same name.
			good := newLabText(t, failLab, c.short, "SYSCTLS", c.key+": 64")
			good.up(t)
			if got := readNSSysctl(t, good.Name+"-h1", sysctlPath(c.key)); got != "64" {
				t.Errorf("%s = %q after a good up, want 64", c.key, got)
			}
		})
	}
}

// TestPreflightRefusesMissingSysctl: a sysctl key that exists on the host
// but not in a child namespace is refused before anything is created.
func TestPreflightRefusesMissingSysctl(t *testing.T) {
	requireRoot(t)
	t.Parallel()
	// Keys that exist only in the initial namespace (checked below).
	var key string
	for _, k := range []string{"net.core.netdev_max_backlog", "net.core.netdev_budget", "net.core.dev_weight", "net.core.message_cost"} {
		p := filepath.Join("/proc/sys", sysctlPath(k))
		if !exists(p) {
			continue
		}
		if exec.Command("unshare", "-n", "test", "-e", p).Run() != nil {
			key = k
			break
		}
	}
	if key == "" {
		t.Skip("no host-only net.core sysctl on this kernel")
	}
	l := newLabText(t, failLab, "preflight", "SYSCTLS", key+": 1000")
	roots := rootLinks(t)
	r := netlab(t, "up", l.File)
	if r.code != 2 && r.code != 3 {
		t.Fatalf("want exit 2 or 3 (sysctl %s absent in a node's namespace), got:\n%s", key, r)
	}
	if !strings.Contains(r.stderr, key) {
		t.Errorf("refusal does not name %s:\n%s", key, r.stderr)
	}
	checkNothingOf(t, l.Name)
	checkRootUntouched(t, roots)
}

// TestNamespaceCollision: a namespace that already exists under one of the
// lab's names makes up exit 3 before anything is created, and netlab never
// deletes it (it carries no marker), not even on `netlab down <lab>`.
func TestNamespaceCollision(t *testing.T) {
	requireRoot(t)
	t.Parallel()
	l := newLab(t, twoHosts, "collide")
	mine := l.Name + "-h1"
	addForeignNS(t, mine)
	roots := rootLinks(t)

	r := netlab(t, "up", l.File)
	if r.code != 3 || !strings.Contains(r.stderr, mine) || !strings.Contains(r.stderr, "already exist") {
		t.Fatalf("want exit 3 naming %s as existing:\n%s", mine, r)
	}
	checkNothingOf(t, l.Name, mine)
	checkForeignIntact(t, mine)
	checkRootUntouched(t, roots)

	r = mustNetlab(t, "down", l.Name, "-o", "json")
	var rep downJSON
	decodeJSON(t, "down -o json", r.stdout, &rep)
	if len(rep.Removed) != 0 || !containsPrefix(rep.Skipped, mine+":") {
		t.Errorf("down: %+v; want nothing removed and %s reported as left alone", rep, mine)
	}
	checkForeignIntact(t, mine)
	r = mustNetlab(t, "down", l.Name)
	if !strings.Contains(r.stderr, mine) {
		t.Errorf("down (text) does not warn that %s was left alone:\n%s", mine, r)
	}
	checkForeignIntact(t, mine)
	checkNothingOf(t, l.Name, mine)
}

// addForeignNS creates a namespace netlab does not own, deleted at cleanup.
func addForeignNS(t *testing.T, name string) {
	t.Helper()
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add %s: %v\n%s", name, err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("ip", "netns", "del", name).CombinedOutput(); err != nil {
			t.Errorf("ip netns del %s: %v\n%s", name, err, out)
		}
	})
}

// checkForeignIntact: the namespace still exists, with no marker and no links
// but lo.
func checkForeignIntact(t *testing.T, name string) {
	t.Helper()
	if !ipNetns(t)[name] {
		t.Fatalf("namespace %s (not netlab's) was deleted", name)
	}
	n := openNS(t, name)
	defer n.close()
	ls, err := n.h.LinkList()
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range ls {
		if l.Attrs().Name != "lo" {
			t.Errorf("%s: netlab created %s %s in a namespace it does not own", name, l.Type(), l.Attrs().Name)
		}
		if l.Attrs().Alias != "" {
			t.Errorf("%s: %s got alias %q", name, l.Attrs().Name, l.Attrs().Alias)
		}
	}
}

func containsPrefix(ss []string, p string) bool {
	return slices.ContainsFunc(ss, func(s string) bool { return strings.HasPrefix(s, p) })
}

// TestDownWithoutState simulates a crash that lost the state directory:
// down still finds the lab's namespaces by name and marker and removes them,
// and leaves alone a <lab>-zz namespace without the marker.
func TestDownWithoutState(t *testing.T) {
	requireRoot(t)
	t.Parallel()
	l := newLab(t, twoHosts, "crash")
	l.up(t)
	roots := rootLinks(t)
	hs := openLab(t, l.Exp)
	if err := os.RemoveAll(stateDirOf(l.Name)); err != nil {
		t.Fatal(err)
	}
	foreign := l.Name + "-zz"
	addForeignNS(t, foreign)

	r := mustNetlab(t, "down", l.Name, "-o", "json")
	var rep downJSON
	decodeJSON(t, "down -o json", r.stdout, &rep)
	slices.Sort(rep.Removed)
	if want := []string{l.Name + "-h1", l.Name + "-h2"}; !slices.Equal(rep.Removed, want) {
		t.Errorf("down without state removed %v, want %v", rep.Removed, want)
	}
	if !containsPrefix(rep.Skipped, foreign+":") || rep.NothingToDo {
		t.Errorf("down without state: %+v; want %s reported as left alone", rep, foreign)
	}
	checkForeignIntact(t, foreign)
	checkNothingOf(t, l.Name, foreign)
	checkHeldEmpty(t, hs)
	checkRootUntouched(t, roots)
}
