package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == sandboxArg {
		os.Exit(sandboxMain(os.Args[2:]))
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// intList is a flag holding comma-separated positive integers.
type intList []int

func (l *intList) String() string {
	var s []string
	for _, v := range *l {
		s = append(s, strconv.Itoa(v))
	}
	return strings.Join(s, ",")
}

func (l *intList) Set(v string) error {
	var out intList
	for _, f := range strings.Split(v, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		n, err := strconv.Atoi(f)
		if err != nil || n < 2 {
			return fmt.Errorf("size %q: want an integer of at least 2", f)
		}
		out = append(out, n)
	}
	*l = out
	return nil
}

// strList is a repeatable string flag.
type strList []string

func (l *strList) String() string     { return strings.Join(*l, " ") }
func (l *strList) Set(v string) error { *l = append(*l, v); return nil }

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfg := config{linearSizes: intList{50, 200}, chainSizes: intList{100, 1000}}
	linear, chain := (*intList)(&cfg.linearSizes), (*intList)(&cfg.chainSizes)
	var upFlags strList
	var jsonFile string
	var quick, keep bool
	fs.StringVar(&cfg.netlab, "netlab", "bin/netlab", "netlab binary to measure")
	fs.IntVar(&cfg.runs, "runs", 0, "runs per variant (0: 5 below 500 nodes, 3 from 500); also Mininet's unless --mininet-runs is given")
	fs.IntVar(&cfg.mininetRuns, "mininet-runs", 3, "runs per Mininet size when --runs is 0")
	fs.Var(chain, "sizes", "chain sizes N (nodes), comma-separated")
	fs.Var(linear, "linear-sizes", "Mininet-equivalent linear sizes N (hosts), comma-separated")
	fs.IntVar(&cfg.loopMax, "loop-max", 100, "measure the plain ip loop only for chains of at most this many nodes")
	fs.BoolVar(&cfg.skipMininet, "skip-mininet", false, "do not run Mininet (its rows say so)")
	fs.StringVar(&cfg.mininetNote, "mininet-unavailable", "", "why Mininet is not available (scripts/bench sets it; implies --skip-mininet)")
	fs.IntVar(&cfg.watchNodes, "watch-nodes", 200, "nodes of the neigh watch observation's lab (0: skip it)")
	fs.IntVar(&cfg.burst, "burst", 1000, "neighbour entries changed at once in the watch burst (0: no burst)")
	fs.DurationVar(&cfg.watchIdle, "watch-idle", 10*time.Second, "how long the idle watch runs (--duration)")
	fs.Var(&upFlags, "up-flag", "extra argument for netlab up (repeatable, e.g. --up-flag=--workers --up-flag=4)")
	fs.DurationVar(&cfg.settleTimeout, "settle-timeout", time.Minute, "longest wait for the kernel to destroy a run's namespaces before the next run")
	fs.DurationVar(&cfg.pingDeadline, "ping-deadline", 10*time.Second, "up+ping: retry the ping until a reply or this long")
	fs.StringVar(&jsonFile, "json", "", "also write the results as JSON to this file")
	fs.BoolVar(&quick, "quick", false, "smoke run: tiny sizes, 2 runs, short watch (well under a minute)")
	fs.BoolVar(&keep, "keep-files", false, "keep the generated lab and batch files (their directory is printed)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: scripts/bench [flags]  (as root; see README \"Benchmarks\")")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "bench: unexpected arguments %q\n", fs.Args())
		return 2
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if quick {
		defaults := map[string]func(){
			"linear-sizes": func() { cfg.linearSizes = []int{5} },
			"sizes":        func() { cfg.chainSizes = []int{10, 40} },
			"loop-max":     func() { cfg.loopMax = 10 },
			"runs":         func() { cfg.runs = 2 },
			"mininet-runs": func() { cfg.mininetRuns = 1 },
			"watch-nodes":  func() { cfg.watchNodes = 20 },
			"burst":        func() { cfg.burst = 100 },
			"watch-idle":   func() { cfg.watchIdle = 2 * time.Second },
		}
		for name, f := range defaults {
			if !set[name] {
				f()
			}
		}
	}
	if set["runs"] && !set["mininet-runs"] {
		cfg.mininetRuns = cfg.runs
	}
	if cfg.mininetNote != "" {
		cfg.skipMininet = true
	}
	cfg.upFlags = upFlags
	if cfg.burst > 60000 {
		fmt.Fprintln(stderr, "bench: --burst: at most 60000")
		return 2
	}

	if os.Geteuid() != 0 {
		fmt.Fprintln(stderr, "bench: needs root (it builds namespaces)")
		return 3
	}
	if _, err := exec.LookPath("ip"); err != nil {
		fmt.Fprintln(stderr, "bench: needs iproute2's ip (scripts/setup installs it)")
		return 3
	}
	dir, err := os.MkdirTemp("", "netlab-bench-")
	if err != nil {
		fmt.Fprintf(stderr, "bench: %v\n", err)
		return 1
	}
	if keep {
		fmt.Fprintf(stderr, "bench: generated files in %s\n", dir)
	} else {
		defer os.RemoveAll(dir)
	}
	tok := make([]byte, 2)
	if _, err := rand.Read(tok); err != nil {
		fmt.Fprintf(stderr, "bench: %v\n", err)
		return 1
	}
	stateDir := os.Getenv("NETLAB_STATE_DIR")
	if stateDir == "" {
		stateDir = "/run/netlab"
	}
	b := &bench{cfg: cfg, tok: hex.EncodeToString(tok), stateDir: stateDir, dir: dir, log: stderr}
	if err := b.detectNetlab(ctx); err != nil {
		fmt.Fprintf(stderr, "bench: %v\n", err)
		return 3
	}

	ks, err := newKernelSync(fmt.Sprintf("bench%s-probe", b.tok))
	if err != nil {
		b.logf("%v: pausing 1 s between runs instead", err)
	} else {
		b.ks = ks
		defer ks.Close()
	}

	start := time.Now()
	rp := &report{Header: b.header(ctx, quick)}
	rp.Rows, rp.Watch, rp.Errors = b.measure(ctx)
	finish(rp.Rows)
	rp.Scaling = computeScaling(rp.Rows, cfg.chainSizes)
	rp.Targets = targets(rp.Rows, cfg.linearSizes, cfg.chainSizes, rp.Scaling, rp.Watch)
	rp.Header.DurationS = time.Since(start).Seconds()
	rp.writeMarkdown(stdout)
	if jsonFile != "" {
		var buf bytes.Buffer
		err := rp.writeJSON(&buf)
		if err == nil {
			err = os.WriteFile(jsonFile, buf.Bytes(), 0o644)
		}
		if err != nil {
			fmt.Fprintf(stderr, "bench: --json %s: %v\n", jsonFile, err)
			return 1
		}
	}
	if ctx.Err() != nil {
		fmt.Fprintln(stderr, "bench: interrupted; everything it made was removed")
		return 1
	}
	if len(rp.Errors) > 0 {
		return 1
	}
	return 0
}

