package probe

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"time"

	"github.com/vishvananda/netns"
	"golang.org/x/net/bpf"
	"golang.org/x/net/icmp"
	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
	"golang.org/x/sys/unix"
)

// Payload sizes (bytes after the 8-byte ICMP header).
const (
	DefaultSize = 56 // iputils' default
	// EmptyPayload asks for echo requests without data (Size 0 means
	// DefaultSize).
	EmptyPayload = -1
	maxSize4     = 65535 - 20 - 8
	maxSize6     = 65535 - 8
	cookieLen    = 8
)

// PingOptions configure Ping. The zero value sends one echo request per
// second until the context ends (Count 0); set Count or Deadline to bound it.
type PingOptions struct {
	Count    int           // echo requests to send; 0: until Deadline or the context ends
	Interval time.Duration // between requests; 0: DefaultInterval; at least MinInterval
	Timeout  time.Duration // wait for replies after the last request (no Deadline); 0: DefaultTimeout
	Deadline time.Duration // the whole run's limit; 0: none
	Size     int           // payload bytes; 0: DefaultSize; EmptyPayload: none
	TTL      int           // IPv4 TTL / IPv6 hop limit; 0: the kernel's default
	DF       bool          // IPv4: IP_PMTUDISC_DO (DF set, no local fragmentation); IPv6: no local fragmentation
	// Source is the source address (bound); Interface the device
	// (SO_BINDTODEVICE). Either, both or neither.
	Source    netip.Addr
	Interface string
	// Confirm sends every request with MSG_CONFIRM: the kernel treats the
	// neighbour as confirmed reachable (iputils ping6 does this).
	Confirm bool
	// OnReply, if set, is called (on Ping's goroutine) for every reply and
	// every error report as it arrives.
	OnReply func(Reply)
}

// Check reports options that can never work, without touching any
// namespace. Errors wrap ErrInvalid.
func (o PingOptions) Check() error {
	if err := o.schedule().check(); err != nil {
		return err
	}
	switch {
	case o.Size < EmptyPayload || o.Size > maxSize6:
		return fmt.Errorf("%w: payload size %d: want 0..%d", ErrInvalid, o.Size, maxSize6)
	case o.TTL < 0 || o.TTL > 255:
		return fmt.Errorf("%w: ttl %d: want 1..255", ErrInvalid, o.TTL)
	}
	return nil
}

// CheckDst is Check plus what depends on the destination (its family
// against Source and Size, its zone against Interface), still without
// touching any namespace.
func (o PingOptions) CheckDst(dst netip.Addr) error {
	if err := o.Check(); err != nil {
		return err
	}
	if !dst.IsValid() || dst.IsUnspecified() {
		return fmt.Errorf("%w: ping needs a destination address", ErrInvalid)
	}
	zone := dst.Zone()
	dst = dst.Unmap()
	if o.Source.IsValid() && o.Source.Unmap().Is6() != dst.Is6() {
		return fmt.Errorf("%w: source %s and destination %s are of different families", ErrInvalid, o.Source, dst.WithZone(""))
	}
	if dst.Is4() && o.size() > maxSize4 {
		return fmt.Errorf("%w: payload size %d: IPv4 allows at most %d", ErrInvalid, o.size(), maxSize4)
	}
	if zone != "" && o.Interface != "" && o.Interface != zone {
		return fmt.Errorf("%w: destination zone %s and interface %s differ", ErrInvalid, zone, o.Interface)
	}
	return nil
}

func (o PingOptions) schedule() schedule {
	return schedule{Count: o.Count, Interval: o.Interval, Timeout: o.Timeout, Deadline: o.Deadline}
}

func (o PingOptions) size() int {
	switch o.Size {
	case 0:
		return DefaultSize
	case EmptyPayload:
		return 0
	}
	return o.Size
}

// Reply is one echo reply, or one error report (Error set) about a
// request: an ICMP error (destination unreachable, time exceeded, ...) or a
// local send error.
type Reply struct {
	Seq   int        `json:"seq"` // 1, 2, ... (the wire carries it modulo 65536)
	From  netip.Addr `json:"from"`
	Bytes int        `json:"bytes"` // ICMP message length
	TTL   int        `json:"ttl"`   // IPv4 TTL or IPv6 hop limit of the reply
	RTTMS float64    `json:"rtt_ms"`
	Time  time.Time  `json:"time"` // when the reply arrived (kernel timestamp)
	Dup   bool       `json:"dup,omitempty"`
	Error string     `json:"error,omitempty"`
	// ICMPType and ICMPCode of an ICMP error report.
	ICMPType int `json:"icmp_type,omitempty"`
	ICMPCode int `json:"icmp_code,omitempty"`
}

