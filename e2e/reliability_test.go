package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/netlabdev/netlab/internal/labgen"
)

// plainChain is chainLab without its host knob: labs that run in parallel
// with TestHostKnobs must not hold one.
func plainChain(t *testing.T, name string, n int) string {
	t.Helper()
	return labgen.Chain(name, n, nil)
}

// runTogether starts every argv as a netlab process at the same moment
// (after delays[i]) and waits for all of them.
func runTogether(t *testing.T, argvs [][]string, delays []time.Duration) []result {
	t.Helper()
	out := make([]result, len(argvs))
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i, argv := range argvs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			time.Sleep(delays[i])
			out[i] = netlab(t, argv...)
		}()
	}
	close(start)
	wg.Wait()
	return out
}

// checkConsistent asserts that the lab is either fully up (state.json
// parses, status shows every node without an error, every namespace
// exists) and then takes it down, or fully down. It returns which.
func checkConsistent(t *testing.T, name string, nodes int) (wasUp bool) {
	t.Helper()
	if !exists(stateDirOf(name)) {
		if n := countNetns(name); n != 0 {
			t.Fatalf("no state but %d namespaces of %s: a half lab", n, name)
		}
		return false
	}
	b, err := os.ReadFile(filepath.Join(stateDirOf(name), "state.json"))
	if err != nil {
		t.Fatalf("state directory without a snapshot: %v", err)
	}
	var snap struct {
		Lab        string            `json:"lab"`
		RunID      string            `json:"run_id"`
		Phase      string            `json:"phase"`
		Namespaces []json.RawMessage `json:"namespaces"`
	}
	if err := json.Unmarshal(b, &snap); err != nil {
		t.Fatalf("state.json does not parse: %v\n%s", err, b)
	}
	if snap.Lab != name || snap.Phase != "up" || len(snap.Namespaces) != nodes {
		t.Fatalf("state.json: lab %q phase %q, %d namespaces; want %s, up, %d", snap.Lab, snap.Phase, len(snap.Namespaces), name, nodes)
	}
	st := labStatus(t, name)
	if st.Phase != "up" || st.Nodes != nodes || len(st.Details) != nodes || st.RunID != snap.RunID {
		t.Fatalf("status: phase %q, %d nodes, %d detailed, run %s (state.json: %s); want up, %d", st.Phase, st.Nodes, len(st.Details), st.RunID, snap.RunID, nodes)
	}
	for _, d := range st.Details {
		if d.Error != "" {
			t.Errorf("status: node %s: %s", d.Name, d.Error)
		}
	}
	if n := countNetns(name); n != nodes {
		t.Fatalf("%s is up with %d of %d namespaces", name, n, nodes)
	}
	mustNetlab(t, "down", name)
	checkNothingOf(t, name)
	return true
}

// TestConcurrentUpDown: `up` and `down` of one 20-node lab started at the
// same moment, 10 rounds (from a lab that is down, then from one that is
// up, with a random head start of up to 30 ms for either), and two `down`s
// at once. The lab's flock serialises them: each exits as it would alone
// (up: 0, or 3 "already up"; down: 0), and afterwards the lab is either
// fully up or fully down: a parsing state.json that status agrees with
// and every namespace, which one `down` removes completely; or nothing.
func TestConcurrentUpDown(t *testing.T) {
	requireRoot(t)
	t.Parallel()
	const nodes, rounds = 20, 10
	name := labName(t, "updown")
	file := filepath.Join(t.TempDir(), name+".yaml")
	if err := os.WriteFile(file, []byte(plainChain(t, name, nodes)), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cleanupDown(t, name) })
	outcomes := map[string]int{}
	for i := range rounds {
		startUp := i%2 == 1
		if startUp {
			mustNetlab(t, "up", "--wait", "0", file)
		}
		d := time.Duration(rand.IntN(30)) * time.Millisecond
		delays := []time.Duration{d, 0}
		if rand.IntN(2) == 0 {
			delays = []time.Duration{0, d}
		}
		rs := runTogether(t, [][]string{{"up", "--wait", "0", file}, {"down", name}}, delays)
		upR, downR := rs[0], rs[1]
		if downR.code != 0 {
			t.Fatalf("round %d: concurrent down failed:\n%s", i, downR)
		}
		switch {
		case upR.code == 0:
		case startUp && upR.code == 3 && strings.Contains(upR.stderr, "already up"):
		default:
			t.Fatalf("round %d (lab up before: %v): concurrent up: want exit 0 (or 3, already up):\n%s", i, startUp, upR)
		}
		wasUp := checkConsistent(t, name, nodes)
		// up exit 0 and down afterwards: down; down first, then up: up.
		key := fmt.Sprintf("before=%v up=%d after=%v", startUp, upR.code, wasUp)
		outcomes[key]++
		if upR.code == 3 && wasUp {
			t.Fatalf("round %d: up said already up, down succeeded, and the lab is still up", i)
		}
		if t.Failed() {
			t.Fatalf("round %d: inconsistent", i)
		}
	}
	t.Logf("outcomes over %d rounds: %v", rounds, outcomes)

	// Two downs at once: both succeed, exactly one removes the namespaces.
	mustNetlab(t, "up", "--wait", "0", file)
	rs := runTogether(t, [][]string{{"down", "-o", "json", name}, {"down", "-o", "json", name}}, []time.Duration{0, 0})
	removed := 0
	for _, r := range rs {
		if r.code != 0 {
			t.Fatalf("concurrent down failed:\n%s", r)
		}
		var rep struct {
			Removed     []string `json:"removed"`
			NothingToDo bool     `json:"nothing_to_do"`
		}
		decodeJSON(t, "down -o json", r.stdout, &rep)
		switch {
		case len(rep.Removed) == nodes && !rep.NothingToDo:
			removed++
		case len(rep.Removed) == 0 && rep.NothingToDo:
		default:
			t.Errorf("concurrent down removed %d namespaces (nothing_to_do %v); want all %d or none", len(rep.Removed), rep.NothingToDo, nodes)
		}
	}
	if removed != 1 {
		t.Errorf("%d of 2 concurrent downs removed the lab, want 1", removed)
	}
	checkNothingOf(t, name)
}

