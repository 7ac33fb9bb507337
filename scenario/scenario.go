package scenario

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/netlabdev/netlab/lab"
	"github.com/netlabdev/netlab/neighctl"
	"github.com/netlabdev/netlab/topology"
)

// Defaults from DESIGN.md "Scenario semantics".
const (
	DefaultWaitTimeout  = 5 * time.Second
	DefaultPollInterval = 20 * time.Millisecond
	DefaultPingInterval = 200 * time.Millisecond
	DefaultPingTimeout  = time.Second
	DefaultArpTimeout   = time.Second
	// MaxOutput bounds the output of an exec step kept in the report.
	MaxOutput = 64 << 10
	// TimelineTail is how many timeline records of an entry a neighbour
	// condition's message carries.
	TimelineTail = 12
)

// Verdict is a step's outcome.
type Verdict string

// Verdicts.
const (
	Pass    Verdict = "PASS"
	Fail    Verdict = "FAIL"
	Error   Verdict = "ERROR"
	Skipped Verdict = "SKIPPED"
)

// Options configure Run.
type Options struct {
	// Out is the directory for report.json, junit.xml, the timeline files
	// and captures; "" writes no files (captures are discarded).
	Out string
	// Lab is passed to lab.OpenNode (state directory, ...).
	Lab lab.Options
	// RunID is the lab's run id (recorded in the report).
	RunID string
	// PollInterval is how often wait re-checks its condition (0: 20 ms).
	PollInterval time.Duration
	// OnStep, if set, is called after every step (from Run's goroutine).
	OnStep func(StepResult)
	// Logger receives progress at debug level; nil logs nothing.
	Logger *slog.Logger
}

// StepResult is one step's outcome.
type StepResult struct {
	Index   int     `json:"index"`
	Name    string  `json:"name"`
	Kind    string  `json:"kind"`
	Verdict Verdict `json:"verdict"`
	// StartMS is the step's start since the run began.
	StartMS    int64  `json:"start_ms"`
	DurationMS int64  `json:"duration_ms"`
	Message    string `json:"message,omitempty"`
	// Output is an exec step's output (stdout and stderr, bounded).
	Output string `json:"output,omitempty"`
	// Timeline is the recent timeline of the neighbour entry a condition
	// names, one record per line.
	Timeline []string `json:"timeline,omitempty"`

	Start    time.Duration `json:"-"`
	Duration time.Duration `json:"-"`
}

// NeighParams is one interface's neighbour parameters at the start of a run.
type NeighParams struct {
	Node                string `json:"node"`
	Dev                 string `json:"dev"`
	Family              string `json:"family"`
	ReachableTimeMS     int64  `json:"reachable_time_ms"`
	BaseReachableTimeMS int64  `json:"base_reachable_time_ms"`
	DelayFirstProbeMS   int64  `json:"delay_first_probe_time_ms"`
	GCStaleTimeMS       int64  `json:"gc_stale_time_ms"`
}

// CaptureResult is a capture step's outcome, known when it ended.
type CaptureResult struct {
	Step    int    `json:"step"`
	Node    string `json:"node"`
	Dev     string `json:"dev"`
	File    string `json:"file,omitempty"`
	Packets int    `json:"packets"`
	Bytes   int64  `json:"bytes"`
	Dropped uint64 `json:"dropped"`
	Error   string `json:"error,omitempty"`
}

// Report is a finished run.
type Report struct {
	Lab        string          `json:"lab"`
	File       string          `json:"file,omitempty"`
	RunID      string          `json:"run_id,omitempty"`
	Started    time.Time       `json:"started"`
	DurationMS int64           `json:"duration_ms"`
	Kernel     string          `json:"kernel"`
	Passed     bool            `json:"passed"`
	Tests      int             `json:"tests"`
	Failures   int             `json:"failures"`
	Errors     int             `json:"errors"`
	Skipped    int             `json:"skipped"`
	Steps      []StepResult    `json:"steps"`
	Params     []NeighParams   `json:"neigh_params"`
	Captures   []CaptureResult `json:"captures,omitempty"`
	// TimelineRecords counts the neighbour timeline's records; TimelineError
	// is why the watch stopped early, if it did.
	TimelineRecords int    `json:"timeline_records"`
	TimelineError   string `json:"timeline_error,omitempty"`

	Duration time.Duration `json:"-"`
	// Timeline is the run's neighbour timeline (also in timeline.jsonl).
	Timeline []neighctl.Record `json:"-"`
}

