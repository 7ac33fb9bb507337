package routectl

import (
	"errors"
	"fmt"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/netlabdev/netlab/internal/nsutil"
)

// Conn reads and changes the routing state of one network namespace. Its
// methods are safe for concurrent use. Close it when done: an open netlink
// socket keeps its namespace alive.
type Conn struct {
	rc *nsutil.RouteConn
}

// Open returns a Conn for the namespace ns. The caller may close ns
// afterwards: the Conn keeps its own reference.
func Open(ns netns.NsHandle) (*Conn, error) {
	rc, err := nsutil.OpenRouteConn(ns, ErrClosed)
	if err != nil {
		return nil, fmt.Errorf("routectl: %w", err)
	}
	return &Conn{rc: rc}, nil
}

// Close releases the Conn's sockets and namespace reference. It is safe to
// call twice.
func (c *Conn) Close() error { return c.rc.Close() }

// ErrClosed is returned by every method of a closed Conn.
var ErrClosed = errors.New("routectl: connection closed")

// withHandle runs fn with the Conn's netlink handle, or returns ErrClosed
// (see nsutil.RouteConn: every use of the handle must go through it).
func (c *Conn) withHandle(fn func(h *netlink.Handle) error) error {
	return c.rc.Do(func(h *netlink.Handle, _ *nl.NetlinkSocket) error { return fn(h) })
}

// dump runs one NLM_F_DUMP request of msgType on the Conn's own socket and
// returns the payloads of the replies of type want. A dump interrupted by a
// concurrent change (NLM_F_DUMP_INTR) is retried a few times.
func (c *Conn) dump(msgType int, data nl.NetlinkRequestData, want uint16) ([][]byte, error) {
	var msgs [][]byte
	err := c.rc.Do(func(_ *netlink.Handle, s *nl.NetlinkSocket) error {
		raw := &nl.SocketHandle{Socket: s}
		for attempt := 0; ; attempt++ {
			req := &nl.NetlinkRequest{
				NlMsghdr: unix.NlMsghdr{
					Len:   uint32(unix.SizeofNlMsghdr),
					Type:  uint16(msgType),
					Flags: unix.NLM_F_REQUEST | unix.NLM_F_DUMP,
				},
				// Always our socket: a request without one for its protocol
				// would open a socket in the calling thread's namespace.
				Sockets: map[int]*nl.SocketHandle{unix.NETLINK_ROUTE: raw},
			}
			req.AddData(data)
			var err error
			msgs, err = req.Execute(unix.NETLINK_ROUTE, want)
			if errors.Is(err, netlink.ErrDumpInterrupted) && attempt < 3 {
				continue
			}
			return err
		}
	})
	return msgs, err
}

// retryIntr runs a library dump through the handle, retrying it a few times
// when a concurrent change interrupted it.
func retryIntr(fn func() error) error {
	for attempt := 0; ; attempt++ {
		err := fn()
		if errors.Is(err, netlink.ErrDumpInterrupted) && attempt < 3 {
			continue
		}
		return err
	}
}

// linkNames returns the namespace's interface names by index.
func linkNames(h *netlink.Handle) (map[int]string, error) {
	var links []netlink.Link
	err := retryIntr(func() error {
		var err error
		links, err = h.LinkList()
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("list links: %w", err)
	}
	names := make(map[int]string, len(links))
	for _, l := range links {
		names[l.Attrs().Index] = l.Attrs().Name
	}
	return names, nil
}

// linkIndex resolves an interface name in the Conn's namespace.
func linkIndex(h *netlink.Handle, dev string) (int, error) {
	l, err := h.LinkByName(dev)
	if err != nil {
		return 0, fmt.Errorf("dev %s: %w", dev, err)
	}
	return l.Attrs().Index, nil
}

// devName is the name of interface index i, or ip's "if<N>" for an index
// that is not (or no longer) in the map.
func devName(names map[int]string, i int) string {
	if i == 0 {
		return ""
	}
	if n, ok := names[i]; ok {
		return n
	}
	return fmt.Sprintf("if%d", i)
}