// procSample is one look at a process's resources.
type procSample struct {
	at            time.Duration
	fds, threads  int
	rssKB         int
	linesSoFar    int64
	statusMissing bool
}

func sampleProc(pid int, at time.Duration, lines int64) (procSample, error) {
	s := procSample{at: at, linesSoFar: lines}
	fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		return s, err
	}
	s.fds = len(fds)
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return s, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		f := strings.Fields(v)
		if len(f) == 0 {
			continue
		}
		switch k {
		case "Threads":
			s.threads, _ = strconv.Atoi(f[0])
		case "VmRSS":
			s.rssKB, _ = strconv.Atoi(f[0])
		}
	}
	if s.threads == 0 || s.rssKB == 0 {
		s.statusMissing = true
	}
	return s, nil
}

// lineCounter counts the lines written to it.
type lineCounter struct{ n atomic.Int64 }

func (c *lineCounter) Write(p []byte) (int, error) {
	c.n.Add(int64(bytes.Count(p, []byte{'\n'})))
	return len(p), nil
}

// starLab is n hosts h0..h<n-1> on one switch, 10.9.0.0/24.
func starLab(name string, n int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "name: %s\nnodes:\n  sw:\n    kind: bridge\n", name)
	for i := range n {
		fmt.Fprintf(&b, "  h%d:\n    interfaces:\n      eth0: {addresses: [10.9.0.%d/24]}\n", i, i+1)
	}
	b.WriteString("links:\n")
	for i := range n {
		fmt.Fprintf(&b, "  - endpoints: [h%d:eth0, sw:p%d]\n", i, i)
	}
	return b.String()
}

