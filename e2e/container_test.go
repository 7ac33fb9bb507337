package e2e

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Containers, seen the way a container runtime builds one: fresh mount and
// pid namespaces (util-linux unshare --mount --pid --fork --mount-proc, so
// pid 1 is the container's init and /proc is its own), a private tmpfs on
// /run (so /run/netns and /run/netlab are the container's), and optionally a
// network namespace (--net, Docker's default network) or a user namespace
// (--user --map-root-user: rootless). The scripts are constants; lab files
// and names reach them as arguments ($1, $2, ...), never spliced in.

// containerRun is the start of every container script: the container's own
// /run, as `docker run --tmpfs /run` gives it.
const containerRun = "mount -t tmpfs -o mode=755 tmpfs /run || exit 90\n"

// inContainer runs a sh script as the init of a new container (see above)
// with the namespaces in extra besides mount and pid, and returns its exit
// code and output. The container, and every namespace only it holds, ends
// with the script (--kill-child).
func inContainer(t *testing.T, extra []string, script string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	argv := append([]string{"--mount", "--pid", "--fork", "--kill-child", "--mount-proc"}, extra...)
	argv = append(argv, "/bin/sh", "-c", script, "container")
	cmd := exec.CommandContext(ctx, "unshare", append(argv, args...)...)
	cmd.Env = cleanEnv()
	cmd.Dir = os.TempDir()
	var so, se bytes.Buffer
	cmd.Stdout, cmd.Stderr = &so, &se
	err := cmd.Run()
	r := result{args: append([]string{"(container", strings.Join(extra, " ") + ")"}, args...), stdout: so.String(), stderr: se.String()}
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee) && ee.ExitCode() >= 0:
		r.code = ee.ExitCode()
	default:
		t.Fatalf("container: %v\n%s", err, r)
	}
	return r
}

// exitOf returns the exit code a container script printed as "rc[what]=N".
func exitOf(t *testing.T, r result, what string) string {
	t.Helper()
	m := regexp.MustCompile(`(?m)^rc\[` + regexp.QuoteMeta(what) + `\]=(\d+)$`).FindStringSubmatch(r.stdout)
	if m == nil {
		t.Fatalf("container printed no rc[%s]:\n%s", what, r)
	}
	return m[1]
}

// leftLine is the end of container scripts that must leave the container's
// /run/netns and /run/netlab (but for its lock directory) empty;
// wantEmptyRun checks what it printed.
const leftLine = `echo "left:$(ls -A /run/netns 2>/dev/null) $(ls -A /run/netlab | grep -v '^\.locks$')"` + "\n"

func wantEmptyRun(t *testing.T, r result) {
	t.Helper()
	if !strings.Contains(r.stdout, "left: \n") {
		t.Errorf("the container's /run/netns or /run/netlab is not empty:\n%s", r)
	}
}

// wantExit checks the exit codes a container script printed for each step
// in what.
func wantExit(t *testing.T, r result, code string, what ...string) {
	t.Helper()
	for _, w := range what {
		if rc := exitOf(t, r, w); rc != code {
			t.Errorf("%s: exit %s, want %s:\n%s", w, rc, code, r)
		}
	}
}

