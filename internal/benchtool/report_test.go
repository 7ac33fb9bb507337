package main

import (
	"bytes"
	"encoding/json"
	"net/netip"
	"strings"
	"testing"
	"time"
)

func TestMedian(t *testing.T) {
	for _, tc := range []struct {
		in   []time.Duration
		want time.Duration
	}{
		{nil, 0},
		{[]time.Duration{5}, 5},
		{[]time.Duration{9, 1, 5}, 5},
		{[]time.Duration{4, 1, 3, 2}, 2}, // (2+3)/2 in integer nanoseconds
		{[]time.Duration{10, 30, 20, 40}, 25},
	} {
		in := append([]time.Duration(nil), tc.in...)
		if got := median(tc.in); got != tc.want {
			t.Errorf("median(%v) = %v, want %v", tc.in, got, tc.want)
		}
		for i := range in {
			if in[i] != tc.in[i] {
				t.Fatalf("median reordered its input: %v", tc.in)
			}
		}
	}
}

func TestSummarize(t *testing.T) {
	s := summarize([]sample{
		{Wall: 3 * time.Second, CPU: time.Second, MaxRSS: 10, Attempts: 1, FreedOK: true},
		{Wall: 1 * time.Second, CPU: 3 * time.Second, MaxRSS: 30, Attempts: 2, FreedOK: true},
		{Wall: 2 * time.Second, CPU: 2 * time.Second, MaxRSS: 20, Attempts: 1, FreedOK: false},
	})
	if s.Runs != 3 || s.Median != 2*time.Second || s.Min != time.Second || s.Max != 3*time.Second {
		t.Errorf("walls: %+v", s)
	}
	if s.CPU != 2*time.Second || s.MaxRSS != 30 || s.Attempts != 1 || s.FreedAll {
		t.Errorf("cpu/rss/attempts/freed: %+v", s)
	}
}

func TestSampleAdd(t *testing.T) {
	s := sample{Wall: time.Second, CPU: time.Second, MaxRSS: 50, Attempts: 1}
	s.add(sample{Wall: 2 * time.Second, CPU: 3 * time.Second, MaxRSS: 20, Attempts: 2})
	if s.Wall != 3*time.Second || s.CPU != 4*time.Second || s.MaxRSS != 50 || s.Attempts != 3 {
		t.Errorf("add: %+v", s)
	}
}

func walls(ds ...time.Duration) []sample {
	var out []sample
	for _, d := range ds {
		out = append(out, sample{Wall: d, MaxRSS: 40 << 20, FreedOK: true})
	}
	return out
}

