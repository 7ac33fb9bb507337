package labtest

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netns"

	"github.com/netlabdev/netlab/neighctl"
)

// Neighbour waits.
const (
	// DefaultWaitTimeout is WaitNeighbor's timeout when given 0 (the
	// scenario's `wait` default).
	DefaultWaitTimeout = 5 * time.Second
	// PollInterval is how often WaitNeighbor reads the table: a state that
	// lasts longer is never missed.
	PollInterval = 10 * time.Millisecond
)

// Neighbors lists the node's IPv4 and IPv6 neighbour entries (proxy
// entries included; the kernel's multicast entries and bridge FDB entries
// left out), sorted by device, family and address.
func (n *Node) Neighbors(ctx context.Context) ([]neighctl.Entry, error) {
	return neighCall(ctx, n, "neighbours", func(c *neighctl.Conn) ([]neighctl.Entry, error) {
		return c.List(ctx, neighctl.Filter{})
	})
}

// Neighbor returns the node's entry for addr: an IP address, or IP%DEV for
// the entry on device DEV (needed when the address has entries on several
// devices). No entry is not an error: the entry's State is then
// neighctl.Absent.
func (n *Node) Neighbor(ctx context.Context, addr string) (neighctl.Entry, error) {
	ip, dev, err := parseNeighAddr(addr)
	if err != nil {
		return neighctl.Entry{}, n.errorf("neighbour "+addr, err)
	}
	return neighCall(ctx, n, "neighbour "+addr, func(c *neighctl.Conn) (neighctl.Entry, error) {
		return neighborOf(ctx, c, ip, dev)
	})
}

// WaitNeighbor reads the node's entry for addr (as Neighbor) every
// PollInterval until its state is one of states (neighctl.Absent: until it
// is gone) and returns it; after timeout (0: DefaultWaitTimeout) or when
// ctx ends it fails with an error that lists the states it observed, with
// when each began, and returns the last entry it read. The error wraps
// context.DeadlineExceeded on a timeout.
func (n *Node) WaitNeighbor(ctx context.Context, addr string, timeout time.Duration, states ...neighctl.State) (neighctl.Entry, error) {
	object := "neighbour " + addr
	if len(states) == 0 {
		return neighctl.Entry{}, n.errorf(object, fmt.Errorf("wait: no state to wait for"))
	}
	ip, dev, err := parseNeighAddr(addr)
	if err != nil {
		return neighctl.Entry{}, n.errorf(object, err)
	}
	if timeout == 0 {
		timeout = DefaultWaitTimeout
	}
	return neighCall(ctx, n, object, func(c *neighctl.Conn) (neighctl.Entry, error) {
		t0 := time.Now()
		deadline := t0.Add(timeout)
		var seen []string
		last := neighctl.State(0)
		for i := 0; ; i++ {
			e, err := neighborOf(ctx, c, ip, dev)
			if err != nil {
				return e, err
			}
			if i == 0 || e.State != last {
				seen = append(seen, fmt.Sprintf("%s (+%v)", e.State, time.Since(t0).Round(time.Millisecond)))
				last = e.State
			}
			if slices.Contains(states, e.State) {
				return e, nil
			}
			wait := time.Until(deadline)
			if wait <= 0 {
				return e, fmt.Errorf("not %s within %v; observed %s: %w", stateList(states), timeout, strings.Join(seen, " -> "), context.DeadlineExceeded)
			}
			tm := time.NewTimer(min(PollInterval, wait))
			select {
			case <-ctx.Done():
				tm.Stop()
				return e, fmt.Errorf("waiting for %s; observed %s: %w", stateList(states), strings.Join(seen, " -> "), ctx.Err())
			case <-tm.C:
			}
		}
	})
}

// MustNeighbor is Neighbor, failing t on error (not on a missing entry:
// check State).
func (n *Node) MustNeighbor(t testing.TB, addr string) neighctl.Entry {
	t.Helper()
	e, err := n.Neighbor(t.Context(), addr)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// MustWaitNeighbor is WaitNeighbor, failing t when the state does not come.
func (n *Node) MustWaitNeighbor(t testing.TB, addr string, timeout time.Duration, states ...neighctl.State) neighctl.Entry {
	t.Helper()
	e, err := n.WaitNeighbor(t.Context(), addr, timeout, states...)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// neighCall runs fn with a neighctl connection in the node's namespace.
func neighCall[T any](ctx context.Context, n *Node, object string, fn func(c *neighctl.Conn) (T, error)) (T, error) {
	return nsCall(ctx, n, object, func(ns netns.NsHandle) (T, error) {
		c, err := neighctl.Open(ns)
		if err != nil {
			var zero T
			return zero, err
		}
		defer c.Close()
		return fn(c)
	})
}

// parseNeighAddr splits IP or IP%DEV.
func parseNeighAddr(s string) (netip.Addr, string, error) {
	a, dev, _ := strings.Cut(s, "%")
	ip, err := netip.ParseAddr(a)
	if err != nil {
		return netip.Addr{}, "", err
	}
	return ip.Unmap(), dev, nil
}

// neighborOf reads the one (non-proxy) entry for ip, on dev if given; a
// missing entry has state Absent.
func neighborOf(ctx context.Context, c *neighctl.Conn, ip netip.Addr, dev string) (neighctl.Entry, error) {
	es, err := c.List(ctx, neighctl.Filter{IP: ip, Dev: dev})
	if err != nil {
		return neighctl.Entry{}, err
	}
	var cur []neighctl.Entry
	for _, e := range es {
		if !e.Flags.Proxy && e.IP == ip {
			cur = append(cur, e)
		}
	}
	switch len(cur) {
	case 0:
		return neighctl.Entry{IP: ip, Dev: dev, State: neighctl.Absent}, nil
	case 1:
		return cur[0], nil
	}
	var devs []string
	for _, e := range cur {
		devs = append(devs, e.Dev)
	}
	return neighctl.Entry{}, fmt.Errorf("entries on several devices (%s): name one as %s%%DEV", strings.Join(devs, ", "), ip)
}

// stateList prints states as "STALE" or "one of REACHABLE, DELAY".
func stateList(states []neighctl.State) string {
	if len(states) == 1 {
		return states[0].String()
	}
	names := make([]string, len(states))
	for i, s := range states {
		names[i] = s.String()
	}
	return "one of " + strings.Join(names, ", ")
}
