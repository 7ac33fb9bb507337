package scenario

import (
	"fmt"
	"net/netip"
	"slices"
	"sort"
	"time"

	"github.com/netlabdev/netlab/neighctl"
)

// Transition statistics across repeated runs (netlab run --repeat N).

// Kinds of measured intervals.
const (
	// IntervalReachable: from entering REACHABLE to leaving it.
	IntervalReachable = "reachable"
	// IntervalStaleToDeletion: from entering STALE to the entry's deletion.
	IntervalStaleToDeletion = "stale_to_deletion"
)

// EntryKey names one neighbour entry across runs.
type EntryKey struct {
	Node string     `json:"node"`
	Dev  string     `json:"dev"`
	IP   netip.Addr `json:"ip"`
}

func (k EntryKey) String() string { return fmt.Sprintf("%s %s %s", k.Node, k.Dev, k.IP) }

// Intervals extracts, per entry, the measured intervals of one run's
// timeline (milliseconds). A state still in force when the run ended is not
// counted; a gap (lost events) voids the interval it overlaps.
func Intervals(timeline []neighctl.Record) map[EntryKey]map[string][]int64 {
	out := map[EntryKey]map[string][]int64{}
	type open struct {
		state neighctl.State
		at    int64
		ok    bool
	}
	cur := map[EntryKey]open{}
	for _, r := range timeline {
		if r.Kind == neighctl.KindGap {
			for k, o := range cur {
				if k.Node == r.Node {
					o.ok = false
					cur[k] = o
				}
			}
			continue
		}
		k := EntryKey{Node: r.Node, Dev: r.Dev, IP: r.IP}
		prev, seen := cur[k]
		if seen && prev.ok && prev.state == r.Old {
			add := func(kind string, d int64) {
				if out[k] == nil {
					out[k] = map[string][]int64{}
				}
				out[k][kind] = append(out[k][kind], d)
			}
			switch {
			case r.Old == neighctl.Reachable && r.New != neighctl.Reachable:
				add(IntervalReachable, r.TMS-prev.at)
			case r.Old == neighctl.Stale && r.New == neighctl.Absent:
				add(IntervalStaleToDeletion, r.TMS-prev.at)
			}
		}
		// An initial record is a state already in force: its start is unknown.
		cur[k] = open{state: r.New, at: r.TMS, ok: r.Source != neighctl.SourceInitial}
	}
	return out
}

// Summary is the distribution of one kind of interval of one entry.
type Summary struct {
	Entry    EntryKey `json:"entry"`
	Interval string   `json:"interval"`
	Count    int      `json:"count"`
	MinMS    int64    `json:"min_ms"`
	MedianMS int64    `json:"median_ms"`
	P95MS    int64    `json:"p95_ms"`
	MaxMS    int64    `json:"max_ms"`
	Samples  []int64  `json:"samples_ms"`
	// The kernel's window for a REACHABLE interval, from the device's
	// base_reachable_time: [base/2, 3*base/2) (timers may fire up to a few
	// hundred ms late).
	WindowMinMS int64 `json:"window_min_ms,omitempty"`
	WindowMaxMS int64 `json:"window_max_ms,omitempty"`
}

func (s Summary) String() string {
	ms := func(v int64) string { return (time.Duration(v) * time.Millisecond).String() }
	line := fmt.Sprintf("%s %s: n=%d min %s median %s p95 %s max %s", s.Entry, s.Interval, s.Count, ms(s.MinMS), ms(s.MedianMS), ms(s.P95MS), ms(s.MaxMS))
	if s.WindowMaxMS > 0 {
		line += fmt.Sprintf("  (kernel window [%s, %s))", ms(s.WindowMinMS), ms(s.WindowMaxMS))
	}
	return line
}

// percentile is the nearest-rank percentile of sorted samples.
func percentile(sorted []int64, p float64) int64 {
	if len(sorted) == 0 {
		return 0
	}
	i := int(p/100*float64(len(sorted))+0.999999) - 1
	i = max(0, min(i, len(sorted)-1))
	return sorted[i]
}

// Summarize merges the intervals of several runs' reports and summarises
// them, with the kernel's window for REACHABLE taken from the reports'
// neighbour parameters (the first run's base_reachable_time).
func Summarize(reps []*Report) []Summary {
	all := map[EntryKey]map[string][]int64{}
	base := map[[2]string]int64{}
	for _, rep := range reps {
		for k, m := range Intervals(rep.Timeline) {
			if all[k] == nil {
				all[k] = map[string][]int64{}
			}
			for kind, ds := range m {
				all[k][kind] = append(all[k][kind], ds...)
			}
		}
		for _, p := range rep.Params {
			key := [2]string{p.Node + " " + p.Dev, p.Family}
			if _, ok := base[key]; !ok {
				base[key] = p.BaseReachableTimeMS
			}
		}
	}
	var out []Summary
	for k, m := range all {
		for kind, ds := range m {
			s := slices.Clone(ds)
			slices.Sort(s)
			sum := Summary{Entry: k, Interval: kind, Count: len(s), MinMS: s[0], MaxMS: s[len(s)-1],
				MedianMS: percentile(s, 50), P95MS: percentile(s, 95), Samples: ds}
			if kind == IntervalReachable {
				fam := "inet"
				if k.IP.Is6() {
					fam = "inet6"
				}
				if b := base[[2]string{k.Node + " " + k.Dev, fam}]; b > 0 {
					sum.WindowMinMS, sum.WindowMaxMS = b/2, 3*b/2
				}
			}
			out = append(out, sum)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if a, b := out[i].Entry.String(), out[j].Entry.String(); a != b {
			return a < b
		}
		return out[i].Interval < out[j].Interval
	})
	return out
}