// A synthetic run: ratios against netlab's row of the same operation,
// targets computed from the medians, sizes taken from what was measured.
func TestTargetsAndRatios(t *testing.T) {
	ms := time.Millisecond
	rows := []*row{
		{Section: sectionLinear, Tool: toolNetlab, Op: opUpDown, N: 50, Samples: walls(500*ms, 600*ms, 700*ms)},
		{Section: sectionLinear, Tool: toolMininet, Op: opUpDown, N: 50, Samples: walls(15 * time.Second)},
		{Section: sectionChain, Tool: toolNetlab, Op: opUp, N: 100, Samples: walls(300 * ms)},
		{Section: sectionChain, Tool: toolNetlab, Op: opUp, N: 1000, Samples: walls(4000 * ms)},
		{Section: sectionChain, Tool: toolBatch, Op: opUp, N: 1000, Samples: walls(10000 * ms)},
		{Section: sectionChain, Tool: toolFloor, Op: opUp, N: 1000, Samples: walls(1000 * ms)},
		{Section: sectionChain, Tool: toolNetlab, Op: opDown, N: 1000, Samples: walls(2500*ms, 1500*ms, 1000*ms)},
	}
	finish(rows)
	if got := rows[1].Ratio; got < 24.9 || got > 25.1 {
		t.Errorf("mininet ratio %v, want 25", got)
	}
	if got := rows[4].Ratio; got != 2.5 {
		t.Errorf("ip -batch ratio %v, want 2.5", got)
	}
	if got := rows[0].Ratio; got != 1 {
		t.Errorf("netlab's own ratio %v, want 1", got)
	}
	sc := computeScaling(rows, []int{1000, 100})
	if sc == nil || sc.SmallN != 100 || sc.LargeN != 1000 || sc.SmallMSPerNode != 3 || sc.LargeMSPerNode != 4 {
		t.Fatalf("scaling %+v", sc)
	}
	w := &watchResult{Nodes: 200, Burst: 1000, AddsSeen: 1000, DeletesSeen: 999}
	got := map[string]string{}
	for _, tg := range targets(rows, []int{200, 50}, []int{100, 1000}, sc, w) {
		got[tg.Name] = tg.Status
	}
	want := map[string]string{
		"Mininet linear,50: netlab up+down at least 20x faster":                  "PASS",
		"chain 1000: netlab up at least 3x faster than the ip -batch script":     "FAIL",
		"chain 1000: netlab up no more than 3x the netns+veth floor":             "FAIL",
		"chain 1000: down leaves nothing in under 2 s":                           "PASS",
		"chain 1000: netlab peak RSS under 150 MB":                               "PASS",
		"time per node at N=1000 no more than 1.5x that at N=100":                "PASS",
		"neigh watch over 200 nodes, idle":                                       "INFO",
		"neigh watch over 200 nodes catches every transition of a burst of 1000": "FAIL",
	}
	for name, st := range want {
		if got[name] != st {
			t.Errorf("%s: %q, want %q", name, got[name], st)
		}
	}
	if len(got) != len(want) {
		t.Errorf("targets %v", got)
	}

	// Mininet skipped: its target says so rather than failing.
	rows[1] = &row{Section: sectionLinear, Tool: toolMininet, Op: opUpDown, N: 50, Skipped: "skipped: no mn"}
	finish(rows)
	for _, tg := range targets(rows, []int{50}, nil, nil, nil) {
		if tg.Status != "SKIP" || !strings.Contains(tg.Detail, "no mn") {
			t.Errorf("with Mininet skipped: %+v", tg)
		}
	}
}

func TestMarkdownAndJSON(t *testing.T) {
	rows := []*row{
		newRow(sectionChain, toolNetlab, opUp, "netlab up", 10),
		newRow(sectionChain, toolBatch, opUp, "ip -batch up", 10),
		newRow(sectionLinear, toolMininet, opUpDown, "mn", 5),
	}
	rows[0].Samples = walls(100 * time.Millisecond)
	rows[1].Samples = walls(300 * time.Millisecond)
	rows[2].Skipped = "skipped: not installed"
	finish(rows)
	rp := &report{Header: header{Kernel: "6.x", Commit: "abc"}, Rows: rows}
	var b bytes.Buffer
	rp.writeMarkdown(&b)
	out := b.String()
	for _, want := range []string{"| ip -batch up | 10 | 300 ms | 300 ms | 300 ms | 3.00x | 40.0 MB |", "| mn | 5 | - |", "skipped: not installed", "kernel 6.x, commit abc"} {
		if !strings.Contains(out, want) {
			t.Errorf("markdown lacks %q:\n%s", want, out)
		}
	}
	b.Reset()
	if err := rp.writeJSON(&b); err != nil {
		t.Fatal(err)
	}
	var back struct {
		Rows []struct {
			Variant  string  `json:"variant"`
			MedianMS float64 `json:"median_ms"`
			Ratio    float64 `json:"ratio_vs_netlab"`
		} `json:"rows"`
	}
	if err := json.Unmarshal(b.Bytes(), &back); err != nil {
		t.Fatal(err)
	}
	if len(back.Rows) != 3 || back.Rows[1].MedianMS != 300 || back.Rows[1].Ratio != 3 {
		t.Errorf("json rows %+v", back.Rows)
	}
}

func TestFmtDur(t *testing.T) {
	for d, want := range map[time.Duration]string{
		0:                       "0",
		1500 * time.Microsecond: "1.5 ms",
		812 * time.Millisecond:  "812 ms",
		9412 * time.Millisecond: "9.41 s",
		75 * time.Second:        "75 s",
	} {
		if got := fmtDur(d); got != want {
			t.Errorf("fmtDur(%v) = %q, want %q", d, got, want)
		}
	}
}

