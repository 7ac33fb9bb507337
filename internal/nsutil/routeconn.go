package nsutil

import (
	"fmt"
	"sync"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// RouteConn is a netlink route handle and a raw request socket inside one
// namespace, with its own reference to the namespace; neighctl and routectl
// build on it. Every use of the handle and the socket goes through Do, under
// one lock, and fails once the RouteConn is closed: a closed netlink.Handle
// does not fail, it silently falls back to a socket in the CALLING THREAD's
// namespace (the host's), so an unguarded call after Close would change the
// host.
type RouteConn struct {
	closedErr error

	mu     sync.Mutex // guards everything below and every use of h and sock
	ns     netns.NsHandle
	h      *netlink.Handle
	sock   *nl.NetlinkSocket
	closed bool
}

// OpenRouteConn opens a RouteConn in ns; the caller may close ns afterwards.
// closedErr is what every call returns after Close.
func OpenRouteConn(ns netns.NsHandle, closedErr error) (*RouteConn, error) {
	fd, err := unix.FcntlInt(uintptr(ns), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("duplicate namespace handle: %w", err)
	}
	own := netns.NsHandle(fd)
	h, err := Handle(own)
	if err != nil {
		own.Close()
		return nil, err
	}
	s, err := Socket(own)
	if err != nil {
		h.Close()
		own.Close()
		return nil, err
	}
	return &RouteConn{closedErr: closedErr, ns: own, h: h, sock: s}, nil
}

// Close releases the sockets and the namespace reference. It is safe to
// call twice.
func (c *RouteConn) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil
	}
	c.closed = true
	c.sock.Close()
	c.h.Close()
	return c.ns.Close()
}

// Do runs fn with the handle and the request socket under the lock, or
// returns the closed error.
func (c *RouteConn) Do(fn func(h *netlink.Handle, sock *nl.NetlinkSocket) error) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return c.closedErr
	}
	return fn(c.h, c.sock)
}

// Subscribe opens a new socket in the namespace subscribed to groups, or
// returns the closed error (after Close the namespace fd is closed and its
// number may have been reused).
func (c *RouteConn) Subscribe(groups ...uint) (*nl.NetlinkSocket, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, c.closedErr
	}
	return Socket(c.ns, groups...)
}
