package neighctl

import (
	"context"
	"net"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/netlabdev/netlab/internal/nsutil"
	"github.com/netlabdev/netlab/internal/roottest"
)

// pair builds two unnamed namespaces joined by a veth pair a:eth0 <->
// b:eth0 with 192.0.2.1/24 and 192.0.2.2/24, both up, and applies the given
// sysctls to a (relative /proc/sys paths) before eth0 goes up.
func pair(t *testing.T, sysctls map[string]string) (a, b netns.NsHandle) {
	t.Helper()
	var err error
	if a, err = nsutil.Unnamed(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	if b, err = nsutil.Unnamed(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	ha, err := nsutil.Handle(a)
	if err != nil {
		t.Fatal(err)
	}
	defer ha.Close()
	hb, err := nsutil.Handle(b)
	if err != nil {
		t.Fatal(err)
	}
	defer hb.Close()
	v := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "eth0"}, PeerName: "eth0", PeerNamespace: netlink.NsFd(int(b))}
	if err := ha.LinkAdd(v); err != nil {
		t.Fatal(err)
	}
	for k, v := range sysctls {
		if err := nsutil.WriteSysctl(a, k, v); err != nil {
			t.Fatal(err)
		}
	}
	for i, h := range []*netlink.Handle{ha, hb} {
		l, err := h.LinkByName("eth0")
		if err != nil {
			t.Fatal(err)
		}
		addr, _ := netlink.ParseAddr([]string{"192.0.2.1/24", "192.0.2.2/24"}[i])
		if err := h.AddrAdd(l, addr); err != nil {
			t.Fatal(err)
		}
		if err := h.LinkSetUp(l); err != nil {
			t.Fatal(err)
		}
	}
	// Wait for carrier (linkwatch) so the first ARP request is not lost.
	deadline := time.Now().Add(5 * time.Second)
	for {
		l, err := ha.LinkByName("eth0")
		if err == nil && l.Attrs().OperState == netlink.OperUp {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("eth0 never became operationally up")
		}
		time.Sleep(10 * time.Millisecond)
	}
	return a, b
}

