package neighctl

import (
	"encoding/json"
	"net/netip"
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)

func at(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }

func ent(ip string, st State, ll string) Entry {
	a := netip.MustParseAddr(ip)
	f := 2
	if a.Is6() {
		f = 10
	}
	return Entry{Family: f, IP: a, Dev: "eth0", Ifindex: 2, State: st, LLAddr: ll}
}

type rec struct {
	ms       int64
	old, new State
	src      Source
}

func collect(tr *[]Record) func(Record) { return func(r Record) { *tr = append(*tr, r) } }

func summary(rs []Record) []rec {
	var out []rec
	for _, r := range rs {
		if r.Kind == KindTransition {
			out = append(out, rec{r.TMS, r.Old, r.New, r.Source})
		}
	}
	return out
}

func check(t *testing.T, got []Record, want []rec) {
	t.Helper()
	g := summary(got)
	if len(g) != len(want) {
		t.Fatalf("got %d transitions, want %d:\n got  %v\n want %v", len(g), len(want), g, want)
	}
	for i := range want {
		if g[i] != want[i] {
			t.Errorf("transition %d: got %v, want %v", i, g[i], want[i])
		}
	}
}

const mac = "02:00:00:00:00:02"

func TestTrackerMerge(t *testing.T) {
	a := "192.0.2.2"
	tests := []struct {
		name string
		run  func(tk *Tracker)
		want []rec
	}{
		{"initial then event", func(tk *Tracker) {
			tk.Initial(at(0), []Entry{ent(a, Reachable, mac)})
			tk.Event(at(3000), ent(a, Stale, mac), false)
		}, []rec{{0, Absent, Reachable, SourceInitial}, {3000, Reachable, Stale, SourceEvent}}},

		{"duplicate event and poll are not transitions", func(tk *Tracker) {
			tk.Event(at(10), ent(a, Reachable, mac), false)
			tk.Event(at(11), ent(a, Reachable, mac), false)
			tk.Poll(at(20), []Entry{ent(a, Reachable, mac)})
			tk.Poll(at(40), []Entry{ent(a, Reachable, mac)})
		}, []rec{{10, Absent, Reachable, SourceEvent}}},

		{"unnotified DELAY seen by a poll, then PROBE event", func(tk *Tracker) {
			tk.Initial(at(0), []Entry{ent(a, Stale, mac)})
			tk.Poll(at(200), []Entry{ent(a, Delay, mac)})
			tk.Event(at(1200), ent(a, Probe, mac), false)
			tk.Event(at(1201), ent(a, Reachable, mac), false)
		}, []rec{{0, Absent, Stale, SourceInitial}, {200, Stale, Delay, SourcePoll}, {1200, Delay, Probe, SourceEvent}, {1201, Probe, Reachable, SourceEvent}}},

		{"DELAY never sampled is inferred before PROBE", func(tk *Tracker) {
			tk.Initial(at(0), []Entry{ent(a, Stale, mac)})
			tk.Event(at(1200), ent(a, Probe, mac), false)
		}, []rec{{0, Absent, Stale, SourceInitial}, {1200, Stale, Delay, SourceInferred}, {1200, Delay, Probe, SourceEvent}}},

		{"INCOMPLETE never sampled is inferred before FAILED", func(tk *Tracker) {
			tk.Event(at(3000), ent(a, Failed, ""), false)
		}, []rec{{3000, Absent, Incomplete, SourceInferred}, {3000, Incomplete, Failed, SourceEvent}}},

		{"INCOMPLETE sampled by a poll is not inferred again", func(tk *Tracker) {
			tk.Poll(at(20), []Entry{ent(a, Incomplete, "")})
			tk.Event(at(3000), ent(a, Failed, ""), false)
		}, []rec{{20, Absent, Incomplete, SourcePoll}, {3000, Incomplete, Failed, SourceEvent}}},

		{"a dump that started before an event cannot overrule it", func(tk *Tracker) {
			tk.Initial(at(0), []Entry{ent(a, Reachable, mac)})
			tk.Event(at(3000), ent(a, Stale, mac), false)
			tk.Poll(at(2999), []Entry{ent(a, Reachable, mac)}) // reordered: older data
			tk.Poll(at(3020), []Entry{ent(a, Stale, mac)})
		}, []rec{{0, Absent, Reachable, SourceInitial}, {3000, Reachable, Stale, SourceEvent}}},

		{"an event older than a poll is dropped", func(tk *Tracker) {
			tk.Initial(at(0), []Entry{ent(a, Stale, mac)})
			tk.Poll(at(100), []Entry{ent(a, Delay, mac)})
			tk.Event(at(90), ent(a, Stale, mac), false)
		}, []rec{{0, Absent, Stale, SourceInitial}, {100, Stale, Delay, SourcePoll}}},

		{"a dump without the entry means deleted", func(tk *Tracker) {
			tk.Initial(at(0), []Entry{ent(a, Stale, mac)})
			tk.Poll(at(500), nil)
			tk.Poll(at(700), nil)
		}, []rec{{0, Absent, Stale, SourceInitial}, {500, Stale, Absent, SourcePoll}}},

		{"delete event, then recreated", func(tk *Tracker) {
			tk.Initial(at(0), []Entry{ent(a, Stale, mac)})
			tk.Event(at(100), ent(a, Stale, mac), true)
			tk.Poll(at(120), nil)
			tk.Poll(at(140), []Entry{ent(a, Incomplete, "")})
			tk.Event(at(141), ent(a, Reachable, mac), false)
		}, []rec{{0, Absent, Stale, SourceInitial}, {100, Stale, Absent, SourceEvent}, {140, Absent, Incomplete, SourcePoll}, {141, Incomplete, Reachable, SourceEvent}}},

		{"an entry created after a dump started survives that dump", func(tk *Tracker) {
			tk.Event(at(105), ent(a, Reachable, mac), false)
			tk.Poll(at(100), nil)
		}, []rec{{105, Absent, Reachable, SourceEvent}}},

		{"an lladdr change in the same state is a transition", func(tk *Tracker) {
			tk.Initial(at(0), []Entry{ent(a, Stale, mac)})
			tk.Event(at(50), ent(a, Stale, "02:00:00:00:00:99"), false)
		}, []rec{{0, Absent, Stale, SourceInitial}, {50, Stale, Stale, SourceEvent}}},

		{"proxy entries are ignored", func(tk *Tracker) {
			p := ent(a, None, "")
			p.Flags.Proxy = true
			tk.Initial(at(0), []Entry{p})
			tk.Event(at(5), p, false)
			tk.Poll(at(10), []Entry{p})
		}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var got []Record
			tk := NewTracker("h1", t0, collect(&got))
			tc.run(tk)
			check(t, got, tc.want)
			for _, r := range got {
				if r.Node != "h1" || r.Dev != "eth0" {
					t.Errorf("record %v: node/dev %q/%q", r, r.Node, r.Dev)
				}
			}
		})
	}
}

