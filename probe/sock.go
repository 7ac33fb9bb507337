package probe

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"syscall"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/netlabdev/netlab/internal/nsutil"
)

// link is what the probes need to know about an interface.
type link struct {
	Name  string
	Index int
	MAC   net.HardwareAddr
	Addrs []netip.Prefix
}

// lookupLink reads an interface and its addresses inside ns.
func lookupLink(ns netns.NsHandle, name string) (*link, error) {
	h, err := nsutil.Handle(ns)
	if err != nil {
		return nil, err
	}
	defer h.Close()
	l, err := h.LinkByName(name)
	if err != nil {
		var nf netlink.LinkNotFoundError
		if errors.As(err, &nf) || errors.Is(err, unix.ENODEV) {
			return nil, fmt.Errorf("interface %s: %w", name, ErrNoDevice)
		}
		return nil, fmt.Errorf("interface %s: %w", name, err)
	}
	addrs, err := h.AddrList(l, netlink.FAMILY_ALL)
	if err != nil {
		return nil, fmt.Errorf("interface %s: addresses: %w", name, err)
	}
	out := &link{Name: name, Index: l.Attrs().Index, MAC: l.Attrs().HardwareAddr}
	for _, a := range addrs {
		ip, ok := netip.AddrFromSlice(a.IP)
		if !ok {
			continue
		}
		ones, _ := a.Mask.Size()
		out.Addrs = append(out.Addrs, netip.PrefixFrom(ip.Unmap(), ones))
	}
	return out, nil
}

// sourceFor picks the interface's address for talking to dst: one whose
// prefix holds dst, else (IPv6) the link-local one, else (IPv4) the first
// IPv4 address. It returns the zero Addr when there is none.
func (l *link) sourceFor(dst netip.Addr) netip.Addr {
	var first, linkLocal netip.Addr
	for _, p := range l.Addrs {
		a := p.Addr()
		if a.Is4() != dst.Is4() {
			continue
		}
		if p.Contains(dst) && !(dst.Is6() && a.IsLinkLocalUnicast() != dst.IsLinkLocalUnicast()) {
			return a
		}
		if !first.IsValid() {
			first = a
		}
		if a.IsLinkLocalUnicast() && !linkLocal.IsValid() {
			linkLocal = a
		}
	}
	if dst.Is6() {
		return linkLocal
	}
	return first
}

// linkLocal returns the interface's IPv6 link-local address, or the zero
// Addr.
func (l *link) linkLocal() netip.Addr {
	for _, p := range l.Addrs {
		if p.Addr().Is6() && p.Addr().IsLinkLocalUnicast() {
			return p.Addr()
		}
	}
	return netip.Addr{}
}

// ipSocket describes a raw IP socket to open inside a namespace.
type ipSocket struct {
	IPv6   bool
	Proto  string // "icmp" / "ipv6-icmp"
	Source netip.Addr
	Zone   string // for a link-local Source
	Dev    string // SO_BINDTODEVICE
	// Options set before bind(2), on the raw file descriptor.
	Setup func(fd int) error
}

// open creates the socket inside ns (so it belongs to ns) and binds it.
func (s ipSocket) open(ctx context.Context, ns netns.NsHandle) (*net.IPConn, error) {
	network := "ip4:" + s.Proto
	if s.IPv6 {
		network = "ip6:" + s.Proto
	}
	laddr := ""
	if s.Source.IsValid() {
		laddr = s.Source.WithZone(s.Zone).String()
	}
	lc := net.ListenConfig{Control: func(_, _ string, rc syscall.RawConn) error {
		var serr error
		err := rc.Control(func(fd uintptr) {
			if s.Dev != "" {
				if err := unix.SetsockoptString(int(fd), unix.SOL_SOCKET, unix.SO_BINDTODEVICE, s.Dev); err != nil {
					serr = fmt.Errorf("bind to device %s: %w", s.Dev, err)
					return
				}
			}
			if err := unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_TIMESTAMPNS, 1); err != nil {
				serr = fmt.Errorf("SO_TIMESTAMPNS: %w", err)
				return
			}
			if s.Setup != nil {
				serr = s.Setup(int(fd))
			}
		})
		return errors.Join(err, serr)
	}}
	var c net.PacketConn
	err := nsutil.Do(ns, func() error {
		var err error
		c, err = lc.ListenPacket(ctx, network, laddr)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("open %s socket: %w", network, err)
	}
	return c.(*net.IPConn), nil
}

