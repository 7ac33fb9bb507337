package labtest

import (
	"context"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/netlabdev/netlab/internal/nsutil"
	"github.com/netlabdev/netlab/lab"
	"github.com/netlabdev/netlab/topology"
)

// keepFlag is -netlab.keep, the package's only package-level variable.
var keepFlag = flag.Bool("netlab.keep", false, "labtest: leave every lab up after its test for debugging (also env NETLAB_KEEP=1)")

// Environment variables labtest reads.
const (
	// EnvRequired set to 1 turns a test that cannot run here (privileges,
	// kernel features) from a skip into a failure.
	EnvRequired = "NETLAB_E2E_REQUIRED"
	// EnvKeep set to 1 leaves labs up after their tests, as -netlab.keep.
	EnvKeep = "NETLAB_KEEP"
	// EnvStateDir is the runtime directory when WithStateDir is not given.
	EnvStateDir = "NETLAB_STATE_DIR"
)

// downTimeout bounds the teardown in t.Cleanup (t.Context is already done
// there).
const downTimeout = 2 * time.Minute

// Option configures Start.
type Option func(*config)

type config struct {
	stateDir        string
	readyTimeout    time.Duration
	keep            bool
	allowHostSysctl bool
}

// WithStateDir sets netlab's runtime directory (state, locks, the
// host-knob ledger). Default: env NETLAB_STATE_DIR, else /run/netlab. Labs
// in different state directories do not see each other's host knobs.
func WithStateDir(dir string) Option { return func(c *config) { c.stateDir = dir } }

// WithReadyTimeout bounds how long Start waits for the lab's links to be
// operationally up (0: lab.DefaultReadyTimeout; negative: do not wait).
// A timeout is logged, not a failure.
func WithReadyTimeout(d time.Duration) Option { return func(c *config) { c.readyTimeout = d } }

// WithKeep leaves the lab up after the test (as -netlab.keep and
// NETLAB_KEEP=1 do for every lab) and logs how to inspect and remove it.
func WithKeep() Option { return func(c *config) { c.keep = true } }

// WithAllowHostSysctl permits host.sysctls keys beyond
// net.ipv{4,6}.neigh.default.* (netlab's --allow-host-sysctl).
func WithAllowHostSysctl() Option { return func(c *config) { c.allowHostSysctl = true } }

// Lab is a running lab that belongs to one test.
type Lab struct {
	name  string
	spec  *topology.Lab
	opts  lab.Options
	res   *lab.Result
	nodes map[string]string // node name -> namespace
	keep  bool

	mu   sync.Mutex
	done bool // Down ran (or the lab was kept and handed over)
}

// Start brings up the lab in file for t under a unique name and registers
// its teardown with t.Cleanup. An invalid file fails the test; an
// environment that cannot run the lab skips it (fails it with
// NETLAB_E2E_REQUIRED=1); a kernel that refuses the lab midway fails it,
// after netlab rolled back what it had created.
func Start(t testing.TB, file string, opts ...Option) *Lab {
	t.Helper()
	cfg := config{stateDir: os.Getenv(EnvStateDir), keep: *keepFlag || os.Getenv(EnvKeep) == "1"}
	for _, o := range opts {
		o(&cfg)
	}
	vopts := topology.ValidateOptions{AllowHostSysctl: cfg.allowHostSysctl}
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatalf("labtest: lab file: %v", err)
	}
	base, err := load(file, data, vopts, "")
	if err != nil {
		t.Fatalf("labtest: %s is not a valid lab:\n%v", file, err)
	}
	for _, w := range base.warnings {
		t.Logf("labtest: warning: %s", w)
	}
	if err := lab.CheckPrivileges(lab.CapNetAdmin, lab.CapSysAdmin); err != nil {
		cannotRun(t, base.lab.Name, err)
	}
	o := lab.Options{StateDir: cfg.stateDir, ReadyTimeout: cfg.readyTimeout}
	t0 := time.Now()
	var spec *topology.Lab
	var res *lab.Result
	for attempt := 1; spec == nil; attempt++ {
		if attempt > 3 {
			t.Fatalf("labtest: lab %s: three unique names in a row were taken", base.lab.Name)
		}
		name, suffix := uniqueName(base.lab.Name, t.Name(), os.Getpid(), rand.Uint64())
		c, err := load(file, data, vopts, name)
		if err != nil {
			t.Fatalf("labtest: lab %s renamed %s to fit a unique suffix: %v", base.lab.Name, name, err)
		}
		if err := c.lab.WithSuffix(suffix); err != nil {
			t.Fatalf("labtest: lab %s: %v", name, err)
		}
		if taken(c.lab, o) {
			continue
		}
		r, err := lab.Up(t.Context(), c.lab, o)
		switch {
		case err == nil:
			spec, res = c.lab, r
		case lab.IsEnv(err) && taken(c.lab, o):
			// The random name was taken meanwhile (refused before anything
			// was created): pick another.
		case lab.IsEnv(err):
			cannotRun(t, c.lab.Name, err)
		default:
			t.Fatalf("labtest: lab %s (%s): up: %v", c.lab.Name, file, err)
		}
	}
	l := &Lab{name: spec.Name, spec: spec, opts: o, res: res, keep: cfg.keep, nodes: map[string]string{}}
	for _, n := range spec.Resolve().Nodes {
		l.nodes[n.Name] = n.Netns
	}
	t.Cleanup(func() { l.cleanup(t) })
	t.Logf("labtest: lab %s is up from %s in %v (run %s): namespaces %s", l.name, file, time.Since(t0).Round(time.Millisecond), res.RunID, strings.Join(res.Namespaces, " "))
	for _, w := range res.Warnings {
		t.Logf("labtest: lab %s: warning: %s", l.name, w)
	}
	return l
}