func TestTrackerKeysAreSeparate(t *testing.T) {
	var got []Record
	tk := NewTracker("h1", t0, collect(&got))
	b := ent("192.0.2.3", Reachable, mac)
	v6 := ent("2001:db8::2", Reachable, mac)
	other := ent("192.0.2.2", Reachable, mac)
	other.Ifindex, other.Dev = 3, "eth1"
	tk.Poll(at(10), []Entry{ent("192.0.2.2", Reachable, mac), b, v6, other})
	tk.Poll(at(30), []Entry{ent("192.0.2.2", Stale, mac), b, v6, other})
	if len(got) != 5 {
		t.Fatalf("got %d records, want 5: %v", len(got), summary(got))
	}
	last := got[4]
	if last.IP.String() != "192.0.2.2" || last.Dev != "eth0" || last.New != Stale {
		t.Errorf("last record %v", last)
	}
	if tk.State(other.Key()) != Reachable {
		t.Errorf("eth1 entry changed with eth0's")
	}
}

func TestTrackerTimerStates(t *testing.T) {
	tk := NewTracker("h1", t0, func(Record) {})
	if tk.TimerStates() {
		t.Fatal("empty tracker has timer states")
	}
	tk.Poll(at(1), []Entry{ent("192.0.2.2", Stale, mac), ent("192.0.2.3", Permanent, mac)})
	if tk.TimerStates() {
		t.Fatal("STALE and PERMANENT are not timer states")
	}
	tk.Poll(at(2), []Entry{ent("192.0.2.2", Delay, mac), ent("192.0.2.3", Permanent, mac)})
	if !tk.TimerStates() {
		t.Fatal("DELAY is a timer state")
	}
}

