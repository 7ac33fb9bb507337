package probe

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/netip"
	"syscall"
	"time"

	"github.com/mdlayher/packet"
	"github.com/vishvananda/netns"
	"golang.org/x/net/ipv6"
	"golang.org/x/sys/unix"

	"github.com/netlabdev/netlab/internal/nsutil"
)

// ArpingMode is what Arping sends.
type ArpingMode int

const (
	// ModeRequest asks who has the target: an ARP request (IPv4) or a
	// neighbour solicitation to the target's solicited-node multicast
	// address (IPv6), and waits for the answer.
	ModeRequest ArpingMode = iota
	// ModeGratuitous announces the target address: an ARP request with sender
	// IP = target IP and a broadcast target MAC (`arping -U`), or an
	// unsolicited neighbour advertisement with the override flag to
	// ff02::1. No answer is expected.
	ModeGratuitous
	// ModeReply announces the target address with an unsolicited ARP reply
	// (sender IP = target IP, target MAC = sender MAC, broadcast: `arping
	// -A`; the kernel takes a gratuitous reply only in that form). For IPv6
	// it is the same unsolicited advertisement as Gratuitous.
	ModeReply
)

var modeNames = map[ArpingMode]string{ModeRequest: "request", ModeGratuitous: "gratuitous", ModeReply: "reply"}

func (m ArpingMode) String() string {
	if s, ok := modeNames[m]; ok {
		return s
	}
	return fmt.Sprintf("mode(%d)", int(m))
}

// MarshalText writes the mode's name.
func (m ArpingMode) MarshalText() ([]byte, error) { return []byte(m.String()), nil }

// UnmarshalText reads a mode's name.
func (m *ArpingMode) UnmarshalText(b []byte) error {
	for k, v := range modeNames {
		if v == string(b) {
			*m = k
			return nil
		}
	}
	return fmt.Errorf("%w: arping mode %q: want request, gratuitous or reply", ErrInvalid, b)
}

// ArpingOptions configure Arping.
type ArpingOptions struct {
	Interface string // required: the device to send on
	Mode      ArpingMode
	// Source is, for a request, the sender (IPv4) or source (IPv6) address;
	// default: the interface's address in the target's subnet (IPv6: else
	// its link-local address). For an IPv6 announcement it is the source
	// address (default: the link-local one). An IPv4 announcement's sender
	// IP is always the target: Source must be empty or the target.
	Source netip.Addr
	// LLAddr is the MAC written into the packet (ARP sender hardware
	// address, NDP link-layer address option); default: the interface's.
	LLAddr   net.HardwareAddr
	Count    int           // probes to send; 0: until Deadline or the context ends
	Interval time.Duration // 0: DefaultInterval
	Timeout  time.Duration // wait after the last request (no Deadline); 0: DefaultTimeout
	Deadline time.Duration // the whole run's limit; 0: none
	// OnStart, if set, is called once the socket is open, before the first
	// probe, with the result's fixed fields (the chosen source included).
	OnStart func(ArpingResult)
	// OnReply, if set, is called (on Arping's goroutine) for every answer.
	OnReply func(ArpingReply)
}

// Check reports options that can never work, without touching any
// namespace. Errors wrap ErrInvalid.
func (o ArpingOptions) Check() error {
	if err := o.schedule().check(); err != nil {
		return err
	}
	switch {
	case o.Interface == "":
		return fmt.Errorf("%w: arping needs an interface", ErrInvalid)
	case o.Mode < ModeRequest || o.Mode > ModeReply:
		return fmt.Errorf("%w: arping mode %d", ErrInvalid, o.Mode)
	case o.LLAddr != nil && len(o.LLAddr) != 6:
		return fmt.Errorf("%w: link-layer address %s is not 6 bytes", ErrInvalid, o.LLAddr)
	}
	return nil
}

// CheckTarget is Check plus what depends on the target address, still
// without touching any namespace.
func (o ArpingOptions) CheckTarget(target netip.Addr) error {
	if err := o.Check(); err != nil {
		return err
	}
	target = target.Unmap().WithZone("")
	if !target.IsValid() || target.IsUnspecified() || target.IsMulticast() {
		return fmt.Errorf("%w: arping needs a unicast target address", ErrInvalid)
	}
	src := o.Source.Unmap().WithZone("")
	if src.IsValid() && src.Is4() != target.Is4() {
		return fmt.Errorf("%w: source %s and target %s are of different families", ErrInvalid, src, target)
	}
	if target.Is4() && o.Mode != ModeRequest && src.IsValid() && src != target {
		return fmt.Errorf("%w: a %s ARP's sender IP is the announced address %s, not %s", ErrInvalid, o.Mode, target, src)
	}
	return nil
}

func (o ArpingOptions) schedule() schedule {
	return schedule{Count: o.Count, Interval: o.Interval, Timeout: o.Timeout, Deadline: o.Deadline, announce: o.Mode != ModeRequest}
}