// loaded is a parsed, validated lab and its warnings.
type loaded struct {
	lab      *topology.Lab
	warnings []*topology.Problem
}

// load parses and validates a lab file's bytes, named name when name is
// not "" (set before validation, so the resolved namespaces follow it).
func load(file string, data []byte, vopts topology.ValidateOptions, name string) (loaded, error) {
	l, err := topology.Parse(file, data)
	if err != nil {
		return loaded{}, err
	}
	if name != "" {
		l.Name = name
	}
	warns, err := l.Validate(vopts)
	return loaded{lab: l, warnings: warns}, err
}

// taken reports whether a lab of spec's name has state, or any of its
// namespace names exists. A state directory it cannot read is left for Up
// to report.
func taken(spec *topology.Lab, o lab.Options) bool {
	if ok, err := lab.Exists(spec.Name, o); err == nil && ok {
		return true
	}
	for _, n := range spec.Resolve().Nodes {
		if _, err := os.Lstat(nsutil.Path(n.Netns)); err == nil {
			return true
		}
	}
	return false
}

// idLen is the length of the random part of a suffix (base 36).
const idLen = 5

// uniqueName returns the lab name to use (base, cut short when needed) and
// the suffix to append: [test-]<pid><random>, all in [a-z0-9-], the whole
// name at most topology.MaxNameLen bytes.
func uniqueName(base, testName string, pid int, random uint64) (name, suffix string) {
	id := strconv.FormatUint(uint64(pid), 36) + randomPart(random)
	if max := topology.MaxNameLen - 1 - len(id); len(base) > max {
		base = strings.TrimRight(base[:max], "-")
	}
	room := topology.MaxNameLen - len(base) - 1 - len(id) - 1
	part := testPart(testName)
	if room < len(part) {
		part = strings.TrimRight(part[:max(room, 0)], "-")
	}
	if part == "" {
		return base, id
	}
	return base, part + "-" + id
}

// randomPart is idLen base-36 digits of r.
func randomPart(r uint64) string {
	s := strconv.FormatUint(r%pow36(idLen), 36)
	return strings.Repeat("0", idLen-len(s)) + s
}

func pow36(n int) uint64 {
	p := uint64(1)
	for range n {
		p *= 36
	}
	return p
}

// testPart turns a test name into [a-z0-9-]: lower case, a leading "test"
// dropped, every other run of characters a '-'.
func testPart(name string) string {
	name = strings.ToLower(name)
	name = strings.TrimPrefix(name, "test")
	var b strings.Builder
	dash := false
	for _, r := range name {
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') {
			if dash && b.Len() > 0 {
				b.WriteByte('-')
			}
			b.WriteRune(r)
			dash = false
			continue
		}
		dash = true
	}
	return b.String()
}

