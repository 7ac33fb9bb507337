package routectl

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// AddRoute adds a route; it fails if a route to the same destination with
// the same metric (and TOS) exists in the table (NLM_F_CREATE|NLM_F_EXCL,
// as `ip route add`): errors.Is(err, unix.EEXIST).
func (c *Conn) AddRoute(ctx context.Context, r Route) error {
	return c.changeRoute(ctx, r, "add", (*netlink.Handle).RouteAdd)
}

// DelRoute deletes a route. Fields left empty match any route (Via, Dev,
// Src, Metric, Scope, Type, Protocol), except Table, where 0 means main (or
// local, see Route.Table), as for `ip route del`.
func (c *Conn) DelRoute(ctx context.Context, r Route) error {
	return c.changeRoute(ctx, r, "del", (*netlink.Handle).RouteDel)
}

func (c *Conn) changeRoute(ctx context.Context, r Route, verb string, op func(*netlink.Handle, *netlink.Route) error) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("route %s: %s: %w", r, verb, err)
	}
	err := c.withHandle(func(h *netlink.Handle) error {
		nr, err := toNetlink(h, r, verb == "del")
		if err != nil {
			return err
		}
		return op(h, nr)
	})
	if err != nil {
		return fmt.Errorf("route %s: %s: %w", r, verb, err)
	}
	return nil
}

// family is r's address family: r.Family, else To's.
func (r Route) family() int {
	if r.Family != 0 {
		return r.Family
	}
	return familyOf(r.To.Addr())
}

// check refuses what the kernel would refuse less clearly, or not at all.
func (r Route) check() error {
	fam := r.family()
	if !r.To.IsValid() {
		return errors.New("no destination")
	}
	if r.To.Addr().Is4In6() {
		return errors.New("destination is an IPv4-mapped IPv6 prefix")
	}
	if fam != familyOf(r.To.Addr()) {
		return fmt.Errorf("family %s does not match destination", familyWord(fam))
	}
	if r.To != r.To.Masked() {
		return fmt.Errorf("destination %s has host bits set (%s)", r.To, r.To.Masked())
	}
	if r.Src.IsValid() && familyOf(r.Src) != fam {
		return fmt.Errorf("src %s is not %s", r.Src, familyWord(fam))
	}
	if len(r.Nexthops) > 0 && (r.Via.IsValid() || r.Dev != "" || r.Onlink) {
		return errors.New("via, dev and onlink belong to each nexthop of a multipath route")
	}
	if err := checkVia(fam, r.Via, r.Dev); err != nil {
		return err
	}
	for i, nh := range r.Nexthops {
		if err := checkVia(fam, nh.Via, nh.Dev); err != nil {
			return fmt.Errorf("nexthop %d: %w", i+1, err)
		}
		if nh.Weight < 0 || nh.Weight > 256 {
			return fmt.Errorf("nexthop %d: weight %d is not in 1..256", i+1, nh.Weight)
		}
		if !nh.Via.IsValid() && nh.Dev == "" {
			return fmt.Errorf("nexthop %d: needs via or dev", i+1)
		}
	}
	return nil
}

// checkVia checks a gateway: the route's family, or IPv6 for an IPv4 route;
// an IPv6 link-local gateway needs a device.
func checkVia(fam int, via netip.Addr, dev string) error {
	if !via.IsValid() {
		return nil
	}
	if via.Is4In6() {
		return fmt.Errorf("via %s: IPv4-mapped IPv6 gateway", via)
	}
	vf := familyOf(via)
	if vf != fam && !(fam == unix.AF_INET && vf == unix.AF_INET6) {
		return fmt.Errorf("via %s is not %s", via, familyWord(fam))
	}
	if via.Is6() && via.IsLinkLocalUnicast() && dev == "" {
		return fmt.Errorf("via %s: a link-local gateway needs dev", via)
	}
	return nil
}

// defaultTable is the table ip uses when none is given.
func defaultTable(typ uint8) uint32 {
	switch typ {
	case unix.RTN_LOCAL, unix.RTN_BROADCAST, unix.RTN_ANYCAST, unix.RTN_NAT:
		return TableLocal
	}
	return TableMain
}

// defaultScope is the scope ip gives a new route when none is given.
func defaultScope(fam int, typ uint8, gateway bool) uint8 {
	switch {
	case fam == unix.AF_INET6:
		return unix.RT_SCOPE_UNIVERSE
	case typ == unix.RTN_LOCAL || typ == unix.RTN_NAT:
		return unix.RT_SCOPE_HOST
	case typ == unix.RTN_BROADCAST || typ == unix.RTN_MULTICAST || typ == unix.RTN_ANYCAST:
		return unix.RT_SCOPE_LINK
	case typ == unix.RTN_UNICAST && !gateway:
		return unix.RT_SCOPE_LINK
	}
	return unix.RT_SCOPE_UNIVERSE
}

