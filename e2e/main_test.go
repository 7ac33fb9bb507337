// Package e2e holds netlab's root end-to-end tests: they build the netlab
// binary once, run it as a subprocess (the user's path) against the real
// runtime directory /run/netlab, and check the kernel's state through two
// independent witnesses: netlink (per-namespace handles) and `ip -j`.
//
// Every lab a test brings up gets a unique name (e2e-<short>-<pid>), so
// parallel runs and a user's own labs never collide, and every lab is taken
// down in t.Cleanup. Without root the tests skip, unless NETLAB_E2E_REQUIRED=1
// (CI), where a missing privilege is a failure.
//
// Run:  sudo NETLAB_E2E_REQUIRED=1 go test ./e2e/ -count=1 -v
//
// TestHostKnobs changes net.ipv4.neigh.default.gc_interval on the host while
// it runs (and checks it is restored): do not run two copies of the suite at
// once on one machine.
package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"go/build"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netns"
)

const (
	stateDir = "/run/netlab" // the real default: the tests prove the real thing
	netnsDir = "/run/netns"
)

var (
	// netlabBin is the binary built by TestMain.
	netlabBin string
	// rootNS is this process's own network namespace (the "root" one the
	// labs must never touch), opened once.
	rootNS netns.NsHandle = netns.None()
	// repoRoot is the module root (labs/ lives there).
	repoRoot string
)

func TestMain(m *testing.M) {
	os.Exit(testMain(m))
}

func testMain(m *testing.M) int {
	dir, err := os.MkdirTemp("", "netlab-e2e-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	wd, err := os.Getwd()
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	repoRoot = filepath.Dir(wd)
	netlabBin = filepath.Join(dir, "netlab")
	goBin, err := exec.LookPath("go")
	if err != nil {
		goBin = filepath.Join(build.Default.GOROOT, "bin", "go")
	}
	gobuild := exec.Command(goBin, "build", "-o", netlabBin, "./cmd/netlab")
	gobuild.Dir = repoRoot
	if out, err := gobuild.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "e2e: go build ./cmd/netlab: %v\n%s", err, out)
		return 1
	}
	if h, err := netns.GetFromPath("/proc/self/ns/net"); err == nil {
		rootNS = h
		defer rootNS.Close()
	}
	code := m.Run()
	// Whatever a test did, no namespace or state of this run may survive it.
	if left := leftovers(); len(left) > 0 {
		fmt.Fprintf(os.Stderr, "e2e: left behind by this run: %s\n", strings.Join(left, ", "))
		if code == 0 {
			code = 1
		}
	}
	return code
}

// leftovers lists namespaces and state directories named after this
// process's labs (e2e-<short>-<pid>).
func leftovers() []string {
	re := regexp.MustCompile(`^e2e-[a-z0-9]+-` + strconv.Itoa(os.Getpid()) + `($|-)`)
	var out []string
	for _, d := range []string{netnsDir, stateDir, filepath.Join(stateDir, ".locks")} {
		ents, _ := os.ReadDir(d)
		for _, e := range ents {
			if re.MatchString(strings.TrimSuffix(e.Name(), ".lock")) {
				out = append(out, filepath.Join(d, e.Name()))
			}
		}
	}
	return out
}

// requireRoot skips a test that needs root, or fails it when CI demands the
// e2e tests (NETLAB_E2E_REQUIRED=1): there a skip would hide a broken setup.
func requireRoot(t testing.TB) {
	t.Helper()
	var missing []string
	if os.Geteuid() != 0 {
		missing = append(missing, fmt.Sprintf("root (euid is %d)", os.Geteuid()))
	}
	if _, err := exec.LookPath("ip"); err != nil {
		missing = append(missing, "iproute2's ip")
	}
	if !rootNS.IsOpen() {
		missing = append(missing, "/proc/self/ns/net")
	}
	if len(missing) == 0 {
		return
	}
	msg := "e2e tests need " + strings.Join(missing, ", ")
	if os.Getenv("NETLAB_E2E_REQUIRED") == "1" {
		t.Fatal(msg + " and NETLAB_E2E_REQUIRED=1")
	}
	t.Skip(msg + " (set NETLAB_E2E_REQUIRED=1 to make this a failure)")
}

// result is one finished netlab run.
type result struct {
	args           []string
	stdout, stderr string
	code           int
}

func (r result) String() string {
	return fmt.Sprintf("netlab %s: exit %d\nstdout:\n%s\nstderr:\n%s", strings.Join(r.args, " "), r.code, r.stdout, r.stderr)
}

