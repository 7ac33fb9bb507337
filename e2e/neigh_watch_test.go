package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Timing bounds, from KERNEL-NOTES ("Timing precision"): neighbour timers
// are timer-wheel timers that fire late by up to the wheel level's
// granularity (32 ms for 0.25-2 s timeouts, 256 ms for 2-16 s), the kernel
// keeps times in jiffies (4 ms at HZ=250), and the watcher sees an
// unnotified state at most one poll interval late.
const (
	jiffy       = 4 * time.Millisecond
	lateShort   = 32 * time.Millisecond  // timer lateness, 0.25-2 s timeouts
	lateLong    = 256 * time.Millisecond // timer lateness, 2-16 s timeouts
	pollFast    = 20 * time.Millisecond  // netlab neigh watch --interval default
	pollIdle    = 200 * time.Millisecond // netlab neigh watch --max-interval default
	labBaseMS   = 4000                   // labs/arp-aging*.yaml: h1 eth0 base_reachable_time_ms
	labGCStale  = 5 * time.Second        // labs/arp-aging*.yaml: h1 eth0 gc_stale_time
	labGCScan   = time.Second            // labs/arp-aging-gc.yaml: root base_reachable_time 2 s / 2
	watchH1ToH2 = "192.0.2.2"
)

// watchRecord is one JSONL line of `netlab neigh watch -o jsonl`, decoded
// independently of neighctl.
type watchRecord struct {
	Kind   string    `json:"kind"`
	TMS    int64     `json:"t_ms"`
	TUS    int64     `json:"t_us"`
	Time   time.Time `json:"time"`
	Node   string    `json:"node"`
	Dev    string    `json:"dev"`
	IP     string    `json:"ip"`
	Old    string    `json:"old"`
	New    string    `json:"new"`
	LLAddr string    `json:"lladdr"`
	Source string    `json:"source"`
	EndTMS int64     `json:"end_t_ms"`
	raw    string
}

func (r watchRecord) at() time.Duration { return time.Duration(r.TUS) * time.Microsecond }

// watchProc is a running `netlab neigh watch`.
type watchProc struct {
	cmd    *exec.Cmd
	mu     sync.Mutex
	recs   []watchRecord
	stderr strings.Builder
	done   chan struct{}
	err    error
}

// startWatch runs `netlab neigh watch -o jsonl <args>` and returns once it
// reports ready on stderr.
func startWatch(t *testing.T, args ...string) *watchProc {
	t.Helper()
	cmd := exec.Command(netlabBin, append([]string{"neigh", "watch", "-o", "jsonl"}, args...)...)
	cmd.Env = cleanEnv()
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	errp, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	w := &watchProc{cmd: cmd, done: make(chan struct{})}
	ready := make(chan struct{})
	var readers sync.WaitGroup
	readers.Add(2)
	go func() {
		defer readers.Done()
		sc := bufio.NewScanner(errp)
		once := sync.Once{}
		for sc.Scan() {
			w.mu.Lock()
			w.stderr.WriteString(sc.Text() + "\n")
			w.mu.Unlock()
			if strings.Contains(sc.Text(), ": ready") {
				once.Do(func() { close(ready) })
			}
		}
	}()
	go func() {
		defer readers.Done()
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			var r watchRecord
			if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
				t.Errorf("watch printed a non-JSON line %q: %v", sc.Text(), err)
				continue
			}
			r.raw = sc.Text()
			w.mu.Lock()
			w.recs = append(w.recs, r)
			w.mu.Unlock()
		}
	}()
	go func() {
		readers.Wait()
		w.err = cmd.Wait()
		close(w.done)
	}()
	t.Cleanup(func() { w.stop(t) })
	select {
	case <-ready:
	case <-w.done:
		t.Fatalf("watch exited before it was ready: %v\n%s", w.err, w.stderr.String())
	case <-time.After(10 * time.Second):
		t.Fatalf("watch not ready after 10 s:\n%s", w.stderr.String())
	}
	return w
}

// stop interrupts the watch (the process we started, by PID) and waits.
func (w *watchProc) stop(t *testing.T) {
	select {
	case <-w.done:
		return
	default:
	}
	_ = w.cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-w.done:
	case <-time.After(5 * time.Second):
		t.Errorf("watch did not stop within 5 s of SIGINT")
		_ = w.cmd.Process.Kill()
		<-w.done
	}
}

