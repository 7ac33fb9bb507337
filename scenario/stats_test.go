package scenario

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/netlabdev/netlab/neighctl"
)

func tr(t int64, node, ip string, old, new neighctl.State, src neighctl.Source) neighctl.Record {
	return neighctl.Record{Kind: neighctl.KindTransition, TMS: t, Node: node, Dev: "eth0", IP: netip.MustParseAddr(ip), Old: old, New: new, Source: src}
}

func TestIntervals(t *testing.T) {
	tl := []neighctl.Record{
		tr(0, "h2", "192.0.2.1", neighctl.Absent, neighctl.Reachable, neighctl.SourceInitial), // start unknown: not counted
		tr(5, "h1", "192.0.2.2", neighctl.Absent, neighctl.Reachable, neighctl.SourceEvent),
		tr(3000, "h2", "192.0.2.1", neighctl.Reachable, neighctl.Stale, neighctl.SourceEvent),
		tr(4005, "h1", "192.0.2.2", neighctl.Reachable, neighctl.Stale, neighctl.SourceEvent),
		tr(9005, "h1", "192.0.2.2", neighctl.Stale, neighctl.Absent, neighctl.SourceEvent),
		tr(9100, "h1", "192.0.2.2", neighctl.Absent, neighctl.Reachable, neighctl.SourceEvent),
		{Kind: neighctl.KindGap, TMS: 9200, Node: "h1", EndTMS: 9300},
		tr(12000, "h1", "192.0.2.2", neighctl.Reachable, neighctl.Stale, neighctl.SourceEvent), // voided by the gap
	}
	got := Intervals(tl)
	h1 := EntryKey{Node: "h1", Dev: "eth0", IP: netip.MustParseAddr("192.0.2.2")}
	if r := got[h1][IntervalReachable]; len(r) != 1 || r[0] != 4000 {
		t.Errorf("h1 reachable = %v, want [4000]", r)
	}
	if r := got[h1][IntervalStaleToDeletion]; len(r) != 1 || r[0] != 5000 {
		t.Errorf("h1 stale_to_deletion = %v, want [5000]", r)
	}
	h2 := EntryKey{Node: "h2", Dev: "eth0", IP: netip.MustParseAddr("192.0.2.1")}
	if r := got[h2]; len(r) != 0 {
		t.Errorf("h2 (initial state) = %v, want none", r)
	}
}

func TestSummarize(t *testing.T) {
	var reps []*Report
	for _, d := range []int64{2100, 5900, 3000, 4000, 2500} {
		reps = append(reps, &Report{
			Timeline: []neighctl.Record{
				tr(1, "h1", "192.0.2.2", neighctl.Absent, neighctl.Reachable, neighctl.SourceEvent),
				tr(1+d, "h1", "192.0.2.2", neighctl.Reachable, neighctl.Stale, neighctl.SourceEvent),
			},
			Params: []NeighParams{{Node: "h1", Dev: "eth0", Family: "inet", BaseReachableTimeMS: 4000}},
		})
	}
	sums := Summarize(reps)
	if len(sums) != 1 {
		t.Fatalf("summaries: %+v", sums)
	}
	s := sums[0]
	if s.Count != 5 || s.MinMS != 2100 || s.MedianMS != 3000 || s.P95MS != 5900 || s.MaxMS != 5900 || s.WindowMinMS != 2000 || s.WindowMaxMS != 6000 {
		t.Errorf("summary: %+v", s)
	}
	if str := s.String(); !strings.Contains(str, "n=5 min 2.1s median 3s p95 5.9s max 5.9s") || !strings.Contains(str, "[2s, 6s)") {
		t.Errorf("String() = %q", str)
	}
}

func TestPercentile(t *testing.T) {
	s := []int64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}
	for p, want := range map[float64]int64{50: 5, 95: 10, 100: 10, 0: 1, 10: 1, 11: 2} {
		if got := percentile(s, p); got != want {
			t.Errorf("p%v = %d, want %d", p, got, want)
		}
	}
}
