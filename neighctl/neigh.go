package neighctl

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sort"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"

	"github.com/netlabdev/netlab/internal/nlattr"
)

// Tick is the unit of the kernel's neighbour cache-info ages (clock_t at
// USER_HZ=100).
const Tick = 10 * time.Millisecond

// Entry is one neighbour entry as the kernel reported it.
type Entry struct {
	Family  int        `json:"-"`
	IP      netip.Addr `json:"ip"`
	Dev     string     `json:"dev"`
	Ifindex int        `json:"ifindex"`
	LLAddr  string     `json:"lladdr,omitempty"`
	State   State      `json:"state"`
	Flags   Flags      `json:"flags"`
	Probes  int        `json:"probes"`
	// Confirmed, Used and Updated are the kernel's cache-info ages turned
	// into absolute times (they come in 10 ms ticks before Seen): the last
	// confirmation of reachability, the last use, and when the current state
	// was entered. Zero for proxy entries, which have no cache info.
	Confirmed time.Time `json:"confirmed,omitzero"`
	Used      time.Time `json:"used,omitzero"`
	Updated   time.Time `json:"updated,omitzero"`
	// Seen is when netlab received the kernel's message.
	Seen time.Time `json:"seen"`
	// The same ages in milliseconds before Seen (DESIGN.md: *_ms integers).
	ConfirmedAgoMS int64 `json:"confirmed_ago_ms"`
	UsedAgoMS      int64 `json:"used_ago_ms"`
	UpdatedAgoMS   int64 `json:"updated_ago_ms"`
}

// FamilyName returns "inet" or "inet6".
func (e Entry) FamilyName() string { return familyName(e.Family) }

func familyName(f int) string {
	switch f {
	case unix.AF_INET:
		return "inet"
	case unix.AF_INET6:
		return "inet6"
	}
	return fmt.Sprintf("af%d", f)
}

// Key identifies an entry in a namespace's tables: device and address.
type Key struct {
	Ifindex int
	IP      netip.Addr
	Proxy   bool
}

// Key returns the entry's identity.
func (e Entry) Key() Key { return Key{e.Ifindex, e.IP, e.Flags.Proxy} }

// errNotIP marks a message that is not an IPv4/IPv6 neighbour (a bridge FDB
// entry, say): callers skip it.
var errNotIP = errors.New("not an IP neighbour")

// decodeNeigh decodes one RTM_NEWNEIGH/RTM_DELNEIGH payload received at
// seen. Bridge FDB entries (and anything else that is not AF_INET/AF_INET6)
// return errNotIP.
func decodeNeigh(b []byte, seen time.Time) (Entry, error) {
	const ndmsgLen = 12
	if len(b) < ndmsgLen {
		return Entry{}, fmt.Errorf("short ndmsg (%d bytes)", len(b))
	}
	ne := nl.NativeEndian()
	e := Entry{
		Family:  int(b[0]),
		Ifindex: int(int32(ne.Uint32(b[4:8]))),
		State:   State(ne.Uint16(b[8:10])),
		Seen:    seen,
	}
	if e.Family != unix.AF_INET && e.Family != unix.AF_INET6 {
		return Entry{}, errNotIP
	}
	flags := b[10]
	e.Flags = Flags{
		Router:      flags&netlink.NTF_ROUTER != 0,
		Proxy:       flags&netlink.NTF_PROXY != 0,
		ExternLearn: flags&netlink.NTF_EXT_LEARNED != 0,
	}
	attrs, err := nlattr.Parse(b[nlattr.Align(ndmsgLen):])
	if err != nil {
		return Entry{}, fmt.Errorf("neighbour attributes: %w", err)
	}
	for _, a := range attrs {
		switch a.Type {
		case unix.NDA_DST:
			ip, ok := netip.AddrFromSlice(a.Value)
			if !ok {
				return Entry{}, fmt.Errorf("bad NDA_DST length %d", len(a.Value))
			}
			e.IP = ip.Unmap()
		case unix.NDA_LLADDR:
			if len(a.Value) > 0 {
				e.LLAddr = net.HardwareAddr(a.Value).String()
			}
		case unix.NDA_CACHEINFO:
			if len(a.Value) >= 12 {
				c, u, up := ne.Uint32(a.Value[0:4]), ne.Uint32(a.Value[4:8]), ne.Uint32(a.Value[8:12])
				e.ConfirmedAgoMS, e.UsedAgoMS, e.UpdatedAgoMS = ticksMS(c), ticksMS(u), ticksMS(up)
				e.Confirmed = seen.Add(-time.Duration(e.ConfirmedAgoMS) * time.Millisecond)
				e.Used = seen.Add(-time.Duration(e.UsedAgoMS) * time.Millisecond)
				e.Updated = seen.Add(-time.Duration(e.UpdatedAgoMS) * time.Millisecond)
			}
		case unix.NDA_PROBES:
			if len(a.Value) >= 4 {
				e.Probes = int(ne.Uint32(a.Value[:4]))
			}
		case netlink.NDA_FLAGS_EXT:
			if len(a.Value) >= 4 {
				e.Flags.Managed = ne.Uint32(a.Value[:4])&netlink.NTF_EXT_MANAGED != 0
			}
		}
	}
	if !e.IP.IsValid() {
		return Entry{}, errors.New("neighbour message without NDA_DST")
	}
	return e, nil
}