// longRun is how long TestWatchLongRun churns: 60 s, or NETLAB_LONG (a Go
// duration, e.g. 10m) for a longer run by hand.
func longRun(t *testing.T) time.Duration {
	v := os.Getenv("NETLAB_LONG")
	if v == "" {
		return 60 * time.Second
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 20*time.Second {
		t.Fatalf("NETLAB_LONG=%q: want a duration of at least 20s", v)
	}
	return d
}

// TestWatchLongRun runs `netlab neigh watch` over all 21 nodes of a star lab
// while every host's neighbour table churns without pause (entries
// replaced and deleted in batches, tables flushed, real pings that go
// INCOMPLETE -> REACHABLE), for 60 s (NETLAB_LONG=10m for longer), and
// samples the watch process's open fds, threads and RSS every second.
// After a 10 s warm-up nothing may grow: fds stay within 2 of the warm-up
// level (no socket or file per poll, event or record), threads within 4,
// and RSS within 4 MB plus 1 MB per further 10 minutes (records are
// printed, not kept; a leak of even 100 bytes per record would show: the
// churn makes tens of thousands of them).
func TestWatchLongRun(t *testing.T) {
	requireRoot(t)
	t.Parallel()
	const hosts = 20
	const warmUp = 10 * time.Second
	run := longRun(t)
	l := newLabText(t, starLab("x", hosts), "longwatch")
	l.up(t)

	cmd := exec.Command(netlabBin, "neigh", "watch", "-o", "jsonl", l.Name)
	cmd.Env = cleanEnv()
	var lines lineCounter
	cmd.Stdout = &lines
	errp, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pid := cmd.Process.Pid // the process we started
	var stderr strings.Builder
	var mu sync.Mutex
	ready := make(chan struct{})
	readerDone := make(chan struct{})
	go func() {
		defer close(readerDone)
		sc := bufio.NewScanner(errp)
		once := sync.Once{}
		for sc.Scan() {
			mu.Lock()
			stderr.WriteString(sc.Text() + "\n")
			mu.Unlock()
			if strings.Contains(sc.Text(), ": ready") {
				once.Do(func() { close(ready) })
			}
		}
		_, _ = io.Copy(io.Discard, errp)
	}()
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		_ = cmd.Process.Signal(syscall.SIGINT)
		done := make(chan error, 1)
		go func() { <-readerDone; done <- cmd.Wait() }()
		select {
		case err := <-done:
			if err != nil {
				mu.Lock()
				t.Errorf("watch exited with %v after SIGINT:\n%s", err, stderr.String())
				mu.Unlock()
			}
		case <-time.After(10 * time.Second):
			t.Errorf("watch did not stop within 10 s of SIGINT")
			_ = cmd.Process.Kill()
			<-done
		}
	}
	t.Cleanup(stop)
	select {
	case <-ready:
	case <-time.After(15 * time.Second):
		mu.Lock()
		defer mu.Unlock()
		t.Fatalf("watch not ready after 15 s:\n%s", stderr.String())
	}

	// Churn: one goroutine per host, joined before the checks.
	ctx, cancel := context.WithTimeout(context.Background(), run)
	defer cancel()
	var churners sync.WaitGroup
	var churnErrs atomic.Int64
	for i := range hosts {
		churners.Add(1)
		go func() {
			defer churners.Done()
			ns := fmt.Sprintf("%s-h%d", l.Name, i)
			var batch strings.Builder
			for k := range 40 {
				fmt.Fprintf(&batch, "neigh replace 10.9.0.%d lladdr 02:00:00:00:%02x:%02x dev eth0 nud stale\n", 100+k, i, k)
			}
			for k := range 20 {
				fmt.Fprintf(&batch, "neigh del 10.9.0.%d dev eth0\n", 100+k)
			}
			batch.WriteString("neigh flush dev eth0\n")
			for round := 0; ctx.Err() == nil; round++ {
				b := exec.CommandContext(ctx, "ip", "-n", ns, "-batch", "-")
				b.Stdin = strings.NewReader(batch.String())
				if err := b.Run(); err != nil && ctx.Err() == nil {
					churnErrs.Add(1)
				}
				peer := (i + 1 + round%(hosts-1)) % hosts
				p := exec.CommandContext(ctx, "ip", "netns", "exec", ns, "ping", "-c1", "-W1", "-q", fmt.Sprintf("10.9.0.%d", peer+1))
				if err := p.Run(); err != nil && ctx.Err() == nil {
					churnErrs.Add(1)
				}
			}
		}()
	}
	var samples []procSample
	begin := time.Now()
	tick := time.NewTicker(time.Second)
	for ctx.Err() == nil {
		select {
		case <-ctx.Done():
		case <-tick.C:
			s, err := sampleProc(pid, time.Since(begin), lines.n.Load())
			if err != nil {
				mu.Lock()
				t.Errorf("watch process %d gone after %s: %v\n%s", pid, time.Since(begin), err, stderr.String())
				mu.Unlock()
				cancel()
				continue
			}
			samples = append(samples, s)
		}
	}
	tick.Stop()
	churners.Wait()
	if t.Failed() {
		return
	}
	stop()

	var base []procSample
	var after []procSample
	for _, s := range samples {
		if s.statusMissing {
			t.Fatalf("no Threads/VmRSS in /proc/%d/status: %+v", pid, s)
		}
		if s.at < warmUp {
			base = append(base, s)
		} else {
			after = append(after, s)
		}
	}
	if len(after) < 5 || len(base) == 0 {
		t.Fatalf("only %d samples after the %s warm-up", len(after), warmUp)
	}
	ref := after[0]
	rssBound := 4096 + 1024*int(run/(10*time.Minute))
	maxFDs, maxThreads, maxRSS := 0, 0, 0
	for _, s := range after {
		maxFDs, maxThreads, maxRSS = max(maxFDs, s.fds), max(maxThreads, s.threads), max(maxRSS, s.rssKB)
	}
	last := after[len(after)-1]
	records := last.linesSoFar - ref.linesSoFar
	t.Logf("watch pid %d over %s: fds %d -> %d (max %d), threads %d -> %d (max %d), RSS %d -> %d kB (max %d); %d records after warm-up, %d in all; %d churn commands failed",
		pid, run, ref.fds, last.fds, maxFDs, ref.threads, last.threads, maxThreads, ref.rssKB, last.rssKB, maxRSS, records, last.linesSoFar, churnErrs.Load())
	if records < 1000 {
		t.Errorf("only %d records after warm-up: the churn did not churn", records)
	}
	if maxFDs > ref.fds+2 {
		t.Errorf("open fds grew from %d to %d after warm-up: %v", ref.fds, maxFDs, column(after, func(s procSample) int { return s.fds }))
	}
	if maxThreads > ref.threads+4 {
		t.Errorf("threads grew from %d to %d after warm-up: %v", ref.threads, maxThreads, column(after, func(s procSample) int { return s.threads }))
	}
	if maxRSS > ref.rssKB+rssBound {
		t.Errorf("RSS grew from %d kB to %d kB after warm-up (bound +%d kB): %v", ref.rssKB, maxRSS, rssBound, column(after, func(s procSample) int { return s.rssKB }))
	}
}

