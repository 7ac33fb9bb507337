package e2e

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
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

	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/netlabdev/netlab/internal/nsutil"
)

// ---- the model: link shaping ----------------------------------------------

// expShape is a shaped link as tc must show it on both ends.
type expShape struct {
	Index int
	Ends  [2][2]string // node, interface
	// Rate in bits per second, Burst in bytes, Latency.
	Rate    uint64
	Burst   uint64
	Latency time.Duration
}

// expectShape reads a link's shape with tc's units (iproute2 get_rate:
// SI bits; get_size: binary bytes), independently of netlab's parser.
// Missing burst or latency are left 0 (netlab's defaults are not the
// contract).
func expectShape(i int, l *specLink) expShape {
	s := expShape{Index: i}
	for j, ep := range l.Endpoints {
		node, ifn, _ := strings.Cut(ep, ":")
		s.Ends[j] = [2]string{node, ifn}
	}
	m := regexp.MustCompile(`^([0-9.]+)([a-z]*)$`).FindStringSubmatch(strings.ToLower(l.Shape.Rate))
	if m != nil {
		v, _ := strconv.ParseFloat(m[1], 64)
		unit := map[string]float64{"bit": 1, "kbit": 1e3, "mbit": 1e6, "gbit": 1e9, "bps": 8, "kbps": 8e3, "mbps": 8e6}[m[2]]
		s.Rate = uint64(v * unit)
	}
	if m := regexp.MustCompile(`^([0-9]+)([a-z]*)$`).FindStringSubmatch(strings.ToLower(l.Shape.Burst)); m != nil {
		v, _ := strconv.ParseUint(m[1], 10, 64)
		s.Burst = v * map[string]uint64{"": 1, "b": 1, "k": 1024, "kb": 1024, "m": 1 << 20, "mb": 1 << 20, "kbit": 128, "mbit": 1 << 17}[m[2]]
	}
	s.Latency, _ = time.ParseDuration(l.Shape.Latency)
	return s
}

var netemOnce = sync.OnceValue(func() bool {
	// The witness: tc itself, in a namespace of its own (ip netns), on a
	// veth.
	ns := fmt.Sprintf("e2e-netem-%d", os.Getpid())
	if exec.Command("ip", "netns", "add", ns).Run() != nil {
		return false
	}
	defer exec.Command("ip", "netns", "del", ns).Run()
	if exec.Command("ip", "-n", ns, "link", "add", "name", "a", "type", "veth", "peer", "name", "b").Run() != nil {
		return false
	}
	return exec.Command("tc", "-n", ns, "qdisc", "add", "dev", "a", "root", "netem", "delay", "1ms").Run() == nil
})

// kernelHasNetem tells whether this kernel can add a netem qdisc (this
// project's cannot).
func kernelHasNetem() bool { return netemOnce() }

// ---- tc as the witness -----------------------------------------------------

type tcQdisc struct {
	Kind    string `json:"kind"`
	Handle  string `json:"handle"`
	Root    bool   `json:"root"`
	Options struct {
		Rate  uint64 `json:"rate"`  // bytes per second
		Burst uint64 `json:"burst"` // bytes
		Lat   uint64 `json:"lat"`   // microseconds
		Delay struct {
			Delay float64 `json:"delay"` // seconds
		} `json:"delay"`
	} `json:"options"`
}

// tcRoot is the root qdisc of a device as `tc -j -n NS qdisc show dev D`
// prints it.
func tcRoot(t testing.TB, ns, dev string) tcQdisc {
	t.Helper()
	out, err := exec.Command("tc", "-j", "-n", ns, "qdisc", "show", "dev", dev).Output()
	if err != nil {
		t.Fatalf("tc -j -n %s qdisc show dev %s: %v", ns, dev, err)
	}
	var qs []tcQdisc
	decodeJSON(t, "tc -j qdisc show", string(out), &qs)
	for _, q := range qs {
		if q.Root {
			return q
		}
	}
	t.Fatalf("%s %s: no root qdisc in %s", ns, dev, out)
	return tcQdisc{}
}

// checkShapes compares every shaped link end with tc: a root tbf with the
// declared rate, and burst and latency as tc rounds them (the bucket is
// stored as a time in psched ticks, so burst reads back a few bytes short;
// latency is recomputed from the limit).
func checkShapes(t *testing.T, e *expLab) {
	t.Helper()
	for _, s := range e.Shapes {
		for _, end := range s.Ends {
			n := e.node(end[0])
			if n == nil {
				t.Fatalf("links[%d]: no node %s", s.Index, end[0])
			}
			q := tcRoot(t, n.NS, end[1])
			where := fmt.Sprintf("links[%d] %s:%s", s.Index, end[0], end[1])
			if q.Kind != "tbf" || q.Options.Rate != s.Rate/8 {
				t.Errorf("%s: root qdisc %s rate %d bytes/s; want tbf at %d", where, q.Kind, q.Options.Rate, s.Rate/8)
			}
			if s.Burst != 0 && (q.Options.Burst > s.Burst || q.Options.Burst+16 < s.Burst) {
				t.Errorf("%s: burst %d bytes; want %d (less at most 16 of tick rounding)", where, q.Options.Burst, s.Burst)
			}
			if lat := time.Duration(q.Options.Lat) * time.Microsecond; s.Latency != 0 && (lat < s.Latency-time.Millisecond || lat > s.Latency+time.Millisecond) {
				t.Errorf("%s: latency %v; want %v", where, lat, s.Latency)
			}
		}
	}
}