// measure runs every section in order, each size as one group of
// variants run round-robin; a failing variant is recorded (and cleaned up)
// and the others still run, unless interrupted.
func (b *bench) measure(ctx context.Context) ([]*row, *watchResult, []string) {
	var rows []*row
	var errs []string
	type build func() (*variant, error)
	group := func(builds ...build) {
		var vs []*variant
		for _, mk := range builds {
			v, err := mk()
			if v != nil {
				rows = append(rows, v.rows...)
			}
			if err != nil {
				if v != nil {
					failRows(err, v.rows...)
				}
				errs = append(errs, err.Error())
				b.logf("ERROR: %v", err)
				continue
			}
			vs = append(vs, v)
		}
		for _, err := range b.runGroup(ctx, vs) {
			errs = append(errs, err.Error())
		}
	}
	for _, n := range b.cfg.linearSizes {
		t, err := linearTopo(fmt.Sprintf("bench%s-l%d", b.tok, n), n)
		if err != nil {
			errs = append(errs, err.Error())
			continue
		}
		// up+down is what Mininet's run is compared with.
		builds := []build{func() (*variant, error) { return b.netlabUpDown(sectionLinear, t, opUpDown) }}
		r, v := b.mininet(n)
		if v == nil {
			rows = append(rows, r)
		} else {
			builds = append(builds, func() (*variant, error) { return v, nil })
		}
		group(builds...)
	}
	for _, n := range b.cfg.chainSizes {
		t, err := chainTopo(fmt.Sprintf("bench%s-c%d", b.tok, n), n)
		if err != nil {
			errs = append(errs, err.Error())
			continue
		}
		builds := []build{
			func() (*variant, error) { return b.netlabUpDown(sectionChain, t, opUp, opDown) },
			func() (*variant, error) { return b.ipVariant(sectionChain, t, "batch", false) },
			func() (*variant, error) { return b.ipVariant(sectionChain, t, "floor", false) },
		}
		if n <= b.cfg.loopMax {
			builds = append(builds, func() (*variant, error) { return b.ipVariant(sectionChain, t, "loop", false) })
		}
		builds = append(builds,
			func() (*variant, error) { return b.netlabUpPing(sectionChain, t) },
			func() (*variant, error) { return b.ipVariant(sectionChain, t, "batch", true) },
		)
		group(builds...)
	}
	var w *watchResult
	if b.cfg.watchNodes > 0 && ctx.Err() == nil {
		var err error
		w, err = b.watchObservation(ctx)
		if err != nil {
			w.Err = oneLine(err.Error())
			errs = append(errs, "neigh watch: "+err.Error())
			b.logf("ERROR: neigh watch: %v", err)
		}
	}
	sortRows(rows)
	return rows, w, errs
}

