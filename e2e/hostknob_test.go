package e2e

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

const gcInterval = "net/ipv4/neigh/default/gc_interval"

// ledgerHolders reads the host-knob ledger and returns the labs holding
// path (every knob if path is "").
func ledgerHolders(t testing.TB, path string) map[string]bool {
	t.Helper()
	out := map[string]bool{}
	b, err := os.ReadFile(filepath.Join(stateDir, "host-knobs.json"))
	if errors.Is(err, os.ErrNotExist) {
		return out
	}
	if err != nil {
		t.Fatal(err)
	}
	var lf struct {
		Knobs map[string]hostKnobJSON `json:"knobs"`
	}
	if err := json.Unmarshal(b, &lf); err != nil {
		t.Fatalf("host-knob ledger: %v\n%s", err, b)
	}
	for p, k := range lf.Knobs {
		if path != "" && p != path {
			continue
		}
		for _, h := range k.Holders {
			out[h] = true
		}
	}
	return out
}

// TestHostKnobs: host.sysctls change the root namespace while a lab runs and
// are restored by the last lab that holds them; conflicting values are
// refused before anything is created; keys outside neigh.default need
// --allow-host-sysctl. Host knobs are global, so this test is not parallel.
func TestHostKnobs(t *testing.T) {
	requireRoot(t)
	if h := ledgerHolders(t, gcInterval); len(h) > 0 {
		msg := "another lab holds " + gcInterval + ": " + strings.Join(mapKeys(h), ", ")
		if os.Getenv("NETLAB_E2E_REQUIRED") == "1" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	old := readHostSysctl(t, gcInterval)
	oldN, err := strconv.Atoi(old)
	if err != nil {
		t.Fatalf("gc_interval %q: %v", old, err)
	}
	v1, v2 := strconv.Itoa(oldN+7), strconv.Itoa(oldN+11)
	// Whatever happens, the host ends as it was; if netlab failed to restore
	// it, say so and repair it.
	t.Cleanup(func() {
		if got := readHostSysctl(t, gcInterval); got != old {
			t.Errorf("after all labs went down, gc_interval is %s, want the original %s (restoring it by hand)", got, old)
			_ = os.WriteFile(filepath.Join("/proc/sys", gcInterval), []byte(old), 0)
		}
	})
	knobLab := func(t *testing.T, short, value string) *testLab {
		return newLab(t, "e2e/testdata/host-knob.yaml", short, "gc_interval: 30", "gc_interval: "+value)
	}
	host := func(t *testing.T, want, when string) {
		t.Helper()
		if got := readHostSysctl(t, gcInterval); got != want {
			t.Errorf("%s: host gc_interval %s, want %s", when, got, want)
		}
	}

	t.Run("one lab", func(t *testing.T) {
		a := knobLab(t, "knoba", v1)
		a.up(t)
		host(t, v1, "while up")
		st := labStatus(t, a.Name)
		if i := slices.IndexFunc(st.HostKnobs, func(k hostKnobJSON) bool { return k.Path == gcInterval }); i < 0 {
			t.Errorf("status -o json host_knobs %+v lacks %s", st.HostKnobs, gcInterval)
		} else if k := st.HostKnobs[i]; k.Value != v1 || k.Original != old || !slices.Equal(k.Holders, []string{a.Name}) {
			t.Errorf("status host knob %+v; want value %s, original %s, held by %s", k, v1, old, a.Name)
		}
		r := mustNetlab(t, "status", a.Name)
		if want := "net.ipv4.neigh.default.gc_interval = " + v1 + " (was " + old; !strings.Contains(r.stdout, want) {
			t.Errorf("status text lacks %q:\n%s", want, r.stdout)
		}
		r = mustNetlab(t, "down", a.Name)
		if want := "restored host sysctl net.ipv4.neigh.default.gc_interval = " + old; !strings.Contains(r.stdout, want) {
			t.Errorf("down output lacks %q:\n%s", want, r.stdout)
		}
		host(t, old, "after down")
		if ledgerHolders(t, gcInterval)[a.Name] {
			t.Errorf("ledger still names %s after down", a.Name)
		}
	})

	t.Run("full cycle", func(t *testing.T) {
		testLabUpDown(t, filepath.Join(repoRoot, "e2e/testdata/host-knob.yaml"), "knobfull", "host-knob", "gc_interval: 30", "gc_interval: "+v2)
	})

	t.Run("same value shared", func(t *testing.T) {
		a := knobLab(t, "knoba", v1)
		b := knobLab(t, "knobb", v1)
		a.up(t)
		b.up(t)
		host(t, v1, "both up")
		if h := ledgerHolders(t, gcInterval); !h[a.Name] || !h[b.Name] {
			t.Errorf("ledger holders %v, want %s and %s", mapKeys(h), a.Name, b.Name)
		}
		mustNetlab(t, "down", a.Name)
		host(t, v1, "first lab down, second still up")
		r := mustNetlab(t, "down", b.Name)
		if !strings.Contains(r.stdout, "restored host sysctl") {
			t.Errorf("last down does not say it restored the knob:\n%s", r.stdout)
		}
		host(t, old, "last lab down")
	})

	t.Run("different value refused", func(t *testing.T) {
		a := knobLab(t, "knoba", v1)
		c := knobLab(t, "knobc", v2)
		a.up(t)
		roots := rootLinks(t)
		r := netlab(t, "up", c.File)
		if r.code != 3 || !strings.Contains(r.stderr, a.Name) || !strings.Contains(r.stderr, "gc_interval") {
			t.Fatalf("conflicting host knob: want exit 3 naming %s and the knob:\n%s", a.Name, r)
		}
		checkNothingOf(t, c.Name)
		checkRootUntouched(t, roots)
		host(t, v1, "after the refused lab")
		if ledgerHolders(t, gcInterval)[c.Name] {
			t.Errorf("ledger names the refused lab %s", c.Name)
		}
		mustNetlab(t, "down", a.Name)
		host(t, old, "after down")
	})

	// The ledger is the machine's, whatever --state-dir says: a lab in
	// another state directory is recorded there (qualified by its
	// directory), a conflicting value is refused across directories, and
	// the last holder restores the original.
	t.Run("another state dir", func(t *testing.T) {
		dir := t.TempDir()
		a := knobLab(t, "knobd", v1)
		c := knobLab(t, "knobe", v2)
		t.Cleanup(func() { _ = netlab(t, "--state-dir", dir, "down", a.Name) })
		mustNetlab(t, "--state-dir", dir, "up", a.File)
		host(t, v1, "up in another state dir")
		holder := a.Name + "@" + dir
		if h := ledgerHolders(t, gcInterval); !h[holder] {
			t.Errorf("machine ledger holders %v, want %s", mapKeys(h), holder)
		}
		r := netlab(t, "up", c.File)
		if r.code != 3 || !strings.Contains(r.stderr, a.Name) {
			t.Fatalf("conflicting value from the default state dir: want exit 3 naming %s:\n%s", holder, r)
		}
		checkNothingOf(t, c.Name)
		r = mustNetlab(t, "--state-dir", dir, "down", a.Name)
		if !strings.Contains(r.stdout, "restored host sysctl") {
			t.Errorf("down does not say it restored the knob:\n%s", r.stdout)
		}
		host(t, old, "after down")
	})

	t.Run("failed up leaves the host alone", func(t *testing.T) {
		if !kernelRejects(t, "net/ipv6/conf/lo/hop_limit", "0") {
			t.Fatal("precondition: the kernel accepts hop_limit=0")
		}
		text, err := os.ReadFile(filepath.Join(repoRoot, "e2e/testdata/host-knob.yaml"))
		if err != nil {
			t.Fatal(err)
		}
		bad := newLabText(t, string(text), "knobfail", "gc_interval: 30", "gc_interval: "+v1,
			"  h1:\n", "  h1:\n    sysctls: {net.ipv6.conf.eth0.hop_limit: 0}\n")
		r := netlab(t, "up", bad.File)
		if r.code != 1 {
			t.Fatalf("want exit 1:\n%s", r)
		}
		host(t, old, "after a failed up")
		if ledgerHolders(t, gcInterval)[bad.Name] {
			t.Errorf("ledger names the failed lab %s", bad.Name)
		}
		checkNothingOf(t, bad.Name)
	})

	t.Run("other host keys need the flag", func(t *testing.T) {
		// The lab asks for the current value, so even a wrongly applied knob
		// would change nothing on this machine.
		cur := readHostSysctl(t, "net/core/somaxconn")
		l := newLabText(t, "name: x\nhost:\n  sysctls: {net.core.somaxconn: "+cur+"}\nnodes:\n  h1: {}\n", "knobflag")
		for _, verb := range []string{"validate", "up"} {
			r := netlab(t, verb, l.File)
			if r.code != 2 || !strings.Contains(r.stderr, "net.core.somaxconn") || !strings.Contains(r.stderr, "--allow-host-sysctl") {
				t.Errorf("%s: want exit 2 naming the key and --allow-host-sysctl:\n%s", verb, r)
			}
		}
		checkNothingOf(t, l.Name)
		if ledgerHolders(t, "")[l.Name] {
			t.Errorf("ledger names %s", l.Name)
		}
	})
}

func mapKeys(m map[string]bool) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