// ArpingReply is one answer: who has the target, at which MAC.
type ArpingReply struct {
	Seq    int        `json:"seq"` // the probe it answers (the latest one sent)
	From   netip.Addr `json:"from"`
	LLAddr string     `json:"lladdr"`
	RTTMS  float64    `json:"rtt_ms"`
	Time   time.Time  `json:"time"`
	// Unicast: ARP: the reply was addressed to us alone (not broadcast);
	// NDP: the advertisement has the solicited flag.
	Unicast bool   `json:"unicast"`
	Dup     bool   `json:"dup,omitempty"`
	Error   string `json:"error,omitempty"` // a local send error
}

// ArpingResult is a finished arping.
type ArpingResult struct {
	Protocol  string        `json:"protocol"` // arp or ndp
	Mode      ArpingMode    `json:"mode"`
	Interface string        `json:"interface"`
	Target    netip.Addr    `json:"target"`
	Source    netip.Addr    `json:"source,omitzero"`
	LLAddr    string        `json:"lladdr"` // the MAC we sent
	Started   time.Time     `json:"started"`
	Replies   []ArpingReply `json:"replies"`
	Summary
}

// arpEvent is a matching answer.
type arpEvent struct {
	From    netip.Addr
	MAC     net.HardwareAddr
	At      time.Time
	Unicast bool
}

// prober is one protocol's half of Arping: send probe i, read an answer.
type prober struct {
	sock io.Closer
	send func(i int) error
	read func() (arpEvent, bool, error)
}

// Arping sends ARP (IPv4 target) or neighbour discovery (IPv6 target)
// probes or announcements on one interface inside ns. Errors before the
// first probe return a nil result; when ctx ends the run, the result so far
// comes back with ctx's error.
func Arping(ctx context.Context, ns netns.NsHandle, target netip.Addr, o ArpingOptions) (*ArpingResult, error) {
	if err := o.CheckTarget(target); err != nil {
		return nil, err
	}
	target = target.Unmap().WithZone("")
	src := o.Source.Unmap().WithZone("")
	l, err := lookupLink(ns, o.Interface)
	if err != nil {
		return nil, err
	}
	mac := o.LLAddr
	if mac == nil {
		mac = l.MAC
	}
	if len(mac) != 6 {
		return nil, fmt.Errorf("interface %s: link-layer address %q is not an Ethernet MAC", l.Name, mac)
	}
	switch {
	case target.Is4() && o.Mode != ModeRequest:
		src = target
	case !src.IsValid() && (o.Mode == ModeRequest || target.Is6()):
		if target.Is6() && o.Mode != ModeRequest {
			src = l.linkLocal()
		} else {
			src = l.sourceFor(target)
		}
		if !src.IsValid() {
			return nil, fmt.Errorf("interface %s has no address to send from to %s: give a source", l.Name, target)
		}
	}
	res := &ArpingResult{Protocol: "arp", Mode: o.Mode, Interface: l.Name, Target: target, Source: src, LLAddr: mac.String(), Replies: []ArpingReply{}}
	var p *prober
	if target.Is4() {
		p, err = arpProber(ctx, ns, l, o.Mode, src, target, mac)
	} else {
		res.Protocol = "ndp"
		p, err = ndpProber(ctx, ns, l, o.Mode, src, target, mac)
	}
	if err != nil {
		return nil, fmt.Errorf("arping %s dev %s: %w", target, l.Name, err)
	}

	if o.OnStart != nil {
		o.OnStart(*res)
	}
	t := &tally{}
	emit := func(r ArpingReply) {
		res.Replies = append(res.Replies, r)
		if o.OnReply != nil {
			o.OnReply(r)
		}
	}
	send := func(i int) {
		at := time.Now()
		err := p.send(i)
		t.markSent(at)
		switch {
		case err != nil:
			t.fail(i)
			emit(ArpingReply{Seq: i + 1, Time: at, Error: "local error: " + errText(err)})
		case o.Mode != ModeRequest:
			t.settle(i) // nothing to wait for
		}
	}
	handle := func(ev arpEvent) {
		i := t.sent() - 1
		r := ArpingReply{Seq: i + 1, From: ev.From, LLAddr: ev.MAC.String(), Time: ev.At, Unicast: ev.Unicast}
		r.RTTMS, r.Dup = t.answer(i, ev.At)
		emit(r)
	}
	err = session(ctx, o.schedule().withDefaults(), t, p.sock, p.read, send, handle)
	res.Started = t.start
	res.Summary = t.summary(time.Now())
	if err != nil {
		return res, fmt.Errorf("arping %s dev %s: %w", target, l.Name, err)
	}
	return res, nil
}