// The burst counter: an add is an entry becoming PERMANENT; a delete is
// that entry becoming ABSENT afterwards (through FAILED, as the kernel
// reports it); other nodes, other addresses and initial records do not
// count.
func TestCountBurst(t *testing.T) {
	addrs, _, _ := burstBatches(3)
	a1, a2, a3 := "172.16.0.1", "172.16.0.2", "172.16.0.3"
	recs := []watchRecord{
		{Kind: "transition", Node: "n1", IP: a1, Old: "ABSENT", New: "PERMANENT", Source: "event"},
		{Kind: "transition", Node: "n1", IP: a2, Old: "ABSENT", New: "PERMANENT", Source: "poll"},
		{Kind: "transition", Node: "n1", IP: a3, Old: "ABSENT", New: "PERMANENT", Source: "initial"},
		{Kind: "transition", Node: "n2", IP: a3, Old: "ABSENT", New: "PERMANENT", Source: "event"},
		{Kind: "transition", Node: "n1", IP: "10.9.9.9", Old: "ABSENT", New: "PERMANENT", Source: "event"},
		{Kind: "gap", Node: "n1"},
		{Kind: "transition", Node: "n1", IP: a1, Old: "PERMANENT", New: "FAILED", Source: "event"},
		{Kind: "transition", Node: "n1", IP: a1, Old: "FAILED", New: "ABSENT", Source: "event"},
		{Kind: "transition", Node: "n1", IP: a3, Old: "PERMANENT", New: "ABSENT", Source: "event"},
	}
	adds, dels, gaps := countBurst(recs, "n1", addrs)
	if adds != 2 || dels != 1 || gaps != 1 {
		t.Errorf("adds %d dels %d gaps %d, want 2 1 1", adds, dels, gaps)
	}
	if !addrs[netip.MustParseAddr(a3)] {
		t.Fatal("address set")
	}
}

func TestParseStatCPU(t *testing.T) {
	// pid (comm with ") x") state ppid ... utime=250 stime=130 (fields 14, 15).
	line := []byte("1234 (we ird) x) S 1 1234 1234 0 -1 4194560 100 0 0 0 250 130 0 0 20 0 8 0 100 1000 50 18446744073709551615\n")
	got, err := parseStatCPU(line)
	if err != nil || got != 3800*time.Millisecond {
		t.Errorf("parseStatCPU = %v, %v; want 3.8s", got, err)
	}
	if _, err := parseStatCPU([]byte("1234 (x) S 1 2")); err == nil {
		t.Error("short stat line accepted")
	}
}

func TestHelpLists(t *testing.T) {
	help := []byte(`Usage:
  netlab up <lab> [flags]

Flags:
      --dry-run             print the plan, --wait is ignored
  -q, --quiet               no progress display
      --wait duration       wait up to this long (default 5s)
`)
	for flag, want := range map[string]bool{"-q": true, "--quiet": true, "--wait": true, "--dry-run": true, "--workers": false, "-w": false} {
		if got := helpLists(help, flag); got != want {
			t.Errorf("helpLists(%s) = %v, want %v", flag, got, want)
		}
	}
	if helpLists([]byte("      --dry-run   mentions --quiet in prose\n"), "--quiet") {
		t.Error("a flag named only in a description counts")
	}
}

func TestDelNSID(t *testing.T) {
	// rtgenmsg (1 byte + 3 pad), then NETNSA_NSID (type 1, len 8) = 7.
	data := []byte{0, 0, 0, 0, 8, 0, 1, 0, 7, 0, 0, 0}
	if got := delNSID(data); got != 7 {
		t.Errorf("delNSID = %d, want 7", got)
	}
	if got := delNSID([]byte{0, 0}); got != -1 {
		t.Errorf("short payload: %d, want -1", got)
	}
	if got := delNSID([]byte{0, 0, 0, 0, 8, 0, 2, 0, 7, 0, 0, 0}); got != -1 {
		t.Errorf("no NETNSA_NSID: %d, want -1", got)
	}
}