// waitFor waits for a transition of node's entry for ip to state, and
// returns it.
func (w *watchProc) waitFor(t *testing.T, node, ip, state string, timeout time.Duration) watchRecord {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		w.mu.Lock()
		for _, r := range w.recs {
			if r.Kind == "transition" && r.Node == node && r.IP == ip && r.New == state && r.Source != "initial" {
				w.mu.Unlock()
				return r
			}
		}
		w.mu.Unlock()
		if time.Now().After(deadline) {
			t.Fatalf("no %s %s -> %s within %s; timeline:\n%s", node, ip, state, timeout, w.timeline())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (w *watchProc) timeline() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	var b strings.Builder
	for _, r := range w.recs {
		b.WriteString("  " + r.raw + "\n")
	}
	return b.String() + "stderr:\n" + w.stderr.String()
}

// ntableReachable reads the current reachable time of dev in ns from
// iproute2 (`ip ntable show`), the independent witness for RTM_GETNEIGHTBL.
func ntableReachable(t *testing.T, ns, family, dev string) int64 {
	t.Helper()
	out := ipOut(t, "-n", ns, "-f", family, "ntable", "show", "dev", dev)
	m := regexp.MustCompile(`\breachable (\d+)`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no reachable time in ip ntable show:\n%s", out)
	}
	v, _ := strconv.ParseInt(m[1], 10, 64)
	return v
}

// neighParams is the part of `netlab neigh ... params -o json` the tests use.
type neighParams struct {
	Tables []struct {
		Family  string `json:"family"`
		Entries int    `json:"entries"`
		Thresh1 int    `json:"gc_thresh1"`
		Stats   struct {
			PeriodicGCRuns uint64 `json:"periodic_gc_runs"`
		} `json:"stats"`
		Devices []struct {
			Dev               string `json:"dev"`
			ReachableTimeMS   int64  `json:"reachable_time_ms"`
			BaseReachableMS   int64  `json:"base_reachable_time_ms"`
			DelayFirstProbeMS int64  `json:"delay_first_probe_time_ms"`
			GCStaleTimeMS     int64  `json:"gc_stale_time_ms"`
		} `json:"devices"`
	} `json:"tables"`
}

func getParams(t *testing.T, lab, node, dev string) neighParams {
	t.Helper()
	var p neighParams
	decodeJSON(t, "neigh params", mustNetlab(t, "neigh", lab, node, "params", dev, "-o", "json").stdout, &p)
	return p
}

func (p neighParams) reachable(t *testing.T, family string) int64 {
	t.Helper()
	for _, tb := range p.Tables {
		if tb.Family == family && len(tb.Devices) == 1 {
			return tb.Devices[0].ReachableTimeMS
		}
	}
	t.Fatalf("no %s device parameters in %+v", family, p)
	return 0
}

// TestNeighAging is the ARP aging experiment of labs/arp-aging.yaml, timed:
// one ping makes h1's entry for h2 REACHABLE; it turns STALE after the
// device's current reachable_time (drawn from [B/2, 3B/2)), late by at most
// the timer wheel's granularity; a packet to the STALE neighbour moves it to
// DELAY, which the kernel does not notify (the watch's poll must see it),
// then PROBE and REACHABLE. Not parallel: neighbour GC is global.
func TestNeighAging(t *testing.T) {
	requireRoot(t)
	l := newLab(t, "labs/arp-aging.yaml", "aging")
	up := l.up(t)
	if strings.Contains(up.stderr, "delay_first_probe_time") {
		t.Errorf("arp-aging warns about delay_first_probe_time:\n%s", up.stderr)
	}
	ns := l.Name + "-h1"

	// params: the current draw lies in [B/2, 3B/2) and matches iproute2.
	p := getParams(t, l.Name, "h1", "eth0")
	r0 := p.reachable(t, "inet")
	if r0 < labBaseMS/2 || r0 >= 3*labBaseMS/2 {
		t.Errorf("reachable_time %d ms outside [%d, %d)", r0, labBaseMS/2, 3*labBaseMS/2)
	}
	if ip := ntableReachable(t, ns, "inet", "eth0"); ip != r0 {
		t.Errorf("netlab params reachable_time %d ms, ip ntable show says %d", r0, ip)
	}
	for _, tb := range p.Tables {
		if tb.Family == "inet" && (tb.Devices[0].BaseReachableMS != labBaseMS || tb.Devices[0].DelayFirstProbeMS != 1000 || tb.Devices[0].GCStaleTimeMS != 5000) {
			t.Errorf("inet eth0 params %+v, want base 4000, delay_first_probe 1000, gc_stale 5000 ms", tb.Devices[0])
		}
	}

	rec := filepath.Join(t.TempDir(), "timeline.jsonl")
	w := startWatch(t, l.Name, "h1", "--record", rec)
	mustNetlab(t, "exec", l.Name, "h1", "--", "ping", "-c1", "-W2", watchH1ToH2)
	reach := w.waitFor(t, "h1", watchH1ToH2, "REACHABLE", 3*time.Second)
	stale := w.waitFor(t, "h1", watchH1ToH2, "STALE", time.Duration(3*labBaseMS/2)*time.Millisecond+2*time.Second)
	r1 := getParams(t, l.Name, "h1", "eth0").reachable(t, "inet")
	if reach.Source != "event" || stale.Source != "event" {
		t.Errorf("REACHABLE and STALE are notified by the kernel; got sources %s, %s", reach.Source, stale.Source)
	}
	d := stale.at() - reach.at()
	// Window from the base: [B/2, 3B/2) plus lateness plus the poll interval.
	lo, hi := time.Duration(labBaseMS/2)*time.Millisecond, time.Duration(3*labBaseMS/2)*time.Millisecond+lateLong+pollFast
	if d < lo || d >= hi {
		t.Errorf("REACHABLE lasted %s, outside [%s, %s)\n%s", d, lo, hi, w.timeline())
	}
	// Tighter: the entry lasts exactly the current draw (if it was not
	// redrawn meanwhile), late by at most the wheel granularity.
	if r0 == r1 {
		cur := time.Duration(r1) * time.Millisecond
		if d < cur-2*jiffy || d > cur+lateLong+pollFast {
			t.Errorf("REACHABLE lasted %s; the device's reachable_time is %s (allowed [%s, %s])", d, cur, cur-2*jiffy, cur+lateLong+pollFast)
		}
	}
	t.Logf("REACHABLE lasted %s (reachable_time %d ms)", d, r1)

	// A packet to a STALE neighbour: STALE -> DELAY (not notified: a poll
	// sees it), DELAY lasts delay_first_probe_time (1 s), then PROBE ->
	// REACHABLE on h2's unicast ARP reply.
	time.Sleep(300 * time.Millisecond) // let the watch back off: DELAY must still be caught
	mustNetlab(t, "exec", l.Name, "h1", "--", "ping", "-c1", "-W2", watchH1ToH2)
	delay := w.waitFor(t, "h1", watchH1ToH2, "DELAY", 2*time.Second)
	probe := w.waitFor(t, "h1", watchH1ToH2, "PROBE", 3*time.Second)
	w.waitFor(t, "h1", watchH1ToH2, "REACHABLE", 3*time.Second) // the first REACHABLE matches too: check order below
	if delay.Source != "poll" || delay.Old != "STALE" {
		t.Errorf("STALE -> DELAY must come from a poll (the kernel does not notify it): %+v", delay)
	}
	if probe.Source != "event" {
		t.Errorf("DELAY -> PROBE is notified: %+v", probe)
	}
	// DELAY is seen at most one (backed-off) poll interval late; it lasts
	// delay_first_probe_time, late by at most 32 ms.
	dd := probe.at() - delay.at()
	if dd < time.Second-pollIdle-2*jiffy || dd > time.Second+lateShort+pollFast {
		t.Errorf("DELAY lasted %s by the watch, want 1 s minus at most one idle poll interval, plus at most %s", dd, lateShort+pollFast)
	}
	time.Sleep(100 * time.Millisecond)
	w.stop(t)

	// The order of h1's states, and the recorded file equals the stream.
	var states []string
	w.mu.Lock()
	for _, r := range w.recs {
		if r.Node == "h1" && r.IP == watchH1ToH2 && r.Kind == "transition" && r.New != "INCOMPLETE" {
			states = append(states, r.New)
		}
	}
	stream := append([]watchRecord(nil), w.recs...)
	w.mu.Unlock()
	want := []string{"REACHABLE", "STALE", "DELAY", "PROBE", "REACHABLE"}
	if strings.Join(states, " ") != strings.Join(want, " ") {
		t.Errorf("h1's states %v, want %v\n%s", states, want, w.timeline())
	}
	b, err := os.ReadFile(rec)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) != len(stream) {
		t.Fatalf("--record file has %d records, the stream %d", len(lines), len(stream))
	}
	for i, line := range lines {
		if line != stream[i].raw {
			t.Errorf("record %d: file %q, stream %q", i, line, stream[i].raw)
		}
	}
	if !strings.Contains(w.stderr.String(), "transition(s)") {
		t.Errorf("no summary on stderr:\n%s", w.stderr.String())
	}
}