// PingResult is a finished ping: every reply and error report in arrival
// order, and the summary.
type PingResult struct {
	Dst       netip.Addr `json:"dst"`
	Source    netip.Addr `json:"source,omitzero"`
	Interface string     `json:"interface,omitempty"`
	Size      int        `json:"size"` // payload bytes
	ID        int        `json:"id"`   // ICMP identifier
	Confirm   bool       `json:"confirm"`
	Started   time.Time  `json:"started"`
	Replies   []Reply    `json:"replies"`
	Summary
}

// echoMatch says which echo replies (and errors) are ours.
type echoMatch struct {
	v6        bool
	id        uint16
	cookie    []byte // payload prefix; empty: not checked
	dst       netip.Addr
	anySource bool // dst is multicast or broadcast
}

// echoEvent is a parsed, matching reply or error report.
type echoEvent struct {
	Seq   uint16
	From  netip.Addr
	TTL   int
	Bytes int
	At    time.Time
	Type  int
	Code  int
	Error string
}

// Ping sends ICMP echo requests to dst from inside ns and collects the
// replies. Errors before the first request (bad options, no such device,
// socket failures) return a nil result; when ctx ends the run, the result
// so far comes back with ctx's error.
func Ping(ctx context.Context, ns netns.NsHandle, dst netip.Addr, o PingOptions) (*PingResult, error) {
	if err := o.CheckDst(dst); err != nil {
		return nil, err
	}
	zone := dst.Zone()
	dst = dst.Unmap().WithZone("")
	v6 := dst.Is6()
	size := o.size()
	dev := o.Interface
	if zone != "" {
		dev = zone
	}
	ifindex := 0
	if dev != "" {
		var err error
		if ifindex, err = zoneIndex(ns, dev); err != nil {
			return nil, err
		}
	}
	src := o.Source.Unmap()
	srcZone := ""
	if v6 && src.IsLinkLocalUnicast() {
		srcZone = dev
	}
	s := ipSocket{IPv6: v6, Proto: "icmp", Source: src, Zone: srcZone, Dev: dev, Setup: func(fd int) error {
		if v6 {
			return setIPv6Opts(fd, o.TTL, o.DF, ifindex)
		}
		return setIPv4Opts(fd, o.TTL, o.DF)
	}}
	if v6 {
		s.Proto = "ipv6-icmp"
	}
	var idb [2]byte
	cookie := make([]byte, cookieLen)
	if _, err := rand.Read(idb[:]); err != nil {
		return nil, fmt.Errorf("random id: %w", err)
	}
	if _, err := rand.Read(cookie); err != nil {
		return nil, fmt.Errorf("random cookie: %w", err)
	}
	m := echoMatch{v6: v6, id: binary.BigEndian.Uint16(idb[:]), dst: dst,
		anySource: dst.IsMulticast() || dst == netip.AddrFrom4([4]byte{255, 255, 255, 255})}
	payload := echoPayload(size, cookie)
	if size >= cookieLen {
		m.cookie = cookie
	}

	c, err := s.open(ctx, ns)
	if err != nil {
		return nil, fmt.Errorf("ping %s: %w", dst, err)
	}
	if err := filterEcho(c, m); err != nil {
		c.Close()
		return nil, fmt.Errorf("ping %s: %w", dst, err)
	}
	rc, err := c.SyscallConn()
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("ping %s: %w", dst, err)
	}

	res := &PingResult{Dst: dst, Source: src, Interface: dev, Size: size, ID: int(m.id), Confirm: o.Confirm, Replies: []Reply{}}
	t := &tally{}
	emit := func(r Reply) {
		res.Replies = append(res.Replies, r)
		if o.OnReply != nil {
			o.OnReply(r)
		}
	}
	flags := 0
	if o.Confirm {
		flags = unix.MSG_CONFIRM
	}
	sa := sockaddr(dst, ifindex)
	buf := make([]byte, 65536+60)
	oob := make([]byte, 256)
	send := func(i int) {
		b, err := echoRequest(v6, m.id, uint16(i+1), payload)
		at := time.Now()
		if err == nil {
			err = sendto(rc, b, flags, sa)
		}
		t.markSent(at)
		if err != nil {
			t.fail(i)
			emit(Reply{Seq: i + 1, Time: at, Error: "local error: " + errText(err)})
		}
	}
	read := func() (echoEvent, bool, error) {
		p, err := recvmsg(rc, buf, oob)
		if err != nil {
			return echoEvent{}, false, err
		}
		ev, ok := parseEcho(m, p.B, addrOf(p.From), p.HopLimit)
		ev.At = p.At
		return ev, ok, nil
	}
	handle := func(ev echoEvent) {
		i := probeIndex(t.sent(), ev.Seq)
		if i < 0 {
			return
		}
		r := Reply{Seq: i + 1, From: ev.From, Bytes: ev.Bytes, TTL: ev.TTL, Time: ev.At, Error: ev.Error, ICMPType: ev.Type, ICMPCode: ev.Code}
		if ev.Error != "" {
			t.fail(i)
		} else {
			r.RTTMS, r.Dup = t.answer(i, ev.At)
		}
		emit(r)
	}
	err = session(ctx, o.schedule().withDefaults(), t, c, read, send, handle)
	res.Started = t.start
	res.Summary = t.summary(time.Now())
	if err != nil {
		return res, fmt.Errorf("ping %s: %w", dst, err)
	}
	return res, nil
}

