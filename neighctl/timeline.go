package neighctl

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"sort"
	"strings"
	"time"
)

// Source says how netlab learned of a transition.
type Source string

// Transition sources.
const (
	// SourceInitial: the entry's state when the watch began (not a
	// transition; Old is ABSENT).
	SourceInitial Source = "initial"
	// SourceEvent: an RTM_NEWNEIGH/RTM_DELNEIGH notification; the time is
	// when netlab received it.
	SourceEvent Source = "event"
	// SourcePoll: a table dump showed a different state than the last
	// observation; the transition happened between the previous sample and
	// this one (at most one poll interval earlier).
	SourcePoll Source = "poll"
	// SourceInferred: the kernel's state machine requires a state netlab did
	// not observe (DELAY before PROBE, INCOMPLETE before FAILED): it lasted
	// less than a poll interval, or the kernel skipped notifying it.
	SourceInferred Source = "inferred"
)

// Record kinds.
const (
	KindTransition = "transition"
	KindGap        = "gap"
)

// Record is one line of a timeline: a state transition of one entry, or a
// gap during which transitions may have been lost.
type Record struct {
	Kind string `json:"kind"`
	// TMS is the record's time in milliseconds since the watch began; TUS
	// the same in microseconds. Time is the wall-clock instant.
	TMS  int64     `json:"t_ms"`
	TUS  int64     `json:"t_us"`
	Time time.Time `json:"time"`
	Node string    `json:"node"`

	// Transition fields.
	Dev       string     `json:"dev,omitempty"`
	IP        netip.Addr `json:"ip,omitzero"`
	Old       State      `json:"old"`
	New       State      `json:"new"`
	LLAddr    string     `json:"lladdr,omitempty"`
	OldLLAddr string     `json:"old_lladdr,omitempty"`
	Source    Source     `json:"source,omitempty"`

	// Gap fields: EndTMS is the gap's end (ms since the watch began).
	EndTMS int64  `json:"end_t_ms,omitempty"`
	Reason string `json:"reason,omitempty"`

	// At is the monotonic instant (not serialised).
	At time.Time `json:"-"`
}

// MarshalJSON leaves the states out of gap records.
func (r Record) MarshalJSON() ([]byte, error) {
	type plain Record
	var old, st string
	if r.Kind == KindTransition {
		old, st = r.Old.String(), r.New.String()
	}
	return json.Marshal(struct {
		plain
		Old string `json:"old,omitempty"`
		New string `json:"new,omitempty"`
	}{plain(r), old, st})
}

// Offset is the record's time since the watch began.
func (r Record) Offset() time.Duration { return time.Duration(r.TUS) * time.Microsecond }

// String prints the record as one line:
//
//	12.345s h1 eth0 192.0.2.2 REACHABLE -> STALE 02:00:00:00:00:02 event
func (r Record) String() string {
	t := fmt.Sprintf("%.3fs", r.Offset().Seconds())
	if r.Kind == KindGap {
		return fmt.Sprintf("%s %s GAP until %.3fs: %s", t, r.Node, float64(r.EndTMS)/1000, r.Reason)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s %s %s ", t, r.Node, r.Dev, r.IP)
	if r.Source == SourceInitial {
		fmt.Fprintf(&b, "%s", r.New)
	} else {
		fmt.Fprintf(&b, "%s -> %s", r.Old, r.New)
	}
	if r.LLAddr != "" {
		b.WriteString(" " + r.LLAddr)
	}
	if r.OldLLAddr != "" {
		b.WriteString(" (was " + r.OldLLAddr + ")")
	}
	b.WriteString(" " + string(r.Source))
	return b.String()
}

// Tracker turns observations of one namespace's neighbour table (events and
// table dumps) into transitions. It is the pure core of Watch: it touches no
// kernel, so its merge rules are tested on synthetic inputs.
//
// Rules:
//   - An observation older than what is already known about an entry (its
//     time is before the entry's last observation) is dropped: a dump that
//     started before an event was received cannot overrule the event.
//   - A repeated state (same state, same lladdr) is not a transition.
//   - A dump is a full snapshot: an entry it lacks is ABSENT, unless the
//     entry was observed after the dump started.
//   - Transitions the state machine requires but nobody observed are
//     inserted as SourceInferred just before the observed one: DELAY before
//     PROBE (PROBE is entered only from DELAY) and INCOMPLETE before FAILED
//     for a new entry.
type Tracker struct {
	node  string
	start time.Time
	known map[Key]*track
	emit  func(Record)
	// Dropped counts observations dropped as older than known state.
	Dropped int
}

type track struct {
	dev    string
	state  State
	lladdr string
	last   time.Time
}

// NewTracker starts a tracker for node; offsets are measured from start.
func NewTracker(node string, start time.Time, emit func(Record)) *Tracker {
	return &Tracker{node: node, start: start, known: map[Key]*track{}, emit: emit}
}

// Initial records the entries present when the watch began.
func (t *Tracker) Initial(at time.Time, es []Entry) {
	for _, e := range es {
		if e.Flags.Proxy {
			continue
		}
		t.known[e.Key()] = &track{dev: e.Dev, state: e.State, lladdr: e.LLAddr, last: at}
		t.out(at, e.Dev, e.IP, Absent, e.State, e.LLAddr, "", SourceInitial)
	}
}

// Event applies one notification received at at; deleted marks
// RTM_DELNEIGH.
func (t *Tracker) Event(at time.Time, e Entry, deleted bool) {
	if e.Flags.Proxy {
		return
	}
	st := e.State
	if deleted {
		st = Absent
	}
	t.observe(at, e.Key(), e.Dev, e.IP, st, e.LLAddr, SourceEvent)
}

// Poll applies a full dump of the table that started at at.
func (t *Tracker) Poll(at time.Time, es []Entry) {
	seen := make(map[Key]bool, len(es))
	for _, e := range es {
		if e.Flags.Proxy {
			continue
		}
		seen[e.Key()] = true
		t.observe(at, e.Key(), e.Dev, e.IP, e.State, e.LLAddr, SourcePoll)
	}
	keys := make([]Key, 0, len(t.known))
	for k := range t.known {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if keys[i].Ifindex != keys[j].Ifindex {
			return keys[i].Ifindex < keys[j].Ifindex
		}
		return keys[i].IP.Less(keys[j].IP)
	})
	for _, k := range keys {
		tr := t.known[k]
		if !seen[k] && tr.state != Absent {
			t.observe(at, k, tr.dev, k.IP, Absent, "", SourcePoll)
		}
	}
}