func TestGapRecord(t *testing.T) {
	var got []Record
	tk := NewTracker("h1", t0, collect(&got))
	tk.Gap(at(1500), at(1720), "overrun")
	if len(got) != 1 || got[0].Kind != KindGap || got[0].TMS != 1500 || got[0].EndTMS != 1720 {
		t.Fatalf("gap record %+v", got)
	}
	if s := got[0].String(); !strings.Contains(s, "GAP until 1.720s") {
		t.Errorf("gap line %q", s)
	}
	b, err := json.Marshal(got[0])
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b), `"old"`) || !strings.Contains(string(b), `"kind":"gap"`) {
		t.Errorf("gap JSON %s", b)
	}
}

func TestRecordLineAndJSON(t *testing.T) {
	var got []Record
	tk := NewTracker("h1", t0, collect(&got))
	tk.Initial(at(0), []Entry{ent("192.0.2.2", Reachable, mac)})
	tk.Event(at(12345), ent("192.0.2.2", Stale, mac), false)
	line := got[1].String()
	if want := "12.345s h1 eth0 192.0.2.2 REACHABLE -> STALE " + mac + " event"; line != want {
		t.Errorf("line %q, want %q", line, want)
	}
	if want := "0.000s h1 eth0 192.0.2.2 REACHABLE " + mac + " initial"; got[0].String() != want {
		t.Errorf("initial line %q, want %q", got[0].String(), want)
	}
	b, err := json.Marshal(got[1])
	if err != nil {
		t.Fatal(err)
	}
	var back Record
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if back.Old != Reachable || back.New != Stale || back.TMS != 12345 || back.IP != got[1].IP || back.Source != SourceEvent {
		t.Errorf("round trip: %s -> %+v", b, back)
	}
	for _, f := range []string{`"t_ms":12345`, `"old":"REACHABLE"`, `"new":"STALE"`, `"node":"h1"`, `"source":"event"`} {
		if !strings.Contains(string(b), f) {
			t.Errorf("JSON %s lacks %s", b, f)
		}
	}
}

func netip4(a, b, c, d byte) netip.Addr { return netip.AddrFrom4([4]byte{a, b, c, d}) }

func TestRecorderJSONLAndCSV(t *testing.T) {
	var recs []Record
	tk := NewTracker("h1", t0, collect(&recs))
	tk.Initial(at(0), []Entry{ent("192.0.2.2", Reachable, mac)})
	tk.Event(at(2500), ent("192.0.2.2", Stale, mac), false)
	tk.Gap(at(3000), at(3100), "overrun, with a comma")
	tk.Event(at(3200), ent("2001:db8::2", Reachable, mac), false)

	var jl strings.Builder
	w, err := NewRecorder(&jl, FormatFor("x.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range recs {
		if err := w.Write(r); err != nil {
			t.Fatal(err)
		}
	}
	if w.Count() != 4 || strings.Count(jl.String(), "\n") != 4 {
		t.Fatalf("jsonl: %d records, %q", w.Count(), jl.String())
	}
	back, err := ReadJSONL(strings.NewReader(jl.String()))
	if err != nil {
		t.Fatal(err)
	}
	for i := range recs {
		a, b := recs[i], back[i]
		if a.Kind != b.Kind || a.TUS != b.TUS || a.Node != b.Node || a.IP != b.IP || a.Old != b.Old || a.New != b.New || a.Source != b.Source || a.EndTMS != b.EndTMS || !a.Time.Equal(b.Time) {
			t.Errorf("record %d: wrote %+v, read %+v", i, a, b)
		}
	}

	var cs strings.Builder
	w, err = NewRecorder(&cs, FormatFor("x.CSV"))
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range recs {
		if err := w.Write(r); err != nil {
			t.Fatal(err)
		}
	}
	lines := strings.Split(strings.TrimSpace(cs.String()), "\n")
	if len(lines) != 5 || lines[0] != strings.Join(CSVHeader, ",") {
		t.Fatalf("csv:\n%s", cs.String())
	}
	if !strings.HasPrefix(lines[2], "2500,2500000,") || !strings.Contains(lines[2], ",transition,h1,eth0,192.0.2.2,REACHABLE,STALE,"+mac+",,event,,") {
		t.Errorf("csv transition line %q", lines[2])
	}
	if !strings.Contains(lines[3], `,gap,h1,,,,,,,,3100,"overrun, with a comma"`) {
		t.Errorf("csv gap line %q", lines[3])
	}
	if _, err := NewRecorder(&cs, "xml"); err == nil {
		t.Error("unknown format accepted")
	}
}
