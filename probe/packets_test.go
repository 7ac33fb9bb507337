package probe

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/bpf"
)

// hexBytes decodes hex with spaces and '|' separators.
func hexBytes(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.NewReplacer(" ", "", "|", "", "\n", "", "\t", "").Replace(s))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// csum is the Internet checksum (RFC 1071), written out here independently
// of x/net's.
func csum(b []byte) uint16 {
	var s uint32
	for i := 0; i+1 < len(b); i += 2 {
		s += uint32(b[i])<<8 | uint32(b[i+1])
	}
	if len(b)%2 == 1 {
		s += uint32(b[len(b)-1]) << 8
	}
	for s > 0xffff {
		s = s>>16 + s&0xffff
	}
	return ^uint16(s)
}

// csum6 is the ICMPv6 checksum of msg (checksum field zero) between src
// and dst: the pseudo-header is src, dst, upper-layer length, next header.
func csum6(src, dst netip.Addr, msg []byte) uint16 {
	s, d := src.As16(), dst.As16()
	ph := append(append(s[:], d[:]...), 0, 0, byte(len(msg)>>8), byte(len(msg)), 0, 0, 0, 58)
	return csum(append(ph, msg...))
}

var (
	mac1 = net.HardwareAddr{2, 0, 0, 0, 0xaa, 1}
	mac2 = net.HardwareAddr{2, 0, 0, 0, 0xbb, 2}
	v4a  = netip.MustParseAddr("192.0.2.1")
	v4b  = netip.MustParseAddr("192.0.2.2")
	v6a  = netip.MustParseAddr("2001:db8::1")
	v6b  = netip.MustParseAddr("2001:db8::2")
)

func TestEchoRequestBytes(t *testing.T) {
	// ICMP echo request, id 0x1234, seq 1, data "abcd": the checksum
	// 0x2104 is ~(0x0800 + 0x1234 + 0x0001 + 0x6162 + 0x6364) by hand.
	got, err := echoRequest(false, 0x1234, 1, []byte("abcd"))
	if err != nil {
		t.Fatal(err)
	}
	if want := hexBytes(t, "08 00 21 04 | 12 34 00 01 | 61 62 63 64"); !bytes.Equal(got, want) {
		t.Errorf("IPv4 echo request\n got %x\nwant %x", got, want)
	}
	if csum(got) != 0 {
		t.Errorf("IPv4 echo request does not checksum to zero: %x", got)
	}
	// ICMPv6: type 128, checksum left zero for the kernel.
	got, err = echoRequest(true, 0x1234, 0xffff, []byte("abcd"))
	if err != nil {
		t.Fatal(err)
	}
	if want := hexBytes(t, "80 00 00 00 | 12 34 ff ff | 61 62 63 64"); !bytes.Equal(got, want) {
		t.Errorf("IPv6 echo request\n got %x\nwant %x", got, want)
	}
}

func TestEchoPayload(t *testing.T) {
	c := []byte{9, 9, 9, 9, 9, 9, 9, 9}
	if got := echoPayload(12, c); !bytes.Equal(got, []byte{9, 9, 9, 9, 9, 9, 9, 9, 8, 9, 10, 11}) {
		t.Errorf("payload %v", got)
	}
	if got := echoPayload(3, c); !bytes.Equal(got, []byte{9, 9, 9}) {
		t.Errorf("short payload %v", got)
	}
	if got := echoPayload(0, c); len(got) != 0 {
		t.Errorf("empty payload %v", got)
	}
}

// ipv4Header builds a 20-byte IPv4 header (checksum not needed by the
// parser).
func ipv4Header(proto, ttl byte, src, dst netip.Addr, payload int) []byte {
	h := make([]byte, 20)
	h[0], h[8], h[9] = 0x45, ttl, proto
	binary.BigEndian.PutUint16(h[2:4], uint16(20+payload))
	s, d := src.As4(), dst.As4()
	copy(h[12:16], s[:])
	copy(h[16:20], d[:])
	return h
}