// setGateway puts via into a route or nexthop: RTA_GATEWAY in the route's
// own family, RTA_VIA (`via inet6`) otherwise.
func setGateway(fam int, via netip.Addr, gw *net.IP, v *netlink.Destination) {
	if !via.IsValid() {
		return
	}
	if familyOf(via) == fam {
		*gw = net.IP(via.AsSlice())
		return
	}
	*v = &netlink.Via{AddrFamily: familyOf(via), Addr: net.IP(via.AsSlice())}
}

// toNetlink converts r for RouteAdd (del false) or RouteDel (del true),
// resolving device names through h.
func toNetlink(h *netlink.Handle, r Route, del bool) (*netlink.Route, error) {
	if err := r.check(); err != nil {
		return nil, err
	}
	fam := r.family()
	nr := &netlink.Route{Family: fam, Dst: ipNet(r.To)}
	typ, err := typeNumber(r.Type)
	if err != nil {
		return nil, err
	}
	if !del || r.Type != "" {
		nr.Type = int(typ)
	}
	nr.Table = int(r.Table)
	if r.Table == 0 {
		nr.Table = int(defaultTable(typ))
	}
	nr.Priority = int(r.Metric)
	if r.Src.IsValid() {
		nr.Src = net.IP(r.Src.AsSlice())
	}
	setGateway(fam, r.Via, &nr.Gw, &nr.Via)
	if r.Dev != "" {
		if nr.LinkIndex, err = linkIndex(h, r.Dev); err != nil {
			return nil, err
		}
	}
	if r.Onlink {
		nr.Flags |= unix.RTNH_F_ONLINK
	}
	for _, nh := range r.Nexthops {
		ni := &netlink.NexthopInfo{}
		setGateway(fam, nh.Via, &ni.Gw, &ni.Via)
		if nh.Dev != "" {
			if ni.LinkIndex, err = linkIndex(h, nh.Dev); err != nil {
				return nil, err
			}
		}
		if nh.Weight > 0 {
			ni.Hops = nh.Weight - 1
		}
		if nh.Onlink {
			ni.Flags |= unix.RTNH_F_ONLINK
		}
		nr.MultiPath = append(nr.MultiPath, ni)
	}
	switch {
	case r.Scope != "":
		s, err := scopeNumber(r.Scope)
		if err != nil {
			return nil, err
		}
		nr.Scope = netlink.Scope(s)
	case del:
		nr.Scope = netlink.SCOPE_NOWHERE // any scope (the library would send universe)
	default:
		nr.Scope = netlink.Scope(defaultScope(fam, typ, r.Via.IsValid() || len(r.Nexthops) > 0))
	}
	if r.Protocol != "" {
		p, err := protocolNumber(r.Protocol)
		if err != nil {
			return nil, err
		}
		nr.Protocol = netlink.RouteProtocol(p)
	}
	return nr, nil
}

