package lab

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/netlabdev/netlab/routectl"
	"github.com/netlabdev/netlab/topology"
)

// routeSpec turns a validated lab route into routectl's Route: table names
// resolved through the node's tables (topology.TableID), `default` as the
// family's zero prefix, a bare address as a host prefix. The family comes
// from the first address the route names (to, via, src, a next hop); a
// route that names none (`to: default` with only dev or a type) is IPv4,
// as with ip. A `type: local` route without a table goes to table local,
// as ip puts it.
func routeSpec(n *topology.Node, r *topology.Route) (routectl.Route, error) {
	var out routectl.Route
	fam := 0
	note := func(a netip.Addr) {
		if fam == 0 && a.IsValid() {
			fam = family(a)
		}
	}
	to := strings.TrimSpace(r.To)
	if to != "default" {
		p, err := parsePrefix(to)
		if err != nil {
			return out, fmt.Errorf("to %q: %w", r.To, err)
		}
		out.To = p
		note(p.Addr())
	}
	var err error
	if out.Via, err = optAddr("via", r.Via); err != nil {
		return out, err
	}
	note(out.Via)
	if out.Src, err = optAddr("src", r.Src); err != nil {
		return out, err
	}
	note(out.Src)
	for i, nh := range r.Nexthops {
		if nh == nil {
			return out, fmt.Errorf("nexthops[%d]: empty", i)
		}
		via, err := optAddr(fmt.Sprintf("nexthops[%d].via", i), nh.Via)
		if err != nil {
			return out, err
		}
		note(via)
		out.Nexthops = append(out.Nexthops, routectl.Nexthop{Via: via, Dev: nh.Dev, Weight: nh.Weight, Onlink: nh.Onlink || r.Onlink})
	}
	if fam == 0 {
		fam = unix.AF_INET
	}
	out.Family = fam
	if to == "default" {
		out.To = netip.PrefixFrom(netip.IPv4Unspecified(), 0)
		if fam == unix.AF_INET6 {
			out.To = netip.PrefixFrom(netip.IPv6Unspecified(), 0)
		}
	}
	out.Dev = r.Dev
	out.Onlink = r.Onlink && len(r.Nexthops) == 0
	if r.Metric != nil {
		out.Metric = *r.Metric
	}
	out.Type = strings.ToLower(strings.TrimSpace(r.Type))
	if out.Type == routectl.TypeUnicast {
		out.Type = ""
	}
	switch s := strings.ToLower(strings.TrimSpace(r.Scope)); s {
	case "universe":
		out.Scope = "global"
	default:
		out.Scope = s
	}
	if out.Table, err = topology.TableID(n, r.Table); err != nil {
		return out, err
	}
	if strings.TrimSpace(string(r.Table)) == "" && out.Type == routectl.TypeLocal {
		out.Table = routectl.TableLocal
	}
	return out, nil
}

// ruleSpec turns a validated lab rule into routectl's Rule. The family is
// the declared one, else that of from/to, else IPv4 (as with ip rule).
func ruleSpec(n *topology.Node, r *topology.Rule) (routectl.Rule, error) {
	var out routectl.Rule
	switch strings.ToLower(strings.TrimSpace(r.Family)) {
	case "ipv4", "inet", "4":
		out.Family = unix.AF_INET
	case "ipv6", "inet6", "6":
		out.Family = unix.AF_INET6
	case "":
	default:
		return out, fmt.Errorf("family %q: want ipv4 or ipv6", r.Family)
	}
	for _, f := range []struct {
		key, val string
		dst      *netip.Prefix
	}{{"from", r.From, &out.From}, {"to", r.To, &out.To}} {
		v := strings.TrimSpace(f.val)
		if v == "" || v == "all" {
			continue
		}
		p, err := parsePrefix(v)
		if err != nil {
			return out, fmt.Errorf("%s %q: %w", f.key, f.val, err)
		}
		if out.Family == 0 {
			out.Family = family(p.Addr())
		}
		*f.dst = p
	}
	if out.Family == 0 {
		out.Family = unix.AF_INET
	}
	if r.Priority != nil {
		out.Priority, out.HasPriority = *r.Priority, true
	}
	out.IIF, out.OIF, out.Invert = r.IIF, r.OIF, r.Invert
	if m := strings.TrimSpace(string(r.FWMark)); m != "" {
		mark, mask, err := parseFWMark(m)
		if err != nil {
			return out, err
		}
		out.Mark, out.Mask, out.HasMark = mark, mask, true
	}
	out.Action = strings.ToLower(strings.TrimSpace(r.Action))
	switch out.Action {
	case "", "table", routectl.ActionLookup:
		out.Action = routectl.ActionLookup
		id, err := topology.TableID(n, r.Table)
		if err != nil {
			return out, err
		}
		out.Table = id
	}
	return out, nil
}