// sortRows orders the table: section, N, then operation and tool.
func sortRows(rows []*row) {
	sections := []string{sectionLinear, sectionChain}
	ops := []string{opUp, opDown, opUpDown, opUpPing}
	tools := []string{toolNetlab, toolMininet, toolBatch, toolFloor, toolLoop}
	slices.SortStableFunc(rows, func(a, b *row) int {
		if c := slices.Index(sections, a.Section) - slices.Index(sections, b.Section); c != 0 {
			return c
		}
		if a.N != b.N {
			return a.N - b.N
		}
		if c := slices.Index(ops, a.Op) - slices.Index(ops, b.Op); c != 0 {
			return c
		}
		return slices.Index(tools, a.Tool) - slices.Index(tools, b.Tool)
	})
}

// header describes the machine and the build measured.
func (b *bench) header(ctx context.Context, quick bool) header {
	h := header{
		Date:        time.Now().Format(time.RFC3339),
		CPUs:        runtime.NumCPU(),
		Netlab:      b.cfg.netlab,
		UpFlags:     append([]string{}, b.upArgs...),
		UpPingFlags: append([]string{}, b.pingArgs...),
		Quick:       quick,
	}
	var u unix.Utsname
	if unix.Uname(&u) == nil {
		h.Kernel = unix.ByteSliceToString(u.Release[:])
	}
	if la, err := os.ReadFile("/proc/loadavg"); err == nil {
		if f := strings.Fields(string(la)); len(f) >= 3 {
			h.LoadAvg = strings.Join(f[:3], " ")
		}
	}
	h.Commit = "unknown"
	if out, err := exec.CommandContext(ctx, "git", "rev-parse", "--short", "HEAD").Output(); err == nil {
		h.Commit = strings.TrimSpace(string(out))
		if exec.CommandContext(ctx, "git", "diff", "--quiet", "HEAD").Run() != nil {
			h.Commit += "-dirty"
		}
	}
	return h
}