// Routes lists routes (every table when f.Table is 0, like
// `ip route show table all`; cached clones are left out), sorted by table,
// family, destination, metric.
func (c *Conn) Routes(ctx context.Context, f Filter) ([]Route, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("list routes: %w", err)
	}
	if f.Family != 0 && f.Family != unix.AF_INET && f.Family != unix.AF_INET6 {
		return nil, fmt.Errorf("list routes: unsupported family %d", f.Family)
	}
	var out []Route
	err := c.withHandle(func(h *netlink.Handle) error {
		names, err := linkNames(h)
		if err != nil {
			return err
		}
		// RT_FILTER_TABLE with RT_TABLE_UNSPEC keeps every table: without
		// RT_FILTER_TABLE the library drops all but main.
		filter := &netlink.Route{Table: int(f.Table)}
		if f.Table == 0 {
			filter.Table = unix.RT_TABLE_UNSPEC
		}
		var nrs []netlink.Route
		err = retryIntr(func() error {
			var err error
			nrs, err = h.RouteListFiltered(f.Family, filter, netlink.RT_FILTER_TABLE)
			return err
		})
		if err != nil {
			return err
		}
		for _, nr := range nrs {
			if nr.Family != unix.AF_INET && nr.Family != unix.AF_INET6 {
				continue // IPMR, MPLS, ... (a family-0 dump asks everyone)
			}
			out = append(out, fromNetlink(nr, names))
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list routes: %w", err)
	}
	sortRoutes(out)
	return out, nil
}

// sortRoutes orders routes by table, family, destination, metric, then by
// the rest of their text so the order is stable.
func sortRoutes(rs []Route) {
	slices.SortStableFunc(rs, func(a, b Route) int {
		return cmp.Or(
			cmp.Compare(a.Table, b.Table),
			cmp.Compare(a.family(), b.family()),
			a.To.Addr().Compare(b.To.Addr()),
			cmp.Compare(a.To.Bits(), b.To.Bits()),
			cmp.Compare(a.Metric, b.Metric),
		)
	})
}

// fromNetlink converts a listed route.
func fromNetlink(nr netlink.Route, names map[int]string) Route {
	r := Route{
		Family:   nr.Family,
		To:       prefixFrom(nr.Dst, nr.Family),
		Dev:      devName(names, nr.LinkIndex),
		Metric:   uint32(nr.Priority),
		Table:    uint32(nr.Table),
		Type:     typeWord(uint8(nr.Type)),
		Scope:    scopeWord(uint8(nr.Scope)),
		Onlink:   nr.Flags&unix.RTNH_F_ONLINK != 0,
		Protocol: protocolWord(uint8(nr.Protocol)),
	}
	if !r.To.IsValid() { // no RTA_DST: the library fills 0/0, but be safe
		r.To = netip.PrefixFrom(zeroAddr(nr.Family), 0)
	}
	r.Via = gateway(nr.Gw, nr.Via)
	if nr.Src != nil {
		r.Src = addrFrom(nr.Src)
	}
	for _, ni := range nr.MultiPath {
		r.Nexthops = append(r.Nexthops, Nexthop{
			Via:    gateway(ni.Gw, ni.Via),
			Dev:    devName(names, ni.LinkIndex),
			Weight: ni.Hops + 1,
			Onlink: ni.Flags&unix.RTNH_F_ONLINK != 0,
		})
	}
	return r
}

// gateway is RTA_GATEWAY, or RTA_VIA's address.
func gateway(gw net.IP, via netlink.Destination) netip.Addr {
	if gw != nil {
		return addrFrom(gw)
	}
	if v, ok := via.(*netlink.Via); ok && v != nil {
		return addrFrom(v.Addr)
	}
	return netip.Addr{}
}

// zeroAddr is the family's unspecified address.
func zeroAddr(fam int) netip.Addr {
	if fam == unix.AF_INET6 {
		return netip.IPv6Unspecified()
	}
	return netip.IPv4Unspecified()
}

// String prints r as `ip route` does, on one line (multipath nexthops
// follow inline, as `ip route add` takes them): type (unless unicast),
// destination, via, dev, table (unless main), proto (unless boot), scope,
// src, metric, onlink. A listed route (one with a Protocol) prints exactly
// as ip shows it: scope unless global, an IPv6 route's metric even when 0.
// A route to add prints its scope when given and not what ip picks by
// default, and its metric unless 0.
func (r Route) String() string {
	var b strings.Builder
	fam := r.family()
	listed := r.Protocol != ""
	typ := r.Type
	if typ != "" && typ != TypeUnicast {
		b.WriteString(typ + " ")
	}
	if r.To.IsValid() {
		b.WriteString(prefixWord(r.To, true))
	} else {
		b.WriteString("(no destination)")
	}
	writeVia(&b, fam, r.Via)
	if r.Dev != "" {
		b.WriteString(" dev " + r.Dev)
	}
	tn, _ := typeNumber(typ)
	switch {
	case r.Table != 0 && r.Table != TableMain:
		b.WriteString(" table " + TableName(r.Table))
	case r.Table == TableMain && defaultTable(tn) != TableMain:
		b.WriteString(" table main")
	}
	if listed && r.Protocol != "boot" {
		b.WriteString(" proto " + r.Protocol)
	}
	if r.Scope != "" {
		def := scopeWord(defaultScope(fam, tn, r.Via.IsValid() || len(r.Nexthops) > 0))
		if r.Scope != ScopeGlobal || (!listed && def != ScopeGlobal) {
			b.WriteString(" scope " + r.Scope)
		}
	}
	if r.Src.IsValid() {
		b.WriteString(" src " + r.Src.String())
	}
	if r.Metric != 0 || (listed && fam == unix.AF_INET6) {
		fmt.Fprintf(&b, " metric %d", r.Metric)
	}
	if r.Onlink {
		b.WriteString(" onlink")
	}
	for _, nh := range r.Nexthops {
		b.WriteString(" nexthop")
		writeVia(&b, fam, nh.Via)
		if nh.Dev != "" {
			b.WriteString(" dev " + nh.Dev)
		}
		w := nh.Weight
		if w == 0 {
			w = 1
		}
		fmt.Fprintf(&b, " weight %d", w)
		if nh.Onlink {
			b.WriteString(" onlink")
		}
	}
	return b.String()
}

// writeVia writes " via ADDR", with ip's "inet6" for an IPv6 gateway of
// an IPv4 route.
func writeVia(b *strings.Builder, fam int, via netip.Addr) {
	if !via.IsValid() {
		return
	}
	b.WriteString(" via ")
	if fam == unix.AF_INET && via.Is6() {
		b.WriteString("inet6 ")
	}
	b.WriteString(via.String())
}
