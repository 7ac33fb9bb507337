package neighctl

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// Spec describes an entry to add, replace, delete or use.
type Spec struct {
	IP  netip.Addr
	Dev string
	// LLAddr is required for Add and Set unless Proxy is set or the state
	// is NONE/INCOMPLETE/FAILED.
	LLAddr net.HardwareAddr
	// State is taken as given: the zero value is NONE, a real state the
	// kernel accepts. Callers that want `ip neigh add`'s default say
	// Permanent.
	State   State
	Router  bool
	Proxy   bool
	Managed bool
}

func (s Spec) String() string {
	out := s.IP.String() + " dev " + s.Dev
	if s.LLAddr != nil {
		out += " lladdr " + s.LLAddr.String()
	}
	if s.Proxy {
		out += " proxy"
	}
	return out
}

// neigh builds the netlink library's value for s.
func (c *Conn) neigh(s Spec) (*netlink.Neigh, error) {
	if !s.IP.IsValid() {
		return nil, errors.New("neighbour needs an IP address")
	}
	idx, err := c.ifindex(s.Dev)
	if err != nil {
		return nil, err
	}
	return neighAt(idx, s), nil
}

// neighAt builds the netlink library's value for s on the device idx.
func neighAt(idx int, s Spec) *netlink.Neigh {
	n := &netlink.Neigh{
		LinkIndex:    idx,
		Family:       unix.AF_INET,
		State:        int(s.State),
		IP:           net.IP(s.IP.AsSlice()),
		HardwareAddr: s.LLAddr,
	}
	if s.IP.Is6() {
		n.Family = unix.AF_INET6
	}
	if s.Router {
		n.Flags |= netlink.NTF_ROUTER
	}
	if s.Proxy {
		n.Flags |= netlink.NTF_PROXY
	}
	if s.Managed {
		n.FlagsExt |= netlink.NTF_EXT_MANAGED
	}
	return n
}

func (c *Conn) entryFor(s Spec) (*netlink.Neigh, error) {
	if s.State == Absent {
		return nil, errors.New("ABSENT is not a state an entry can be given")
	}
	if s.LLAddr == nil && !s.Proxy && !s.Managed && s.State&(Incomplete|Failed) == 0 && s.State != None {
		return nil, fmt.Errorf("%s: state %s needs lladdr", s, s.State)
	}
	return c.neigh(s)
}

// Add creates an entry; it fails if one exists (NLM_F_EXCL, like
// `ip neigh add`), except for proxy entries: the kernel ignores NLM_F_EXCL
// for those, and adding an existing one succeeds.
func (c *Conn) Add(ctx context.Context, s Spec) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	n, err := c.entryFor(s)
	if err == nil {
		err = c.withHandle(func(h *netlink.Handle) error { return h.NeighAdd(n) })
	}
	if err != nil {
		return fmt.Errorf("neighbour add %s: %w", s, err)
	}
	return nil
}

// Set creates or replaces an entry (`ip neigh replace`).
func (c *Conn) Set(ctx context.Context, s Spec) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	n, err := c.entryFor(s)
	if err == nil {
		err = c.withHandle(func(h *netlink.Handle) error { return h.NeighSet(n) })
	}
	if err != nil {
		return fmt.Errorf("neighbour set %s: %w", s, err)
	}
	return nil
}

// Del deletes an entry (a proxy entry if s.Proxy).
func (c *Conn) Del(ctx context.Context, s Spec) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	n, err := c.neigh(s)
	if err == nil {
		err = c.withHandle(func(h *netlink.Handle) error { return h.NeighDel(n) })
	}
	if err != nil {
		return fmt.Errorf("neighbour del %s: %w", s, err)
	}
	return nil
}

// Use tells the kernel to behave as if a packet had been sent to the
// neighbour (NTF_USE, `ip neigh replace ... use`): a STALE entry goes to
// DELAY, a missing one is created and resolved. It changes no lladdr or
// state directly. The entry is created if it does not exist.
func (c *Conn) Use(ctx context.Context, s Spec) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	n, err := c.neigh(Spec{IP: s.IP, Dev: s.Dev})
	if err == nil {
		n.Flags |= netlink.NTF_USE
		err = c.withHandle(func(h *netlink.Handle) error { return h.NeighSet(n) })
	}
	if err != nil {
		return fmt.Errorf("neighbour use %s dev %s: %w", s.IP, s.Dev, err)
	}
	return nil
}

// FlushOptions select what Flush deletes.
type FlushOptions struct {
	Dev    string // "" for every device
	Family int    // 0 for IPv4 and IPv6
	// All also deletes PERMANENT and NOARP entries and proxy entries. By
	// default Flush keeps them, as `ip neigh flush` does.
	All bool
}

// Flush deletes entries and returns the ones it deleted.
func (c *Conn) Flush(ctx context.Context, o FlushOptions) ([]Entry, error) {
	es, err := c.List(ctx, Filter{Dev: o.Dev, Family: o.Family})
	if err != nil {
		return nil, fmt.Errorf("neighbour flush: %w", err)
	}
	var done []Entry
	for _, e := range es {
		if !o.All && (e.Flags.Proxy || e.State&(Permanent|NoARP) != 0) {
			continue
		}
		if err := ctx.Err(); err != nil {
			return done, err
		}
		// By index, as listed: a proxy entry may have no device at all.
		n := neighAt(e.Ifindex, Spec{IP: e.IP, Proxy: e.Flags.Proxy})
		err := c.withHandle(func(h *netlink.Handle) error { return h.NeighDel(n) })
		if err != nil {
			err = fmt.Errorf("neighbour del %s dev %s: %w", e.IP, e.Dev, err)
		}
		if errors.Is(err, unix.ENOENT) {
			continue // gone meanwhile (GC, carrier loss)
		}
		if err != nil {
			return done, fmt.Errorf("neighbour flush: %w", err)
		}
		done = append(done, e)
	}
	return done, nil
}