// TimerStates reports whether any tracked entry is in a state the kernel
// changes on a timer (the watcher then polls at its fast rate).
func (t *Tracker) TimerStates() bool {
	for _, tr := range t.known {
		if tr.state.Timer() {
			return true
		}
	}
	return false
}

// Empty reports whether the tracker believes the table holds no entry.
func (t *Tracker) Empty() bool {
	for _, tr := range t.known {
		if tr.state != Absent {
			return false
		}
	}
	return true
}

// State returns the tracker's current belief about an entry.
func (t *Tracker) State(k Key) State {
	if tr := t.known[k]; tr != nil {
		return tr.state
	}
	return Absent
}

func (t *Tracker) observe(at time.Time, k Key, dev string, ip netip.Addr, st State, lladdr string, src Source) {
	tr := t.known[k]
	if tr == nil {
		tr = &track{dev: dev, state: Absent}
		t.known[k] = tr
	} else if at.Before(tr.last) {
		t.Dropped++
		return
	}
	tr.last = at
	if dev != "" {
		tr.dev = dev
	}
	if st == Absent {
		lladdr = ""
	}
	oldLL := ""
	if lladdr != "" && tr.lladdr != "" && lladdr != tr.lladdr {
		oldLL = tr.lladdr
	}
	if st == tr.state && oldLL == "" {
		if lladdr != "" {
			tr.lladdr = lladdr
		}
		return
	}
	old := tr.state
	switch {
	case st == Probe && old&(Reachable|Stale) != 0:
		t.out(at, tr.dev, ip, old, Delay, lladdr, "", SourceInferred)
		old = Delay
	case st == Failed && old == Absent:
		t.out(at, tr.dev, ip, old, Incomplete, "", "", SourceInferred)
		old = Incomplete
	}
	t.out(at, tr.dev, ip, old, st, lladdr, oldLL, src)
	tr.state = st
	if st == Absent {
		tr.lladdr = ""
	} else if lladdr != "" {
		tr.lladdr = lladdr
	}
}

func (t *Tracker) out(at time.Time, dev string, ip netip.Addr, old, st State, lladdr, oldLL string, src Source) {
	r := Record{Kind: KindTransition, Node: t.node, Dev: dev, IP: ip, Old: old, New: st, LLAddr: lladdr, OldLLAddr: oldLL, Source: src}
	t.stamp(&r, at)
	t.emit(r)
}

// Gap records that transitions between from and to may have been lost.
func (t *Tracker) Gap(from, to time.Time, reason string) {
	r := Record{Kind: KindGap, Node: t.node, Reason: reason, EndTMS: to.Sub(t.start).Milliseconds()}
	t.stamp(&r, from)
	t.emit(r)
}

func (t *Tracker) stamp(r *Record, at time.Time) {
	d := at.Sub(t.start)
	r.At, r.Time, r.TMS, r.TUS = at, at, d.Milliseconds(), d.Microseconds()
}