func TestParseEcho(t *testing.T) {
	cookie := []byte("cookie!!")
	m4 := echoMatch{id: 0x1234, cookie: cookie, dst: v4b}
	reply := hexBytes(t, "00 00 00 00 | 12 34 00 07")
	reply = append(reply, echoPayload(16, cookie)...)
	pkt := append(ipv4Header(1, 63, v4b, v4a, len(reply)), reply...)
	ev, ok := parseEcho(m4, pkt, netip.Addr{}, -1)
	if !ok || ev.Seq != 7 || ev.TTL != 63 || ev.From != v4b || ev.Bytes != 24 || ev.Error != "" {
		t.Errorf("IPv4 reply: %+v, %v", ev, ok)
	}
	// Not ours: another id, another cookie, another source, a request.
	for name, mm := range map[string]echoMatch{
		"id":     {id: 0x4321, cookie: cookie, dst: v4b},
		"cookie": {id: 0x1234, cookie: []byte("other!!!"), dst: v4b},
		"source": {id: 0x1234, cookie: cookie, dst: netip.MustParseAddr("192.0.2.3")},
	} {
		if _, ok := parseEcho(mm, pkt, netip.Addr{}, -1); ok {
			t.Errorf("reply matched despite a different %s", name)
		}
	}
	if _, ok := parseEcho(echoMatch{id: 0x1234, cookie: cookie, dst: netip.MustParseAddr("224.0.0.1"), anySource: true}, pkt, netip.Addr{}, -1); !ok {
		t.Error("multicast ping: a reply from any source must match")
	}
	req := append([]byte{8}, reply[1:]...)
	if _, ok := parseEcho(m4, append(ipv4Header(1, 64, v4b, v4a, len(req)), req...), netip.Addr{}, -1); ok {
		t.Error("an echo request matched as a reply")
	}
	for _, cut := range []int{0, 10, 20, 23} {
		if _, ok := parseEcho(m4, pkt[:cut], netip.Addr{}, -1); ok {
			t.Errorf("truncated packet (%d bytes) matched", cut)
		}
	}

	// Destination host unreachable from 192.0.2.1 quoting our request
	// (seq 9) to 192.0.2.2.
	inner := append(ipv4Header(1, 64, v4a, v4b, 64), hexBytes(t, "08 00 00 00 12 34 00 09")...)
	unreach := append(hexBytes(t, "03 01 00 00 00 00 00 00"), inner...)
	ev, ok = parseEcho(m4, append(ipv4Header(1, 64, v4a, v4a, len(unreach)), unreach...), netip.Addr{}, -1)
	if !ok || ev.Seq != 9 || ev.Error != "Destination Host Unreachable" || ev.Type != 3 || ev.Code != 1 || ev.From != v4a {
		t.Errorf("IPv4 unreachable: %+v, %v", ev, ok)
	}
	frag := append(hexBytes(t, "03 04 00 00 00 00 05 dc"), inner...)
	if ev, _ := parseEcho(m4, append(ipv4Header(1, 64, v4a, v4a, len(frag)), frag...), netip.Addr{}, -1); ev.Error != "Frag needed and DF set (mtu = 1500)" {
		t.Errorf("frag needed: %q", ev.Error)
	}

	// IPv6: the socket reads the ICMPv6 message alone; the hop limit comes
	// from a control message.
	m6 := echoMatch{v6: true, id: 0x1234, cookie: cookie, dst: v6b}
	reply6 := append(hexBytes(t, "81 00 00 00 | 12 34 00 02"), echoPayload(8, cookie)...)
	ev, ok = parseEcho(m6, reply6, v6b, 64)
	if !ok || ev.Seq != 2 || ev.TTL != 64 || ev.From != v6b || ev.Bytes != 16 {
		t.Errorf("IPv6 reply: %+v, %v", ev, ok)
	}
	inner6 := make([]byte, 40)
	inner6[0], inner6[6] = 0x60, 58
	s, d := v6a.As16(), v6b.As16()
	copy(inner6[8:24], s[:])
	copy(inner6[24:40], d[:])
	inner6 = append(inner6, hexBytes(t, "80 00 00 00 12 34 00 03")...)
	ev, ok = parseEcho(m6, append(hexBytes(t, "01 03 00 00 00 00 00 00"), inner6...), v6a, 64)
	if !ok || ev.Seq != 3 || ev.Error != "Destination unreachable: Address unreachable" {
		t.Errorf("IPv6 unreachable: %+v, %v", ev, ok)
	}
	ev, ok = parseEcho(m6, append(hexBytes(t, "02 00 00 00 00 00 05 00"), inner6...), v6a, 64)
	if !ok || ev.Error != "Packet too big: mtu=1280" {
		t.Errorf("IPv6 packet too big: %+v, %v", ev, ok)
	}
}

