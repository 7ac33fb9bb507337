package capture

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"syscall"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/netlabdev/netlab/internal/nsutil"
)

// DefaultSnaplen is the number of bytes kept of each packet unless
// Options.Snaplen says otherwise; also the largest snaplen accepted
// (tcpdump's default and maximum).
const DefaultSnaplen = 262144

// ErrNoDevice means the namespace has no interface of the given name.
var ErrNoDevice = errors.New("no such device")

// rcvBuf is the socket receive buffer asked for (tcpdump's default, 2 MiB):
// the kernel's default of about 200 KiB overflows in short bursts.
const rcvBuf = 2 << 20

// vlanLen is the length of an 802.1Q tag.
const vlanLen = 4

// auxdataLen is sizeof(struct tpacket_auxdata).
const auxdataLen = 20

// Options bound and shape a capture. A zero bound is no bound; with none
// set, Run captures until ctx is done.
type Options struct {
	// Count stops the capture once this many packets are written.
	Count int
	// Duration stops the capture this long after the socket is bound.
	Duration time.Duration
	// Bytes bounds the captured packet data written (the sum of the
	// records' captured lengths, headers not counted): the capture stops
	// at the first packet that would take the total above Bytes, without
	// writing it.
	Bytes int64
	// Snaplen is the number of bytes kept of each packet: 1..DefaultSnaplen,
	// 0 for DefaultSnaplen.
	Snaplen int
	// Promisc puts the interface in promiscuous mode while the socket is
	// open (the kernel undoes it when the socket closes).
	Promisc bool
	// OnReady, if set, is called once the socket is bound and the file
	// header is written: from then on every packet is captured (or counted
	// as dropped).
	OnReady func()
}

// Check reports the first invalid option.
func (o Options) Check() error {
	switch {
	case o.Count < 0:
		return fmt.Errorf("count %d: must not be negative", o.Count)
	case o.Duration < 0:
		return fmt.Errorf("duration %s: must not be negative", o.Duration)
	case o.Bytes < 0:
		return fmt.Errorf("bytes %d: must not be negative", o.Bytes)
	case o.Snaplen < 0 || o.Snaplen > DefaultSnaplen:
		return fmt.Errorf("snaplen %d: want 1..%d (0 for %d)", o.Snaplen, DefaultSnaplen, DefaultSnaplen)
	}
	return nil
}

// Stats counts what a capture wrote.
type Stats struct {
	// Packets written.
	Packets int `json:"packets"`
	// Bytes of packet data written (captured lengths).
	Bytes int64 `json:"bytes"`
	// Dropped counts the packets the kernel dropped because the socket's
	// receive buffer was full (PACKET_STATISTICS tp_drops).
	Dropped uint64 `json:"dropped"`
}

// Run captures the packets crossing dev in the namespace ns and writes them
// to w as pcap, until a bound of o is reached or ctx is done. Either way the
// capture is complete and the error nil; an error means the capture could
// not start or failed (the interface was deleted, w failed). A context done
// before the socket is bound is returned as its error.
func Run(ctx context.Context, ns netns.NsHandle, dev string, w io.Writer, o Options) (Stats, error) {
	if err := o.Check(); err != nil {
		return Stats{}, fmt.Errorf("capture on %s: %w", dev, err)
	}
	if o.Snaplen == 0 {
		o.Snaplen = DefaultSnaplen
	}
	if err := ctx.Err(); err != nil {
		return Stats{}, err
	}
	s, err := open(ns, dev, o.Promisc)
	if err != nil {
		return Stats{}, fmt.Errorf("capture on %s: %w", dev, err)
	}
	defer s.f.Close()

	rec, err := newRecorder(w, o)
	if err != nil {
		return Stats{}, fmt.Errorf("capture on %s: %w", dev, err)
	}
	if o.OnReady != nil {
		o.OnReady()
	}
	if o.Duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, o.Duration)
		defer cancel()
	}
	// A done context ends a blocked read through a deadline in the past.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		select {
		case <-ctx.Done():
			_ = s.f.SetReadDeadline(time.Unix(1, 0))
		case <-stop:
		}
	}()
	err = s.loop(rec, o.Snaplen)
	close(stop)
	wg.Wait()
	if err != nil {
		err = fmt.Errorf("capture on %s: %w", dev, err)
	}
	drops, serr := s.drops()
	rec.st.Dropped = drops
	if ferr := rec.flush(); ferr != nil {
		err = errors.Join(err, fmt.Errorf("capture on %s: %w", dev, ferr))
	}
	if serr != nil {
		err = errors.Join(err, fmt.Errorf("capture on %s: packet statistics: %w", dev, serr))
	}
	return rec.st, err
}

