package probe

// Root tests against the real kernel: two unnamed namespaces joined by a
// veth pair (eth0 in each), addresses without DAD. Neighbour-state tests do
// not run in parallel (neighbour timers and GC are global).

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/mdlayher/packet"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/netlabdev/netlab/internal/nsutil"
	"github.com/netlabdev/netlab/internal/roottest"
	"github.com/netlabdev/netlab/neighctl"
)

// pair is two namespaces a and b joined by a veth pair eth0 <-> eth0:
// a has 192.0.2.1/24 and 2001:db8::1/64 (MAC mac1), b 192.0.2.2/24 and
// 2001:db8::2/64 (mac2). sysctls are written per namespace before the
// links go up (keys relative to /proc/sys, e.g.
// "net/ipv4/neigh/eth0/base_reachable_time_ms").
type pair struct{ a, b netns.NsHandle }

func newPair(t *testing.T, sysA, sysB map[string]string) *pair {
	t.Helper()
	roottest.Need(t)
	a, err := nsutil.Unnamed()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	b, err := nsutil.Unnamed()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	ha, err := nsutil.Handle(a)
	if err != nil {
		t.Fatal(err)
	}
	defer ha.Close()
	v := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "eth0", HardwareAddr: mac1}, PeerName: "eth0",
		PeerHardwareAddr: mac2, PeerNamespace: netlink.NsFd(int(b))}
	if err := ha.LinkAdd(v); err != nil {
		t.Fatalf("veth: %v", err)
	}
	for _, side := range []struct {
		ns    netns.NsHandle
		addrs []string
		sys   map[string]string
	}{{a, []string{"192.0.2.1/24", "2001:db8::1/64"}, sysA}, {b, []string{"192.0.2.2/24", "2001:db8::2/64"}, sysB}} {
		sys := map[string]string{"net/ipv6/conf/eth0/accept_dad": "0"}
		for k, v := range side.sys {
			sys[k] = v
		}
		for k, v := range sys {
			if err := nsutil.WriteSysctl(side.ns, k, v); err != nil {
				t.Fatalf("sysctl %s=%s: %v", k, v, err)
			}
		}
		h, err := nsutil.Handle(side.ns)
		if err != nil {
			t.Fatal(err)
		}
		for _, dev := range []string{"lo", "eth0"} {
			l, err := h.LinkByName(dev)
			if err != nil {
				t.Fatal(err)
			}
			if dev == "eth0" {
				for _, s := range side.addrs {
					addr, _ := netlink.ParseAddr(s)
					addr.Flags = unix.IFA_F_NODAD
					if err := h.AddrAdd(l, addr); err != nil {
						t.Fatalf("%s: %v", s, err)
					}
				}
			}
			if err := h.LinkSetUp(l); err != nil {
				t.Fatal(err)
			}
		}
		h.Close()
	}
	p := &pair{a, b}
	p.waitUp(t)
	return p
}

// waitUp waits until both eth0 are operationally up (linkwatch drops frames
// sent before that).
func (p *pair) waitUp(t *testing.T) {
	t.Helper()
	for _, ns := range []netns.NsHandle{p.a, p.b} {
		h, err := nsutil.Handle(ns)
		if err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(5 * time.Second)
		for {
			l, err := h.LinkByName("eth0")
			if err != nil {
				t.Fatal(err)
			}
			if l.Attrs().OperState == netlink.OperUp {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("eth0 not operationally up after 5 s (%s)", l.Attrs().OperState)
			}
			time.Sleep(10 * time.Millisecond)
		}
		h.Close()
	}
}