// cannotRun skips t (the environment cannot run the lab), or fails it when
// NETLAB_E2E_REQUIRED=1.
func cannotRun(t testing.TB, name string, err error) {
	t.Helper()
	msg := fmt.Sprintf("labtest: lab %s cannot run here: %v", name, err)
	if os.Getenv(EnvRequired) == "1" {
		t.Fatal(msg + " (" + EnvRequired + "=1: a test that cannot run fails)")
	}
	t.Skip(msg + " (" + EnvRequired + "=1 makes this a failure)")
}

// cleanup is the t.Cleanup of Start: down, or keep and say how to look.
func (l *Lab) cleanup(t testing.TB) {
	l.mu.Lock()
	done := l.done
	l.done = l.done || l.keep
	l.mu.Unlock()
	if done {
		return
	}
	if l.keep {
		t.Log(l.keepMessage())
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), downTimeout)
	defer cancel()
	rep, err := l.down(ctx)
	if err != nil {
		t.Errorf("labtest: %v", err)
		return
	}
	t.Logf("labtest: lab %s is down: removed %d namespace(s)", l.name, len(rep.Removed))
}

// keepMessage says how to inspect and remove a kept lab.
func (l *Lab) keepMessage() string {
	nodes := l.Nodes()
	var b strings.Builder
	fmt.Fprintf(&b, "labtest: keeping lab %s up (keep is set)\n", l.name)
	fmt.Fprintf(&b, "  namespaces:   %s\n", strings.Join(l.Namespaces(), " "))
	fmt.Fprintf(&b, "  inspect:      ip netns exec %s ip addr; ip netns exec %s ip neigh\n", l.nodes[nodes[0]], l.nodes[nodes[0]])
	sd := ""
	if l.opts.StateDir != "" && filepath.Clean(l.opts.StateDir) != "/run/netlab" {
		sd = " --state-dir " + l.opts.StateDir
	}
	fmt.Fprintf(&b, "  with netlab:  netlab%s status %s; netlab%s exec %s %s -- ip route\n", sd, l.name, sd, l.name, nodes[0])
	fmt.Fprintf(&b, "  remove it:    netlab%s down %s", sd, l.name)
	return b.String()
}

// Down takes the lab down now (the test's cleanup then has nothing to do,
// keep or not). A second Down does nothing.
func (l *Lab) Down(ctx context.Context) error {
	l.mu.Lock()
	done := l.done
	l.done = true
	l.mu.Unlock()
	if done {
		return nil
	}
	_, err := l.down(ctx)
	return err
}

func (l *Lab) down(ctx context.Context) (*lab.DownReport, error) {
	rep, err := lab.Down(ctx, l.name, l.opts)
	if err != nil {
		return rep, fmt.Errorf("lab %s: down: %w", l.name, err)
	}
	if len(rep.Skipped) > 0 {
		return rep, fmt.Errorf("lab %s: down left namespaces alone: %s", l.name, strings.Join(rep.Skipped, "; "))
	}
	return rep, nil
}

// MustDown is Down, failing t on error.
func (l *Lab) MustDown(t testing.TB) {
	t.Helper()
	if err := l.Down(t.Context()); err != nil {
		t.Fatalf("labtest: %v", err)
	}
}

// Name is the lab's unique name (the file's name with the suffix), the
// name netlab's commands take.
func (l *Lab) Name() string { return l.name }

// Spec is the validated lab (under its unique name).
func (l *Lab) Spec() *topology.Lab { return l.spec }

// Nodes are the lab's node names, sorted.
func (l *Lab) Nodes() []string {
	out := make([]string, 0, len(l.nodes))
	for n := range l.nodes {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}

// Namespaces are the lab's namespace names, sorted.
func (l *Lab) Namespaces() []string {
	out := make([]string, 0, len(l.nodes))
	for _, ns := range l.nodes {
		out = append(out, ns)
	}
	slices.Sort(out)
	return out
}

// Warnings are what `netlab up` would have printed as warnings (never
// failures), e.g. an effective rp_filter that differs from the declared
// one.
func (l *Lab) Warnings() []string { return slices.Clone(l.res.Warnings) }

// Node returns the named node. An unknown name is not a failure here: every
// operation on that node returns an error wrapping lab.ErrUnknownNode.
func (l *Lab) Node(name string) *Node {
	return &Node{lab: l, name: name, netns: l.nodes[name]}
}

// unknownNode is the error of every operation on a node the lab lacks.
func (l *Lab) unknownNode(name string) error {
	return fmt.Errorf("lab %s: %w %q (nodes: %s)", l.name, lab.ErrUnknownNode, name, strings.Join(l.Nodes(), ", "))
}