// ---- throughput ------------------------------------------------------------

// flow is one TCP transfer between two namespaces: its sockets are made
// inside the namespaces (nsutil.Do) by this test process.
type flow struct {
	name string
	// marks are the receiver's (time, cumulative bytes) after each read.
	mu    sync.Mutex
	marks []mark
}

type mark struct {
	at    time.Time
	bytes int64
}

// runFlow sends from src to dst:port for dur after the first byte arrives
// and returns the receiver's marks.
func runFlow(ctx context.Context, t *testing.T, name string, srcNS, dstNS netns.NsHandle, dst string, dur time.Duration) *flow {
	t.Helper()
	f := &flow{name: name}
	var ln net.Listener
	if err := nsutil.Do(dstNS, func() (err error) { ln, err = net.Listen("tcp", dst); return err }); err != nil {
		t.Fatalf("%s: listen in the receiver's namespace: %v", name, err)
	}
	defer ln.Close()
	// The sender's buffer bounds the data in flight below tbf's queue
	// (rate x latency + burst: 157 KB here), so the queue never overflows:
	// TCP sees no loss and no retransmission timeout, and what is measured
	// is the shaper, not TCP's loss recovery. The path's own delay is
	// microseconds, so 64 KiB in flight keeps the link busy.
	d := &net.Dialer{Timeout: 2 * time.Second, Control: func(_, _ string, c syscall.RawConn) error {
		var serr error
		err := c.Control(func(fd uintptr) { serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_SNDBUF, 64<<10) })
		return errors.Join(err, serr)
	}}
	var conn net.Conn
	err := nsutil.Do(srcNS, func() (err error) {
		conn, err = d.DialContext(ctx, "tcp", dst)
		return err
	})
	if err != nil {
		t.Fatalf("%s: connect from the sender's namespace: %v", name, err)
	}
	defer conn.Close()
	rc, err := ln.Accept()
	if err != nil {
		t.Fatalf("%s: accept: %v", name, err)
	}
	defer rc.Close()
	done := make(chan error, 1)
	go func() {
		buf := make([]byte, 64<<10)
		var total int64
		var end time.Time
		for {
			n, err := rc.Read(buf)
			now := time.Now()
			if n > 0 {
				if total == 0 {
					end = now.Add(dur)
				}
				total += int64(n)
				f.mu.Lock()
				f.marks = append(f.marks, mark{now, total})
				f.mu.Unlock()
			}
			if err != nil || (total > 0 && now.After(end)) {
				if errors.Is(err, io.EOF) {
					err = nil
				}
				done <- err
				return
			}
		}
	}()
	go func() {
		buf := make([]byte, 64<<10)
		for {
			if _, err := conn.Write(buf); err != nil {
				return
			}
		}
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("%s: receive: %v", name, err)
		}
	case <-time.After(dur + 5*time.Second):
		t.Errorf("%s: the transfer did not finish", name)
	}
	conn.Close() // stops the sender
	return f
}

// rate is the receiver's goodput in bits per second between from and to
// (times after the first byte).
func (f *flow) rate(from, to time.Duration) (float64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.marks) == 0 {
		return 0, fmt.Errorf("%s: nothing received", f.name)
	}
	t0 := f.marks[0].at
	bytesAt := func(d time.Duration) (int64, time.Time) {
		var b int64
		at := t0
		for _, m := range f.marks {
			if m.at.Sub(t0) > d {
				break
			}
			b, at = m.bytes, m.at
		}
		return b, at
	}
	b0, a0 := bytesAt(from)
	b1, a1 := bytesAt(to)
	if !a1.After(a0) {
		return 0, fmt.Errorf("%s: no data between %v and %v", f.name, from, to)
	}
	return float64(b1-b0) * 8 / a1.Sub(a0).Seconds(), nil
}

// ---- the tests --------------------------------------------------------------

