package probe

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"

	"golang.org/x/net/icmp"
	"golang.org/x/net/ipv6"
)

// Ethernet and ARP constants (RFC 826; if_ether.h, if_arp.h).
const (
	etherTypeARP  = 0x0806
	etherHdrLen   = 14
	arpLen        = 28
	arpOpRequest  = 1
	arpOpReply    = 2
	arpHWEthernet = 1
	arpProtoIPv4  = 0x0800
)

var (
	broadcastMAC = net.HardwareAddr{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}
	zeroMAC      = net.HardwareAddr{0, 0, 0, 0, 0, 0}
)

// arpPacket is an Ethernet/IPv4 ARP packet.
type arpPacket struct {
	Op        uint16
	SenderMAC net.HardwareAddr
	SenderIP  netip.Addr
	TargetMAC net.HardwareAddr
	TargetIP  netip.Addr
}

// arpFrame is an Ethernet frame carrying an ARP packet.
type arpFrame struct {
	Dst, Src net.HardwareAddr
	ARP      arpPacket
}

// marshal encodes the frame (42 bytes: no padding; the device pads short
// frames where the medium needs it).
func (f arpFrame) marshal() ([]byte, error) {
	p := f.ARP
	for _, m := range []net.HardwareAddr{f.Dst, f.Src, p.SenderMAC, p.TargetMAC} {
		if len(m) != 6 {
			return nil, fmt.Errorf("arp: MAC %q is not 6 bytes", m)
		}
	}
	if !p.SenderIP.Is4() || !p.TargetIP.Is4() {
		return nil, fmt.Errorf("arp: sender %s / target %s: want IPv4 addresses", p.SenderIP, p.TargetIP)
	}
	b := make([]byte, etherHdrLen+arpLen)
	copy(b[0:6], f.Dst)
	copy(b[6:12], f.Src)
	binary.BigEndian.PutUint16(b[12:14], etherTypeARP)
	a := b[etherHdrLen:]
	binary.BigEndian.PutUint16(a[0:2], arpHWEthernet)
	binary.BigEndian.PutUint16(a[2:4], arpProtoIPv4)
	a[4], a[5] = 6, 4
	binary.BigEndian.PutUint16(a[6:8], p.Op)
	copy(a[8:14], p.SenderMAC)
	s4, t4 := p.SenderIP.As4(), p.TargetIP.As4()
	copy(a[14:18], s4[:])
	copy(a[18:24], p.TargetMAC)
	copy(a[24:28], t4[:])
	return b, nil
}

var errNotARP = errors.New("not an Ethernet/IPv4 ARP packet")

// parseARPFrame decodes an Ethernet frame holding an Ethernet/IPv4 ARP
// packet (trailing padding is ignored).
func parseARPFrame(b []byte) (arpFrame, error) {
	if len(b) < etherHdrLen+arpLen || binary.BigEndian.Uint16(b[12:14]) != etherTypeARP {
		return arpFrame{}, errNotARP
	}
	a := b[etherHdrLen:]
	if binary.BigEndian.Uint16(a[0:2]) != arpHWEthernet || binary.BigEndian.Uint16(a[2:4]) != arpProtoIPv4 || a[4] != 6 || a[5] != 4 {
		return arpFrame{}, errNotARP
	}
	mac := func(x []byte) net.HardwareAddr { return net.HardwareAddr(append([]byte(nil), x...)) }
	return arpFrame{
		Dst: mac(b[0:6]),
		Src: mac(b[6:12]),
		ARP: arpPacket{
			Op:        binary.BigEndian.Uint16(a[6:8]),
			SenderMAC: mac(a[8:14]),
			SenderIP:  netip.AddrFrom4([4]byte(a[14:18])),
			TargetMAC: mac(a[18:24]),
			TargetIP:  netip.AddrFrom4([4]byte(a[24:28])),
		},
	}, nil
}

// Neighbour discovery (RFC 4861).
const (
	ndOptSourceLL = 1
	ndOptTargetLL = 2
	naFlagRouter  = 0x80
	naFlagSolicit = 0x40
	naFlagOverr   = 0x20
)

