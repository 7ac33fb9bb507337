package capture

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"net"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"

	"github.com/netlabdev/netlab/internal/nsutil"
	"github.com/netlabdev/netlab/internal/roottest"
)

// The root tests build two throwaway namespaces joined by a veth pair,
// a0 (192.0.2.1, macA) in one and b0 (192.0.2.2, macB) in the other, with
// IPv6 off and permanent neighbour entries on both sides: nothing crosses
// the wire but what a test sends.
var (
	macA = net.HardwareAddr{0x02, 0, 0, 0, 0xca, 0x01}
	macB = net.HardwareAddr{0x02, 0, 0, 0, 0xca, 0x02}
	ipA  = net.IPv4(192, 0, 2, 1).To4()
	ipB  = net.IPv4(192, 0, 2, 2).To4()
)

type pair struct {
	a, b   netns.NsHandle
	ha, hb *netlink.Handle
}

// noLeaks fails t if, after the test and its cleanups, this process holds
// more file descriptors or goroutines than before it.
func noLeaks(t *testing.T) {
	fds := func() int { return roottest.CountFDs(t) }
	fd0, g0 := fds(), runtime.NumGoroutine()
	t.Cleanup(func() {
		var fd1, g1 int
		for deadline := time.Now().Add(2 * time.Second); ; time.Sleep(10 * time.Millisecond) {
			fd1, g1 = fds(), runtime.NumGoroutine()
			if (fd1 <= fd0 && g1 <= g0) || time.Now().After(deadline) {
				break
			}
		}
		if fd1 > fd0 {
			t.Errorf("file descriptors: %d before, %d after", fd0, fd1)
		}
		if g1 > g0 {
			buf := make([]byte, 1<<16)
			t.Errorf("goroutines: %d before, %d after\n%s", g0, g1, buf[:runtime.Stack(buf, true)])
		}
	})
}

func newPair(t *testing.T) *pair {
	t.Helper()
	roottest.Need(t)
	noLeaks(t)
	p := &pair{a: netns.None(), b: netns.None()}
	t.Cleanup(func() {
		for _, h := range []*netlink.Handle{p.ha, p.hb} {
			if h != nil {
				h.Close()
			}
		}
		p.a.Close()
		p.b.Close()
	})
	var err error
	for _, ns := range []*netns.NsHandle{&p.a, &p.b} {
		if *ns, err = nsutil.Unnamed(); err != nil {
			t.Fatal(err)
		}
		for _, k := range []string{"net/ipv6/conf/all/disable_ipv6", "net/ipv6/conf/default/disable_ipv6"} {
			if err := nsutil.WriteSysctl(*ns, k, "1"); err != nil {
				t.Fatal(err)
			}
		}
	}
	if p.ha, err = nsutil.Handle(p.a); err != nil {
		t.Fatal(err)
	}
	if p.hb, err = nsutil.Handle(p.b); err != nil {
		t.Fatal(err)
	}
	veth := &netlink.Veth{
		LinkAttrs:        netlink.LinkAttrs{Name: "a0", HardwareAddr: macA},
		PeerName:         "b0",
		PeerHardwareAddr: macB,
		PeerNamespace:    netlink.NsFd(p.b),
	}
	if err := p.ha.LinkAdd(veth); err != nil {
		t.Fatal(err)
	}
	for _, e := range []struct {
		h        *netlink.Handle
		dev      string
		ip, peer net.IP
		peerMAC  net.HardwareAddr
	}{{p.ha, "a0", ipA, ipB, macB}, {p.hb, "b0", ipB, ipA, macA}} {
		l, err := e.h.LinkByName(e.dev)
		if err != nil {
			t.Fatal(err)
		}
		if err := e.h.AddrAdd(l, &netlink.Addr{IPNet: &net.IPNet{IP: e.ip, Mask: net.CIDRMask(24, 32)}}); err != nil {
			t.Fatal(err)
		}
		lo, err := e.h.LinkByName("lo")
		if err != nil {
			t.Fatal(err)
		}
		for _, up := range []netlink.Link{lo, l} {
			if err := e.h.LinkSetUp(up); err != nil {
				t.Fatal(err)
			}
		}
		if err := e.h.NeighAdd(&netlink.Neigh{LinkIndex: l.Attrs().Index, IP: e.peer, HardwareAddr: e.peerMAC, State: netlink.NUD_PERMANENT}); err != nil {
			t.Fatal(err)
		}
	}
	p.waitUp(t)
	return p
}