// TestShapedThroughput brings labs/shaped.yaml up (20mbit, burst 32kb,
// latency 50ms on both ends), checks the tbf with tc, and measures TCP
// goodput one direction after the other (IPv4 h1 -> h2, then IPv6 back),
// 1.5 s each. (At once, each direction's ACKs would queue behind the other
// direction's data, up to 50 ms: that measures TCP, not the shaper.)
//
// Tolerance, from tbf's semantics: after an idle spell the bucket lets
// burst bytes through at line rate, then at most rate x T + burst bytes
// leave in any window T. So the first 0.3 s (the burst: 13 ms at this
// rate, and TCP's start) are not measured; over the next 1.2 s the
// ceiling is the rate plus burst/1.2 s (32 KiB: +1.1%), and 1.05x bounds
// it with room for the receiver's timing. The floor: tbf counts whole
// frames, so goodput is the rate times payload/frame (1448/1514 = 0.956
// for IPv4 with TCP timestamps, 1428/1514 = 0.943 for IPv6: what this
// machine measures), and 0.8x leaves room for scheduling on a loaded CI
// machine.
func TestShapedThroughput(t *testing.T) {
	requireRoot(t)
	t.Parallel()
	l := newLab(t, "labs/shaped.yaml", "tcshape")
	e := l.Exp
	if len(e.Shapes) != 1 || e.Shapes[0].Rate != 20e6 {
		t.Fatalf("the model derived shapes %+v", e.Shapes)
	}
	l.up(t)
	hs := openLab(t, e)
	waitLabOper(t, e, hs)
	checkShapes(t, e)

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	const dur = 1500 * time.Millisecond
	flows := []*flow{
		runFlow(ctx, t, "h1 -> h2", hs["h1"].ns, hs["h2"].ns, "10.0.0.2:5001", dur),
		runFlow(ctx, t, "h2 -> h1", hs["h2"].ns, hs["h1"].ns, "[fd00::1]:5002", dur),
	}
	want := float64(e.Shapes[0].Rate)
	for _, f := range flows {
		if f == nil {
			continue
		}
		got, err := f.rate(300*time.Millisecond, dur)
		if err != nil {
			t.Error(err)
			continue
		}
		t.Logf("%s: %.2f Mbit/s (%.3fx the rate)", f.name, got/1e6, got/want)
		if got < 0.8*want || got > 1.05*want {
			t.Errorf("%s: %.2f Mbit/s; want within [0.8, 1.05] x %.0f Mbit/s", f.name, got/1e6, want/1e6)
		}
	}
	// tc saw it: the tbf on h1's end sent the flow's bytes.
	out, err := exec.Command("tc", "-s", "-n", e.node("h1").NS, "qdisc", "show", "dev", "eth0").Output()
	if err != nil || !strings.Contains(string(out), "qdisc tbf") {
		t.Errorf("tc -s qdisc show: %v\n%s", err, out)
	}
	mustNetlab(t, "down", l.Name)
	checkNothingOf(t, l.Name)
}

const impairLab = `name: imp
nodes:
  h1:
    interfaces:
      eth0: {addresses: [192.0.2.1/24]}
  h2:
    interfaces:
      eth0: {addresses: [192.0.2.2/24]}
links:
  - endpoints: [h1:eth0, h2:eth0]
    impair: {delay: 20ms, jitter: 2ms, loss: 1%}
`

// TestImpair: where the kernel has no netem (this project's machines), a
// lab with impair: is refused with exit 3 before anything is created, by
// up and by up --dry-run, naming the link and netem; where it has, the
// netem qdisc is on both ends.
func TestImpair(t *testing.T) {
	requireRoot(t)
	if kernelHasNetem() {
		l := newLabText(t, impairLab, "tcimpair")
		l.up(t)
		for _, end := range []string{"h1", "h2"} {
			q := tcRoot(t, l.Exp.node(end).NS, "eth0")
			if q.Kind != "netem" || q.Options.Delay.Delay < 0.019 || q.Options.Delay.Delay > 0.021 {
				t.Errorf("%s eth0: root qdisc %+v; want netem with delay 20ms", end, q)
			}
		}
		return
	}
	file := filepath.Join(t.TempDir(), "imp.yaml")
	if err := os.WriteFile(file, []byte(impairLab), 0o644); err != nil {
		t.Fatal(err)
	}
	testRefusedLab(t, file, "tcimpair")
	l := newLabText(t, impairLab, "tcimpdry")
	r := netlab(t, "up", l.File)
	const named = "links[0].impair (h1:eth0-h2:eth0): impair needs the kernel's netem qdisc"
	if r.code != 3 || !strings.Contains(r.stderr, named) || !strings.Contains(r.stderr, "nothing was created") {
		t.Errorf("up: want exit 3 naming the link and netem:\n%s", r)
	}
	r = netlab(t, "up", "--dry-run", l.File)
	if r.code != 3 || !strings.Contains(r.stderr, named) {
		t.Errorf("up --dry-run: want exit 3 naming the link and netem:\n%s", r)
	}
	if !strings.Contains(r.stdout, "tc -n "+l.Name+"-h1 qdisc add dev eth0 root netem delay 20ms 2ms loss 1%") {
		t.Errorf("up --dry-run: the plan lacks the netem line:\n%s", r.stdout)
	}
	checkNothingOf(t, l.Name)
}