// recorder writes pcap records and keeps the counts and the Count and
// Bytes bounds.
type recorder struct {
	bw    *bufio.Writer
	pw    *pcapgo.Writer
	count int
	bytes int64
	st    Stats
	err   error // the first write error; every later write is refused
}

// newRecorder writes the pcap file header (nanosecond timestamps, link type
// Ethernet, o.Snaplen) to w and flushes it.
func newRecorder(w io.Writer, o Options) (*recorder, error) {
	r := &recorder{bw: bufio.NewWriterSize(w, 64<<10), count: o.Count, bytes: o.Bytes}
	r.pw = pcapgo.NewWriterNanos(r.bw)
	if err := r.pw.WriteFileHeader(uint32(o.Snaplen), layers.LinkTypeEthernet); err != nil {
		return nil, fmt.Errorf("write pcap header: %w", err)
	}
	if err := r.bw.Flush(); err != nil {
		return nil, fmt.Errorf("write pcap header: %w", err)
	}
	return r, nil
}

// packet writes one record (data as captured, length the packet's original
// length) unless it would break the Bytes bound, and reports whether the
// capture is complete.
func (r *recorder) packet(ts time.Time, data []byte, length int) (done bool, err error) {
	if r.err != nil {
		return true, r.err
	}
	if r.bytes > 0 && r.st.Bytes+int64(len(data)) > r.bytes {
		return true, nil
	}
	ci := gopacket.CaptureInfo{Timestamp: ts, CaptureLength: len(data), Length: length}
	if err := r.pw.WritePacket(ci, data); err != nil {
		r.err = fmt.Errorf("write pcap: %w", err)
		return true, r.err
	}
	r.st.Packets++
	r.st.Bytes += int64(len(data))
	return (r.count > 0 && r.st.Packets >= r.count) || (r.bytes > 0 && r.st.Bytes == r.bytes), nil
}

// flush hands everything written on to the underlying writer.
func (r *recorder) flush() error {
	if r.err != nil {
		return r.err
	}
	if err := r.bw.Flush(); err != nil {
		r.err = fmt.Errorf("write pcap: %w", err)
	}
	return r.err
}

// socket is a packet socket bound to one interface.
type socket struct {
	f       *os.File
	rc      syscall.RawConn
	dev     string
	ifindex int
	hatype  uint16
}

// open creates a packet socket inside ns and binds it to dev.
func open(ns netns.NsHandle, dev string, promisc bool) (*socket, error) {
	fd := -1
	err := nsutil.Do(ns, func() error {
		// Protocol 0: the socket receives nothing until bind names
		// ETH_P_ALL and the interface, so no other interface's packet
		// slips in first.
		n, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
		if err == nil {
			fd = n
		}
		return err
	})
	if err != nil {
		if fd >= 0 {
			unix.Close(fd)
		}
		return nil, fmt.Errorf("packet socket: %w", err)
	}
	s := &socket{dev: dev}
	if err := s.setup(fd, promisc); err != nil {
		unix.Close(fd)
		return nil, err
	}
	// Non-blocking, so os.File puts it in the runtime's poller: reads
	// honour deadlines.
	s.f = os.NewFile(uintptr(fd), "packet socket on "+dev)
	if s.rc, err = s.f.SyscallConn(); err != nil {
		s.f.Close()
		return nil, fmt.Errorf("packet socket: %w", err)
	}
	return s, nil
}

func (s *socket) setup(fd int, promisc bool) error {
	// The socket lives in the node's namespace, so these ioctls and bind
	// name the node's interfaces, whatever thread runs them.
	ifr, err := unix.NewIfreq(s.dev)
	if err != nil {
		return fmt.Errorf("interface %q (longer than %d bytes): %w", s.dev, unix.IFNAMSIZ-1, ErrNoDevice)
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFINDEX, ifr); errors.Is(err, unix.ENODEV) {
		return fmt.Errorf("interface %s: %w", s.dev, ErrNoDevice)
	} else if err != nil {
		return fmt.Errorf("interface %s: %w", s.dev, err)
	}
	s.ifindex = int(ifr.Uint32())
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFHWADDR, ifr); err != nil {
		return fmt.Errorf("interface %s: hardware type: %w", s.dev, err)
	}
	s.hatype = ifr.Uint16() // sa_family of the hardware address
	if s.hatype != unix.ARPHRD_ETHER && s.hatype != unix.ARPHRD_LOOPBACK {
		return fmt.Errorf("interface %s: hardware type %d: only Ethernet and loopback interfaces can be captured", s.dev, s.hatype)
	}
	if unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, rcvBuf) != nil {
		// Without CAP_NET_ADMIN: as much as net.core.rmem_max allows.
		_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, rcvBuf)
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_TIMESTAMPNS_NEW, 1); err != nil {
		return fmt.Errorf("packet socket: timestamps: %w", err)
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_AUXDATA, 1); err != nil {
		return fmt.Errorf("packet socket: auxiliary data: %w", err)
	}
	if err := unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: s.ifindex}); err != nil {
		return fmt.Errorf("interface %s: bind packet socket: %w", s.dev, err)
	}
	if promisc {
		mr := unix.PacketMreq{Ifindex: int32(s.ifindex), Type: unix.PACKET_MR_PROMISC}
		if err := unix.SetsockoptPacketMreq(fd, unix.SOL_PACKET, unix.PACKET_ADD_MEMBERSHIP, &mr); err != nil {
			return fmt.Errorf("interface %s: promiscuous mode: %w", s.dev, err)
		}
	}
	return nil
}