// runner is one run's state.
type runner struct {
	topo *topology.Topo
	o    Options
	t0   time.Time

	ns    map[string]netns.NsHandle
	neigh map[string]*neighctl.Conn

	mu       sync.Mutex
	timeline []neighctl.Record

	capWG    sync.WaitGroup
	capMu    sync.Mutex
	captures []CaptureResult
	capStop  context.CancelFunc
}

// Run runs the scenario of topo's lab against the running lab topo.Name and
// returns its report. Step failures are in the report, not in the error: Run
// fails only when it cannot start (a node cannot be opened, the timeline
// cannot be recorded, the output directory cannot be written). When ctx
// ends, the current step is an ERROR and the rest are SKIPPED.
func Run(ctx context.Context, topo *topology.Topo, o Options) (rep *Report, err error) {
	if o.PollInterval <= 0 {
		o.PollInterval = DefaultPollInterval
	}
	r := &runner{topo: topo, o: o, ns: map[string]netns.NsHandle{}, neigh: map[string]*neighctl.Conn{}}
	defer r.close()
	for _, n := range topo.Nodes {
		h, err := lab.OpenNode(topo.Name, n.Name, o.Lab)
		if err != nil {
			return nil, fmt.Errorf("node %s: %w", n.Name, err)
		}
		r.ns[n.Name] = h
		c, err := neighctl.Open(h)
		if err != nil {
			return nil, fmt.Errorf("node %s: neighbour table: %w", n.Name, err)
		}
		r.neigh[n.Name] = c
	}
	rep = &Report{Lab: topo.Name, RunID: o.RunID, Kernel: kernel(), Steps: []StepResult{}, Params: []NeighParams{}}
	if topo.Lab != nil {
		rep.File = topo.Lab.File
	}
	rep.Params = r.params(ctx)

	var tl *timelineFiles
	if o.Out != "" {
		if err := os.MkdirAll(o.Out, 0o755); err != nil {
			return nil, fmt.Errorf("output directory: %w", err)
		}
		if tl, err = openTimeline(o.Out); err != nil {
			return nil, err
		}
	}

	// The neighbour timeline of every node, for the whole run.
	wctx, stopWatch := context.WithCancel(ctx)
	defer stopWatch()
	targets := make([]neighctl.Target, 0, len(topo.Nodes))
	for _, n := range topo.Nodes {
		targets = append(targets, neighctl.Target{Node: n.Name, Conn: r.neigh[n.Name]})
	}
	ready := make(chan struct{})
	var readyOnce sync.Once
	var werr, recErr error
	r.t0 = time.Now()
	watchDone := make(chan struct{})
	go func() {
		defer close(watchDone)
		werr = neighctl.WatchMany(wctx, targets, neighctl.WatchOptions{Start: r.t0, OnReady: func() { readyOnce.Do(func() { close(ready) }) }}, func(rec neighctl.Record) {
			r.mu.Lock()
			r.timeline = append(r.timeline, rec)
			r.mu.Unlock()
			if tl != nil {
				recErr = errors.Join(recErr, tl.write(rec))
			}
		})
	}()
	finishWatch := func() {
		stopWatch()
		<-watchDone
		if tl != nil {
			recErr = errors.Join(recErr, tl.close())
		}
	}
	select {
	case <-ready:
	case <-watchDone:
		if tl != nil {
			_ = tl.close()
		}
		return nil, fmt.Errorf("neighbour timeline: %w", errors.Join(werr, errors.New("watch ended before it was ready")))
	case <-ctx.Done():
		finishWatch()
		return nil, ctx.Err()
	}

	capCtx, capStop := context.WithCancel(context.WithoutCancel(ctx))
	r.capStop = capStop
	rep.Started = time.Now()
	stop := false
	for i, s := range topo.Lab.Scenario {
		res := StepResult{Index: i + 1, Name: stepName(s), Kind: s.Action()}
		res.Start = time.Since(r.t0)
		if stop {
			res.Verdict = Skipped
			res.Message = "skipped: an earlier step failed"
		} else {
			r.step(ctx, capCtx, i, s, &res)
			res.Duration = time.Since(r.t0) - res.Start
			if res.Verdict != Pass {
				stop = true
			}
		}
		res.StartMS, res.DurationMS = res.Start.Milliseconds(), res.Duration.Milliseconds()
		if o.Logger != nil {
			o.Logger.Debug("step", "index", res.Index, "name", res.Name, "verdict", res.Verdict, "message", res.Message)
		}
		if o.OnStep != nil {
			o.OnStep(res)
		}
		rep.Steps = append(rep.Steps, res)
	}
	// Captures run until their bound or the end of the run.
	capStop()
	r.capWG.Wait()
	rep.Captures = r.captures
	finishWatch()
	rep.Duration = time.Since(rep.Started)
	rep.DurationMS = rep.Duration.Milliseconds()
	r.mu.Lock()
	rep.TimelineRecords = len(r.timeline)
	rep.Timeline = slices.Clone(r.timeline)
	r.mu.Unlock()
	if werr != nil {
		rep.TimelineError = werr.Error()
	}
	rep.tally()
	if o.Out != "" {
		perr := PlotTimeline(filepath.Join(o.Out, TimelinePlotFile), "neighbour states: lab "+topo.Name, rep.Timeline, time.Since(r.t0).Milliseconds())
		return rep, errors.Join(recErr, perr, rep.WriteFiles(o.Out))
	}
	return rep, recErr
}