// netlab runs the built binary with the real default state directory.
func netlab(t testing.TB, args ...string) result {
	t.Helper()
	return netlabIn(t, "", args...)
}

// netlabIn is netlab with stdin.
func netlabIn(t testing.TB, stdin string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, netlabBin, args...)
	cmd.Env = cleanEnv()
	cmd.Dir = os.TempDir()
	cmd.Stdin = strings.NewReader(stdin)
	var so, se bytes.Buffer
	cmd.Stdout, cmd.Stderr = &so, &se
	err := cmd.Run()
	r := result{args: args, stdout: so.String(), stderr: se.String()}
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee) && ee.ExitCode() >= 0:
		r.code = ee.ExitCode()
	default:
		t.Fatalf("run netlab %s: %v\n%s", strings.Join(args, " "), err, r)
	}
	return r
}

// mustNetlab runs netlab and fails the test unless it exits 0.
func mustNetlab(t testing.TB, args ...string) result {
	t.Helper()
	r := netlab(t, args...)
	if r.code != 0 {
		t.Fatalf("want exit 0, got:\n%s", r)
	}
	return r
}

// cleanEnv drops variables that would point netlab away from the defaults.
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "NETLAB_STATE_DIR=") || strings.HasPrefix(kv, "NETLAB_PATH=") {
			continue
		}
		env = append(env, kv)
	}
	return env
}

func decodeJSON(t testing.TB, what, s string, v any) {
	t.Helper()
	if err := json.Unmarshal([]byte(s), v); err != nil {
		t.Fatalf("%s: not JSON (%v):\n%s", what, err, s)
	}
}

// labName makes a unique lab name: e2e-<short>-<pid>, at most 32 bytes of
// [a-z0-9-].
func labName(t testing.TB, short string) string {
	t.Helper()
	name := "e2e-" + short + "-" + strconv.Itoa(os.Getpid())
	if len(name) > 32 || !regexp.MustCompile(`^e2e-[a-z0-9]+-[0-9]+$`).MatchString(name) {
		t.Fatalf("bad test lab name %q (short name %q: use [a-z0-9], at most 20 bytes)", name, short)
	}
	return name
}

var nameLine = regexp.MustCompile(`(?m)^name:[^\n#]*`)

// testLab is a copy of a lab file with a unique name.
type testLab struct {
	Name string
	File string
	Spec *specLab
	Exp  *expLab
}

// newLab copies src (relative to the module root, or absolute) into a temp
// dir with `name:` rewritten to a unique name and the old/new pairs in repl
// replaced, parses it independently of netlab, and registers `netlab down`
// in t.Cleanup (harmless when the lab never came up).
func newLab(t *testing.T, src, short string, repl ...string) *testLab {
	t.Helper()
	if !filepath.IsAbs(src) {
		src = filepath.Join(repoRoot, src)
	}
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	return newLabText(t, string(b), short, repl...)
}

// newLabText is newLab for lab text.
func newLabText(t *testing.T, text, short string, repl ...string) *testLab {
	t.Helper()
	name := labName(t, short)
	if !nameLine.MatchString(text) {
		t.Fatalf("lab text has no top-level name: line")
	}
	text = nameLine.ReplaceAllString(text, "name: "+name+" ")
	if len(repl)%2 != 0 {
		t.Fatal("newLab: odd number of replacement strings")
	}
	for i := 0; i < len(repl); i += 2 {
		if !strings.Contains(text, repl[i]) {
			t.Fatalf("newLab: %q not in the lab", repl[i])
		}
		text = strings.ReplaceAll(text, repl[i], repl[i+1])
	}
	file := filepath.Join(t.TempDir(), name+".yaml")
	if err := os.WriteFile(file, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	spec, err := parseSpec([]byte(text))
	if err != nil {
		t.Fatalf("parse %s: %v", file, err)
	}
	l := &testLab{Name: name, File: file, Spec: spec, Exp: expect(spec)}
	t.Cleanup(func() { cleanupDown(t, name) })
	return l
}

// cleanupDown takes a lab down at the end of a test, whatever happened.
func cleanupDown(t *testing.T, name string) {
	r := netlab(t, "down", name)
	if r.code != 0 {
		t.Errorf("cleanup: %s", r)
	}
}

// up brings the lab up and fails the test unless netlab exits 0.
func (l *testLab) up(t *testing.T, extra ...string) result {
	t.Helper()
	return mustNetlab(t, append(append([]string{"up"}, extra...), l.File)...)
}

// stateDirOf is the lab's runtime state directory.
func stateDirOf(lab string) string { return filepath.Join(stateDir, lab) }

func exists(p string) bool {
	_, err := os.Lstat(p)
	return err == nil
}