// TestEchoFilter runs the BPF programs in x/net's BPF VM on known packets:
// replies with our id pass, other ids and other types do not, errors pass.
func TestEchoFilter(t *testing.T) {
	for _, c := range []struct {
		v6   bool
		pkt  []byte
		pass bool
	}{
		{false, append(ipv4Header(1, 64, v4b, v4a, 8), hexBytes(t, "00 00 00 00 12 34 00 01")...), true},
		{false, append(ipv4Header(1, 64, v4b, v4a, 8), hexBytes(t, "00 00 00 00 43 21 00 01")...), false},
		{false, append(ipv4Header(1, 64, v4b, v4a, 8), hexBytes(t, "08 00 00 00 12 34 00 01")...), false},
		{false, append(ipv4Header(1, 64, v4b, v4a, 8), hexBytes(t, "03 01 00 00 00 00 00 00")...), true},
		{false, append(ipv4Header(1, 64, v4b, v4a, 8), hexBytes(t, "0b 00 00 00 00 00 00 00")...), true},
		{false, append(ipv4Header(1, 64, v4b, v4a, 8), hexBytes(t, "05 00 00 00 00 00 00 00")...), false},
		// An IPv4 header with options (IHL 6): the ICMP message starts at 24.
		{false, append(append([]byte{0x46}, append(ipv4Header(1, 64, v4b, v4a, 12)[1:], 1, 1, 1, 0)...), hexBytes(t, "00 00 00 00 12 34 00 01")...), true},
		{true, hexBytes(t, "81 00 00 00 12 34 00 01"), true},
		{true, hexBytes(t, "81 00 00 00 43 21 00 01"), false},
		{true, hexBytes(t, "80 00 00 00 12 34 00 01"), false},
		{true, hexBytes(t, "87 00 00 00 00 00 00 00"), false},
		{true, hexBytes(t, "01 03 00 00 00 00 00 00"), true},
		{true, hexBytes(t, "02 00 00 00 00 00 05 00"), true},
		{true, hexBytes(t, "03 00 00 00 00 00 00 00"), true},
	} {
		raw, err := echoFilter(c.v6, 0x1234)
		if err != nil {
			t.Fatal(err)
		}
		ins, ok := bpf.Disassemble(raw)
		if !ok {
			t.Fatal("cannot disassemble the filter")
		}
		vm, err := bpf.NewVM(ins)
		if err != nil {
			t.Fatal(err)
		}
		n, err := vm.Run(c.pkt)
		if err != nil {
			t.Fatal(err)
		}
		if (n > 0) != c.pass {
			t.Errorf("v6=%v %x: filter returned %d, want pass=%v", c.v6, c.pkt, n, c.pass)
		}
	}
}

