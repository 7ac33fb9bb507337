package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// Tools and operations, as they appear in rows (and the JSON).
const (
	toolNetlab  = "netlab"
	toolMininet = "mininet"
	toolBatch   = "ip-batch"
	toolFloor   = "ip-floor"
	toolLoop    = "ip-loop"

	opUp     = "up"
	opDown   = "down"
	opUpDown = "up+down"
	opUpPing = "up+ping"

	sectionLinear = "Mininet-equivalent linear (N hosts, N bridges)"
	sectionChain  = "chain with addresses (N nodes, /30 per link)"
)

// config is what the flags say.
type config struct {
	netlab        string
	linearSizes   []int
	chainSizes    []int
	runs          int // 0: 5 below 500 nodes, 3 from 500
	mininetRuns   int
	loopMax       int // plain ip loop only up to this many nodes
	skipMininet   bool
	mininetNote   string // why Mininet is unavailable (from scripts/bench)
	watchNodes    int    // 0: no watch observation
	burst         int
	watchIdle     time.Duration
	upFlags       []string
	settleTimeout time.Duration
	pingDeadline  time.Duration
}

// bench runs the measurements. It owns nothing global: names carry its
// token, files live in its directory.
type bench struct {
	cfg      config
	tok      string   // in every lab and namespace name: bench<tok>-...
	upArgs   []string // netlab up flags for up runs: -q, --wait 0 if supported
	pingArgs []string // netlab up flags for up+ping runs: -q (links waited for)
	stateDir string
	dir      string
	log      io.Writer
	ks       *kernelSync // nil: settle by a fixed pause
}

// settle waits, after a clean-up, until the kernel has destroyed the
// namespaces it deleted (their teardown runs after the names are gone and
// costs CPU the next run would otherwise share), and says how long that
// took. Without a kernelSync it pauses for a second and says it cannot tell.
func (b *bench) settle(ctx context.Context) (time.Duration, bool) {
	if b.ks == nil {
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
		return 0, false
	}
	d, err := b.ks.wait(ctx, b.cfg.settleTimeout)
	if err != nil {
		b.logf("settle: %v", err)
		return d, false
	}
	return d, true
}

func (b *bench) logf(format string, args ...any) {
	fmt.Fprintf(b.log, "bench: "+format+"\n", args...)
}

func (b *bench) runsFor(n int) int {
	if b.cfg.runs > 0 {
		return b.cfg.runs
	}
	if n >= 500 {
		return 3
	}
	return 5
}

// detectNetlab reads `netlab up --help` and picks the flags this netlab has:
// -q (no progress display) and --wait 0 (do not wait for linkwatch: the
// pure build time) for up runs; up+ping runs keep the default wait, which
// is how a user gets links that pass traffic at once.
func (b *bench) detectNetlab(ctx context.Context) error {
	if _, err := os.Stat(b.cfg.netlab); err != nil {
		return fmt.Errorf("netlab binary: %w", err)
	}
	help, err := exec.CommandContext(ctx, b.cfg.netlab, "up", "--help").CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s up --help: %w%s", b.cfg.netlab, err, tail(help))
	}
	if helpLists(help, "-q") || helpLists(help, "--quiet") {
		b.upArgs = append(b.upArgs, "-q")
		b.pingArgs = append(b.pingArgs, "-q")
	}
	if helpLists(help, "--wait") {
		b.upArgs = append(b.upArgs, "--wait", "0")
	}
	b.upArgs = append(b.upArgs, b.cfg.upFlags...)
	b.pingArgs = append(b.pingArgs, b.cfg.upFlags...)
	return nil
}

// writeFile writes a generated file into the bench's directory.
func (b *bench) writeFile(name string, data []byte) (string, error) {
	p := filepath.Join(b.dir, name)
	if err := os.WriteFile(p, data, 0o644); err != nil {
		return "", fmt.Errorf("write %s: %w", p, err)
	}
	return p, nil
}

// labLeft is what of lab is still on the machine: its namespaces and its
// state directory.
func (b *bench) labLeft(lab string) ([]string, error) {
	left, err := namespacesWithPrefix(lab + "-")
	if err != nil {
		return nil, err
	}
	sd := filepath.Join(b.stateDir, lab)
	if _, err := os.Stat(sd); err == nil {
		left = append(left, sd)
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("state of %s: %w", lab, err)
	}
	return left, nil
}

func (b *bench) netlabUp(ctx context.Context, file string, args []string) (sample, error) {
	argv := append([]string{b.cfg.netlab, "up", file}, args...)
	s, _, err := runProc(ctx, command(ctx, argv...))
	return s, err
}