func (rep *Report) tally() {
	rep.Tests, rep.Failures, rep.Errors, rep.Skipped = len(rep.Steps), 0, 0, 0
	for _, s := range rep.Steps {
		switch s.Verdict {
		case Fail:
			rep.Failures++
		case Error:
			rep.Errors++
		case Skipped:
			rep.Skipped++
		}
	}
	rep.Passed = rep.Failures == 0 && rep.Errors == 0 && rep.Skipped == 0
}

func (r *runner) close() {
	if r.capStop != nil {
		r.capStop()
	}
	r.capWG.Wait()
	for _, c := range r.neigh {
		_ = c.Close()
	}
	for _, h := range r.ns {
		_ = h.Close()
	}
}

// params reads every interface's neighbour parameters (reachable_time is
// the kernel's current random draw, which no sysctl shows).
func (r *runner) params(ctx context.Context) []NeighParams {
	out := []NeighParams{}
	for _, n := range r.topo.Nodes {
		for _, ifc := range n.Ifaces {
			if ifc.Name == "lo" {
				continue
			}
			for _, fam := range []int{unix.AF_INET, unix.AF_INET6} {
				p, err := r.neigh[n.Name].Params(ctx, fam, ifc.Name)
				if err != nil {
					continue
				}
				out = append(out, NeighParams{Node: n.Name, Dev: ifc.Name, Family: p.Family,
					ReachableTimeMS: p.ReachableTimeMS, BaseReachableTimeMS: p.BaseReachableTimeMS,
					DelayFirstProbeMS: p.DelayFirstProbeTimeMS, GCStaleTimeMS: p.GCStaleTimeMS})
			}
		}
	}
	return out
}

// entryTimeline is the recent timeline of one neighbour entry.
func (r *runner) entryTimeline(node string, ip netip.Addr) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, rec := range r.timeline {
		if rec.Node == node && (rec.Kind == neighctl.KindGap || rec.IP == ip) {
			out = append(out, rec.String())
		}
	}
	if len(out) > TimelineTail {
		out = out[len(out)-TimelineTail:]
	}
	return out
}

func kernel() string {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		return ""
	}
	return unix.ByteSliceToString(u.Release[:])
}