func setIPv4Opts(fd, ttl int, df bool) error {
	opts := map[int]int{}
	if ttl > 0 {
		opts[unix.IP_TTL] = ttl
		opts[unix.IP_MULTICAST_TTL] = ttl
	}
	if df {
		opts[unix.IP_MTU_DISCOVER] = unix.IP_PMTUDISC_DO
	}
	if err := setInts(fd, unix.IPPROTO_IP, opts); err != nil {
		return err
	}
	return unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_BROADCAST, 1)
}

func setIPv6Opts(fd, hops int, df bool, ifindex int) error {
	opts := map[int]int{unix.IPV6_RECVHOPLIMIT: 1}
	if hops > 0 {
		opts[unix.IPV6_UNICAST_HOPS] = hops
		opts[unix.IPV6_MULTICAST_HOPS] = hops
	}
	if df {
		opts[unix.IPV6_MTU_DISCOVER] = unix.IPV6_PMTUDISC_DO
	}
	if ifindex > 0 {
		opts[unix.IPV6_MULTICAST_IF] = ifindex
	}
	return setInts(fd, unix.IPPROTO_IPV6, opts)
}

// errText is a send error's text without the syscall wrapping.
func errText(err error) string {
	var en unix.Errno
	if errors.As(err, &en) {
		return en.Error()
	}
	return err.Error()
}

// echoPayload is the request data: the run's cookie, then bytes counting
// up from 8 (iputils fills its payload the same way after its timestamp).
func echoPayload(size int, cookie []byte) []byte {
	b := make([]byte, size)
	n := copy(b, cookie)
	for i := n; i < size; i++ {
		b[i] = byte(i)
	}
	return b
}

// echoRequest marshals an ICMP echo request. IPv4 gets its checksum here;
// for ICMPv6 the kernel computes it (it needs the addresses).
func echoRequest(v6 bool, id, seq uint16, data []byte) ([]byte, error) {
	var typ icmp.Type = ipv4.ICMPTypeEcho
	if v6 {
		typ = ipv6.ICMPTypeEchoRequest
	}
	m := icmp.Message{Type: typ, Body: &icmp.Echo{ID: int(id), Seq: int(seq), Data: data}}
	return m.Marshal(nil)
}