func (b *bench) netlabDown(ctx context.Context, lab string) (sample, error) {
	s, _, err := runProc(ctx, command(ctx, b.cfg.netlab, "down", lab))
	return s, err
}

// ensureDown removes lab if anything of it is left (after a failure or an
// interrupt), whatever ctx says.
func (b *bench) ensureDown(lab string) {
	left, err := b.labLeft(lab)
	if err != nil || len(left) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if _, err := b.netlabDown(ctx, lab); err != nil {
		b.logf("clean-up of lab %s: %v", lab, err)
	}
}

// checkGone fails if anything of lab is left after its down.
func (b *bench) checkGone(lab string) error {
	left, err := b.labLeft(lab)
	if err != nil {
		return err
	}
	if len(left) > 0 {
		return fmt.Errorf("lab %s: down left %d object(s): %s", lab, len(left), strings.Join(first(left, 5), " "))
	}
	return nil
}

func first(ss []string, n int) []string {
	if len(ss) > n {
		return append(ss[:n:n], "...")
	}
	return ss
}

// variant is one thing measured: prepared once, then run once per round,
// interleaved with the other variants of its group (one size of one
// section), so that the machine's load drifting over time touches them all
// alike. Each run measures, cleans up, checks that nothing is left and
// waits for the kernel to finish destroying what was deleted.
type variant struct {
	rows    []*row // the rows it reports
	runs    int
	once    func(ctx context.Context, i int) error
	cleanup func() // removes what a failed or interrupted run left
}

// runGroup runs the variants round-robin. A variant that fails is cleaned
// up and drops out (its rows say why); the others go on.
func (b *bench) runGroup(ctx context.Context, vs []*variant) []error {
	var errs []error
	failed := make([]bool, len(vs))
	rounds := 0
	for _, v := range vs {
		rounds = max(rounds, v.runs)
		defer v.cleanup()
	}
	for i := 0; i < rounds && ctx.Err() == nil; i++ {
		for k, v := range vs {
			if failed[k] || i >= v.runs || ctx.Err() != nil {
				continue
			}
			if err := v.once(ctx, i); err != nil {
				failed[k] = true
				errs = append(errs, failRows(err, v.rows...))
				b.logf("ERROR: %v", err)
				v.cleanup()
			}
		}
	}
	return errs
}

// keepOps is the rows whose operation is one of ops.
func keepOps(rows []*row, ops []string) []*row {
	var out []*row
	for _, r := range rows {
		if slices.Contains(ops, r.Op) {
			out = append(out, r)
		}
	}
	return out
}

// labFile writes t's lab file once and returns its path.
func (b *bench) labFile(t topo) (string, error) {
	p := filepath.Join(b.dir, t.Name+".yaml")
	if _, err := os.Stat(p); err == nil {
		return p, nil
	}
	return b.writeFile(t.Name+".yaml", t.labYAML())
}

// netlabUpDown brings t up (--wait 0) and down: rows for up, down and
// their sum; it reports those of ops.
func (b *bench) netlabUpDown(section string, t topo, ops ...string) (*variant, error) {
	n := t.size()
	up := newRow(section, toolNetlab, opUp, "netlab up", n)
	down := newRow(section, toolNetlab, opDown, "netlab down", n)
	both := newRow(section, toolNetlab, opUpDown, "netlab up+down", n)
	v := &variant{rows: keepOps([]*row{up, down, both}, ops), runs: b.runsFor(n), cleanup: func() { b.ensureDown(t.Name) }}
	file, err := b.labFile(t)
	if err != nil {
		return v, err
	}
	v.once = func(ctx context.Context, i int) error {
		su, err := b.netlabUp(ctx, file, b.upArgs)
		if err != nil {
			return err
		}
		sd, err := b.netlabDown(ctx, t.Name)
		if err != nil {
			return err
		}
		if err := b.checkGone(t.Name); err != nil {
			return err
		}
		sd.Freed, sd.FreedOK = b.settle(ctx)
		sb := su
		sb.add(sd)
		up.Samples = append(up.Samples, su)
		down.Samples = append(down.Samples, sd)
		both.Samples = append(both.Samples, sb)
		b.logf("%s N=%d run %d/%d: netlab up %s, down %s (kernel done %s later)", t.Name, n, i+1, v.runs, fmtDur(su.Wall), fmtDur(sd.Wall), fmtDur(sd.Freed))
		return nil
	}
	return v, nil
}