func ctxT(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// checkNoLeaks runs fn and fails unless the goroutine count and the number
// of open file descriptors are back where they were afterwards.
func checkNoLeaks(t *testing.T, fn func()) {
	t.Helper()
	g0, f0 := runtime.NumGoroutine(), roottest.CountFDs(t)
	fn()
	var g1, f1 int
	for range 100 {
		g1, f1 = runtime.NumGoroutine(), roottest.CountFDs(t)
		if g1 <= g0 && f1 <= f0 {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	buf := make([]byte, 1<<16)
	n := runtime.Stack(buf, true)
	t.Errorf("leak: goroutines %d -> %d, fds %d -> %d\n%s", g0, g1, f0, f1, strings.TrimSpace(string(buf[:n])))
}

// neighbour returns ns's entry for ip on eth0 (State Absent if none).
func neighbour(t *testing.T, ns netns.NsHandle, ip netip.Addr) neighctl.Entry {
	t.Helper()
	c, err := neighctl.Open(ns)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	es, err := c.List(context.Background(), neighctl.Filter{Dev: "eth0", IP: ip})
	if err != nil {
		t.Fatal(err)
	}
	if len(es) == 0 {
		return neighctl.Entry{IP: ip, State: neighctl.Absent}
	}
	return es[0]
}

func TestPing(t *testing.T) {
	p := newPair(t, nil, nil)
	for _, c := range []struct {
		name string
		dst  netip.Addr
		o    PingOptions
	}{
		{"v4", v4b, PingOptions{}},
		{"v6", v6b, PingOptions{}},
		{"v4 dev", v4b, PingOptions{Interface: "eth0"}},
		{"v6 source", v6b, PingOptions{Source: v6a, Size: 1000}},
		{"v4 source dev ttl", v4b, PingOptions{Source: v4a, Interface: "eth0", TTL: 3, Size: EmptyPayload}},
		{"v6 link-local zone", netip.Addr{}, PingOptions{}},
		{"v4 local", v4a, PingOptions{Size: 7}},
	} {
		t.Run(c.name, func(t *testing.T) {
			dst := c.dst
			if !dst.IsValid() { // b's link-local address, with a's device as zone
				dst = linkLocal(t, p.b).WithZone("eth0")
			}
			o := c.o
			o.Count, o.Interval, o.Timeout = 3, 20*time.Millisecond, 3*time.Second
			var seen []Reply
			o.OnReply = func(r Reply) { seen = append(seen, r) }
			res, err := Ping(ctxT(t, 10*time.Second), p.a, dst, o)
			if err != nil {
				t.Fatal(err)
			}
			s := res.Summary
			if s.Transmitted != 3 || s.Received != 3 || s.LossPercent != 0 || s.Duplicates != 0 || s.Errors != 0 {
				t.Fatalf("summary %+v; replies %+v", s, res.Replies)
			}
			if len(seen) != 3 || len(res.Replies) != 3 {
				t.Fatalf("OnReply saw %d, result has %d replies", len(seen), len(res.Replies))
			}
			for i, r := range res.Replies {
				if r.Seq != i+1 || r.From != dst.WithZone("") || r.TTL != 64 || r.Bytes != 8+o.size() || r.RTTMS <= 0 || r.RTTMS > 1000 || r.Time.IsZero() {
					t.Errorf("reply %d: %+v", i, r)
				}
			}
			if s.RTTMinMS > s.RTTAvgMS || s.RTTAvgMS > s.RTTMaxMS || s.RTTMinMS <= 0 || s.TimeMS < 40 {
				t.Errorf("summary %+v", s)
			}
		})
	}
}

func linkLocal(t *testing.T, ns netns.NsHandle) netip.Addr {
	t.Helper()
	l, err := lookupLink(ns, "eth0")
	if err != nil {
		t.Fatal(err)
	}
	if !l.linkLocal().IsValid() {
		t.Fatalf("no link-local address on eth0: %v", l.Addrs)
	}
	return l.linkLocal()
}

// TestPingDF: a 2000-byte payload over a 1500-byte MTU is fragmented by
// default and refused locally (EMSGSIZE, an error per request) with DF.
func TestPingDF(t *testing.T) {
	p := newPair(t, nil, nil)
	for _, dst := range []netip.Addr{v4b, v6b} {
		res, err := Ping(ctxT(t, 10*time.Second), p.a, dst, PingOptions{Count: 2, Interval: 20 * time.Millisecond, Size: 2000, Timeout: 3 * time.Second})
		if err != nil || res.Received != 2 || res.Replies[0].Bytes != 2008 {
			t.Errorf("%s without DF: %+v, %v", dst, res, err)
		}
		res, err = Ping(ctxT(t, 10*time.Second), p.a, dst, PingOptions{Count: 2, Interval: 20 * time.Millisecond, Size: 2000, DF: true})
		if err != nil || res.Received != 0 || res.Errors != 2 || res.Transmitted != 2 {
			t.Fatalf("%s with DF: %+v, %v", dst, res, err)
		}
		if e := res.Replies[0].Error; !strings.Contains(e, "message too long") {
			t.Errorf("%s with DF: error %q", dst, e)
		}
	}
}

// TestPingUnanswered: nobody has 192.0.2.99: 100% loss; the ARP entry goes
// INCOMPLETE, then FAILED after mcast_solicit (3) x retrans_time (100 ms
// here), and the kernel reports Destination Host Unreachable for the
// queued request. Same for IPv6 (address unreachable). Not parallel.
func TestPingUnanswered(t *testing.T) {
	p := newPair(t, map[string]string{"net/ipv4/neigh/eth0/retrans_time_ms": "100", "net/ipv6/neigh/eth0/retrans_time_ms": "100"}, nil)
	for _, c := range []struct {
		dst  netip.Addr
		text string
	}{{netip.MustParseAddr("192.0.2.99"), "Destination Host Unreachable"}, {netip.MustParseAddr("2001:db8::99"), "Destination unreachable: Address unreachable"}} {
		res, err := Ping(ctxT(t, 10*time.Second), p.a, c.dst, PingOptions{Count: 1, Timeout: 100 * time.Millisecond})
		if err != nil || res.Received != 0 || res.LossPercent != 100 || res.Transmitted != 1 {
			t.Fatalf("ping %s: %+v, %v", c.dst, res, err)
		}
		if e := neighbour(t, p.a, c.dst); e.State != neighctl.Incomplete {
			t.Errorf("%s right after the ping: %s, want INCOMPLETE", c.dst, e.State)
		}
		deadline := time.Now().Add(2 * time.Second)
		for neighbour(t, p.a, c.dst).State != neighctl.Failed {
			if time.Now().After(deadline) {
				t.Fatalf("%s: not FAILED within 2 s: %s", c.dst, neighbour(t, p.a, c.dst).State)
			}
			time.Sleep(10 * time.Millisecond)
		}
		// A longer timeout sees the kernel's error report.
		res, err = Ping(ctxT(t, 10*time.Second), p.a, c.dst, PingOptions{Count: 1, Timeout: 2 * time.Second})
		if err != nil || res.Received != 0 || res.Errors != 1 || len(res.Replies) != 1 || res.Replies[0].Error != c.text || res.Replies[0].From != src(c.dst) {
			t.Errorf("ping %s again: %+v, %v", c.dst, res, err)
		}
	}
}

func src(dst netip.Addr) netip.Addr {
	if dst.Is4() {
		return v4a
	}
	return v6a
}

// TestPingConcurrent: two runs in one namespace at once each get exactly
// their own replies (ids, the BPF filter and the payload cookie keep them
// apart).
func TestPingConcurrent(t *testing.T) {
	p := newPair(t, nil, nil)
	for _, dst := range []netip.Addr{v4b, v6b} {
		results := make(chan *PingResult, 2)
		for range 2 {
			go func() {
				res, err := Ping(ctxT(t, 10*time.Second), p.a, dst, PingOptions{Count: 20, Interval: 5 * time.Millisecond, Timeout: 3 * time.Second})
				if err != nil {
					t.Error(err)
				}
				results <- res
			}()
		}
		for range 2 {
			res := <-results
			if res == nil {
				continue
			}
			if res.Received != 20 || res.Duplicates != 0 || len(res.Replies) != 20 {
				t.Errorf("%s: %+v", dst, res.Summary)
			}
		}
	}
}

func TestPingContext(t *testing.T) {
	p := newPair(t, nil, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	res, err := Ping(ctx, p.a, v4b, PingOptions{Interval: 10 * time.Millisecond})
	// The context can end between a request and its reply: the last one or
	// two (a busy machine can delay a reply past the next 10 ms send) may
	// be unanswered, never more.
	if !errors.Is(err, context.DeadlineExceeded) || res == nil || res.Received < 5 || res.Transmitted-res.Received > 2 {
		t.Errorf("count 0 until the context ends: %+v, %v", res, err)
	}
	// The deadline option ends a count-0 run without an error.
	res, err = Ping(ctxT(t, 10*time.Second), p.a, v4b, PingOptions{Interval: 10 * time.Millisecond, Deadline: 100 * time.Millisecond})
	if err != nil || res.Received < 5 || res.TimeMS < 90 {
		t.Errorf("count 0 with a deadline: %+v, %v", res, err)
	}
	if _, err := Ping(ctxT(t, 10*time.Second), p.a, v4b, PingOptions{Count: 1, Interface: "eth9"}); !errors.Is(err, ErrNoDevice) {
		t.Errorf("no such device: %v", err)
	}
}

func TestArping(t *testing.T) {
	p := newPair(t, nil, nil)
	for _, dst := range []netip.Addr{v4b, v6b} {
		var started ArpingResult
		res, err := Arping(ctxT(t, 10*time.Second), p.a, dst, ArpingOptions{Interface: "eth0", Count: 3, Interval: 20 * time.Millisecond, Timeout: 3 * time.Second,
			OnStart: func(r ArpingResult) { started = r }})
		if err != nil {
			t.Fatal(err)
		}
		if res.Transmitted != 3 || res.Received != 3 || len(res.Replies) != 3 || started.Source != src(dst) || res.Source != src(dst) {
			t.Fatalf("%s: %+v", dst, res)
		}
		for _, r := range res.Replies {
			if r.LLAddr != mac2.String() || r.From != dst || !r.Unicast || r.RTTMS <= 0 {
				t.Errorf("%s: reply %+v", dst, r)
			}
		}
		// The target learnt the sender from the request (STALE; for IPv6
		// its unicast advertisement used the entry at once: DELAY).
		if e := neighbour(t, p.b, src(dst)); e.LLAddr != mac1.String() || (e.State != neighctl.Stale && e.State != neighctl.Delay) {
			t.Errorf("%s: b's entry for a: %s %s", dst, e.State, e.LLAddr)
		}
	}
	// A request for an address nobody has: no answer within the timeout.
	res, err := Arping(ctxT(t, 10*time.Second), p.a, netip.MustParseAddr("192.0.2.99"), ArpingOptions{Interface: "eth0", Count: 1, Timeout: 100 * time.Millisecond})
	if err != nil || res.Received != 0 || res.LossPercent != 100 {
		t.Errorf("unanswered arping: %+v, %v", res, err)
	}
	// A request from a link-local source, and with an explicit sender.
	res, err = Arping(ctxT(t, 10*time.Second), p.a, linkLocal(t, p.b), ArpingOptions{Interface: "eth0", Count: 1})
	if err != nil || res.Received != 1 || !res.Source.IsLinkLocalUnicast() {
		t.Errorf("link-local NS: %+v, %v", res, err)
	}
	res, err = Arping(ctxT(t, 10*time.Second), p.a, v4b, ArpingOptions{Interface: "eth0", Count: 1, Source: netip.MustParseAddr("192.0.2.42")})
	if err != nil || res.Received != 1 {
		t.Errorf("arping with a foreign sender: %+v, %v", res, err)
	}
	if _, err := Arping(ctxT(t, 10*time.Second), p.a, v4b, ArpingOptions{Interface: "eth9", Count: 1}); !errors.Is(err, ErrNoDevice) {
		t.Errorf("no such device: %v", err)
	}
}

// TestAnnouncements: a gratuitous ARP request, an unsolicited ARP reply
// and an unsolicited NA with the override flag change the lladdr of an
// existing entry on the peer (STALE); for an address the peer has no entry
// for, a gratuitous ARP creates one only with arp_accept=1. Not parallel.
func TestAnnouncements(t *testing.T) {
	p := newPair(t, nil, nil)
	// b learns a's addresses.
	for _, dst := range []netip.Addr{v4b, v6b} {
		if res, err := Ping(ctxT(t, 10*time.Second), p.a, dst, PingOptions{Count: 1, Timeout: 3 * time.Second}); err != nil || res.Received != 1 {
			t.Fatalf("ping %s: %+v, %v", dst, res, err)
		}
	}
	for i, c := range []struct {
		ip   netip.Addr
		mode ArpingMode
	}{{v4a, ModeGratuitous}, {v4a, ModeReply}, {v6a, ModeGratuitous}, {v6a, ModeReply}} {
		mac := net.HardwareAddr{2, 0, 0, 0, 0x99, byte(i)}
		res, err := Arping(ctxT(t, 10*time.Second), p.a, c.ip, ArpingOptions{Interface: "eth0", Mode: c.mode, LLAddr: mac, Count: 1, Timeout: 5 * time.Second})
		if err != nil || res.Transmitted != 1 || res.Errors != 0 || res.TimeMS > 1000 {
			t.Fatalf("%s %s: %+v, %v", c.mode, c.ip, res, err)
		}
		var e neighctl.Entry
		for range 100 {
			if e = neighbour(t, p.b, c.ip); e.LLAddr == mac.String() {
				break
			}
			time.Sleep(5 * time.Millisecond)
		}
		if e.LLAddr != mac.String() || e.State != neighctl.Stale {
			t.Errorf("%s %s with %s: b's entry is %s %s", c.mode, c.ip, mac, e.State, e.LLAddr)
		}
	}
	vip := netip.MustParseAddr("192.0.2.77")
	for _, accept := range []string{"0", "1"} {
		if err := nsutil.WriteSysctl(p.b, "net/ipv4/conf/eth0/arp_accept", accept); err != nil {
			t.Fatal(err)
		}
		res, err := Arping(ctxT(t, 10*time.Second), p.a, vip, ArpingOptions{Interface: "eth0", Mode: ModeGratuitous, Count: 1})
		if err != nil || res.Transmitted != 1 {
			t.Fatalf("gratuitous %s: %+v, %v", vip, res, err)
		}
		time.Sleep(50 * time.Millisecond)
		e := neighbour(t, p.b, vip)
		if accept == "0" && e.State != neighctl.Absent {
			t.Errorf("arp_accept=0: the gratuitous ARP created %s %s", e.State, e.LLAddr)
		}
		if accept == "1" && (e.State != neighctl.Stale || e.LLAddr != mac1.String()) {
			t.Errorf("arp_accept=1: b's entry for %s is %s %s, want STALE %s", vip, e.State, e.LLAddr, mac1)
		}
	}
}

// TestKernelFrames parses what the kernel itself sends (an independent
// producer): a's ARP request and neighbour solicitation for b, captured in
// b with a packet socket and a raw ICMPv6 socket.
func TestKernelFrames(t *testing.T) {
	p := newPair(t, nil, nil)
	l, err := lookupLink(p.b, "eth0")
	if err != nil {
		t.Fatal(err)
	}
	var arpConn *packet.Conn
	if err := nsutil.Do(p.b, func() error {
		var err error
		arpConn, err = packet.Listen(&net.Interface{Index: l.Index, Name: "eth0", HardwareAddr: l.MAC}, packet.Raw, etherTypeARP, nil)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer arpConn.Close()
	nd, err := ipSocket{IPv6: true, Proto: "ipv6-icmp", Dev: "eth0"}.open(context.Background(), p.b)
	if err != nil {
		t.Fatal(err)
	}
	defer nd.Close()
	for _, dst := range []netip.Addr{v4b, v6b} {
		if res, err := Ping(ctxT(t, 10*time.Second), p.a, dst, PingOptions{Count: 1, Timeout: 3 * time.Second}); err != nil || res.Received != 1 {
			t.Fatalf("ping %s: %+v, %v", dst, res, err)
		}
	}
	_ = arpConn.SetReadDeadline(time.Now().Add(2 * time.Second))
	buf := make([]byte, 2048)
	for {
		n, _, err := arpConn.ReadFrom(buf)
		if err != nil {
			t.Fatalf("no ARP request from a's kernel: %v", err)
		}
		f, err := parseARPFrame(buf[:n])
		if err != nil || f.ARP.Op != arpOpRequest {
			continue
		}
		if f.Dst.String() != broadcastMAC.String() || f.Src.String() != mac1.String() || f.ARP.SenderMAC.String() != mac1.String() ||
			f.ARP.SenderIP != v4a || f.ARP.TargetIP != v4b || f.ARP.TargetMAC.String() != zeroMAC.String() {
			t.Errorf("kernel ARP request parsed as %+v", f)
		}
		break
	}
	_ = nd.SetReadDeadline(time.Now().Add(2 * time.Second))
	for {
		n, from, err := nd.ReadFrom(buf)
		if err != nil {
			t.Fatalf("no neighbour solicitation from a's kernel: %v", err)
		}
		m, err := parseND(buf[:n])
		if err != nil || m.Advert {
			continue
		}
		if m.Target != v6b || m.LLAddr.String() != mac1.String() {
			t.Errorf("kernel NS from %s parsed as %+v", from, m)
		}
		break
	}
}

func TestTCPFlow(t *testing.T) {
	p := newPair(t, nil, nil)
	res, err := TCPFlow(ctxT(t, 10*time.Second), p.b, p.a, TCPOptions{Addr: v4b, Bytes: 1<<20 + 3, Source: v4a})
	if err != nil || res.BytesSent != 1<<20+3 || res.BytesReceived != 1<<20+3 || res.ThroughputBPS <= 0 || !strings.HasPrefix(res.Client, "192.0.2.1:") {
		t.Fatalf("bytes: %+v, %v", res, err)
	}
	res, err = TCPFlow(ctxT(t, 10*time.Second), p.b, p.a, TCPOptions{Addr: v6b, Port: 5201, Duration: 200 * time.Millisecond})
	if err != nil || res.BytesReceived == 0 || res.BytesReceived != res.BytesSent || res.DurationMS < 200 || res.DurationMS > 2000 || res.Server != "[2001:db8::2]:5201" {
		t.Fatalf("duration: %+v, %v", res, err)
	}
	// Both limits: the byte count ends it first.
	res, err = TCPFlow(ctxT(t, 10*time.Second), p.b, p.a, TCPOptions{Addr: v4b, Bytes: 1000, Duration: time.Minute})
	if err != nil || res.BytesReceived != 1000 || res.DurationMS > 5000 {
		t.Fatalf("bytes and duration: %+v, %v", res, err)
	}
	// The server address is not the server's: listen fails.
	if _, err := TCPFlow(ctxT(t, 10*time.Second), p.b, p.a, TCPOptions{Addr: v4a, Bytes: 1}); err == nil {
		t.Error("listening on another node's address succeeded")
	}
	// A cancelled context ends a long flow.
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if _, err := TCPFlow(ctx, p.b, p.a, TCPOptions{Addr: v4b, Duration: time.Minute}); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("cancelled flow: %v", err)
	}
}

// TestNoLeaks: every call closes its sockets and joins its goroutines,
// whether it ends normally, by its deadline or by a cancelled context.
func TestNoLeaks(t *testing.T) {
	p := newPair(t, nil, nil)
	// Warm up: the runtime's poller and netlink caches take fds once.
	_, _ = Ping(ctxT(t, 10*time.Second), p.a, v4b, PingOptions{Count: 1})
	checkNoLeaks(t, func() {
		ctx := ctxT(t, 20*time.Second)
		for _, dst := range []netip.Addr{v4b, v6b} {
			if _, err := Ping(ctx, p.a, dst, PingOptions{Count: 2, Interval: 10 * time.Millisecond}); err != nil {
				t.Error(err)
			}
			if _, err := Ping(ctx, p.a, dst, PingOptions{Interval: 10 * time.Millisecond, Deadline: 50 * time.Millisecond}); err != nil {
				t.Error(err)
			}
			c, cancel := context.WithTimeout(ctx, 30*time.Millisecond)
			if _, err := Ping(c, p.a, dst, PingOptions{Interval: 10 * time.Millisecond}); !errors.Is(err, context.DeadlineExceeded) {
				t.Error(err)
			}
			cancel()
			for _, mode := range []ArpingMode{ModeRequest, ModeGratuitous, ModeReply} {
				if _, err := Arping(ctx, p.a, dst, ArpingOptions{Interface: "eth0", Mode: mode, Count: 2, Interval: 10 * time.Millisecond}); err != nil {
					t.Error(err)
				}
			}
			if _, err := TCPFlow(ctx, p.b, p.a, TCPOptions{Addr: dst, Bytes: 100000}); err != nil {
				t.Error(err)
			}
			c, cancel = context.WithTimeout(ctx, 30*time.Millisecond)
			if _, err := TCPFlow(c, p.b, p.a, TCPOptions{Addr: dst, Duration: time.Minute}); err == nil {
				t.Error("cancelled flow succeeded")
			}
			cancel()
		}
	})
}