func TestARPFrames(t *testing.T) {
	for _, c := range []struct {
		name string
		f    arpFrame
		want string
	}{
		{"request", arpFrame{Dst: broadcastMAC, Src: mac1, ARP: arpPacket{Op: 1, SenderMAC: mac1, SenderIP: v4a, TargetMAC: zeroMAC, TargetIP: v4b}},
			"ffffffffffff 02000000aa01 0806 | 0001 0800 06 04 0001 | 02000000aa01 c0000201 | 000000000000 c0000202"},
		{"reply", arpFrame{Dst: mac1, Src: mac2, ARP: arpPacket{Op: 2, SenderMAC: mac2, SenderIP: v4b, TargetMAC: mac1, TargetIP: v4a}},
			"02000000aa01 02000000bb02 0806 | 0001 0800 06 04 0002 | 02000000bb02 c0000202 | 02000000aa01 c0000201"},
		// arping -U 192.0.2.50: sender IP = target IP, broadcast target MAC.
		{"gratuitous", arpFrame{Dst: broadcastMAC, Src: mac1, ARP: arpPacket{Op: 1, SenderMAC: mac1, SenderIP: netip.MustParseAddr("192.0.2.50"), TargetMAC: broadcastMAC, TargetIP: netip.MustParseAddr("192.0.2.50")}},
			"ffffffffffff 02000000aa01 0806 | 0001 0800 06 04 0001 | 02000000aa01 c0000232 | ffffffffffff c0000232"},
		// arping -A: an unsolicited reply with target MAC = sender MAC.
		{"unsolicited reply", arpFrame{Dst: broadcastMAC, Src: mac1, ARP: arpPacket{Op: 2, SenderMAC: mac1, SenderIP: netip.MustParseAddr("192.0.2.50"), TargetMAC: mac1, TargetIP: netip.MustParseAddr("192.0.2.50")}},
			"ffffffffffff 02000000aa01 0806 | 0001 0800 06 04 0002 | 02000000aa01 c0000232 | 02000000aa01 c0000232"},
	} {
		got, err := c.f.marshal()
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		want := hexBytes(t, c.want)
		if !bytes.Equal(got, want) {
			t.Errorf("%s\n got %x\nwant %x", c.name, got, want)
		}
		// Parse it back, with the padding a wire frame carries.
		back, err := parseARPFrame(append(got, make([]byte, 18)...))
		if err != nil {
			t.Fatalf("%s: parse: %v", c.name, err)
		}
		if back.Dst.String() != c.f.Dst.String() || back.Src.String() != c.f.Src.String() || back.ARP.Op != c.f.ARP.Op ||
			back.ARP.SenderMAC.String() != c.f.ARP.SenderMAC.String() || back.ARP.SenderIP != c.f.ARP.SenderIP ||
			back.ARP.TargetMAC.String() != c.f.ARP.TargetMAC.String() || back.ARP.TargetIP != c.f.ARP.TargetIP {
			t.Errorf("%s: parsed back as %+v, want %+v", c.name, back, c.f)
		}
	}
	good, _ := arpFrame{Dst: broadcastMAC, Src: mac1, ARP: arpPacket{Op: 1, SenderMAC: mac1, SenderIP: v4a, TargetMAC: zeroMAC, TargetIP: v4b}}.marshal()
	for name, b := range map[string][]byte{
		"short":     good[:41],
		"ethertype": append(append(append([]byte{}, good[:12]...), 0x08, 0x00), good[14:]...),
		"htype":     append(append(append([]byte{}, good[:14]...), 0x00, 0x06), good[16:]...),
		"hlen":      append(append(append([]byte{}, good[:18]...), 8), good[19:]...),
	} {
		if _, err := parseARPFrame(b); err == nil {
			t.Errorf("%s: bad frame parsed", name)
		}
	}
	if _, err := (arpFrame{Dst: broadcastMAC, Src: mac1, ARP: arpPacket{SenderMAC: mac1, SenderIP: v6a, TargetMAC: zeroMAC, TargetIP: v4b}}).marshal(); err == nil {
		t.Error("an IPv6 sender marshalled into ARP")
	}
	if _, err := (arpFrame{Dst: broadcastMAC, Src: mac1[:4], ARP: arpPacket{SenderMAC: mac1, SenderIP: v4a, TargetMAC: zeroMAC, TargetIP: v4b}}).marshal(); err == nil {
		t.Error("a 4-byte MAC marshalled")
	}
}

func TestNDMessages(t *testing.T) {
	snm := solicitedNode(v6b)
	if snm != netip.MustParseAddr("ff02::1:ff00:2") {
		t.Errorf("solicited-node address of %s: %s", v6b, snm)
	}
	if got := solicitedNode(netip.MustParseAddr("fe80::1234:5678:9abc")); got != netip.MustParseAddr("ff02::1:ff78:9abc") {
		t.Errorf("solicited-node address: %s", got)
	}
	for _, c := range []struct {
		name     string
		m        ndMessage
		src, dst netip.Addr
		want     string // checksum field as 0000; filled in from csum6
	}{
		{"solicitation", ndMessage{Target: v6b, LLAddr: mac1}, v6a, snm,
			"87 00 0000 | 00000000 | 20010db8000000000000000000000002 | 01 01 02000000aa01"},
		{"solicited advertisement", ndMessage{Advert: true, Solicited: true, Override: true, Target: v6b, LLAddr: mac2}, v6b, v6a,
			"88 00 0000 | 60000000 | 20010db8000000000000000000000002 | 02 01 02000000bb02"},
		{"unsolicited advertisement", ndMessage{Advert: true, Override: true, Target: netip.MustParseAddr("2001:db8::50"), LLAddr: mac1},
			netip.MustParseAddr("fe80::1"), allNodes,
			"88 00 0000 | 20000000 | 20010db8000000000000000000000050 | 02 01 02000000aa01"},
		{"router advertisement flag, no option", ndMessage{Advert: true, Router: true, Target: v6b}, v6b, allNodes,
			"88 00 0000 | 80000000 | 20010db8000000000000000000000002"},
	} {
		want := hexBytes(t, c.want)
		binary.BigEndian.PutUint16(want[2:4], csum6(c.src, c.dst, want))
		got, err := c.m.marshal(c.src, c.dst)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s\n got %x\nwant %x", c.name, got, want)
		}
		// Without addresses the checksum is left to the kernel.
		bare, _ := c.m.marshal(netip.Addr{}, netip.Addr{})
		if bare[2] != 0 || bare[3] != 0 || !bytes.Equal(bare[4:], want[4:]) {
			t.Errorf("%s without addresses: %x", c.name, bare)
		}
		back, err := parseND(got)
		if err != nil {
			t.Fatalf("%s: parse: %v", c.name, err)
		}
		if back.Advert != c.m.Advert || back.Router != c.m.Router || back.Solicited != c.m.Solicited || back.Override != c.m.Override ||
			back.Target != c.m.Target || back.LLAddr.String() != c.m.LLAddr.String() {
			t.Errorf("%s: parsed back as %+v, want %+v", c.name, back, c.m)
		}
	}
	// Options are walked by length; a zero length is refused, other options
	// are skipped.
	na := hexBytes(t, "88 00 0000 | 60000000 | 20010db8000000000000000000000002 | 0e 01 000000000000 | 02 01 02000000bb02")
	if m, err := parseND(na); err != nil || m.LLAddr.String() != mac2.String() {
		t.Errorf("NA with a nonce option first: %+v, %v", m, err)
	}
	for name, b := range map[string][]byte{
		"zero-length option": hexBytes(t, "88 00 0000 | 60000000 | 20010db8000000000000000000000002 | 02 00 02000000bb02"),
		"echo request":       hexBytes(t, "80 00 0000 12340001"),
		"short":              hexBytes(t, "88 00 0000 | 60000000 | 20010db8"),
		"code 1":             hexBytes(t, "88 01 0000 | 60000000 | 20010db8000000000000000000000002"),
	} {
		if _, err := parseND(b); err == nil {
			t.Errorf("%s parsed", name)
		}
	}
	if _, err := (ndMessage{Target: v4a}).marshal(netip.Addr{}, netip.Addr{}); err == nil {
		t.Error("an IPv4 target marshalled into NDP")
	}
}