// netlabUpPing is up (links waited for), then one ping from PingFrom to
// its neighbour until it is answered; down is not measured.
func (b *bench) netlabUpPing(section string, t topo) (*variant, error) {
	n := t.size()
	r := newRow(section, toolNetlab, opUpPing, "netlab up+ping", n)
	v := &variant{rows: []*row{r}, runs: b.runsFor(n), cleanup: func() { b.ensureDown(t.Name) }}
	file, err := b.labFile(t)
	if err != nil {
		return v, err
	}
	v.once = func(ctx context.Context, i int) error {
		start := time.Now()
		s, err := b.netlabUp(ctx, file, b.pingArgs)
		if err != nil {
			return err
		}
		sp, err := b.pingUntil(ctx, []string{b.cfg.netlab, "ping", t.Name, t.PingFrom, t.PingTo.String(), "-c", "1"})
		if err != nil {
			return err
		}
		s.add(sp)
		s.Wall = time.Since(start)
		if _, err := b.netlabDown(ctx, t.Name); err != nil {
			return err
		}
		if err := b.checkGone(t.Name); err != nil {
			return err
		}
		b.settle(ctx)
		r.Samples = append(r.Samples, s)
		b.logf("%s N=%d run %d/%d: netlab up+ping %s (%d ping attempt(s))", t.Name, n, i+1, v.runs, fmtDur(s.Wall), s.Attempts)
		return nil
	}
	return v, nil
}

// pingUntil runs argv (one ping) until it succeeds or the ping deadline
// passes; Attempts counts the tries.
func (b *bench) pingUntil(ctx context.Context, argv []string) (sample, error) {
	var total sample
	deadline := time.Now().Add(b.cfg.pingDeadline)
	for {
		s, _, err := runProc(ctx, command(ctx, argv...))
		s.Attempts = 1
		total.add(s)
		if err == nil {
			return total, nil
		}
		if ctx.Err() != nil || time.Now().After(deadline) {
			return total, fmt.Errorf("no reply within %s (%d attempts): %w", b.cfg.pingDeadline, total.Attempts, err)
		}
	}
}

// ipVariant is one iproute2 variant of t: "batch" (root batch, then a
// batch per namespace), "floor" (root batch of namespaces and veths only)
// or "loop" (one ip process per command). With ping it then pings the
// neighbour like up+ping. The batch variant's clean-up (one `ip -batch` of
// `netns del`) is a row of its own.
func (b *bench) ipVariant(section string, t topo, kind string, ping bool) (*variant, error) {
	n := t.size()
	var tool, label, short string
	switch kind {
	case "batch":
		tool, label, short = toolBatch, "ip -batch", "ip"
	case "floor":
		tool, label, short = toolFloor, "ip -batch floor (netns+veth only)", "fl"
	case "loop":
		tool, label, short = toolLoop, "ip loop (one process per command)", "lp"
	default:
		return nil, fmt.Errorf("unknown ip variant %q", kind)
	}
	op := opUp
	if ping {
		op, short = opUpPing, short+"p"
	}
	prefix := fmt.Sprintf("bench%s-%s%d", b.tok, short, n)
	up := newRow(section, tool, op, label+" "+op, n)
	v := &variant{rows: []*row{up}, runs: b.runsFor(n), cleanup: func() {}}
	var down *row
	if kind == "batch" && !ping {
		down = newRow(section, tool, opDown, label+" down (netns del)", n)
		v.rows = append(v.rows, down)
	}
	plan, err := t.ipPlan(prefix, kind == "floor")
	if err != nil {
		return v, err
	}
	v.cleanup = func() { b.ipCleanup(plan.Namespaces) }
	root, err := batchText(plan.Root)
	if err != nil {
		return v, err
	}
	rootFile, err := b.writeFile(prefix+".batch", root)
	if err != nil {
		return v, err
	}
	var nsFiles []string
	for _, nb := range plan.PerNS {
		txt, err := batchText(nb.Cmds)
		if err != nil {
			return v, err
		}
		f, err := b.writeFile(nb.NS+".batch", txt)
		if err != nil {
			return v, err
		}
		nsFiles = append(nsFiles, f)
	}
	if left, err := existing(plan.Namespaces); err != nil || len(left) > 0 {
		v.cleanup = func() {} // not the bench's: never delete them
		return v, errors.Join(err, fmt.Errorf("namespaces %s exist before the bench made them: not touching them", strings.Join(first(left, 5), " ")))
	}
	v.once = func(ctx context.Context, i int) error {
		start := time.Now()
		var s sample
		switch kind {
		case "batch", "floor":
			p, _, err := runProc(ctx, command(ctx, "ip", "-batch", rootFile))
			if err != nil {
				return err
			}
			s.add(p)
			for k, nb := range plan.PerNS {
				p, _, err := runProc(ctx, command(ctx, "ip", "-n", nb.NS, "-batch", nsFiles[k]))
				if err != nil {
					return err
				}
				s.add(p)
			}
		case "loop":
			for _, argv := range plan.loopArgv() {
				p, _, err := runProc(ctx, command(ctx, argv...))
				if err != nil {
					return err
				}
				s.add(p)
			}
		}
		if ping {
			sp, err := b.pingUntil(ctx, []string{"ip", "netns", "exec", plan.Namespaces[0], "ping", "-c1", "-W1", t.PingTo.String()})
			if err != nil {
				return err
			}
			s.add(sp)
		}
		s.Wall = time.Since(start)
		sd, err := b.ipDelete(ctx, plan.Namespaces)
		if err != nil {
			return err
		}
		sd.Freed, sd.FreedOK = b.settle(ctx)
		up.Samples = append(up.Samples, s)
		if down != nil {
			down.Samples = append(down.Samples, sd)
		}
		b.logf("%s N=%d run %d/%d: %s %s %s, netns del %s (kernel done %s later)", prefix, n, i+1, v.runs, label, op, fmtDur(s.Wall), fmtDur(sd.Wall), fmtDur(sd.Freed))
		return nil
	}
	return v, nil
}