// parseEcho parses what a raw ICMP socket read: for IPv4 the IP header and
// the ICMP message, for IPv6 the ICMPv6 message alone (hop is the hop limit
// from the control message, from the sender). It reports echo replies and
// ICMP errors about our requests.
func parseEcho(m echoMatch, b []byte, from netip.Addr, hop int) (echoEvent, bool) {
	proto := 58
	if !m.v6 {
		proto = 1
		if len(b) < 20 || b[0]>>4 != 4 {
			return echoEvent{}, false
		}
		ihl := int(b[0]&0x0f) * 4
		if ihl < 20 || len(b) < ihl {
			return echoEvent{}, false
		}
		hop = int(b[8])
		from = netip.AddrFrom4([4]byte(b[12:16]))
		b = b[ihl:]
	}
	msg, err := icmp.ParseMessage(proto, b)
	if err != nil {
		return echoEvent{}, false
	}
	ev := echoEvent{From: from, TTL: hop, Bytes: len(b)}
	switch body := msg.Body.(type) {
	case *icmp.Echo:
		if msg.Type != ipv4.ICMPTypeEchoReply && msg.Type != ipv6.ICMPTypeEchoReply {
			return echoEvent{}, false
		}
		if uint16(body.ID) != m.id || !bytes.HasPrefix(body.Data, m.cookie) {
			return echoEvent{}, false
		}
		if !m.anySource && from != m.dst {
			return echoEvent{}, false
		}
		ev.Seq = uint16(body.Seq)
		return ev, true
	case *icmp.DstUnreach, *icmp.TimeExceeded, *icmp.ParamProb, *icmp.PacketTooBig:
		seq, ok := innerEcho(m, icmpErrData(body))
		if !ok {
			return echoEvent{}, false
		}
		ev.Seq = seq
		ev.Type, ev.Code = int(b[0]), int(b[1])
		ev.Error = icmpErrorText(m.v6, int(b[0]), int(b[1]), b)
		return ev, true
	}
	return echoEvent{}, false
}

func icmpErrData(body icmp.MessageBody) []byte {
	switch e := body.(type) {
	case *icmp.DstUnreach:
		return e.Data
	case *icmp.TimeExceeded:
		return e.Data
	case *icmp.ParamProb:
		return e.Data
	case *icmp.PacketTooBig:
		return e.Data
	}
	return nil
}

// innerEcho finds our echo request in an ICMP error's quoted datagram and
// returns its sequence number.
func innerEcho(m echoMatch, d []byte) (uint16, bool) {
	var dst netip.Addr
	var req byte
	if m.v6 {
		if len(d) < 40+8 || d[0]>>4 != 6 || d[6] != 58 {
			return 0, false
		}
		dst = netip.AddrFrom16([16]byte(d[24:40]))
		d, req = d[40:], 128
	} else {
		if len(d) < 20 || d[0]>>4 != 4 {
			return 0, false
		}
		ihl := int(d[0]&0x0f) * 4
		if ihl < 20 || len(d) < ihl+8 || d[9] != 1 {
			return 0, false
		}
		dst = netip.AddrFrom4([4]byte(d[16:20]))
		d, req = d[ihl:], 8
	}
	if d[0] != req || binary.BigEndian.Uint16(d[4:6]) != m.id || (dst != m.dst && !m.anySource) {
		return 0, false
	}
	return binary.BigEndian.Uint16(d[6:8]), true
}

// icmpErrorText words an ICMP error the way iputils does.
func icmpErrorText(v6 bool, typ, code int, msg []byte) string {
	if !v6 {
		switch typ {
		case 3:
			texts := map[int]string{0: "Destination Net Unreachable", 1: "Destination Host Unreachable",
				2: "Destination Protocol Unreachable", 3: "Destination Port Unreachable",
				5: "Source Route Failed", 9: "Destination Net Prohibited", 10: "Destination Host Prohibited",
				13: "Packet filtered"}
			if code == 4 {
				return fmt.Sprintf("Frag needed and DF set (mtu = %d)", binary.BigEndian.Uint16(msg[6:8]))
			}
			if t, ok := texts[code]; ok {
				return t
			}
			return fmt.Sprintf("Dest Unreachable, Bad Code: %d", code)
		case 11:
			if code == 0 {
				return "Time to live exceeded"
			}
			return "Frag reassembly time exceeded"
		case 12:
			return "Parameter problem"
		}
		return fmt.Sprintf("Bad ICMP type: %d", typ)
	}
	switch typ {
	case 1:
		texts := map[int]string{0: "No route", 1: "Administratively prohibited", 2: "Beyond scope of source address",
			3: "Address unreachable", 4: "Port unreachable", 5: "Source address failed ingress/egress policy", 6: "Reject route to destination"}
		if t, ok := texts[code]; ok {
			return "Destination unreachable: " + t
		}
		return fmt.Sprintf("Destination unreachable: Unknown code %d", code)
	case 2:
		return fmt.Sprintf("Packet too big: mtu=%d", binary.BigEndian.Uint32(msg[4:8]))
	case 3:
		if code == 0 {
			return "Time exceeded: Hop limit"
		}
		return "Time exceeded: Defragmentation failure"
	case 4:
		return "Parameter problem"
	}
	return fmt.Sprintf("Unknown ICMPv6 type %d", typ)
}