// arpProber opens an AF_PACKET socket for ARP on the interface (inside ns)
// and builds the frames of the mode.
func arpProber(ctx context.Context, ns netns.NsHandle, l *link, mode ArpingMode, src, target netip.Addr, mac net.HardwareAddr) (*prober, error) {
	f := arpFrame{Dst: broadcastMAC, Src: l.MAC, ARP: arpPacket{Op: arpOpRequest, SenderMAC: mac, SenderIP: src, TargetMAC: zeroMAC, TargetIP: target}}
	switch mode {
	case ModeGratuitous:
		f.ARP.TargetMAC = broadcastMAC
	case ModeReply:
		f.ARP.Op, f.ARP.TargetMAC = arpOpReply, mac
	}
	frame, err := f.marshal()
	if err != nil {
		return nil, err
	}
	ifi := &net.Interface{Index: l.Index, Name: l.Name, HardwareAddr: l.MAC}
	var c *packet.Conn
	if err := nsutil.Do(ns, func() error {
		var err error
		c, err = packet.Listen(ifi, packet.Raw, etherTypeARP, nil)
		return err
	}); err != nil {
		return nil, fmt.Errorf("open packet socket: %w", err)
	}
	rc, err := c.SyscallConn()
	if err == nil {
		err = control(rc, func(fd int) error {
			return setInts(fd, unix.SOL_SOCKET, map[int]int{unix.SO_TIMESTAMPNS: 1})
		})
	}
	if err != nil {
		c.Close()
		return nil, err
	}
	buf, oob := make([]byte, 1<<16), make([]byte, 128)
	return &prober{
		sock: c,
		send: func(int) error {
			_, err := c.WriteTo(frame, &packet.Addr{HardwareAddr: broadcastMAC})
			return err
		},
		read: func() (arpEvent, bool, error) {
			p, err := recvmsg(rc, buf, oob)
			if err != nil {
				return arpEvent{}, false, err
			}
			ll, ok := p.From.(*unix.SockaddrLinklayer)
			if mode != ModeRequest || !ok || ll.Pkttype == unix.PACKET_OUTGOING {
				return arpEvent{}, false, nil
			}
			got, err := parseARPFrame(p.B)
			if err != nil || got.ARP.Op != arpOpReply || got.ARP.SenderIP != target || (src.IsValid() && !src.IsUnspecified() && got.ARP.TargetIP != src) {
				return arpEvent{}, false, nil
			}
			return arpEvent{From: got.ARP.SenderIP, MAC: got.ARP.SenderMAC, At: p.At, Unicast: ll.Pkttype == unix.PACKET_HOST}, true, nil
		},
	}, nil
}

// ndpProber opens a raw ICMPv6 socket on the interface (inside ns) for
// neighbour solicitations or unsolicited advertisements.
func ndpProber(ctx context.Context, ns netns.NsHandle, l *link, mode ArpingMode, src, target netip.Addr, mac net.HardwareAddr) (*prober, error) {
	m, dst := ndMessage{Target: target, LLAddr: mac}, solicitedNode(target)
	if mode != ModeRequest {
		m.Advert, m.Override, dst = true, true, allNodes
	}
	msg, err := m.marshal(netip.Addr{}, netip.Addr{})
	if err != nil {
		return nil, err
	}
	zone := ""
	if src.IsLinkLocalUnicast() {
		zone = l.Name
	}
	s := ipSocket{IPv6: true, Proto: "ipv6-icmp", Source: src, Zone: zone, Dev: l.Name, Setup: func(fd int) error {
		// RFC 4861: neighbour discovery packets carry hop limit 255.
		return setInts(fd, unix.IPPROTO_IPV6, map[int]int{unix.IPV6_UNICAST_HOPS: 255, unix.IPV6_MULTICAST_HOPS: 255,
			unix.IPV6_MULTICAST_IF: l.Index, unix.IPV6_RECVHOPLIMIT: 1, unix.IPV6_MULTICAST_LOOP: 0})
	}}
	c, err := s.open(ctx, ns)
	if err != nil {
		return nil, err
	}
	var f ipv6.ICMPFilter
	f.SetAll(true)
	if mode == ModeRequest {
		f.Accept(ipv6.ICMPTypeNeighborAdvertisement)
	}
	rc, err := c.SyscallConn()
	if err == nil {
		err = ipv6.NewPacketConn(c).SetICMPFilter(&f)
	}
	if err != nil {
		c.Close()
		return nil, err
	}
	sa := sockaddr(dst, l.Index)
	buf, oob := make([]byte, 1<<16), make([]byte, 256)
	return &prober{
		sock: c,
		send: func(int) error { return sendto(rc, msg, 0, sa) },
		read: func() (arpEvent, bool, error) {
			p, err := recvmsg(rc, buf, oob)
			if err != nil {
				return arpEvent{}, false, err
			}
			na, err := parseND(p.B)
			if err != nil || !na.Advert || na.Target != target || p.HopLimit != 255 || na.LLAddr == nil {
				return arpEvent{}, false, nil
			}
			return arpEvent{From: addrOf(p.From), MAC: na.LLAddr, At: p.At, Unicast: na.Solicited}, true, nil
		},
	}, nil
}

// control runs fn on rc's file descriptor.
func control(rc syscall.RawConn, fn func(fd int) error) error {
	var ferr error
	if err := rc.Control(func(fd uintptr) { ferr = fn(int(fd)) }); err != nil {
		return err
	}
	return ferr
}