// sendUDP sends one datagram from namespace ns to dst:9 (discard): a real
// packet that makes the kernel use the neighbour entry.
func sendUDP(t *testing.T, ns netns.NsHandle, dst string) {
	t.Helper()
	err := nsutil.Do(ns, func() error {
		c, err := net.Dial("udp4", net.JoinHostPort(dst, "9"))
		if err != nil {
			return err
		}
		defer c.Close()
		_, err = c.Write([]byte("netlab"))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

type watchRun struct {
	mu   sync.Mutex
	recs []Record
	done chan error
	stop context.CancelFunc
}

func startWatch(t *testing.T, c *Conn, o WatchOptions) *watchRun {
	ctx, cancel := context.WithCancel(context.Background())
	w := &watchRun{done: make(chan error, 1), stop: cancel}
	go func() {
		w.done <- c.Watch(ctx, o, func(r Record) {
			w.mu.Lock()
			w.recs = append(w.recs, r)
			w.mu.Unlock()
		})
	}()
	t.Cleanup(func() { cancel(); <-w.done })
	return w
}

// waitFor waits until a transition to st for ip is recorded and returns it.
func (w *watchRun) waitFor(t *testing.T, ip string, st State, timeout time.Duration) Record {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		w.mu.Lock()
		for _, r := range w.recs {
			if r.Kind == KindTransition && r.New == st && r.IP.String() == ip && r.Source != SourceInitial {
				w.mu.Unlock()
				return r
			}
		}
		w.mu.Unlock()
		if time.Now().After(deadline) {
			t.Fatalf("no transition to %s for %s within %s; records:\n%s", st, ip, timeout, w.dump())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (w *watchRun) dump() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	s := ""
	for _, r := range w.recs {
		s += "  " + r.String() + "\n"
	}
	return s
}

// TestWatchStateMachine drives one entry through the kernel's state machine
// and checks the watcher sees each state with the right source: REACHABLE
// and STALE are notified; STALE -> DELAY is not (a poll must catch it; DELAY
// lasts delay_first_probe_time = 1 s, longer than MaxInterval); then PROBE
// and REACHABLE are notified again.
func TestWatchStateMachine(t *testing.T) {
	roottest.Need(t)
	a, _ := pair(t, map[string]string{
		"net/ipv4/neigh/eth0/base_reachable_time_ms": "2400",
		"net/ipv4/neigh/eth0/delay_first_probe_time": "1",
	})
	c, err := Open(a)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	w := startWatch(t, c, WatchOptions{Node: "a"})
	time.Sleep(50 * time.Millisecond) // let the initial dump happen
	sendUDP(t, a, "192.0.2.2")
	r1 := w.waitFor(t, "192.0.2.2", Reachable, 2*time.Second)
	r2 := w.waitFor(t, "192.0.2.2", Stale, 5*time.Second)
	if r1.Source != SourceEvent || r2.Source != SourceEvent {
		t.Errorf("REACHABLE/STALE should come from events:\n%s", w.dump())
	}
	p, err := c.Params(context.Background(), unix.AF_INET, "eth0")
	if err != nil {
		t.Fatal(err)
	}
	if d := r2.At.Sub(r1.At); d < time.Duration(p.ReachableTimeMS)*time.Millisecond-2*Tick {
		t.Errorf("REACHABLE lasted %s, less than the current reachable_time %d ms", d, p.ReachableTimeMS)
	}
	sendUDP(t, a, "192.0.2.2")
	r3 := w.waitFor(t, "192.0.2.2", Delay, 2*time.Second)
	if r3.Source != SourcePoll || r3.Old != Stale {
		t.Errorf("STALE -> DELAY should be seen by a poll (the kernel does not notify it): %v\n%s", r3, w.dump())
	}
	r4 := w.waitFor(t, "192.0.2.2", Probe, 3*time.Second)
	if r4.Source != SourceEvent {
		t.Errorf("DELAY -> PROBE should be an event: %v", r4)
	}
	if d := r4.At.Sub(r3.At); d < 800*time.Millisecond || d > 1300*time.Millisecond {
		t.Errorf("DELAY lasted %s; delay_first_probe_time is 1 s (minus at most MaxInterval, plus timer lateness)", d)
	}
	w.mu.Lock()
	var states []State
	for _, r := range w.recs {
		if r.Source != SourceInitial && r.IP.String() == "192.0.2.2" {
			states = append(states, r.New)
		}
	}
	w.mu.Unlock()
	t.Logf("records:\n%s", w.dump())
	// Expected: (INCOMPLETE, if sampled) REACHABLE STALE DELAY PROBE REACHABLE.
	states = slices.DeleteFunc(states, func(s State) bool { return s == Incomplete })
	want := []State{Reachable, Stale, Delay, Probe}
	if len(states) < len(want) || !slices.Equal(states[:len(want)], want) {
		t.Errorf("states %v, want prefix %v\n%s", states, want, w.dump())
	}
}

// TestWatchStopsCleanly checks a cancelled watch returns, joins its
// goroutines and closes its sockets.
func TestWatchStopsCleanly(t *testing.T) {
	roottest.Need(t)
	a, _ := pair(t, nil)
	c, err := Open(a)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fds := func() int { return roottest.CountFDs(t) }
	runtime.GC()
	g0, f0 := runtime.NumGoroutine(), fds()
	for range 5 {
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- c.Watch(ctx, WatchOptions{Node: "a", Interval: 5 * time.Millisecond}, func(Record) {}) }()
		sendUDP(t, a, "192.0.2.2")
		time.Sleep(30 * time.Millisecond)
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("watch returned %v after cancel", err)
			}
		case <-time.After(2 * time.Second):
			t.Fatal("watch did not return within 2 s of cancel")
		}
	}
	// Goroutines exit when Watch returns; give the runtime a moment to
	// reap them before counting.
	deadline := time.Now().Add(2 * time.Second)
	for runtime.NumGoroutine() > g0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if g := runtime.NumGoroutine(); g > g0 {
		buf := make([]byte, 1<<16)
		t.Errorf("goroutines: %d before, %d after\n%s", g0, g, buf[:runtime.Stack(buf, true)])
	}
	if f := fds(); f != f0 {
		t.Errorf("fds: %d before, %d after", f0, f)
	}
}

// TestWatchManyLabelsNodes watches two namespaces at once.
func TestWatchManyLabelsNodes(t *testing.T) {
	roottest.Need(t)
	a, b := pair(t, nil)
	ca, err := Open(a)
	if err != nil {
		t.Fatal(err)
	}
	defer ca.Close()
	cb, err := Open(b)
	if err != nil {
		t.Fatal(err)
	}
	defer cb.Close()
	ctx, cancel := context.WithCancel(context.Background())
	var recs []Record
	done := make(chan error, 1)
	go func() {
		done <- WatchMany(ctx, []Target{{"a", ca}, {"b", cb}}, WatchOptions{}, func(r Record) { recs = append(recs, r) })
	}()
	time.Sleep(50 * time.Millisecond)
	sendUDP(t, a, "192.0.2.2")
	time.Sleep(300 * time.Millisecond)
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, r := range recs {
		if r.Kind == KindTransition {
			seen[r.Node+" "+r.IP.String()+" "+r.New.String()] = true
		}
	}
	// a resolved b (REACHABLE); b learnt a from a's ARP request (STALE).
	for _, want := range []string{"a 192.0.2.2 REACHABLE", "b 192.0.2.1 STALE"} {
		if !seen[want] {
			t.Errorf("missing %q in %v", want, seen)
		}
	}
}

// TestWatchOverrunIsAGap floods the event socket (a tiny receive buffer and
// a burst of added entries) and checks that lost notifications are recorded
// as a gap and reconciled: every entry still ends up in the timeline.
func TestWatchOverrunIsAGap(t *testing.T) {
	roottest.Need(t)
	a, _ := pair(t, nil)
	c, err := Open(a)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	w := startWatch(t, c, WatchOptions{Node: "a", RcvBuf: 1})
	time.Sleep(50 * time.Millisecond)
	const n = 400
	ctx := context.Background()
	mac, _ := net.ParseMAC("02:00:00:00:00:99")
	for i := range n {
		ip := netip4(10, 0, byte(i/250), byte(1+i%250))
		if err := c.Add(ctx, Spec{IP: ip, Dev: "eth0", LLAddr: mac, State: Stale}); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(3 * time.Second)
	for {
		w.mu.Lock()
		gaps, stale := 0, map[string]bool{}
		for _, r := range w.recs {
			switch {
			case r.Kind == KindGap:
				gaps++
			case r.New == Stale:
				stale[r.IP.String()] = true
			}
		}
		w.mu.Unlock()
		if gaps > 0 && len(stale) == n {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %d adds: %d gap records, %d entries seen STALE (want >0 and %d)", n, gaps, len(stale), n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestWatchAfterClose: a closed Conn refuses to watch (its namespace handle
// is gone; a socket must never be opened in whatever the number now means).
func TestWatchAfterClose(t *testing.T) {
	roottest.Need(t)
	a, _ := pair(t, nil)
	c, err := Open(a)
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	if err := c.Watch(context.Background(), WatchOptions{Node: "a"}, func(Record) {}); err == nil {
		t.Fatal("Watch on a closed Conn succeeded")
	}
}