// ipDelete deletes those of names that exist (one `ip -batch` of netns
// del) and checks that none is left.
func (b *bench) ipDelete(ctx context.Context, names []string) (sample, error) {
	have, err := existing(names)
	if err != nil || len(have) == 0 {
		return sample{}, err
	}
	txt, err := batchText(deleteBatch(have))
	if err != nil {
		return sample{}, err
	}
	f, err := b.writeFile("delete.batch", txt)
	if err != nil {
		return sample{}, err
	}
	s, _, err := runProc(ctx, command(ctx, "ip", "-batch", f))
	if err != nil {
		return s, err
	}
	if left, err := existing(names); err != nil || len(left) > 0 {
		return s, errors.Join(err, fmt.Errorf("netns del left %d namespace(s): %s", len(left), strings.Join(first(left, 5), " ")))
	}
	return s, nil
}

// ipCleanup deletes the bench's namespaces left by a failure or interrupt.
func (b *bench) ipCleanup(names []string) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if _, err := b.ipDelete(ctx, names); err != nil {
		b.logf("clean-up: %v", err)
	}
}

// mininet runs `mn --topo linear,N --switch lxbr --controller none --test
// none` in a sandbox (see sandboxCommand). It returns nil when Mininet is
// not to run or not installed; the row says why.
func (b *bench) mininet(n int) (*row, *variant) {
	r := newRow(sectionLinear, toolMininet, opUpDown, fmt.Sprintf("mn --topo linear,%d --switch lxbr", n), n)
	if b.cfg.skipMininet {
		r.Skipped = "skipped (--skip-mininet)"
		if b.cfg.mininetNote != "" {
			r.Skipped = b.cfg.mininetNote
		}
		return r, nil
	}
	for _, c := range []string{"mn", "brctl"} {
		if _, err := exec.LookPath(c); err != nil {
			r.Skipped = fmt.Sprintf("skipped: %s not installed (apt-get install mininet bridge-utils)", c)
			return r, nil
		}
	}
	v := &variant{rows: []*row{r}, runs: b.cfg.mininetRuns, cleanup: func() {}}
	v.once = func(ctx context.Context, i int) error {
		cmd, err := sandboxCommand(ctx, "mn", "--topo", fmt.Sprintf("linear,%d", n), "--switch", "lxbr", "--controller", "none", "--test", "none")
		if err != nil {
			return err
		}
		s, out, err := runProc(ctx, cmd)
		if err != nil {
			return err
		}
		if !strings.Contains(string(out), "*** Done") {
			return fmt.Errorf("mn linear,%d: no \"*** Done\" in its output%s", n, tail(out))
		}
		r.Samples = append(r.Samples, s)
		b.logf("mininet linear,%d run %d/%d: %s", n, i+1, v.runs, fmtDur(s.Wall))
		return nil
	}
	return r, v
}

// failRows records err on rows and returns it.
func failRows(err error, rows ...*row) error {
	for _, r := range rows {
		if r.Err == "" {
			r.Err = err.Error()
		}
	}
	return err
}

// size is the node count N of a topology: nodes of a chain, hosts of a
// linear one.
func (t topo) size() int {
	n := 0
	for _, nd := range t.Nodes {
		if !nd.Bridge {
			n++
		}
	}
	return n
}