func TestSummarize(t *testing.T) {
	s := summarize(3, 3, 0, 0, []float64{1, 2, 3}, 2003*time.Millisecond)
	// mdev = sqrt(mean(rtt²) - mean²) = sqrt(14/3 - 4) = sqrt(2/3).
	if s.RTTMinMS != 1 || s.RTTMaxMS != 3 || s.RTTAvgMS != 2 || !near(s.RTTMdevMS, 0.816496580927726) || s.LossPercent != 0 || s.TimeMS != 2003 {
		t.Errorf("summary %+v", s)
	}
	// iputils' example: 0.024 and 0.026 ms give avg 0.025, mdev 0.001.
	s = summarize(2, 2, 0, 0, []float64{0.024, 0.026}, 0)
	if !near(s.RTTAvgMS, 0.025) || !near(s.RTTMdevMS, 0.001) {
		t.Errorf("summary %+v", s)
	}
	s = summarize(3, 1, 1, 0, []float64{0.5}, 0)
	if !near(s.LossPercent, 200.0/3) || s.RTTMdevMS != 0 || s.RTTMinMS != 0.5 || s.Duplicates != 1 {
		t.Errorf("summary %+v", s)
	}
	s = summarize(4, 0, 0, 4, nil, 0)
	if s.LossPercent != 100 || s.RTTAvgMS != 0 || s.Errors != 4 {
		t.Errorf("summary %+v", s)
	}
	if s := summarize(0, 0, 0, 0, nil, 0); s.LossPercent != 0 {
		t.Errorf("nothing sent: %+v", s)
	}
}

func near(a, b float64) bool { return a-b < 1e-9 && b-a < 1e-9 }

func TestProbeIndex(t *testing.T) {
	for _, c := range []struct {
		sent int
		seq  uint16
		want int
	}{
		{0, 1, -1}, {1, 1, 0}, {3, 2, 1}, {3, 3, 2}, {3, 4, -1 + 65536 - 65536*1},
		{65536, 0, 65535}, {65537, 1, 65536}, {65537, 2, 1}, {70000, 1, 65536},
	} {
		// {3, 4}: seq 4 was never sent; the most recent probe that would have
		// carried it lies 65536 probes back: none.
		if got := probeIndex(c.sent, c.seq); got != c.want {
			t.Errorf("probeIndex(%d, %d) = %d, want %d", c.sent, c.seq, got, c.want)
		}
	}
}

func TestArpingModeText(t *testing.T) {
	for _, m := range []ArpingMode{ModeRequest, ModeGratuitous, ModeReply} {
		b, _ := m.MarshalText()
		var back ArpingMode
		if err := back.UnmarshalText(b); err != nil || back != m {
			t.Errorf("%s: round trip %v, %v", m, back, err)
		}
	}
	var m ArpingMode
	if err := m.UnmarshalText([]byte("shout")); err == nil {
		t.Error("unknown mode accepted")
	}
}