// TestContainerOwnRun: in a container with its own /run, up passes the
// /run/netns propagation check (pid 1 is the container's init, in the same
// mount namespace), the lab works (status, netlab's ping, a scenario run
// with --out) and is invisible to the host while it is up: no name in the
// host's /run/netns, no state in the host's /run/netlab, no link in the
// root namespace. down leaves nothing inside the container either.
func TestContainerOwnRun(t *testing.T) {
	requireRoot(t)
	t.Parallel()
	l := newLab(t, twoHosts, "ctrun")
	sync := t.TempDir()
	out := t.TempDir()
	before := rootLinks(t)
	const script = containerRun + `
"$1" up --wait 5s "$2" >/dev/null || exit 91
"$1" status -o json "$3" >"$4/status.json" || exit 92
"$1" ping "$3" h1 10.77.0.2 -c 1 -W 2s >/dev/null; echo "rc[ping]=$?"
ip netns list >"$4/inside"
: >"$4/ready"
i=0; while [ ! -e "$4/go" ] && [ $i -lt 300 ]; do sleep 0.1; i=$((i+1)); done
"$1" down "$3" >/dev/null; echo "rc[down]=$?"
"$1" run --out "$5" "$2" >/dev/null; echo "rc[run]=$?"
` + leftLine
	done := make(chan result, 1)
	go func() { done <- inContainer(t, nil, script, netlabBin, l.File, l.Name, sync, out) }()
	deadline := time.Now().Add(time.Minute)
	for !exists(filepath.Join(sync, "ready")) {
		select {
		case r := <-done:
			t.Fatalf("container ended before the lab was up:\n%s", r)
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatal("the container's lab did not come up within a minute")
		}
	}
	// The lab is up in the container: the host sees none of it.
	inside, err := os.ReadFile(filepath.Join(sync, "inside"))
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range l.Exp.Nodes {
		if !strings.Contains(string(inside), n.NS) {
			t.Errorf("ip netns list inside the container lacks %s:\n%s", n.NS, inside)
		}
	}
	checkNothingOf(t, l.Name)
	checkRootUntouched(t, before)
	var st statusJSON
	b, err := os.ReadFile(filepath.Join(sync, "status.json"))
	if err != nil {
		t.Fatal(err)
	}
	decodeJSON(t, "status inside the container", string(b), &st)
	if st.Phase != "up" || len(st.Details) != len(l.Exp.Nodes) {
		t.Errorf("status inside the container: phase %q, %d nodes, want up and %d", st.Phase, len(st.Details), len(l.Exp.Nodes))
	}
	if err := os.WriteFile(filepath.Join(sync, "go"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	r := <-done
	if r.code != 0 {
		t.Fatalf("container script failed:\n%s", r)
	}
	wantExit(t, r, "0", "ping", "down", "run")
	wantEmptyRun(t, r)
	if j, err := os.ReadFile(filepath.Join(out, "junit.xml")); err != nil || !bytes.Contains(j, []byte("<testsuite")) {
		t.Errorf("run --out in the container wrote no JUnit file (%v):\n%s", err, j)
	}
	checkNothingOf(t, l.Name)
	checkRootUntouched(t, before)
}

// TestContainerInheritedNetns: a container whose /run/netns is a mount it
// inherited without shared propagation (the host's /run/netns as a Docker
// volume with its default rprivate or rslave propagation; here a nested
// container of the outer one, whose /run/netns netlab made shared) is refused
// with exit 3 naming /run/netns before anything is created: its namespaces
// would exist only inside it and leave empty files outside. With shared
// propagation kept (docker -v ...:rshared; unshare --propagation unchanged)
// up works there and the outer container sees the lab.
func TestContainerInheritedNetns(t *testing.T) {
	requireRoot(t)
	t.Parallel()
	outer := newLab(t, twoHosts, "ctouter")
	inner := newLab(t, "labs/veth-pair.yaml", "ctinner")
	const script = containerRun + `
"$1" up --wait 0 "$2" >/dev/null || exit 91
for p in private slave; do
	unshare --mount --propagation $p --pid --fork --kill-child --mount-proc "$1" up --wait 0 "$4"
	echo "rc[$p]=$?"
	echo "left[$p]:$(ls -A /run/netns | grep -c -- "^$5-") $(ls -A /run/netlab | grep -c -- "^$5$")"
done
unshare --mount --propagation unchanged --pid --fork --kill-child --mount-proc "$1" up --wait 0 "$4" >/dev/null
echo "rc[unchanged]=$?"
echo "seen[unchanged]:$(ip netns list | grep -c -- "^$5-")"
"$1" down "$5" >/dev/null; echo "rc[down inner]=$?"
"$1" down "$3" >/dev/null; echo "rc[down outer]=$?"
`
	r := inContainer(t, nil, script, netlabBin, outer.File, outer.Name, inner.File, inner.Name)
	if r.code != 0 {
		t.Fatalf("container script failed:\n%s", r)
	}
	for _, p := range []string{"private", "slave"} {
		if rc := exitOf(t, r, p); rc != "3" {
			t.Errorf("up in a nested container with a %s /run/netns: exit %s, want 3:\n%s", p, rc, r)
		}
		if !strings.Contains(r.stdout, "left["+p+"]:0 0\n") {
			t.Errorf("the refused up (%s) left namespaces or state:\n%s", p, r)
		}
	}
	if n := strings.Count(r.stderr, "/run/netns is a mount point this mount namespace inherited without shared propagation"); n != 2 {
		t.Errorf("want the inherited-mount explanation twice (private, slave), got %d:\n%s", n, r)
	}
	if !strings.Contains(r.stderr, "it is private") || !strings.Contains(r.stderr, "a slave of peer group") || !strings.Contains(r.stderr, "--tmpfs /run") {
		t.Errorf("the explanation does not say how the mount propagates and the way out:\n%s", r)
	}
	if rc := exitOf(t, r, "unchanged"); rc != "0" {
		t.Errorf("up in a nested container that keeps shared propagation: exit %s, want 0:\n%s", rc, r)
	}
	if want := "seen[unchanged]:" + strconv.Itoa(len(inner.Exp.Nodes)) + "\n"; !strings.Contains(r.stdout, want) {
		t.Errorf("the outer container does not see the nested container's namespaces (want %q):\n%s", want, r)
	}
	wantExit(t, r, "0", "down inner", "down outer")
	checkNothingOf(t, outer.Name)
	checkNothingOf(t, inner.Name)
}

// TestContainerReadOnlyProcSys: a container's /proc/sys is read-only unless
// it is privileged (Docker's default); a lab with sysctls is then exit 3,
// named as such with the way out, before anything is created.
func TestContainerReadOnlyProcSys(t *testing.T) {
	requireRoot(t)
	t.Parallel()
	l := newLab(t, "labs/veth-pair.yaml", "ctrosys")
	const script = containerRun + `
mount --bind /proc/sys /proc/sys && mount -o remount,bind,ro /proc/sys || exit 91
"$1" up --wait 0 "$2"; echo "rc[up]=$?"
echo "left:$(ls -A /run/netns | grep -c -- "^$3-") $(ls -A /run/netlab | grep -c -- "^$3$")"
`
	r := inContainer(t, nil, script, netlabBin, l.File, l.Name)
	if r.code != 0 {
		t.Fatalf("container script failed:\n%s", r)
	}
	if rc := exitOf(t, r, "up"); rc != "3" || !strings.Contains(r.stderr, "/proc/sys is read-only") || !strings.Contains(r.stderr, "systempaths=unconfined") {
		t.Errorf("up with a read-only /proc/sys: exit %s, want 3 saying /proc/sys is read-only and the way out:\n%s", rc, r)
	}
	if !strings.Contains(r.stdout, "left:0 0\n") {
		t.Errorf("the refused up left namespaces or state:\n%s", r)
	}
}

// TestContainerOwnNetwork: a container with a network namespace of its own
// (Docker's default network) runs labs: they need only namespaces it
// creates. Host knobs (net.ipv4.neigh.default.*) exist in the initial
// network namespace only: a lab with them is exit 3, explained, before
// anything is created, and the host's value is untouched.
func TestContainerOwnNetwork(t *testing.T) {
	requireRoot(t)
	t.Parallel()
	l := newLab(t, twoHosts, "ctnet")
	k := newLab(t, "e2e/testdata/host-knob.yaml", "ctnetknob")
	knob := readHostSysctl(t, gcInterval)
	const script = containerRun + `
"$1" up --wait 5s "$2" >/dev/null; echo "rc[up]=$?"
"$1" ping "$3" h1 10.77.0.2 -c 1 -W 2s >/dev/null; echo "rc[ping]=$?"
"$1" down "$3" >/dev/null; echo "rc[down]=$?"
"$1" up --wait 0 "$4"; echo "rc[knob]=$?"
` + leftLine
	r := inContainer(t, []string{"--net"}, script, netlabBin, l.File, l.Name, k.File)
	if r.code != 0 {
		t.Fatalf("container script failed:\n%s", r)
	}
	wantExit(t, r, "0", "up", "ping", "down")
	if rc := exitOf(t, r, "knob"); rc != "3" || !strings.Contains(r.stderr, "network namespace other than the host's initial one") || !strings.Contains(r.stderr, "--network host") {
		t.Errorf("a host knob in a container with its own network: exit %s, want 3 explaining the initial network namespace:\n%s", rc, r)
	}
	wantEmptyRun(t, r)
	if got := readHostSysctl(t, gcInterval); got != knob {
		t.Errorf("host %s changed from %s to %s", gcInterval, knob, got)
	}
	checkNothingOf(t, l.Name)
	checkNothingOf(t, k.Name)
}

// TestRootlessUserNamespace: in a user namespace that maps the caller to
// root (rootless; here root mapped to itself, which gives no capability
// outside it) with network, mount and pid namespaces of its own and a
// private /run, a lab with a firewall comes up and goes down, and a
// scenario runs (its pings use raw sockets) with --out; a lab with host
// knobs is exit 3 (they live in the initial user and network namespaces).
// Without a network namespace of its own netlab could enter node namespaces
// but never switch back: exit 3, explained, before anything is created.
func TestRootlessUserNamespace(t *testing.T) {
	requireRoot(t)
	t.Parallel()
	l := newLab(t, "labs/local-drop.yaml", "rootless")
	v := newLab(t, "labs/veth-pair.yaml", "rootlessrun")
	k := newLab(t, "e2e/testdata/host-knob.yaml", "rootlessknob")
	out := t.TempDir()
	const script = containerRun + `
"$1" up --wait 5s "$2" >/dev/null; echo "rc[up]=$?"
"$1" status -o json "$3" >/dev/null; echo "rc[status]=$?"
"$1" down "$3" >/dev/null; echo "rc[down]=$?"
"$1" run --out "$5" "$4" >/dev/null; echo "rc[run]=$?"
"$1" up --wait 0 "$6"; echo "rc[knob]=$?"
` + leftLine
	r := inContainer(t, []string{"--user", "--map-root-user", "--net"}, script, netlabBin, l.File, l.Name, v.File, out, k.File)
	if r.code != 0 {
		t.Fatalf("container script failed:\n%s", r)
	}
	wantExit(t, r, "0", "up", "status", "down", "run")
	if rc := exitOf(t, r, "knob"); rc != "3" || !strings.Contains(r.stderr, "host knobs cannot be set at all") {
		t.Errorf("a host knob in a user namespace: exit %s, want 3 saying host knobs cannot be set there:\n%s", rc, r)
	}
	wantEmptyRun(t, r)
	if j, err := os.ReadFile(filepath.Join(out, "junit.xml")); err != nil || !bytes.Contains(j, []byte(`failures="0"`)) {
		t.Errorf("run --out in a user namespace: no passing JUnit file (%v):\n%s", err, j)
	}

	const noNet = containerRun + `"$1" up --wait 0 "$2"; echo "rc[up]=$?"
` + leftLine
	r = inContainer(t, []string{"--user", "--map-root-user"}, noNet, netlabBin, l.File)
	if r.code != 0 {
		t.Fatalf("container script failed:\n%s", r)
	}
	if rc := exitOf(t, r, "up"); rc != "3" || !strings.Contains(r.stderr, "user namespace that does not own its network namespace") {
		t.Errorf("up in a user namespace sharing the host's network: exit %s, want 3 explaining why:\n%s", rc, r)
	}
	wantEmptyRun(t, r)
	checkNothingOf(t, l.Name)
	checkNothingOf(t, v.Name)
	checkNothingOf(t, k.Name)
}

// TestPreflightReadOnlyKey: a sysctl the kernel makes read-only in a child
// network namespace (net.core.rmem_max: mode 0444 there) is exit 3 from
// preflight, named as such, before anything is created; it used to fail
// midway (exit 1, rolled back) with "permission denied".
func TestPreflightReadOnlyKey(t *testing.T) {
	requireRoot(t)
	t.Parallel()
	if !kernelRejects(t, "net/core/rmem_max", "4194304") {
		t.Fatal("precondition: net.core.rmem_max is writable in a child namespace on this kernel; pick another read-only key")
	}
	l := newLabText(t, failLab, "rokey", "SYSCTLS", "net.core.rmem_max: 4194304")
	mustNetlab(t, "validate", l.File)
	r := netlab(t, "up", "--wait", "0", l.File)
	if r.code != 3 || !strings.Contains(r.stderr, "net.core.rmem_max are read-only in a node's namespace") {
		t.Errorf("up with a read-only sysctl: want exit 3 naming it:\n%s", r)
	}
	checkNothingOf(t, l.Name)
}