func column(ss []procSample, f func(procSample) int) []int {
	out := make([]int, 0, len(ss))
	for _, s := range ss {
		out = append(out, f(s))
	}
	return out
}

// inMountNS runs netlab in a new mount namespace (the child unshares it
// before exec): private as Go's child setup leaves it (every mount made
// private, recursively), or with the parent's propagation kept (through
// unshare(1), --propagation unchanged).
func inMountNS(t *testing.T, keepPropagation bool, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var cmd *exec.Cmd
	if keepPropagation {
		cmd = exec.CommandContext(ctx, "unshare", append([]string{"--mount", "--propagation", "unchanged", netlabBin}, args...)...)
	} else {
		cmd = exec.CommandContext(ctx, netlabBin, args...)
		cmd.SysProcAttr = &syscall.SysProcAttr{Unshareflags: syscall.CLONE_NEWNS}
	}
	cmd.Env = cleanEnv()
	var so, se bytes.Buffer
	cmd.Stdout, cmd.Stderr = &so, &se
	err := cmd.Run()
	r := result{args: args, stdout: so.String(), stderr: se.String()}
	if ee, ok := err.(*exec.ExitError); ok && ee.ExitCode() >= 0 {
		r.code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("run netlab %s in a new mount namespace: %v\n%s", strings.Join(args, " "), err, r)
	}
	return r
}

// TestPrivateNetnsMount: netlab run in a mount namespace of its own whose
// /run/netns does not propagate to pid 1's (here: Go's CLONE_NEWNS child,
// all mounts private) refuses `up` with exit 3 naming /run/netns, before
// anything is created; without the check the namespaces would exist only
// in that mount namespace and vanish when it ended, leaving state that says
// "up" beside empty mount points. In a new mount namespace that keeps
// shared propagation, up works and the host sees the lab: `ip netns list`
// and `netlab status` in the root mount namespace, and down from there
// removes it.
func TestPrivateNetnsMount(t *testing.T) {
	requireRoot(t)
	t.Parallel()
	l := newLab(t, twoHosts, "privns")
	r := inMountNS(t, false, "up", "--wait", "0", l.File)
	if r.code != 3 || !strings.Contains(r.stderr, netnsDir) || !strings.Contains(r.stderr, "mount namespace") {
		t.Errorf("up in a private mount namespace: want exit 3 naming %s and the mount namespace:\n%s", netnsDir, r)
	}
	checkNothingOf(t, l.Name)
	if exists(filepath.Join(stateDir, ".locks", l.Name+".lock")) {
		t.Errorf("the refused up left its lock file")
	}

	r = inMountNS(t, true, "up", "--wait", "0", l.File)
	if r.code != 0 {
		t.Fatalf("up in a mount namespace with shared propagation: want exit 0:\n%s", r)
	}
	seen := ipNetns(t)
	for _, n := range l.Exp.Nodes {
		if !seen[n.NS] {
			t.Errorf("namespace %s made in a shared child mount namespace is not in the host's ip netns list: %v", n.NS, slices.Sorted(maps.Keys(seen)))
		}
	}
	hs := openLab(t, l.Exp)
	waitLabOper(t, l.Exp, hs)
	checkNetlink(t, l.Exp, hs)
	for _, h := range hs {
		h.close()
	}
	if st := labStatus(t, l.Name); st.Phase != "up" || len(st.Details) != len(l.Exp.Nodes) {
		t.Errorf("status from the host: phase %q, %d nodes", st.Phase, len(st.Details))
	}
	mustNetlab(t, "down", l.Name)
	checkNothingOf(t, l.Name)
}
