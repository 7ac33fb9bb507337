package neighctl

import (
	"bytes"
	"errors"
	"fmt"
	"syscall"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/netlabdev/netlab/internal/nsutil"
)

// Conn reads and changes the neighbour tables of one network namespace.
// Its methods are safe for concurrent use. Close it when done: an open
// netlink socket keeps its namespace alive.
type Conn struct {
	rc  *nsutil.RouteConn
	seq uint32 // request sequence; used only inside rc.Do, under its lock
	rx  rxBuf  // the dump socket's receive buffer; likewise
	now func() time.Time
}

// rxBuf is a dump socket's receive buffer and port id, kept across dumps:
// a watch dumps every namespace's table several times a second, and a
// fresh 64 KiB buffer per read (what nl.NetlinkSocket.Receive does) was
// most of an idle watch's cost.
type rxBuf struct {
	buf []byte
	pid uint32
}

// Open returns a Conn for the namespace ns. The caller may close ns
// afterwards: Conn keeps its own reference.
func Open(ns netns.NsHandle) (*Conn, error) {
	rc, err := nsutil.OpenRouteConn(ns, errClosed)
	if err != nil {
		return nil, fmt.Errorf("neighctl: %w", err)
	}
	return &Conn{rc: rc, now: time.Now}, nil
}

// Close releases the Conn's sockets and namespace reference. It is safe to
// call twice.
func (c *Conn) Close() error { return c.rc.Close() }

// errClosed is returned by a closed Conn.
var errClosed = errors.New("neighctl: connection closed")

// withHandle runs fn with the Conn's netlink handle, or returns errClosed
// (see nsutil.RouteConn: every use of the handle must go through it).
func (c *Conn) withHandle(fn func(h *netlink.Handle) error) error {
	return c.rc.Do(func(h *netlink.Handle, _ *nl.NetlinkSocket) error { return fn(h) })
}

// subscribe opens a socket in the Conn's namespace subscribed to groups,
// or returns errClosed.
func (c *Conn) subscribe(groups ...uint) (*nl.NetlinkSocket, error) {
	return c.rc.Subscribe(groups...)
}

// dump sends a NLM_F_DUMP request and returns every reply message's payload
// of type want, together with the time the reply arrived.
func (c *Conn) dump(msgType int, data nl.NetlinkRequestData, want uint16) ([]rawMsg, error) {
	var out []rawMsg
	err := c.rc.Do(func(_ *netlink.Handle, s *nl.NetlinkSocket) error {
		var err error
		out, err = dumpOn(s, &c.seq, &c.rx, msgType, data, want, c.now)
		return err
	})
	return out, err
}

// rawMsg is one netlink message payload and the time it was received.
type rawMsg struct {
	data []byte
	at   time.Time
}

// dumpOn runs one dump on s. A dump interrupted by a concurrent change
// (NLM_F_DUMP_INTR) is retried, at most a few times.
func dumpOn(s *nl.NetlinkSocket, seq *uint32, rx *rxBuf, msgType int, data nl.NetlinkRequestData, want uint16, now func() time.Time) ([]rawMsg, error) {
	for attempt := 0; ; attempt++ {
		out, intr, err := dumpOnce(s, seq, rx, msgType, data, want, now)
		if err != nil || !intr || attempt >= 3 {
			return out, err
		}
	}
}

// rxBufSize holds any one read of a dump (the kernel fills at most 32 KiB
// per read; nl.RECEIVE_BUFFER_SIZE is 64 KiB).
const rxBufSize = 1 << 16

func dumpOnce(s *nl.NetlinkSocket, seq *uint32, rx *rxBuf, msgType int, data nl.NetlinkRequestData, want uint16, now func() time.Time) ([]rawMsg, bool, error) {
	req := nl.NewNetlinkRequest(msgType, unix.NLM_F_DUMP)
	*seq++
	req.Seq = *seq
	req.AddData(data)
	if err := s.Send(req); err != nil {
		return nil, false, fmt.Errorf("send: %w", err)
	}
	if rx.buf == nil {
		pid, err := s.GetPid()
		if err != nil {
			return nil, false, err
		}
		rx.buf, rx.pid = make([]byte, rxBufSize), pid
	}
	var out []rawMsg
	intr := false
	for {
		n, from, err := unix.Recvfrom(s.GetFd(), rx.buf, 0)
		if err != nil {
			if errors.Is(err, unix.EINTR) {
				continue
			}
			return nil, false, fmt.Errorf("receive: %w", err)
		}
		at := now()
		if sa, ok := from.(*unix.SockaddrNetlink); !ok || sa.Pid != nl.PidKernel {
			continue
		}
		if n < unix.NLMSG_HDRLEN {
			return nil, false, fmt.Errorf("receive: short netlink message (%d bytes)", n)
		}
		msgs, err := syscall.ParseNetlinkMessage(rx.buf[:n])
		if err != nil {
			return nil, false, fmt.Errorf("receive: %w", err)
		}
		for _, m := range msgs {
			if m.Header.Seq != req.Seq || m.Header.Pid != rx.pid {
				continue // a stale reply of an earlier, abandoned request
			}
			if m.Header.Flags&unix.NLM_F_DUMP_INTR != 0 {
				intr = true
			}
			switch m.Header.Type {
			case unix.NLMSG_DONE:
				// A dump that failed part-way ends with the error in DONE.
				if len(m.Data) >= 4 {
					if e := int32(nl.NativeEndian().Uint32(m.Data[:4])); e < 0 {
						return nil, false, syscall.Errno(-e)
					}
				}
				return out, intr, nil
			case unix.NLMSG_ERROR:
				if len(m.Data) < 4 {
					return nil, false, errors.New("short netlink error message")
				}
				if e := int32(nl.NativeEndian().Uint32(m.Data[:4])); e != 0 {
					return nil, false, syscall.Errno(-e)
				}
				return out, intr, nil
			case want:
				// The buffer is reused by the next read: keep a copy.
				out = append(out, rawMsg{data: bytes.Clone(m.Data), at: at})
			}
		}
	}
}