// parseFWMark parses N or N/MASK, each decimal or 0x hex (the lab-file
// form); no mask leaves Mask 0, which routectl sends as 0xffffffff.
func parseFWMark(s string) (mark, mask uint32, err error) {
	num := func(s string) (uint32, error) {
		base := 10
		if t, ok := strings.CutPrefix(strings.ToLower(s), "0x"); ok {
			s, base = t, 16
		}
		v, err := strconv.ParseUint(s, base, 32)
		return uint32(v), err
	}
	ms, ks, hasMask := strings.Cut(s, "/")
	if mark, err = num(ms); err != nil {
		return 0, 0, fmt.Errorf("fwmark %q: %w", s, err)
	}
	if hasMask {
		if mask, err = num(ks); err != nil {
			return 0, 0, fmt.Errorf("fwmark %q: mask: %w", s, err)
		}
	}
	return mark, mask, nil
}

func parsePrefix(s string) (netip.Prefix, error) {
	if p, err := netip.ParsePrefix(s); err == nil {
		return p, nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("not a prefix or address")
	}
	return netip.PrefixFrom(a, a.BitLen()), nil
}

func optAddr(key, s string) (netip.Addr, error) {
	if s = strings.TrimSpace(s); s == "" {
		return netip.Addr{}, nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return a, fmt.Errorf("%s %q: not an IP address", key, s)
	}
	return a, nil
}

func family(a netip.Addr) int {
	if a.Is4() || a.Is4In6() {
		return unix.AF_INET
	}
	return unix.AF_INET6
}

// tableNote is "  # table NAME" when the lab names the table (a name from
// the node's tables: map, which ip does not know).
func tableNote(t topology.Value, id uint32) string {
	s := strings.TrimSpace(string(t))
	if s == "" || s == topology.TableName(id) {
		return ""
	}
	if _, err := strconv.ParseUint(s, 10, 32); err == nil {
		return ""
	}
	return "  # table " + s
}

// familyFlag is " -6" for IPv6 (ip needs it for `default` and for rules
// without addresses), "" for IPv4.
func familyFlag(fam int) string {
	if fam == unix.AF_INET6 {
		return " -6"
	}
	return ""
}

// prefixArg prints a prefix as ip does: "default" for the zero prefix, a
// bare address for a host prefix.
func prefixArg(p netip.Prefix) string {
	switch {
	case p.Bits() == 0 && p.Addr().IsUnspecified():
		return "default"
	case p.IsSingleIP():
		return p.Addr().String()
	}
	return p.String()
}

