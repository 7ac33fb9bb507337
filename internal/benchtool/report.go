package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"
)

// row is one variant at one size: its samples and what the table shows.
type row struct {
	Section string   `json:"section"`
	Tool    string   `json:"tool"`
	Op      string   `json:"op"`
	Variant string   `json:"variant"`
	N       int      `json:"n"`
	Samples []sample `json:"-"`
	Skipped string   `json:"skipped,omitempty"`
	Err     string   `json:"error,omitempty"`

	// Filled by finish.
	Runs       int     `json:"runs"`
	MedianMS   float64 `json:"median_ms"`
	MinMS      float64 `json:"min_ms"`
	MaxMS      float64 `json:"max_ms"`
	CPUMS      float64 `json:"cpu_median_ms"`
	RSSBytes   int64   `json:"peak_rss_bytes"`
	Ratio      float64 `json:"ratio_vs_netlab,omitempty"` // median / netlab's median, same op
	Attempts   int     `json:"ping_attempts_median,omitempty"`
	FreedMS    float64 `json:"namespaces_freed_median_ms,omitempty"`
	FreedAll   bool    `json:"namespaces_freed_seen_every_run,omitempty"`
	WallsMS    []int64 `json:"walls_ms"`
	summary    summary
	hasSummary bool
}

func newRow(section, tool, op, variant string, n int) *row {
	return &row{Section: section, Tool: tool, Op: op, Variant: variant, N: n}
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// finish computes every row's statistics and its ratio to netlab's row of
// the same section, size and operation.
func finish(rows []*row) {
	for _, r := range rows {
		if len(r.Samples) == 0 {
			continue
		}
		s := summarize(r.Samples)
		r.summary, r.hasSummary = s, true
		r.Runs, r.MedianMS, r.MinMS, r.MaxMS = s.Runs, ms(s.Median), ms(s.Min), ms(s.Max)
		r.CPUMS, r.RSSBytes, r.Attempts, r.FreedMS, r.FreedAll = ms(s.CPU), s.MaxRSS, s.Attempts, ms(s.Freed), s.FreedAll
		r.WallsMS = nil
		for _, x := range r.Samples {
			r.WallsMS = append(r.WallsMS, x.Wall.Milliseconds())
		}
	}
	for _, r := range rows {
		if !r.hasSummary {
			continue
		}
		if base := find(rows, r.Section, toolNetlab, r.Op, r.N); base != nil && base.hasSummary && base.summary.Median > 0 {
			r.Ratio = float64(r.summary.Median) / float64(base.summary.Median)
		}
	}
}

func find(rows []*row, section, tool, op string, n int) *row {
	for _, r := range rows {
		if r.Section == section && r.Tool == tool && r.Op == op && r.N == n {
			return r
		}
	}
	return nil
}

// fmtDur prints a duration with three significant digits.
func fmtDur(d time.Duration) string {
	switch {
	case d <= 0:
		return "0"
	case d < time.Second:
		return fmt.Sprintf("%.3g ms", ms(d))
	default:
		return fmt.Sprintf("%.3g s", d.Seconds())
	}
}

func fmtMS(v float64) string { return fmtDur(time.Duration(v * float64(time.Millisecond))) }

func fmtBytes(b int64) string {
	if b <= 0 {
		return "-"
	}
	return fmt.Sprintf("%.1f MB", float64(b)/(1<<20))
}

// header is what the report says about the machine and the run.
type header struct {
	Date        string   `json:"date"`
	Kernel      string   `json:"kernel"`
	Commit      string   `json:"commit"`
	CPUs        int      `json:"cpus"`
	LoadAvg     string   `json:"loadavg_at_start"`
	Netlab      string   `json:"netlab"`
	UpFlags     []string `json:"netlab_up_flags"`
	UpPingFlags []string `json:"netlab_up_ping_flags"`
	Quick       bool     `json:"quick"`
	DurationS   float64  `json:"duration_s"`
}

// target is one PASS/FAIL line.
type target struct {
	Status string `json:"status"` // PASS, FAIL, SKIP, INFO
	Name   string `json:"name"`
	Detail string `json:"detail"`
}

// report is everything the bench prints, and its --json.
type report struct {
	Header  header       `json:"header"`
	Rows    []*row       `json:"rows"`
	Scaling *scaling     `json:"scaling,omitempty"`
	Watch   *watchResult `json:"watch,omitempty"`
	Targets []target     `json:"targets"`
	Errors  []string     `json:"errors,omitempty"`
}

// scaling is netlab up's time per node at the smallest and the largest chain.
type scaling struct {
	SmallN         int     `json:"small_n"`
	SmallMSPerNode float64 `json:"small_ms_per_node"`
	LargeN         int     `json:"large_n"`
	LargeMSPerNode float64 `json:"large_ms_per_node"`
	Ratio          float64 `json:"ratio"`
}

func computeScaling(rows []*row, sizes []int) *scaling {
	if len(sizes) < 2 {
		return nil
	}
	lo, hi := minMax(sizes)
	small, large := find(rows, sectionChain, toolNetlab, opUp, lo), find(rows, sectionChain, toolNetlab, opUp, hi)
	if small == nil || large == nil || !small.hasSummary || !large.hasSummary || lo == hi {
		return nil
	}
	s := &scaling{SmallN: lo, LargeN: hi, SmallMSPerNode: small.MedianMS / float64(lo), LargeMSPerNode: large.MedianMS / float64(hi)}
	if s.SmallMSPerNode > 0 {
		s.Ratio = s.LargeMSPerNode / s.SmallMSPerNode
	}
	return s
}

func minMax(xs []int) (int, int) {
	lo, hi := xs[0], xs[0]
	for _, x := range xs {
		lo, hi = min(lo, x), max(hi, x)
	}
	return lo, hi
}

// targets evaluates issue 7's targets on the sizes measured: the Mininet
// comparison at the smallest linear size (50 in a full run), the chain
// targets at the largest chain (1000), scaling between the smallest and
// the largest chain.
func targets(rows []*row, linear, chain []int, sc *scaling, w *watchResult) []target {
	var ts []target
	add := func(ok bool, name, detail string) {
		st := "FAIL"
		if ok {
			st = "PASS"
		}
		ts = append(ts, target{st, name, detail})
	}
	skip := func(name, why string) { ts = append(ts, target{"SKIP", name, why}) }

	if len(linear) > 0 {
		n, _ := minMax(linear)
		name := fmt.Sprintf("Mininet linear,%d: netlab up+down at least 20x faster", n)
		nl, mn := find(rows, sectionLinear, toolNetlab, opUpDown, n), find(rows, sectionLinear, toolMininet, opUpDown, n)
		switch {
		case mn == nil || mn.Skipped != "":
			why := "Mininet not measured"
			if mn != nil {
				why = mn.Skipped
			}
			skip(name, why)
		case !ok(nl) || !ok(mn):
			skip(name, "a measurement failed")
		default:
			add(mn.Ratio >= 20, name, fmt.Sprintf("netlab %s, mn %s: %.1fx faster", fmtMS(nl.MedianMS), fmtMS(mn.MedianMS), mn.Ratio))
		}
	}
	if len(chain) > 0 {
		_, n := minMax(chain)
		up, batch, floor := find(rows, sectionChain, toolNetlab, opUp, n), find(rows, sectionChain, toolBatch, opUp, n), find(rows, sectionChain, toolFloor, opUp, n)
		down := find(rows, sectionChain, toolNetlab, opDown, n)
		name := fmt.Sprintf("chain %d: netlab up at least 3x faster than the ip -batch script", n)
		if ok(up) && ok(batch) {
			add(batch.Ratio >= 3, name, fmt.Sprintf("netlab %s, ip -batch %s: %.2fx faster", fmtMS(up.MedianMS), fmtMS(batch.MedianMS), batch.Ratio))
		} else {
			skip(name, "a measurement failed")
		}
		name = fmt.Sprintf("chain %d: netlab up no more than 3x the netns+veth floor", n)
		if ok(up) && ok(floor) && floor.MedianMS > 0 {
			x := up.MedianMS / floor.MedianMS
			add(x <= 3, name, fmt.Sprintf("netlab %s, floor %s: %.2fx the floor", fmtMS(up.MedianMS), fmtMS(floor.MedianMS), x))
		} else {
			skip(name, "a measurement failed")
		}
		name = fmt.Sprintf("chain %d: down leaves nothing in under 2 s", n)
		if ok(down) {
			add(down.MedianMS < 2000, name, fmt.Sprintf("median %s (max %s), nothing left after each of %d runs; %s", fmtMS(down.MedianMS), fmtMS(down.MaxMS), down.Runs, freedNote(down)))
		} else {
			skip(name, "a measurement failed")
		}
		name = fmt.Sprintf("chain %d: netlab peak RSS under 150 MB", n)
		if ok(up) {
			add(up.RSSBytes < 150<<20, name, fmt.Sprintf("up %s, down %s", fmtBytes(up.RSSBytes), fmtBytes(rssOf(down))))
		} else {
			skip(name, "a measurement failed")
		}
	}
	if sc != nil {
		add(sc.Ratio <= 1.5, fmt.Sprintf("time per node at N=%d no more than 1.5x that at N=%d", sc.LargeN, sc.SmallN),
			fmt.Sprintf("%.3f ms/node vs %.3f ms/node: %.2fx", sc.LargeMSPerNode, sc.SmallMSPerNode, sc.Ratio))
	}
	if w != nil {
		if w.Err != "" {
			skip("neigh watch observation", w.Err)
		} else {
			ts = append(ts, target{"INFO", fmt.Sprintf("neigh watch over %d nodes, idle", w.Nodes),
				fmt.Sprintf("%.4f CPU-s per s over %s after ready (ready after %s, %s CPU to start), peak RSS %s, %d transition(s) while idle",
					w.IdleCPUPerSec, fmtMS(float64(w.IdleWindowMS)), fmtMS(float64(w.ReadyMS)), fmtMS(float64(w.StartupCPUMS)), fmtBytes(w.RSSBytes), w.IdleRecords)})
			if w.Burst > 0 {
				add(w.AddsSeen == w.Burst && w.DeletesSeen == w.Burst, fmt.Sprintf("neigh watch over %d nodes catches every transition of a burst of %d", w.Nodes, w.Burst),
					fmt.Sprintf("%s: %d/%d added (one ip -batch, %dms) and %d/%d deleted (%dms) seen, %d gap(s)", w.BurstNode, w.AddsSeen, w.Burst, w.AddMS, w.DeletesSeen, w.Burst, w.DeleteMS, w.Gaps))
			}
		}
	}
	return ts
}

// freedNote says when the kernel had freed a down's namespaces.
func freedNote(r *row) string {
	if !r.FreedAll {
		return "the kernel's teardown of the namespaces was not seen to end in every run"
	}
	return fmt.Sprintf("kernel done destroying the namespaces %s after (median)", fmtMS(r.FreedMS))
}

func ok(r *row) bool { return r != nil && r.hasSummary && r.Err == "" }

func rssOf(r *row) int64 {
	if r == nil {
		return 0
	}
	return r.RSSBytes
}

// writeMarkdown prints the report as markdown.
func (rp *report) writeMarkdown(w io.Writer) {
	h := rp.Header
	fmt.Fprintf(w, "# netlab benchmark\n\n")
	fmt.Fprintf(w, "date %s, kernel %s, commit %s, %d CPUs, load average at start %s", h.Date, h.Kernel, h.Commit, h.CPUs, h.LoadAvg)
	if h.Quick {
		fmt.Fprintf(w, ", QUICK (smoke sizes: numbers say nothing about the targets)")
	}
	fmt.Fprintf(w, "\n\nnetlab %s; `up` flags %q, up+ping `up` flags %q; bench took %.0f s\n\n", h.Netlab, h.UpFlags, h.UpPingFlags, h.DurationS)
	fmt.Fprintln(w, "Wall times: median (min, max) of the runs; each run starts from nothing and is cleaned up and checked before the next.")
	fmt.Fprintln(w, "vs netlab: this variant's median over netlab's for the same operation and N (above 1: netlab is faster).")
	fmt.Fprintln(w, "RSS: the largest peak RSS of the variant's processes; CPU: median user+sys of its processes (kernel work done in workqueues is not counted).")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| variant | N | median | min | max | vs netlab | peak RSS | CPU | runs | notes |")
	fmt.Fprintln(w, "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|")
	section := ""
	for _, r := range rp.Rows {
		if r.Section != section {
			section = r.Section
			fmt.Fprintf(w, "| **%s** | | | | | | | | | |\n", section)
		}
		if !r.hasSummary {
			note := r.Skipped
			if r.Err != "" {
				note = "ERROR: " + oneLine(r.Err)
			}
			fmt.Fprintf(w, "| %s | %d | - | - | - | - | - | - | 0 | %s |\n", r.Variant, r.N, note)
			continue
		}
		ratio := "-"
		if r.Ratio > 0 {
			ratio = fmt.Sprintf("%.2fx", r.Ratio)
		}
		var notes []string
		if r.Attempts > 0 {
			notes = append(notes, fmt.Sprintf("ping attempts %d", r.Attempts))
		}
		if r.Op == opDown {
			notes = append(notes, freedNote(r))
		}
		if r.Err != "" {
			notes = append(notes, "ERROR after some runs: "+oneLine(r.Err))
		}
		fmt.Fprintf(w, "| %s | %d | %s | %s | %s | %s | %s | %s | %d | %s |\n", r.Variant, r.N, fmtMS(r.MedianMS), fmtMS(r.MinMS), fmtMS(r.MaxMS), ratio, fmtBytes(r.RSSBytes), fmtMS(r.CPUMS), r.Runs, strings.Join(notes, "; "))
	}
	fmt.Fprintln(w)
	if sc := rp.Scaling; sc != nil {
		fmt.Fprintf(w, "scaling (netlab up, chain): N=%d %.3f ms/node, N=%d %.3f ms/node: %.2fx\n\n", sc.SmallN, sc.SmallMSPerNode, sc.LargeN, sc.LargeMSPerNode, sc.Ratio)
	}
	fmt.Fprintln(w, "targets (issue 7):")
	fmt.Fprintln(w)
	for _, t := range rp.Targets {
		fmt.Fprintf(w, "    %-4s  %s: %s\n", t.Status, t.Name, t.Detail)
	}
	if len(rp.Errors) > 0 {
		fmt.Fprintln(w)
		fmt.Fprintln(w, "errors:")
		for _, e := range rp.Errors {
			fmt.Fprintf(w, "    %s\n", oneLine(e))
		}
	}
}

func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	s = strings.ReplaceAll(s, "|", "/")
	if len(s) > 300 {
		s = s[:300] + "..."
	}
	return s
}

func (rp *report) writeJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(rp)
}