// TestNeighAgingGC is labs/arp-aging-gc.yaml: with the host's gc_thresh1 at
// 0 and the root default base_reachable_time at 2 s, periodic GC scans every
// second and deletes h1's idle STALE entry at the first scan after
// max(STALE, last use + gc_stale_time). The first scan after up may come as
// late as the old cadence (15 s by default), so the test waits until the
// table's periodic_gc_runs counter shows the new cadence before it pings.
func TestNeighAgingGC(t *testing.T) {
	requireRoot(t)
	l := newLab(t, "labs/arp-aging-gc.yaml", "aginggc")
	l.up(t)
	runs := func() uint64 {
		for _, tb := range getParams(t, l.Name, "h1", "eth0").Tables {
			if tb.Family == "inet" {
				if tb.Thresh1 != 0 {
					t.Fatalf("gc_thresh1 is %d while the lab is up, want 0", tb.Thresh1)
				}
				return tb.Stats.PeriodicGCRuns
			}
		}
		t.Fatal("no inet table")
		return 0
	}
	// Wait for two scans less than 1.5 scan intervals apart.
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	last := runs()
	var seen []time.Time
	for len(seen) < 2 || seen[len(seen)-1].Sub(seen[len(seen)-2]) > labGCScan*3/2 {
		if ctx.Err() != nil {
			t.Fatalf("periodic GC never reached a %s cadence (scans seen at %v)", labGCScan, seen)
		}
		time.Sleep(50 * time.Millisecond)
		if n := runs(); n != last {
			last = n
			seen = append(seen, time.Now())
		}
	}
	w := startWatch(t, l.Name, "h1")
	mustNetlab(t, "exec", l.Name, "h1", "--", "ping", "-c1", "-W2", watchH1ToH2)
	reach := w.waitFor(t, "h1", watchH1ToH2, "REACHABLE", 3*time.Second)
	stale := w.waitFor(t, "h1", watchH1ToH2, "STALE", 8*time.Second)
	gone := w.waitFor(t, "h1", watchH1ToH2, "ABSENT", labGCStale+10*time.Second)
	// Earliest deletion: the entry must be STALE and idle for gc_stale_time
	// (last use = the ping, confirmed by the ARP reply at REACHABLE).
	earliest := max(stale.at(), reach.at()+labGCStale)
	// Latest: the next scan after that (one scan interval), late by the
	// delayed work's timer granularity, seen by an event (or, if the event
	// was lost, by a poll at most one idle interval later).
	observe := pollFast
	if gone.Source == "poll" {
		observe = pollIdle
	}
	latest := earliest + labGCScan + lateShort + observe
	if gone.at() < earliest-2*jiffy || gone.at() > latest {
		t.Errorf("deleted at %s, want within [%s, %s] (REACHABLE at %s, STALE at %s)\n%s", gone.at(), earliest, latest, reach.at(), stale.at(), w.timeline())
	}
	t.Logf("REACHABLE %s, STALE %s, deleted %s (%s after becoming eligible, seen by %s)", reach.at(), stale.at(), gone.at(), gone.at()-earliest, gone.Source)
	w.stop(t)
}

// TestNeighWatchStopsAtDown: a watch holds its namespaces open, so they
// would outlive `netlab down`; the watch notices the lab is gone, says so,
// and exits 0.
func TestNeighWatchStopsAtDown(t *testing.T) {
	requireRoot(t)
	l := newLabText(t, cliNeighLab, "watchdown")
	l.up(t)
	w := startWatch(t, l.Name)
	mustNetlab(t, "down", l.Name)
	select {
	case <-w.done:
	case <-time.After(3 * time.Second):
		t.Fatalf("watch still running 3 s after down:\n%s", w.timeline())
	}
	if w.err != nil || !strings.Contains(w.stderr.String(), "went down") {
		t.Errorf("watch exit %v, stderr:\n%s", w.err, w.stderr.String())
	}
	for _, p := range leftovers() {
		if strings.Contains(p, l.Name) {
			t.Errorf("left behind: %s", p)
		}
	}
}