// routeLine prints a route as `ip route add` does its arguments.
func routeLine(netns string, n *topology.Node, r *topology.Route) string {
	rt, err := routeSpec(n, r)
	if err != nil {
		return fmt.Sprintf("# ip -n %s route add %s: invalid: %v", netns, r.To, err)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "ip -n %s%s route add ", netns, familyFlag(rt.Family))
	if rt.Type != "" {
		b.WriteString(rt.Type + " ")
	}
	b.WriteString(prefixArg(rt.To))
	if rt.Via.IsValid() {
		fmt.Fprintf(&b, " via %s", rt.Via)
	}
	if rt.Dev != "" {
		fmt.Fprintf(&b, " dev %s", rt.Dev)
	}
	if rt.Src.IsValid() {
		fmt.Fprintf(&b, " src %s", rt.Src)
	}
	if rt.Table != routectl.TableMain {
		fmt.Fprintf(&b, " table %s", topology.TableName(rt.Table))
	}
	if r.Metric != nil {
		fmt.Fprintf(&b, " metric %d", rt.Metric)
	}
	if rt.Scope != "" {
		fmt.Fprintf(&b, " scope %s", rt.Scope)
	}
	if rt.Onlink {
		b.WriteString(" onlink")
	}
	for _, nh := range rt.Nexthops {
		b.WriteString(" nexthop")
		if nh.Via.IsValid() {
			fmt.Fprintf(&b, " via %s", nh.Via)
		}
		if nh.Dev != "" {
			fmt.Fprintf(&b, " dev %s", nh.Dev)
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
	b.WriteString(tableNote(r.Table, rt.Table))
	return b.String()
}

// ruleLine prints a rule as `ip rule add` does its arguments.
func ruleLine(netns string, n *topology.Node, r *topology.Rule) string {
	ru, err := ruleSpec(n, r)
	if err != nil {
		return fmt.Sprintf("# ip -n %s rule add: invalid: %v", netns, err)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "ip -n %s%s rule add", netns, familyFlag(ru.Family))
	if ru.Invert {
		b.WriteString(" not")
	}
	if ru.HasPriority {
		fmt.Fprintf(&b, " priority %d", ru.Priority)
	}
	if ru.From.IsValid() {
		fmt.Fprintf(&b, " from %s", prefixArg(ru.From))
	}
	if ru.To.IsValid() {
		fmt.Fprintf(&b, " to %s", prefixArg(ru.To))
	}
	if ru.IIF != "" {
		fmt.Fprintf(&b, " iif %s", ru.IIF)
	}
	if ru.OIF != "" {
		fmt.Fprintf(&b, " oif %s", ru.OIF)
	}
	if ru.HasMark {
		fmt.Fprintf(&b, " fwmark %#x", ru.Mark)
		if ru.Mask != 0 {
			fmt.Fprintf(&b, "/%#x", ru.Mask)
		}
	}
	if ru.Action == routectl.ActionLookup {
		fmt.Fprintf(&b, " lookup %s%s", topology.TableName(ru.Table), tableNote(r.Table, ru.Table))
	} else {
		b.WriteString(" " + ru.Action)
	}
	return b.String()
}

// routeObject names a declared route in errors: "route 203.0.113.0/24
// table isp1 (routes[1])".
func routeObject(r *topology.Route, index int) string {
	s := "route " + strings.TrimSpace(r.To)
	if t := strings.TrimSpace(string(r.Table)); t != "" {
		s += " table " + t
	}
	return fmt.Sprintf("%s (routes[%d])", s, index)
}

// ruleObject names a declared rule in errors: "rule priority 100 (rules[0])".
func ruleObject(r *topology.Rule, index int) string {
	if r.Priority != nil {
		return fmt.Sprintf("rule priority %d (rules[%d])", *r.Priority, index)
	}
	return fmt.Sprintf("rule (rules[%d])", index)
}

// Route groups, in the order a node's routes are added.
const (
	routeDirect   = iota // unicast/local without a gateway: needs only an up device
	routeGateway         // via or nexthops: needs the gateway's connected route
	routeRejectTy        // blackhole, unreachable, prohibit, throw: may shadow gateways
)

func routeGroup(r routectl.Route) int {
	switch r.Type {
	case "", routectl.TypeUnicast, routectl.TypeLocal:
		if r.Via.IsValid() || len(r.Nexthops) > 0 {
			return routeGateway
		}
		return routeDirect
	}
	return routeRejectTy
}

// gateway is one next-hop address of a route, with the dev given for it.
type gateway struct {
	addr   netip.Addr
	dev    string
	onlink bool
}

func gateways(r routectl.Route) []gateway {
	var out []gateway
	if r.Via.IsValid() {
		out = append(out, gateway{r.Via, r.Dev, r.Onlink})
	}
	for _, nh := range r.Nexthops {
		if nh.Via.IsValid() {
			out = append(out, gateway{nh.Via, nh.Dev, nh.Onlink})
		}
	}
	return out
}

// connectedBits is the length of the most specific declared prefix of the
// node that holds a as another host (0 if none).
func connectedBits(n *topology.RNode, a netip.Addr) int {
	bits := 0
	for _, i := range n.Ifaces {
		for _, p := range i.Addresses {
			if p.Masked().Contains(a) && p.Addr() != a && p.Bits() > bits {
				bits = p.Bits()
			}
		}
	}
	return bits
}

// shadows reports whether route a, once in the kernel, would make the
// kernel refuse route b's gateway, so b must be added first. Only IPv6
// does that (measured on this project's kernel, net/ipv6/route.c): it looks
// an IPv6 gateway up in b's table, then through the rules (added after
// every route, so in main), and refuses it when the best match there is a
// gateway or reject route, or a route through another dev than the one
// given for the gateway; an onlink gateway is checked against main alone
// and refused when a non-default route through another dev (or a gateway
// route) matches it. IPv4 skips routes of global scope in that lookup and
// does not look an onlink gateway up at all; link-local gateways are not
// looked up either.
func shadows(n *topology.RNode, a, b routectl.Route) bool {
	if a.Family != unix.AF_INET6 || a.Table != routectl.TableMain {
		return false
	}
	direct := routeGroup(a) == routeDirect
	for _, g := range gateways(b) {
		if family(g.addr) != unix.AF_INET6 || !a.To.Contains(g.addr) || g.addr.IsLinkLocalUnicast() {
			continue
		}
		bits := connectedBits(n, g.addr)
		if g.onlink {
			bits = 1 // any non-default route
		}
		if a.To.Bits() < bits {
			continue
		}
		if !direct || (g.dev != "" && a.Dev != g.dev) || (g.onlink && g.dev == "") {
			return true
		}
	}
	return false
}

// routeOrder returns the indexes of a node's declared routes in an order
// the kernel cannot refuse on dependencies (every route's device is up and
// its gateway connected by then): routes without a gateway, then gateway
// routes, each moved after the routes whose gateway it would shadow, then
// blackhole/unreachable/prohibit/throw routes. Ties keep file order.
func routeOrder(n *topology.RNode) []int {
	type item struct {
		i  int
		rt routectl.Route
	}
	var groups [3][]item
	for i, r := range n.Spec.Routes {
		if r == nil {
			continue
		}
		rt, err := routeSpec(n.Spec, r)
		g := routeGateway
		if err == nil {
			g = routeGroup(rt)
		}
		groups[g] = append(groups[g], item{i, rt})
	}
	var out []int
	rest := append(groups[routeDirect], groups[routeGateway]...)
	for len(rest) > 0 {
		pick := 0 // on a cycle, this order: the kernel will say which
		for j, a := range rest {
			free := true
			for k, b := range rest {
				if j != k && shadows(n, a.rt, b.rt) {
					free = false
					break
				}
			}
			if free {
				pick = j
				break
			}
		}
		out = append(out, rest[pick].i)
		rest = append(rest[:pick:pick], rest[pick+1:]...)
	}
	for _, it := range groups[routeRejectTy] {
		out = append(out, it.i)
	}
	return out
}