func ticksMS(t uint32) int64 { return int64(t) * int64(Tick/time.Millisecond) }

// ndmsg is the request header of RTM_*NEIGH messages.
type ndmsg struct {
	family  uint8
	ifindex int32
	state   uint16
	flags   uint8
}

func (m *ndmsg) Len() int { return 12 }

func (m *ndmsg) Serialize() []byte {
	b := make([]byte, 12)
	b[0] = m.family
	binary.NativeEndian.PutUint32(b[4:8], uint32(m.ifindex))
	binary.NativeEndian.PutUint16(b[8:10], m.state)
	b[10] = m.flags
	return b
}

// Filter selects entries in List. The zero Filter selects every unicast
// IPv4 and IPv6 entry, proxy entries included.
type Filter struct {
	Dev    string // only this device
	Family int    // unix.AF_INET or unix.AF_INET6; 0 for both
	IP     netip.Addr
	// Multicast includes the entries the kernel makes for multicast
	// addresses (always NOARP, e.g. ff02::16); iproute2 hides them too.
	Multicast bool
}

// List dumps the namespace's IPv4 and IPv6 neighbour entries (and proxy
// entries), sorted by device, family and address. Bridge FDB entries are
// left out.
func (c *Conn) List(ctx context.Context, f Filter) ([]Entry, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	names, err := c.linkNames()
	if err != nil {
		return nil, err
	}
	idx := 0
	if f.Dev != "" {
		for i, n := range names {
			if n == f.Dev {
				idx = i
			}
		}
		if idx == 0 {
			return nil, fmt.Errorf("neighbours: %w: %s", ErrNoDevice, f.Dev)
		}
	}
	var out []Entry
	for _, flags := range []uint8{0, netlink.NTF_PROXY} {
		es, err := c.dumpNeigh(&ndmsg{family: uint8(f.Family), ifindex: int32(idx), flags: flags}, func(idx int) string { return names[idx] })
		if err != nil {
			return nil, err
		}
		for _, e := range es {
			if (idx != 0 && e.Ifindex != idx) || (f.Family != 0 && e.Family != f.Family) || (f.IP.IsValid() && e.IP != f.IP) || (!f.Multicast && e.IP.IsMulticast()) {
				continue
			}
			if flags == netlink.NTF_PROXY {
				e.Flags.Proxy = true
			}
			out = append(out, e)
		}
	}
	SortEntries(out)
	return out, nil
}

// dumpNeigh dumps neighbour entries (IPv4 and IPv6 only) and names their
// devices with name.
func (c *Conn) dumpNeigh(req *ndmsg, name func(int) string) ([]Entry, error) {
	msgs, err := c.dump(unix.RTM_GETNEIGH, req, unix.RTM_NEWNEIGH)
	if err != nil {
		return nil, fmt.Errorf("dump neighbours: %w", err)
	}
	out := make([]Entry, 0, len(msgs))
	for _, m := range msgs {
		e, err := decodeNeigh(m.data, m.at)
		if errors.Is(err, errNotIP) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("dump neighbours: %w", err)
		}
		e.Dev = name(e.Ifindex)
		out = append(out, e)
	}
	return out, nil
}

// SortEntries orders entries by device, family, address, proxy last.
func SortEntries(es []Entry) {
	sort.SliceStable(es, func(i, j int) bool {
		a, b := es[i], es[j]
		if a.Dev != b.Dev {
			return a.Dev < b.Dev
		}
		if a.Family != b.Family {
			return a.Family < b.Family
		}
		if a.Flags.Proxy != b.Flags.Proxy {
			return !a.Flags.Proxy
		}
		return a.IP.Less(b.IP)
	})
}

// ErrNoDevice means a named device does not exist in the namespace.
var ErrNoDevice = errors.New("no such device")

// linkNames maps ifindex to name for the namespace's links.
func (c *Conn) linkNames() (map[int]string, error) {
	var links []netlink.Link
	err := c.withHandle(func(h *netlink.Handle) (err error) {
		links, err = h.LinkList()
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("list links: %w", err)
	}
	out := make(map[int]string, len(links))
	for _, l := range links {
		out[l.Attrs().Index] = l.Attrs().Name
	}
	return out, nil
}

// ifindex returns a device's index in the namespace.
func (c *Conn) ifindex(dev string) (int, error) {
	var l netlink.Link
	err := c.withHandle(func(h *netlink.Handle) (err error) {
		l, err = h.LinkByName(dev)
		return err
	})
	if err != nil {
		var nf netlink.LinkNotFoundError
		if errors.As(err, &nf) {
			return 0, fmt.Errorf("%w: %s", ErrNoDevice, dev)
		}
		return 0, fmt.Errorf("find device %s: %w", dev, err)
	}
	return l.Attrs().Index, nil
}