// stepName is a step's name, or a summary of it.
func stepName(s *topology.Step) string {
	if s.Name != "" {
		return s.Name
	}
	switch {
	case s.Ping != nil:
		return fmt.Sprintf("ping %s -> %s", s.Ping.From, s.Ping.To)
	case s.Arping != nil:
		m := s.Arping.Mode
		if m == "" {
			m = "request"
		}
		return fmt.Sprintf("arping %s %s %s", s.Arping.From, m, s.Arping.To)
	case s.TCP != nil:
		return fmt.Sprintf("tcp %s -> %s:%d", s.TCP.From, s.TCP.To, s.TCP.Port)
	case s.Expect != nil:
		return "expect " + condString(s.Expect)
	case s.Wait != nil:
		return "wait " + condString(s.Wait)
	case s.Sysctl != nil:
		return fmt.Sprintf("sysctl %s %s=%s", s.Sysctl.Node, s.Sysctl.Key, s.Sysctl.Value)
	case s.Neigh != nil:
		return strings.Join(nonEmpty("neigh", s.Neigh.Node, s.Neigh.Action, s.Neigh.To, s.Neigh.Dev), " ")
	case s.Exec != nil:
		return fmt.Sprintf("exec %s %s", s.Exec.Node, strings.Join(s.Exec.Cmd, " "))
	case s.Sleep != nil:
		return "sleep " + s.Sleep.String()
	case s.Link != nil:
		return fmt.Sprintf("link %s %s %s", s.Link.Node, s.Link.Dev, strings.ToLower(s.Link.State))
	case s.Firewall != nil:
		if s.Firewall.Flush {
			return "firewall " + s.Firewall.Node + " flush"
		}
		return fmt.Sprintf("firewall %s add %d rule(s)", s.Firewall.Node, len(s.Firewall.Add))
	case s.Capture != nil:
		return fmt.Sprintf("capture %s %s", s.Capture.Node, s.Capture.Dev)
	}
	return "step"
}

func nonEmpty(ss ...string) []string {
	var out []string
	for _, s := range ss {
		if s != "" {
			out = append(out, s)
		}
	}
	return out
}

// condString prints a condition as the lab file says it.
func condString(c *topology.Condition) string {
	parts := []string{c.Node}
	switch {
	case c.Neighbor != "":
		parts = append(parts, "neighbor "+c.Neighbor)
	case c.Route != nil:
		q := "route to " + c.Route.To
		if c.Route.From != "" {
			q += " from " + c.Route.From
		}
		if c.Route.IIF != "" {
			q += " iif " + c.Route.IIF
		}
		parts = append(parts, q)
	case c.Sysctl != "":
		parts = append(parts, "sysctl "+c.Sysctl)
	case c.FDB != "":
		parts = append(parts, "fdb "+c.FDB)
	}
	parts = append(parts, wantString(c))
	return strings.Join(nonEmpty(parts...), " ")
}

// wantString is what a condition expects.
func wantString(c *topology.Condition) string {
	var w []string
	if c.Absent {
		w = append(w, "absent")
	}
	if len(c.State) > 0 {
		w = append(w, "state "+strings.ToUpper(strings.Join(c.State, "|")))
	}
	if c.LLAddr != "" {
		w = append(w, "lladdr "+strings.ToLower(c.LLAddr))
	}
	if c.Via != "" {
		w = append(w, "via "+c.Via)
	}
	if c.Dev != "" && c.Neighbor == "" {
		w = append(w, "dev "+c.Dev)
	}
	if c.Type != "" {
		w = append(w, "type "+c.Type)
	}
	if c.Value != nil {
		w = append(w, "value "+string(*c.Value))
	}
	if len(w) == 0 && c.Neighbor != "" {
		w = append(w, "present")
	}
	return strings.Join(w, ", ")
}

// outPath places a file in the output directory.
func (r *runner) outPath(name string) string {
	if r.o.Out == "" || filepath.IsAbs(name) {
		return name
	}
	return filepath.Join(r.o.Out, name)
}
