package topology

import (
	"fmt"
	"net"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
)

var reservedTables = map[string]uint32{"default": 253, "main": 254, "local": 255}

// TableID resolves a route or rule table (number, main/local/default, or a
// name from the node's tables map). Empty means main.
func TableID(n *Node, t Value) (uint32, error) {
	s := strings.TrimSpace(string(t))
	if s == "" {
		return 254, nil
	}
	if id, ok := reservedTables[s]; ok {
		return id, nil
	}
	if id, err := strconv.ParseUint(s, 10, 32); err == nil {
		if id == 0 {
			return 0, fmt.Errorf("table 0 is not a routing table")
		}
		return uint32(id), nil
	}
	if n != nil {
		if id, ok := n.Tables[s]; ok {
			return id, nil
		}
	}
	return 0, fmt.Errorf("unknown table %q (a number, main, local, default, or a name from this node's tables:)", s)
}

// TableName prints a table number as ip does: main, local or default for
// the kernel's reserved tables, else the number.
func TableName(id uint32) string {
	for name, n := range reservedTables {
		if n == id {
			return name
		}
	}
	return strconv.FormatUint(uint64(id), 10)
}

var tableNameRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_.-]*$`)

// family returns 4 or 6.
func family(a netip.Addr) int {
	if a.Is4() {
		return 4
	}
	return 6
}

func (v *validator) routingPass(n *RNode) {
	p := "nodes." + n.Name
	for _, name := range sortedKeys(n.Spec.Tables) {
		id := n.Spec.Tables[name]
		tp := p + ".tables." + name
		if !tableNameRE.MatchString(name) {
			v.errf(tp, "table name %q: want letters, digits, '_', '.', '-' (not starting with a digit)", name)
		}
		if _, res := reservedTables[name]; res {
			v.errf(tp, "table name %q is reserved by the kernel", name)
		}
		if id == 0 || id == 253 || id == 254 || id == 255 {
			v.errf(tp, "table number %d is reserved (0 unspec, 253 default, 254 main, 255 local)", id)
		}
	}
	for i, r := range n.Spec.Routes {
		rp := fmt.Sprintf("%s.routes[%d]", p, i)
		if r == nil {
			v.errf(rp, "empty route")
			continue
		}
		v.checkRoute(rp, n, r)
	}
	for i, r := range n.Spec.Rules {
		rp := fmt.Sprintf("%s.rules[%d]", p, i)
		if r == nil {
			v.errf(rp, "empty rule")
			continue
		}
		v.checkRule(rp, n, r)
	}
}

// subnetIfaces returns the node's interfaces (only dev if dev is set) with a
// prefix that holds addr as another host.
func subnetIfaces(n *RNode, addr netip.Addr, dev string) []*RIface {
	var out []*RIface
	for _, i := range n.Ifaces {
		if dev != "" && i.Name != dev {
			continue
		}
		for _, a := range i.Addresses {
			if a.Masked().Contains(addr) && a.Addr() != addr {
				out = append(out, i)
				break
			}
		}
	}
	return out
}

// downMsg explains why a route through an interface declared down fails.
const downMsg = "the kernel refuses routes through a device that is not up"

func (v *validator) checkRoute(rp string, n *RNode, r *Route) {
	fam := 0
	note := func(path string, a netip.Addr) {
		f := family(a)
		if fam != 0 && f != fam {
			v.errf(path, "mixes IPv4 and IPv6 in one route")
		}
		fam = f
	}
	switch strings.TrimSpace(r.To) {
	case "":
		v.errf(rp+".to", "a route needs to: (a prefix or default)")
	case "default":
	default:
		pfx, err := netip.ParsePrefix(r.To)
		if err != nil {
			if a, err2 := netip.ParseAddr(r.To); err2 == nil {
				pfx = netip.PrefixFrom(a, a.BitLen())
			} else {
				v.errf(rp+".to", "to %q: want a prefix such as 203.0.113.0/24, or default", r.To)
				break
			}
		}
		if pfx.Masked() != pfx {
			v.errf(rp+".to", "to %s has host bits set; did you mean %s?", pfx, pfx.Masked())
		}
		note(rp+".to", pfx.Addr())
	}
	typ := strings.ToLower(r.Type)
	switch typ {
	case "", "unicast", "local":
	case "blackhole", "unreachable", "prohibit", "throw":
		if r.Via != "" || r.Dev != "" || len(r.Nexthops) > 0 {
			v.errf(rp+".type", "a %s route has no via, dev or nexthops", typ)
		}
	default:
		v.errf(rp+".type", "route type %q: want unicast, local, blackhole, unreachable, prohibit or throw", r.Type)
	}
	switch strings.ToLower(r.Scope) {
	case "", "global", "universe", "link", "host", "site", "nowhere":
	default:
		v.errf(rp+".scope", "scope %q: want global, link, host, site or nowhere", r.Scope)
	}
	if r.Dev != "" {
		v.checkRouteDev(rp+".dev", n, r.Dev)
	}
	if r.Src != "" {
		a, err := netip.ParseAddr(r.Src)
		if err != nil {
			v.errf(rp+".src", "src %q is not an IP address", r.Src)
		} else {
			note(rp+".src", a)
			if i := nodeIfaceOf(n, a); i == nil {
				v.errf(rp+".src", "src %s is not an address of node %s", a, n.Name)
			} else if a.Is6() && i.DAD {
				v.errf(rp+".src", "src %s is on %s, which has dad: true: the address stays tentative until duplicate address detection ends, and the kernel refuses a tentative src", a, i.Name)
			}
		}
	}
	if _, err := TableID(n.Spec, r.Table); err != nil {
		v.errf(rp+".table", "%v", err)
	}
	if r.Via != "" && len(r.Nexthops) > 0 {
		v.errf(rp+".nexthops", "give either via/dev or nexthops, not both")
	}
	v.checkNexthop(rp, n, r.Via, r.Dev, r.Onlink, note)
	for j, nh := range r.Nexthops {
		np := fmt.Sprintf("%s.nexthops[%d]", rp, j)
		if nh == nil {
			v.errf(np, "empty nexthop")
			continue
		}
		if nh.Via == "" && nh.Dev == "" {
			v.errf(np, "a nexthop needs via or dev")
		}
		if nh.Dev != "" {
			v.checkRouteDev(np+".dev", n, nh.Dev)
		}
		if nh.Weight < 0 || nh.Weight > 256 {
			v.errf(np+".weight", "weight %d out of range (1-256)", nh.Weight)
		}
		v.checkNexthop(np, n, nh.Via, nh.Dev, nh.Onlink || r.Onlink, note)
	}
	if typ == "" || typ == "unicast" {
		if r.Via == "" && r.Dev == "" && len(r.Nexthops) == 0 {
			v.errf(rp, "a unicast route needs via, dev or nexthops")
		}
	}
}

func (v *validator) checkNexthop(path string, n *RNode, via, dev string, onlink bool, note func(string, netip.Addr)) {
	if via == "" {
		return
	}
	a, err := netip.ParseAddr(via)
	if err != nil {
		v.errf(path+".via", "via %q is not an IP address", via)
		return
	}
	note(path+".via", a)
	switch {
	case onlink:
		if dev == "" {
			v.errf(path+".onlink", "an onlink next hop needs dev")
		}
	case a.Is6() && a.IsLinkLocalUnicast():
		if dev == "" {
			v.errf(path+".via", "link-local next hop %s needs dev", a)
		}
	default:
		ifs := subnetIfaces(n, a, dev)
		if len(ifs) == 0 {
			where := "any declared subnet of node " + n.Name
			if dev != "" {
				where = "a declared subnet of " + n.Name + ":" + dev
			}
			v.errf(path+".via", "next hop %s is not on %s (add onlink: true if that is intended)", a, where)
			return
		}
		for _, i := range ifs {
			if i.Up {
				return
			}
		}
		v.errf(path+".via", "next hop %s is only on subnets of %s, declared state: down: %s", a, ifs[0].Name, downMsg)
	}
}

// checkRouteDev checks a route's or next hop's dev: declared, and up.
func (v *validator) checkRouteDev(path string, n *RNode, dev string) {
	i := n.Iface(dev)
	switch {
	case i == nil:
		v.errf(path, "node %s has no interface %s", n.Name, dev)
	case !i.Up:
		v.errf(path, "%s is declared state: down: %s", dev, downMsg)
	}
}

// nodeIfaceOf returns the node's interface that carries address a, or nil.
func nodeIfaceOf(n *RNode, a netip.Addr) *RIface {
	for _, i := range n.Ifaces {
		for _, p := range i.Addresses {
			if p.Addr() == a {
				return i
			}
		}
	}
	return nil
}

var fwmarkRE = regexp.MustCompile(`^(0x[0-9a-fA-F]+|[0-9]+)(/(0x[0-9a-fA-F]+|[0-9]+))?$`)

func (v *validator) checkRule(rp string, n *RNode, r *Rule) {
	fam := 0
	switch strings.ToLower(r.Family) {
	case "":
	case "ipv4", "inet", "4":
		fam = 4
	case "ipv6", "inet6", "6":
		fam = 6
	default:
		v.errf(rp+".family", "family %q: want ipv4 or ipv6", r.Family)
	}
	for _, f := range []struct{ key, val string }{{"from", r.From}, {"to", r.To}} {
		if f.val == "" || f.val == "all" {
			continue
		}
		pfx, err := netip.ParsePrefix(f.val)
		if err != nil {
			a, err2 := netip.ParseAddr(f.val)
			if err2 != nil {
				v.errf(rp+"."+f.key, "%s %q: want a prefix such as 192.0.2.0/25", f.key, f.val)
				continue
			}
			pfx = netip.PrefixFrom(a, a.BitLen())
		}
		if fam != 0 && family(pfx.Addr()) != fam {
			v.errf(rp+"."+f.key, "mixes IPv4 and IPv6 in one rule")
		}
		fam = family(pfx.Addr())
	}
	for _, f := range []struct{ key, val string }{{"iif", r.IIF}, {"oif", r.OIF}} {
		if f.val != "" && n.Iface(f.val) == nil {
			v.errf(rp+"."+f.key, "node %s has no interface %s", n.Name, f.val)
		}
	}
	if r.FWMark != "" && !fwmarkRE.MatchString(string(r.FWMark)) {
		v.errf(rp+".fwmark", "fwmark %q: want N or N/MASK (decimal or 0x hex)", r.FWMark)
	}
	action := strings.ToLower(r.Action)
	switch action {
	case "", "lookup", "table":
		if r.Table == "" {
			v.errf(rp+".table", "a lookup rule needs table")
		}
	case "blackhole", "unreachable", "prohibit":
		if r.Table != "" {
			v.errf(rp+".table", "a %s rule takes no table", action)
		}
	default:
		v.errf(rp+".action", "rule action %q: want lookup, blackhole, unreachable or prohibit", r.Action)
	}
	if r.Table != "" {
		if _, err := TableID(n.Spec, r.Table); err != nil {
			v.errf(rp+".table", "%v", err)
		}
	}
}

// NeighStates are the states a static neighbour entry may be given.
var NeighStates = map[string]bool{"PERMANENT": true, "NOARP": true, "REACHABLE": true, "STALE": true, "DELAY": true, "PROBE": true, "NONE": true}

// AllNeighStates are every state the kernel reports.
var AllNeighStates = map[string]bool{"INCOMPLETE": true, "REACHABLE": true, "STALE": true, "DELAY": true, "PROBE": true, "FAILED": true, "NOARP": true, "PERMANENT": true, "NONE": true}

func (v *validator) neighborsPass(n *RNode) {
	// seen maps an entry's identity (address, device, proxy) to the index
	// of its first declaration: the kernel holds one entry per identity.
	type ident struct {
		to    netip.Addr
		dev   string
		proxy bool
	}
	seen := map[ident]int{}
	for i, nb := range n.Spec.Neighbors {
		p := fmt.Sprintf("nodes.%s.neighbors[%d]", n.Name, i)
		if nb == nil {
			v.errf(p, "empty neighbour")
			continue
		}
		to, err := netip.ParseAddr(nb.To)
		switch {
		case err != nil:
			v.errf(p+".to", "to %q is not an IP address", nb.To)
		case to.Zone() != "":
			v.errf(p+".to", "to %q: no zone in a neighbour address (dev names the interface)", nb.To)
		case to.Is4In6():
			v.errf(p+".to", "to %q is an IPv4-mapped IPv6 address; write %s for an ARP entry", nb.To, to.Unmap())
		case to.IsUnspecified():
			v.errf(p+".to", "to %s is the unspecified address, not a neighbour", to)
		}
		if nb.Dev == "" {
			v.errf(p+".dev", "a neighbour entry needs dev")
		} else if ri := n.Iface(nb.Dev); ri == nil {
			v.errf(p+".dev", "node %s has no interface %s", n.Name, nb.Dev)
		} else if ri.Kind == IfLo {
			v.errf(p+".dev", "lo resolves no neighbours (the kernel files every lo entry under one key); put the entry on a link's interface")
		} else if err == nil && to.Is6() && !to.Is4In6() && ri.MTU != 0 && ri.MTU < 1280 {
			v.errf(p+".dev", "%s has mtu %d, below IPv6's minimum 1280: the kernel disables IPv6 there and refuses IPv6 neighbour entries", ri.Name, ri.MTU)
		}
		if nb.LLAddr == "" && !nb.Proxy {
			v.errf(p+".lladdr", "a neighbour entry needs lladdr (unless proxy: true)")
		}
		if nb.LLAddr != "" {
			if nb.Proxy {
				v.errf(p+".lladdr", "a proxy entry has no lladdr (the kernel keeps only its address and device; the node answers with its own MAC)")
			} else if mac, err := net.ParseMAC(nb.LLAddr); err != nil {
				v.errf(p+".lladdr", "lladdr %q is not a link-layer address", nb.LLAddr)
			} else if len(mac) != 6 {
				v.errf(p+".lladdr", "lladdr %q is %d bytes; netlab's interfaces (veth, bridge) are Ethernet: want 6 bytes such as 02:00:00:00:00:09 (the kernel would silently cut it to 6)", nb.LLAddr, len(mac))
			}
		}
		if nb.State != "" && !NeighStates[strings.ToUpper(nb.State)] {
			v.errf(p+".state", "state %q: want permanent, noarp, reachable, stale, delay, probe or none", nb.State)
		} else if nb.Proxy && nb.State != "" && !strings.EqualFold(nb.State, "permanent") {
			v.errf(p+".state", "a proxy entry has no state (it is permanent until deleted); drop state: %s", nb.State)
		}
		if err == nil && nb.Dev != "" {
			id := ident{to.Unmap(), nb.Dev, nb.Proxy}
			if first, dup := seen[id]; dup {
				kind := "neighbour entry"
				if nb.Proxy {
					kind = "proxy entry"
				}
				v.errf(p+".to", "duplicate %s %s dev %s: already declared at nodes.%s.neighbors[%d] (the kernel holds one entry per address and device)", kind, to, nb.Dev, n.Name, first)
			} else {
				seen[id] = i
			}
		}
	}
}