// ndMessage is a neighbour solicitation or advertisement with its
// link-layer address option (source for NS, target for NA).
type ndMessage struct {
	Advert                      bool // NA (136), else NS (135)
	Router, Solicited, Override bool // NA flags
	Target                      netip.Addr
	LLAddr                      net.HardwareAddr // nil: no option
}

// marshal encodes the ICMPv6 message. With src and dst it computes the
// checksum over the IPv6 pseudo-header; without them the checksum is left
// zero for the kernel to fill in (raw ICMPv6 sockets always do).
func (m ndMessage) marshal(src, dst netip.Addr) ([]byte, error) {
	if !m.Target.Is6() || m.Target.Is4In6() {
		return nil, fmt.Errorf("ndp: target %s is not an IPv6 address", m.Target)
	}
	body := make([]byte, 20, 28)
	if m.Advert {
		if m.Router {
			body[0] |= naFlagRouter
		}
		if m.Solicited {
			body[0] |= naFlagSolicit
		}
		if m.Override {
			body[0] |= naFlagOverr
		}
	}
	t := m.Target.As16()
	copy(body[4:20], t[:])
	if m.LLAddr != nil {
		if len(m.LLAddr) != 6 {
			return nil, fmt.Errorf("ndp: link-layer address %q is not 6 bytes", m.LLAddr)
		}
		typ := byte(ndOptSourceLL)
		if m.Advert {
			typ = ndOptTargetLL
		}
		body = append(body, typ, 1)
		body = append(body, m.LLAddr...)
	}
	msg := icmp.Message{Type: ipv6.ICMPTypeNeighborSolicitation, Body: &icmp.RawBody{Data: body}}
	if m.Advert {
		msg.Type = ipv6.ICMPTypeNeighborAdvertisement
	}
	var psh []byte
	if src.IsValid() && dst.IsValid() {
		psh = icmp.IPv6PseudoHeader(src.AsSlice(), dst.AsSlice())
	}
	return msg.Marshal(psh)
}

var errNotND = errors.New("not a neighbour solicitation or advertisement")

// parseND decodes an ICMPv6 neighbour solicitation or advertisement (the
// ICMPv6 message, as a raw ICMPv6 socket reads it).
func parseND(b []byte) (ndMessage, error) {
	msg, err := icmp.ParseMessage(58, b)
	if err != nil {
		return ndMessage{}, fmt.Errorf("ndp: %w", err)
	}
	var m ndMessage
	switch msg.Type {
	case ipv6.ICMPTypeNeighborSolicitation:
	case ipv6.ICMPTypeNeighborAdvertisement:
		m.Advert = true
	default:
		return ndMessage{}, errNotND
	}
	raw, ok := msg.Body.(*icmp.RawBody)
	if !ok || msg.Code != 0 || len(raw.Data) < 20 {
		return ndMessage{}, errNotND
	}
	d := raw.Data
	if m.Advert {
		m.Router, m.Solicited, m.Override = d[0]&naFlagRouter != 0, d[0]&naFlagSolicit != 0, d[0]&naFlagOverr != 0
	}
	m.Target = netip.AddrFrom16([16]byte(d[4:20]))
	want := byte(ndOptSourceLL)
	if m.Advert {
		want = ndOptTargetLL
	}
	for opts := d[20:]; len(opts) >= 2; {
		n := int(opts[1]) * 8
		if n == 0 || n > len(opts) {
			return ndMessage{}, fmt.Errorf("ndp: bad option length %d", opts[1])
		}
		if opts[0] == want && n >= 8 {
			m.LLAddr = net.HardwareAddr(append([]byte(nil), opts[2:8]...))
		}
		opts = opts[n:]
	}
	return m, nil
}

// solicitedNode returns the solicited-node multicast address of a
// (ff02::1:ffXX:XXXX, RFC 4291 2.7.1).
func solicitedNode(a netip.Addr) netip.Addr {
	b := a.As16()
	return netip.AddrFrom16([16]byte{0xff, 0x02, 10: 0, 11: 1, 12: 0xff, 13: b[13], 14: b[14], 15: b[15]})
}

// allNodes is ff02::1.
var allNodes = netip.MustParseAddr("ff02::1")