// echoFilter is a classic BPF program for the raw socket: echo replies with
// our identifier, and ICMP errors (matched further in user space). IPv4
// raw sockets filter on the IP header and the ICMP message; IPv6 ones on
// the ICMPv6 message alone.
func echoFilter(v6 bool, id uint16) ([]bpf.RawInstruction, error) {
	accept, reject := bpf.RetConstant{Val: 0x40000}, bpf.RetConstant{Val: 0}
	if !v6 {
		return bpf.Assemble([]bpf.Instruction{
			bpf.LoadMemShift{Off: 0},                              // X = IP header length
			bpf.LoadIndirect{Off: 0, Size: 1},                     // ICMP type
			bpf.JumpIf{Cond: bpf.JumpEqual, Val: 0, SkipFalse: 2}, // echo reply?
			bpf.LoadIndirect{Off: 4, Size: 2},                     // identifier
			bpf.JumpIf{Cond: bpf.JumpEqual, Val: uint32(id), SkipTrue: 3, SkipFalse: 4},
			bpf.JumpIf{Cond: bpf.JumpEqual, Val: 3, SkipTrue: 2},   // destination unreachable
			bpf.JumpIf{Cond: bpf.JumpEqual, Val: 11, SkipTrue: 1},  // time exceeded
			bpf.JumpIf{Cond: bpf.JumpEqual, Val: 12, SkipFalse: 1}, // parameter problem
			accept,
			reject,
		})
	}
	return bpf.Assemble([]bpf.Instruction{
		bpf.LoadAbsolute{Off: 0, Size: 1},                       // ICMPv6 type
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: 129, SkipFalse: 2}, // echo reply?
		bpf.LoadAbsolute{Off: 4, Size: 2},                       // identifier
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: uint32(id), SkipTrue: 4, SkipFalse: 5},
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: 1, SkipTrue: 3},  // destination unreachable
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: 2, SkipTrue: 2},  // packet too big
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: 3, SkipTrue: 1},  // time exceeded
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: 4, SkipFalse: 1}, // parameter problem
		accept,
		reject,
	})
}

// filterEcho installs an ICMP type filter and the BPF program on c. A
// packet queued before they were in place is still matched in user space.
func filterEcho(c *net.IPConn, m echoMatch) error {
	prog, err := echoFilter(m.v6, m.id)
	if err != nil {
		return fmt.Errorf("assemble BPF filter: %w", err)
	}
	var bpfSetter interface {
		SetBPF([]bpf.RawInstruction) error
	}
	if m.v6 {
		p := ipv6.NewPacketConn(c)
		var f ipv6.ICMPFilter
		f.SetAll(true)
		for _, t := range []ipv6.ICMPType{ipv6.ICMPTypeEchoReply, ipv6.ICMPTypeDestinationUnreachable,
			ipv6.ICMPTypePacketTooBig, ipv6.ICMPTypeTimeExceeded, ipv6.ICMPTypeParameterProblem} {
			f.Accept(t)
		}
		err, bpfSetter = p.SetICMPFilter(&f), p
	} else {
		p := ipv4.NewPacketConn(c)
		var f ipv4.ICMPFilter
		f.SetAll(true)
		for _, t := range []ipv4.ICMPType{ipv4.ICMPTypeEchoReply, ipv4.ICMPTypeDestinationUnreachable,
			ipv4.ICMPTypeTimeExceeded, ipv4.ICMPTypeParameterProblem} {
			f.Accept(t)
		}
		err, bpfSetter = p.SetICMPFilter(&f), p
	}
	if err != nil {
		return fmt.Errorf("ICMP type filter: %w", err)
	}
	if err := bpfSetter.SetBPF(prog); err != nil {
		return fmt.Errorf("BPF filter: %w", err)
	}
	return nil
}