// loop reads packets into rec until rec is done or a read fails; a read
// ended by the context's deadline is the normal end.
func (s *socket) loop(rec *recorder, snaplen int) error {
	if rec.count > 0 && rec.st.Packets >= rec.count {
		return nil
	}
	buf := make([]byte, vlanLen+snaplen)
	oob := make([]byte, unix.CmsgSpace(16)+unix.CmsgSpace(auxdataLen)+64)
	// Nothing queued: hand what was written on, so a file or a pipe being
	// read follows the capture closely.
	idle := func() { _ = rec.flush() }
	for {
		n, oobn, pkttype, err := s.recv(buf[vlanLen:], oob, idle)
		switch {
		case rec.err != nil:
			return rec.err
		case errors.Is(err, os.ErrDeadlineExceeded):
			return nil
		case errors.Is(err, unix.ENETDOWN):
			// The interface went down (or was down at bind). The kernel
			// resumes delivery when it comes up again, unless it is gone.
			if s.deleted() {
				return fmt.Errorf("interface %s (index %d) was deleted: %w", s.dev, s.ifindex, err)
			}
			continue
		case err != nil:
			return fmt.Errorf("read packet: %w", err)
		}
		if pkttype == unix.PACKET_OUTGOING && s.hatype == unix.ARPHRD_LOOPBACK {
			continue // seen again as received
		}
		ts, aux := parseCmsgs(oob[:oobn])
		if ts.IsZero() {
			ts = time.Now()
		}
		data := buf[vlanLen : vlanLen+min(n, snaplen)]
		length := n
		if aux != nil && vlanValid(aux) && len(data) >= 12 {
			data = insertVLAN(buf, len(data), vlanTPID(aux), aux.Vlan_tci)
			data = data[:min(len(data), snaplen)]
			length += vlanLen
		}
		if done, err := rec.packet(ts, data, length); done || err != nil {
			return err
		}
	}
}

// recv reads one packet into p (its real length n may exceed len(p): the
// rest is cut) and its control messages into oob. idle runs whenever no
// packet is queued, before waiting.
func (s *socket) recv(p, oob []byte, idle func()) (n, oobn int, pkttype uint8, err error) {
	rerr := s.rc.Read(func(fd uintptr) bool {
		var from unix.Sockaddr
		for {
			n, oobn, _, from, err = unix.Recvmsg(int(fd), p, oob, unix.MSG_TRUNC)
			if err != unix.EINTR {
				break
			}
		}
		if err == unix.EAGAIN {
			idle()
			return false
		}
		if ll, ok := from.(*unix.SockaddrLinklayer); ok {
			pkttype = ll.Pkttype
		}
		return true
	})
	if rerr != nil {
		return 0, 0, 0, rerr
	}
	return n, oobn, pkttype, err
}

// deleted tells a deleted interface from one that only went down. Deleting
// an interface first takes it down (the socket gets ENETDOWN, and the kernel
// stops delivering) and unregisters it a moment later, with no second
// error: so look for the unregistration for a while before deciding it was
// only a flap (the same rtnl-held call does both, so a while is plenty).
func (s *socket) deleted() bool {
	for deadline := time.Now().Add(time.Second); ; time.Sleep(10 * time.Millisecond) {
		if !s.exists() || s.boundIndex() != s.ifindex {
			return true
		}
		if s.isUp() || time.Now().After(deadline) {
			return false // up again: it was a flap
		}
	}
}

// boundIndex is the interface index the socket is bound to now: the kernel
// sets it to -1 when that interface is unregistered.
func (s *socket) boundIndex() int {
	idx := s.ifindex
	_ = s.rc.Control(func(fd uintptr) {
		if sa, err := unix.Getsockname(int(fd)); err == nil {
			if ll, ok := sa.(*unix.SockaddrLinklayer); ok {
				idx = ll.Ifindex
			}
		}
	})
	return idx
}