// datagram is one datagram read with recvmsg: its bytes, the sender's
// address, when the kernel received it, and the IPv6 hop limit if asked for.
type datagram struct {
	B        []byte
	From     unix.Sockaddr
	At       time.Time
	HopLimit int
}

// recvmsg reads one datagram through rc, with its control messages.
func recvmsg(rc syscall.RawConn, buf, oob []byte) (datagram, error) {
	var n, oobn int
	var from unix.Sockaddr
	var rerr error
	err := rc.Read(func(fd uintptr) bool {
		n, oobn, _, from, rerr = unix.Recvmsg(int(fd), buf, oob, 0)
		return rerr != unix.EAGAIN
	})
	if err == nil {
		err = rerr
	}
	if err != nil {
		return datagram{}, err
	}
	p := datagram{B: buf[:n], From: from, At: time.Now(), HopLimit: -1}
	cms, err := unix.ParseSocketControlMessage(oob[:oobn])
	if err != nil {
		return p, nil // keep the user-space time
	}
	for _, cm := range cms {
		switch {
		case cm.Header.Level == unix.SOL_SOCKET && cm.Header.Type == unix.SCM_TIMESTAMPNS && len(cm.Data) >= 16:
			sec := int64(binary.NativeEndian.Uint64(cm.Data[0:8]))
			nsec := int64(binary.NativeEndian.Uint64(cm.Data[8:16]))
			p.At = time.Unix(sec, nsec)
		case cm.Header.Level == unix.IPPROTO_IPV6 && cm.Header.Type == unix.IPV6_HOPLIMIT && len(cm.Data) >= 4:
			p.HopLimit = int(int32(binary.NativeEndian.Uint32(cm.Data[0:4])))
		}
	}
	return p, nil
}

// sendto sends b to sa through rc with flags (MSG_CONFIRM, say).
func sendto(rc syscall.RawConn, b []byte, flags int, sa unix.Sockaddr) error {
	var serr error
	err := rc.Write(func(fd uintptr) bool {
		serr = unix.Sendto(int(fd), b, flags, sa)
		return serr != unix.EAGAIN
	})
	if err != nil {
		return err
	}
	return serr
}

// sockaddr turns an address (with an interface index for link-local and
// multicast IPv6) into a unix.Sockaddr.
func sockaddr(a netip.Addr, zone int) unix.Sockaddr {
	if a.Is4() {
		return &unix.SockaddrInet4{Addr: a.As4()}
	}
	return &unix.SockaddrInet6{Addr: a.As16(), ZoneId: uint32(zone)}
}

// addrOf returns the IP of a unix.Sockaddr (without zone).
func addrOf(sa unix.Sockaddr) netip.Addr {
	switch a := sa.(type) {
	case *unix.SockaddrInet4:
		return netip.AddrFrom4(a.Addr)
	case *unix.SockaddrInet6:
		return netip.AddrFrom16(a.Addr)
	}
	return netip.Addr{}
}

func setInts(fd, level int, opts map[int]int) error {
	for opt, v := range opts {
		if err := unix.SetsockoptInt(fd, level, opt, v); err != nil {
			return fmt.Errorf("setsockopt %d/%d=%d: %w", level, opt, v, err)
		}
	}
	return nil
}

// zoneIndex returns the interface index of a named interface inside ns (for
// zones of link-local addresses).
func zoneIndex(ns netns.NsHandle, zone string) (int, error) {
	l, err := lookupLink(ns, zone)
	if err != nil {
		return 0, err
	}
	return l.Index, nil
}