// waitUp waits until both ends are operationally up: the kernel drops
// frames sent before that.
func (p *pair) waitUp(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for _, e := range []struct {
		h   *netlink.Handle
		dev string
	}{{p.ha, "a0"}, {p.hb, "b0"}} {
		for {
			l, err := e.h.LinkByName(e.dev)
			if err != nil {
				t.Fatal(err)
			}
			if l.Attrs().OperState == netlink.OperUp {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s not operationally up after 5 s (%s)", e.dev, l.Attrs().OperState)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
}

// udp opens a UDP socket bound to addr inside ns.
func udp(t *testing.T, ns netns.NsHandle, addr string) *net.UDPConn {
	t.Helper()
	var c net.PacketConn
	err := nsutil.Do(ns, func() error {
		var err error
		c, err = net.ListenPacket("udp4", addr)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c.(*net.UDPConn)
}

func send(t *testing.T, c *net.UDPConn, to string, payload string) {
	t.Helper()
	dst, err := net.ResolveUDPAddr("udp4", to)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.WriteToUDP([]byte(payload), dst); err != nil {
		t.Fatal(err)
	}
}

// started is a capture running in a goroutine.
type started struct {
	out  bytes.Buffer
	st   Stats
	err  error
	done chan struct{}
}

// start runs Run and returns once it is ready (or has failed).
func start(t *testing.T, ctx context.Context, ns netns.NsHandle, dev string, o Options) *started {
	t.Helper()
	s := &started{done: make(chan struct{})}
	ready := make(chan struct{})
	o.OnReady = func() { close(ready) }
	go func() {
		defer close(s.done)
		s.st, s.err = Run(ctx, ns, dev, &s.out, o)
	}()
	select {
	case <-ready:
	case <-s.done:
		t.Fatalf("Run ended before it was ready: %v", s.err)
	case <-time.After(5 * time.Second):
		t.Fatal("Run not ready after 5 s")
	}
	return s
}

// wait waits for the capture to end by itself.
func (s *started) wait(t *testing.T, within time.Duration) pcapFile {
	t.Helper()
	select {
	case <-s.done:
	case <-time.After(within):
		t.Fatalf("capture still running after %s", within)
	}
	if s.err != nil {
		t.Fatalf("Run: %v", s.err)
	}
	f, err := readPcap(s.out.Bytes())
	if err != nil {
		t.Fatalf("read the capture: %v", err)
	}
	if len(f.recs) != s.st.Packets {
		t.Errorf("file holds %d records, Stats say %d packets", len(f.recs), s.st.Packets)
	}
	var total int64
	for _, r := range f.recs {
		total += int64(r.caplen)
	}
	if total != s.st.Bytes {
		t.Errorf("file holds %d bytes of packet data, Stats say %d", total, s.st.Bytes)
	}
	return f
}

// udpFrame decodes an Ethernet + IPv4 + UDP frame.
type udpFrame struct {
	dst, src net.HardwareAddr
	srcIP    net.IP
	dstIP    net.IP
	payload  string
}

func decodeUDP(t *testing.T, b []byte) udpFrame {
	t.Helper()
	if len(b) < 14+20+8 || binary.BigEndian.Uint16(b[12:14]) != 0x0800 || b[14]>>4 != 4 || b[14+9] != 17 {
		t.Fatalf("not Ethernet/IPv4/UDP: % x", b)
	}
	ihl := int(b[14]&0x0f) * 4
	return udpFrame{
		dst: net.HardwareAddr(b[0:6]), src: net.HardwareAddr(b[6:12]),
		srcIP: net.IP(b[14+12 : 14+16]), dstIP: net.IP(b[14+16 : 14+20]),
		payload: string(b[14+ihl+8:]),
	}
}

// TestRunVethBothDirections captures on b0 while a datagram comes in and an
// answer goes out: both are in the file, as sent, with kernel timestamps.
func TestRunVethBothDirections(t *testing.T) {
	p := newPair(t)
	ca := udp(t, p.a, "192.0.2.1:7001")
	cb := udp(t, p.b, "192.0.2.2:7002")
	before := time.Now()
	s := start(t, context.Background(), p.b, "b0", Options{Count: 2})
	send(t, ca, "192.0.2.2:7002", "ping from a")
	buf := make([]byte, 100)
	_ = cb.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, from, err := cb.ReadFromUDP(buf)
	if err != nil || string(buf[:n]) != "ping from a" {
		t.Fatalf("b received %q, %v", buf[:n], err)
	}
	send(t, cb, from.String(), "pong from b")
	f := s.wait(t, 5*time.Second)
	after := time.Now()

	if !f.nanos || f.snaplen != DefaultSnaplen || f.linktype != 1 {
		t.Errorf("header: nanos %v snaplen %d linktype %d", f.nanos, f.snaplen, f.linktype)
	}
	if len(f.recs) != 2 {
		t.Fatalf("%d records, want 2", len(f.recs))
	}
	want := []udpFrame{
		{macB, macA, ipA, ipB, "ping from a"}, // received
		{macA, macB, ipB, ipA, "pong from b"}, // sent (PACKET_OUTGOING)
	}
	for i, r := range f.recs {
		got := decodeUDP(t, r.data)
		w := want[i]
		if got.dst.String() != w.dst.String() || got.src.String() != w.src.String() || !got.srcIP.Equal(w.srcIP) || !got.dstIP.Equal(w.dstIP) || got.payload != w.payload {
			t.Errorf("record %d: %s > %s %s > %s %q; want %s > %s %s > %s %q", i,
				got.src, got.dst, got.srcIP, got.dstIP, got.payload, w.src, w.dst, w.srcIP, w.dstIP, w.payload)
		}
		if r.caplen != r.origlen || r.origlen != 14+20+8+len(w.payload) {
			t.Errorf("record %d: caplen %d length %d, want both %d", i, r.caplen, r.origlen, 14+20+8+len(w.payload))
		}
		if r.ts.Before(before) || r.ts.After(after) {
			t.Errorf("record %d: time %v outside the test's [%v, %v]", i, r.ts, before, after)
		}
		if i > 0 && r.ts.Before(f.recs[i-1].ts) {
			t.Errorf("record %d: time %v before the previous record's %v", i, r.ts, f.recs[i-1].ts)
		}
	}
	if s.st.Dropped != 0 {
		t.Errorf("dropped %d", s.st.Dropped)
	}
}

// TestRunSnaplenAndBytes: records are cut to the snaplen with their original
// length kept; the Bytes bound counts captured bytes and is never exceeded.
func TestRunSnaplenAndBytes(t *testing.T) {
	p := newPair(t)
	ca := udp(t, p.a, "192.0.2.1:0")
	udp(t, p.b, "192.0.2.2:7002") // a listener, so b sends no port unreachable
	frame := 14 + 20 + 8 + 50
	payload := strings.Repeat("x", 50)

	// Snaplen 40, Bytes 80: two records fill the bound exactly, and the
	// capture ends at once.
	s := start(t, context.Background(), p.b, "b0", Options{Snaplen: 40, Bytes: 80})
	send(t, ca, "192.0.2.2:7002", payload)
	send(t, ca, "192.0.2.2:7002", payload)
	f := s.wait(t, 5*time.Second)
	if f.snaplen != 40 || len(f.recs) != 2 {
		t.Fatalf("snaplen %d, %d records; want 40, 2", f.snaplen, len(f.recs))
	}
	for i, r := range f.recs {
		if r.caplen != 40 || r.origlen != frame {
			t.Errorf("record %d: caplen %d length %d, want 40 %d", i, r.caplen, r.origlen, frame)
		}
	}

	// Bytes 1.5 frames: the second frame does not fit; it ends the capture
	// unwritten.
	s = start(t, context.Background(), p.b, "b0", Options{Bytes: int64(frame + frame/2)})
	send(t, ca, "192.0.2.2:7002", payload)
	send(t, ca, "192.0.2.2:7002", payload)
	f = s.wait(t, 5*time.Second)
	if len(f.recs) != 1 || s.st.Bytes != int64(frame) {
		t.Fatalf("%d records, stats %+v; want 1 record of %d bytes", len(f.recs), s.st, frame)
	}
}

// TestRunDurationAndCancel: a duration ends an idle capture on time, a
// cancelled context at once; both are normal ends with a valid file.
func TestRunDurationAndCancel(t *testing.T) {
	p := newPair(t)
	t0 := time.Now()
	s := start(t, context.Background(), p.b, "b0", Options{Duration: 300 * time.Millisecond})
	f := s.wait(t, 5*time.Second)
	if el := time.Since(t0); el < 300*time.Millisecond || el > 1300*time.Millisecond {
		t.Errorf("a 300ms capture took %s", el)
	}
	if len(f.recs) != 0 || s.out.Len() != 24 {
		t.Errorf("idle capture: %d records, %d bytes; want the header only", len(f.recs), s.out.Len())
	}

	ctx, cancel := context.WithCancel(context.Background())
	s = start(t, ctx, p.b, "b0", Options{})
	t0 = time.Now()
	cancel()
	s.wait(t, 2*time.Second)
	if el := time.Since(t0); el > time.Second {
		t.Errorf("cancel took %s to end the capture", el)
	}

	// A context done before the start is an error, and nothing is written.
	var out bytes.Buffer
	if _, err := Run(ctx, p.b, "b0", &out, Options{}); !errors.Is(err, context.Canceled) || out.Len() != 0 {
		t.Errorf("Run with a cancelled context: %v, %d bytes written", err, out.Len())
	}
}

// TestRunLoopback: on lo every packet is both sent and received; it is kept
// once, as libpcap does.
func TestRunLoopback(t *testing.T) {
	p := newPair(t)
	c := udp(t, p.a, "127.0.0.1:7003")
	s := start(t, context.Background(), p.a, "lo", Options{Count: 2})
	send(t, c, "127.0.0.1:7003", "one")
	send(t, c, "127.0.0.1:7003", "two")
	f := s.wait(t, 5*time.Second)
	var got []string
	for _, r := range f.recs {
		got = append(got, decodeUDP(t, r.data).payload)
	}
	if strings.Join(got, ",") != "one,two" {
		t.Fatalf("payloads %q, want one, two", got)
	}
}

// TestRunLinkFlap: the capture survives its interface going down and up
// again, and ends with an error naming it when the interface is deleted.
func TestRunLinkFlap(t *testing.T) {
	p := newPair(t)
	ca := udp(t, p.a, "192.0.2.1:0")
	udp(t, p.b, "192.0.2.2:7002")
	b0, err := p.hb.LinkByName("b0")
	if err != nil {
		t.Fatal(err)
	}
	s := start(t, context.Background(), p.b, "b0", Options{Count: 1})
	if err := p.hb.LinkSetDown(b0); err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond)
	if err := p.hb.LinkSetUp(b0); err != nil {
		t.Fatal(err)
	}
	p.waitUp(t)
	select {
	case <-s.done:
		t.Fatalf("capture ended at the flap: %v", s.err)
	default:
	}
	send(t, ca, "192.0.2.2:7002", "after the flap")
	f := s.wait(t, 5*time.Second)
	if len(f.recs) != 1 || decodeUDP(t, f.recs[0].data).payload != "after the flap" {
		t.Fatalf("records %+v", f.recs)
	}

	s = start(t, context.Background(), p.b, "b0", Options{})
	if err := p.hb.LinkDel(b0); err != nil {
		t.Fatal(err)
	}
	select {
	case <-s.done:
	case <-time.After(5 * time.Second):
		t.Fatal("capture still running 5 s after its interface was deleted")
	}
	if s.err == nil || !strings.Contains(s.err.Error(), "b0") || !strings.Contains(s.err.Error(), "deleted") {
		t.Fatalf("err = %v, want one naming b0 as deleted", s.err)
	}
	if _, err := readPcap(s.out.Bytes()); err != nil {
		t.Errorf("the file written up to the deletion: %v", err)
	}
}

// TestRunErrors: what cannot start fails before anything is written.
func TestRunErrors(t *testing.T) {
	p := newPair(t)
	for _, tc := range []struct {
		dev  string
		o    Options
		want string
	}{
		{"nosuch0", Options{}, "interface nosuch0: no such device"},
		{"a-name-far-too-long", Options{}, `interface "a-name-far-too-long" (longer than 15 bytes): no such device`},
		{"b0", Options{Snaplen: -1}, "snaplen -1"},
		{"b0", Options{Count: -1}, "count -1"},
	} {
		var out bytes.Buffer
		_, err := Run(context.Background(), p.b, tc.dev, &out, tc.o)
		if err == nil || !strings.Contains(err.Error(), tc.want) || errors.Is(err, ErrNoDevice) != strings.Contains(tc.want, "no such device") {
			t.Errorf("Run(%s, %+v) = %v, want %q", tc.dev, tc.o, err, tc.want)
		}
		if out.Len() != 0 {
			t.Errorf("Run(%s, %+v) wrote %d bytes", tc.dev, tc.o, out.Len())
		}
	}
}

// TestRunConcurrent: two captures of one interface each get every packet.
func TestRunConcurrent(t *testing.T) {
	p := newPair(t)
	ca := udp(t, p.a, "192.0.2.1:0")
	udp(t, p.b, "192.0.2.2:7002")
	var ss []*started
	for range 2 {
		ss = append(ss, start(t, context.Background(), p.b, "b0", Options{Count: 3}))
	}
	for _, m := range []string{"1", "2", "3"} {
		send(t, ca, "192.0.2.2:7002", m)
	}
	for i, s := range ss {
		f := s.wait(t, 5*time.Second)
		if len(f.recs) != 3 {
			t.Errorf("capture %d: %d records, want 3", i, len(f.recs))
		}
	}
}