// isUp reports whether the bound interface is administratively up.
func (s *socket) isUp() bool {
	ifr, err := unix.NewIfreq(s.dev)
	if err != nil {
		return false
	}
	var ierr error
	if cerr := s.rc.Control(func(fd uintptr) { ierr = unix.IoctlIfreq(int(fd), unix.SIOCGIFFLAGS, ifr) }); cerr != nil || ierr != nil {
		return false
	}
	return ifr.Uint16()&unix.IFF_UP != 0
}

// exists reports whether the bound interface still exists.
func (s *socket) exists() bool {
	ifr, err := unix.NewIfreq("")
	if err != nil {
		return false
	}
	ifr.SetUint32(uint32(s.ifindex))
	var ierr error
	if cerr := s.rc.Control(func(fd uintptr) { ierr = unix.IoctlIfreq(int(fd), unix.SIOCGIFNAME, ifr) }); cerr != nil {
		return false
	}
	return !errors.Is(ierr, unix.ENODEV)
}

// drops reads the kernel's drop counter (PACKET_STATISTICS).
func (s *socket) drops() (uint64, error) {
	var ts *unix.TpacketStats
	var err error
	if cerr := s.rc.Control(func(fd uintptr) {
		ts, err = unix.GetsockoptTpacketStats(int(fd), unix.SOL_PACKET, unix.PACKET_STATISTICS)
	}); cerr != nil {
		return 0, cerr
	}
	if err != nil {
		return 0, err
	}
	return uint64(ts.Drops), nil
}

// parseCmsgs returns the kernel timestamp (zero if absent) and the packet
// auxiliary data (nil if absent) among the control messages.
func parseCmsgs(b []byte) (time.Time, *unix.TpacketAuxdata) {
	var ts time.Time
	var aux *unix.TpacketAuxdata
	msgs, err := unix.ParseSocketControlMessage(b)
	if err != nil {
		return ts, nil
	}
	for _, m := range msgs {
		switch {
		case m.Header.Level == unix.SOL_SOCKET && m.Header.Type == unix.SO_TIMESTAMPNS_NEW && len(m.Data) >= 16:
			// struct __kernel_timespec: two 64-bit fields on every arch.
			sec := int64(binary.NativeEndian.Uint64(m.Data[0:8]))
			nsec := int64(binary.NativeEndian.Uint64(m.Data[8:16]))
			ts = time.Unix(sec, nsec)
		case m.Header.Level == unix.SOL_PACKET && m.Header.Type == unix.PACKET_AUXDATA && len(m.Data) >= auxdataLen:
			d := m.Data
			aux = &unix.TpacketAuxdata{
				Status:    binary.NativeEndian.Uint32(d[0:4]),
				Len:       binary.NativeEndian.Uint32(d[4:8]),
				Snaplen:   binary.NativeEndian.Uint32(d[8:12]),
				Mac:       binary.NativeEndian.Uint16(d[12:14]),
				Net:       binary.NativeEndian.Uint16(d[14:16]),
				Vlan_tci:  binary.NativeEndian.Uint16(d[16:18]),
				Vlan_tpid: binary.NativeEndian.Uint16(d[18:20]),
			}
		}
	}
	return ts, aux
}

// vlanValid and vlanTPID follow libpcap's VLAN_VALID and VLAN_TPID: old
// kernels set no status bit and a TCI of 0 means "no tag" there.
func vlanValid(a *unix.TpacketAuxdata) bool {
	return a.Vlan_tci != 0 || a.Status&unix.TP_STATUS_VLAN_VALID != 0
}

func vlanTPID(a *unix.TpacketAuxdata) uint16 {
	if a.Vlan_tpid != 0 || a.Status&unix.TP_STATUS_VLAN_TPID_VALID != 0 {
		return a.Vlan_tpid
	}
	return unix.ETH_P_8021Q
}

// insertVLAN puts an 802.1Q tag back after the two MAC addresses of the
// frame held in buf[vlanLen:vlanLen+caplen] (caplen >= 12), using the
// vlanLen bytes of headroom, and returns the tagged frame (a prefix of buf).
func insertVLAN(buf []byte, caplen int, tpid, tci uint16) []byte {
	copy(buf[0:12], buf[vlanLen:vlanLen+12])
	binary.BigEndian.PutUint16(buf[12:14], tpid)
	binary.BigEndian.PutUint16(buf[14:16], tci)
	return buf[:vlanLen+caplen]
}

// htons converts a 16-bit value to network byte order.
func htons(v uint16) uint16 {
	var b [2]byte
	binary.BigEndian.PutUint16(b[:], v)
	return binary.NativeEndian.Uint16(b[:])
}
