package topology

import (
	"fmt"
	"net"
	"net/netip"
	"sort"
	"strconv"
	"strings"
)

// ValidateOptions tune validation.
type ValidateOptions struct {
	// AllowHostSysctl permits host.sysctls keys other than
	// net.ipv{4,6}.neigh.default.* (the --allow-host-sysctl flag).
	AllowHostSysctl bool
}

// Validate checks the whole lab and reports every problem at once (as *Error),
// each naming its file, line, column and path. Warnings never make it fail.
// On success the lab is resolved (see Resolve).
func (l *Lab) Validate(opts ValidateOptions) ([]*Problem, error) {
	if l.pos == nil {
		l.pos = map[string]Pos{}
	}
	v := &validator{
		collector: collector{file: l.File, pos: l.pos},
		lab:       l,
		opts:      opts,
		topo:      &Topo{Lab: l, Name: l.Name},
		nodes:     map[string]*RNode{},
	}
	v.run()
	sortProblems(v.warnings)
	if err := v.err(); err != nil {
		return v.warnings, err
	}
	v.topo.byName = v.nodes
	l.topo = v.topo
	return v.warnings, nil
}

type validator struct {
	collector
	lab   *Lab
	opts  ValidateOptions
	topo  *Topo
	nodes map[string]*RNode
}

func (v *validator) run() {
	l := v.lab
	if l.Version < 0 || l.Version > FormatVersion {
		v.errf("version", "lab needs file-format version %d; this netlab reads version %d at most", l.Version, FormatVersion)
	}
	if err := CheckLabName(l.Name); err != nil {
		v.errf("name", "%v", err)
	}
	if len(l.Nodes) == 0 {
		v.errf("nodes", "a lab needs at least one node")
	}
	if len(l.Nodes) > MaxNodes {
		v.errf("nodes", "%d nodes; at most %d per lab", len(l.Nodes), MaxNodes)
		return
	}
	if len(l.Links) > MaxLinks {
		v.errf("links", "%d links; at most %d per lab", len(l.Links), MaxLinks)
		return
	}
	v.nodesPass()
	v.linksPass()
	v.interfacesPass()
	v.segmentsPass()
	v.sysctlsPass()
	v.hostPass()
	for _, n := range v.topo.Nodes {
		v.routingPass(n)
		v.neighborsPass(n)
		v.firewallPass("nodes."+n.Name+".firewall", n, n.Spec.Firewall)
	}
	resolved := map[int]*RLink{}
	for _, rl := range v.topo.Links {
		resolved[rl.Index] = rl
	}
	for i, ln := range l.Links {
		if ln != nil {
			v.trafficControlPass(fmt.Sprintf("links[%d]", i), ln, resolved[i])
		}
	}
	v.scenarioPass()
	for _, n := range v.topo.Nodes {
		sortIfaces(n.Ifaces)
	}
}

func (v *validator) nodesPass() {
	for _, name := range sortedKeys(v.lab.Nodes) {
		spec := v.lab.Nodes[name]
		p := "nodes." + name
		if spec == nil {
			spec = &Node{}
			v.lab.Nodes[name] = spec
		}
		if err := CheckNodeName(name); err != nil {
			v.errf(p, "%v", err)
		}
		kind := spec.Kind
		if kind == "" {
			kind = NodeKindHost
		}
		switch kind {
		case NodeKindHost, NodeKindRouter, NodeKindBridge:
		default:
			v.errf(p+".kind", "unknown node kind %q (host, router or bridge)", spec.Kind)
		}
		n := &RNode{Name: name, Kind: kind, Netns: Netns(v.lab.Name, name), Spec: spec}
		if len(n.Netns) > 255 {
			v.errf(p, "namespace name %q is too long", n.Netns)
		}
		n.Ifaces = append(n.Ifaces, &RIface{Node: name, Name: "lo", Kind: IfLo, Up: true, Link: -1})
		if spec.Bridge != nil && kind != NodeKindBridge {
			v.errf(p+".bridge", "bridge: options apply only to kind: bridge nodes (for a bridge inside a node declare an interface with kind: bridge)")
		}
		if kind == NodeKindBridge {
			b := spec.Bridge
			if b == nil {
				b = &BridgeOpts{}
			}
			br := &RIface{Node: name, Name: DefaultBridge, Kind: IfBridge, Up: true, Ageing: DefaultAgeing, Link: -1}
			if b.Name != "" {
				br.Name = b.Name
				if err := CheckIfName(b.Name); err != nil {
					v.errf(p+".bridge.name", "%v", err)
				} else if b.Name == "lo" {
					v.errf(p+".bridge.name", "a bridge cannot be named lo")
				}
			}
			if b.STP != nil {
				br.STP = *b.STP
			}
			if b.AgeingTime != nil {
				br.Ageing = b.AgeingTime.Duration
				v.checkAgeing(p+".bridge.ageing_time", br.Ageing)
			}
			n.Ifaces = append(n.Ifaces, br)
		}
		v.nodes[name] = n
		v.topo.Nodes = append(v.topo.Nodes, n)
	}
}

func (v *validator) checkAgeing(path string, d interface{ Seconds() float64 }) {
	// The kernel keeps ageing_time in clock_t (1/100 s) in a u32; STP needs
	// it within [10s, 1000000s] only when STP is on, so check the u32 range.
	if d.Seconds() > 42949672 {
		v.errf(path, "ageing time %v is too long (at most 42949672s)", d)
	}
}

func (v *validator) bridgeOf(n *RNode) *RIface {
	if n.Kind != NodeKindBridge {
		return nil
	}
	for _, i := range n.Ifaces {
		if i.Kind == IfBridge {
			return i
		}
	}
	return nil
}

func (v *validator) linksPass() {
	used := map[Endpoint]string{}
	for i, ln := range v.lab.Links {
		p := fmt.Sprintf("links[%d]", i)
		if ln == nil {
			v.errf(p, "empty link")
			continue
		}
		if len(ln.Endpoints) != 2 {
			v.errf(p+".endpoints", "a link has exactly two endpoints (node:interface), got %d", len(ln.Endpoints))
			continue
		}
		var eps [2]Endpoint
		ok := true
		for j, s := range ln.Endpoints {
			ep := fmt.Sprintf("%s.endpoints[%d]", p, j)
			node, ifn, found := strings.Cut(s, ":")
			if !found || node == "" || ifn == "" {
				v.errf(ep, "endpoint %q: want node:interface", s)
				ok = false
				continue
			}
			eps[j] = Endpoint{Node: node, Iface: ifn}
			n := v.nodes[node]
			if n == nil {
				v.errf(ep, "link names unknown node %q", node)
				ok = false
				continue
			}
			if err := CheckIfName(ifn); err != nil {
				v.errf(ep, "%v", err)
				ok = false
				continue
			}
			if ifn == "lo" {
				v.errf(ep, "lo cannot be a link end")
				ok = false
				continue
			}
			if br := v.bridgeOf(n); br != nil && br.Name == ifn {
				v.errf(ep, "%s is the bridge device of node %s; a link end needs its own name (it becomes a port of %s)", ifn, node, ifn)
				ok = false
				continue
			}
			if prev, dup := used[eps[j]]; dup {
				v.errf(ep, "interface %s is already used by %s", eps[j], prev)
				ok = false
				continue
			}
			used[eps[j]] = ep
		}
		if !ok {
			continue
		}
		if ln.MTU != 0 {
			v.checkMTU(p+".mtu", ln.MTU)
		}
		rl := &RLink{Index: i, A: eps[0], B: eps[1], MTU: ln.MTU, Spec: ln}
		v.topo.Links = append(v.topo.Links, rl)
		for j := 0; j < 2; j++ {
			me, peer := eps[j], eps[1-j]
			n := v.nodes[me.Node]
			ri := &RIface{Node: me.Node, Name: me.Iface, Kind: IfVeth, Peer: &Endpoint{peer.Node, peer.Iface}, Link: i, MTU: ln.MTU, Up: true}
			if br := v.bridgeOf(n); br != nil {
				ri.Master = br.Name
				br.Ports = append(br.Ports, me.Iface)
			}
			n.Ifaces = append(n.Ifaces, ri)
		}
	}
}

func (v *validator) checkMTU(path string, mtu int) {
	if mtu < 68 || mtu > 65535 {
		v.errf(path, "mtu %d out of range (68-65535)", mtu)
	}
}

func (v *validator) interfacesPass() {
	for _, n := range v.topo.Nodes {
		p := "nodes." + n.Name + ".interfaces"
		for _, name := range sortedKeys(n.Spec.Interfaces) {
			spec := n.Spec.Interfaces[name]
			ip := p + "." + name
			if spec == nil {
				spec = &Interface{}
			}
			if err := CheckIfName(name); err != nil {
				v.errf(ip, "%v", err)
				continue
			}
			ri := n.Iface(name)
			switch {
			case spec.Kind == IfBridge:
				if name == "lo" {
					v.errf(ip, "a bridge cannot be named lo")
					continue
				}
				if ri != nil && ri.Kind != IfBridge {
					v.errf(ip+".kind", "%s is a link end of node %s, it cannot also be a bridge", name, n.Name)
					continue
				}
				if ri != nil { // the switch of a kind: bridge node
					v.errf(ip+".kind", "%s is already node %s's switch bridge; drop kind/ports here", name, n.Name)
					continue
				}
				ri = &RIface{Node: n.Name, Name: name, Kind: IfBridge, Up: true, Ageing: DefaultAgeing, Link: -1}
				if spec.STP != nil {
					ri.STP = *spec.STP
				}
				if spec.AgeingTime != nil {
					ri.Ageing = spec.AgeingTime.Duration
					v.checkAgeing(ip+".ageing_time", ri.Ageing)
				}
				n.Ifaces = append(n.Ifaces, ri)
			case spec.Kind == "" || spec.Kind == IfVeth || (spec.Kind == IfLo && name == "lo"):
				if ri == nil {
					v.errf(ip, "interface %s of node %s is not a link end, a bridge (kind: bridge) or lo; declare a link with endpoint %s:%s", name, n.Name, n.Name, name)
					continue
				}
				if spec.Kind == IfVeth && ri.Kind != IfVeth {
					v.errf(ip+".kind", "%s is not a veth link end", name)
				}
				if len(spec.Ports) > 0 || spec.STP != nil || spec.AgeingTime != nil {
					v.errf(ip, "ports, stp and ageing_time belong to bridge interfaces (kind: bridge)")
				}
			default:
				v.errf(ip+".kind", "unknown interface kind %q (bridge; link ends are veth implicitly)", spec.Kind)
				continue
			}
			v.ifaceProps(ip, ri, spec)
		}
		// Bridge ports (declared bridges only; a switch node's ports are implicit).
		for _, name := range sortedKeys(n.Spec.Interfaces) {
			spec := n.Spec.Interfaces[name]
			if spec == nil || spec.Kind != IfBridge {
				continue
			}
			br := n.Iface(name)
			if br == nil {
				continue
			}
			for j, port := range spec.Ports {
				pp := fmt.Sprintf("%s.%s.ports[%d]", p, name, j)
				pi := n.Iface(port)
				switch {
				case pi == nil || pi.Kind != IfVeth:
					v.errf(pp, "bridge port %q is not a link end of node %s", port, n.Name)
				case pi.Master != "": // of a bridge declared above, or of a switch node's bridge
					v.errf(pp, "%s is already a port of bridge %s", port, pi.Master)
				default:
					pi.Master = name
					br.Ports = append(br.Ports, port)
				}
			}
		}
		for _, i := range n.Ifaces {
			if i.Master != "" && len(i.Addresses) > 0 {
				v.warnf(p+"."+i.Name+".addresses", "%s is a port of bridge %s: addresses on a bridge port are not used for routing; put them on %s", i.Name, i.Master, i.Master)
			}
		}
	}
}

func (v *validator) ifaceProps(ip string, ri *RIface, spec *Interface) {
	seen := map[netip.Addr]int{}
	for j, a := range spec.Addresses {
		ap := fmt.Sprintf("%s.addresses[%d]", ip, j)
		pfx, err := netip.ParsePrefix(a)
		if err != nil {
			v.errf(ap, "address %q: want an address with prefix length, e.g. 192.0.2.1/24 or 2001:db8::1/64", a)
			continue
		}
		if pfx.Addr().Zone() != "" || pfx.Addr().Is4In6() {
			v.errf(ap, "address %q: zones and IPv4-mapped addresses are not allowed", a)
			continue
		}
		if pfx.Addr().IsMulticast() || pfx.Addr().IsUnspecified() {
			v.errf(ap, "address %q is not a unicast address", a)
			continue
		}
		if prev, dup := seen[pfx.Addr()]; dup {
			v.errf(ap, "address %s is already on %s (addresses[%d])", pfx.Addr(), ri.Name, prev)
			continue
		}
		seen[pfx.Addr()] = j
		ri.Addresses = append(ri.Addresses, pfx)
	}
	if spec.MAC != "" {
		mac, err := net.ParseMAC(spec.MAC)
		switch {
		case err != nil || len(mac) != 6:
			v.errf(ip+".mac", "mac %q: want a 6-byte Ethernet address such as 02:00:00:00:00:01", spec.MAC)
		case ri.Kind == IfLo:
			v.errf(ip+".mac", "lo has no MAC address")
		case mac[0]&1 == 1:
			v.errf(ip+".mac", "mac %s is a multicast address; an interface needs a unicast one (first byte even)", mac)
		case mac.String() == "00:00:00:00:00:00":
			v.errf(ip+".mac", "mac 00:00:00:00:00:00 is not a valid interface address")
		default:
			ri.MAC = mac
		}
	}
	if spec.MTU != 0 {
		v.checkMTU(ip+".mtu", spec.MTU)
		ri.MTU = spec.MTU
	}
	switch strings.ToLower(spec.State) {
	case "", "up":
	case "down":
		ri.Up = false
		if ri.Kind == IfLo {
			v.errf(ip+".state", "lo stays up in a lab")
		}
	default:
		v.errf(ip+".state", "state %q: want up or down", spec.State)
	}
	ri.DAD = spec.DAD
	if ri.MTU != 0 && ri.MTU < 1280 {
		for _, a := range ri.Addresses {
			if a.Addr().Is6() {
				v.warnf(ip+".mtu", "mtu %d is below IPv6's minimum 1280: the kernel disables IPv6 on %s", ri.MTU, ri.Name)
				break
			}
		}
	}
}

// segmentsPass finds L2 segments (a veth pair, a bridge and everything attached
// to its ports) and refuses an address or MAC used twice on one segment.
func (v *validator) segmentsPass() {
	type key struct{ node, ifn string }
	parent := map[key]key{}
	find := func(k key) key {
		for {
			p, ok := parent[k]
			if !ok || p == k {
				return k
			}
			if pp, ok := parent[p]; ok { // path halving; a root may have no entry
				parent[k] = pp
			}
			k = p
		}
	}
	union := func(a, b key) { parent[find(a)] = find(b) }
	for _, n := range v.topo.Nodes {
		for _, i := range n.Ifaces {
			k := key{n.Name, i.Name}
			if i.Peer != nil {
				union(k, key{i.Peer.Node, i.Peer.Iface})
			}
			if i.Master != "" {
				union(k, key{n.Name, i.Master})
			}
		}
	}
	addrs := map[key]map[netip.Addr]string{}
	macs := map[key]map[string]string{}
	for _, n := range v.topo.Nodes {
		for _, i := range n.Ifaces {
			if i.Kind == IfLo {
				continue
			}
			seg := find(key{n.Name, i.Name})
			if addrs[seg] == nil {
				addrs[seg], macs[seg] = map[netip.Addr]string{}, map[string]string{}
			}
			ip := "nodes." + n.Name + ".interfaces." + i.Name
			for j, a := range i.Addresses {
				if prev, dup := addrs[seg][a.Addr()]; dup {
					v.errf(fmt.Sprintf("%s.addresses[%d]", ip, j), "address %s is also on %s, on the same L2 segment", a.Addr(), prev)
					continue
				}
				addrs[seg][a.Addr()] = n.Name + ":" + i.Name
			}
			if i.MAC != nil {
				if prev, dup := macs[seg][i.MAC.String()]; dup {
					v.errf(ip+".mac", "mac %s is also on %s, on the same L2 segment", i.MAC, prev)
					continue
				}
				macs[seg][i.MAC.String()] = n.Name + ":" + i.Name
			}
		}
	}
}

func (v *validator) sysctlsPass() {
	for _, n := range v.topo.Nodes {
		p := "nodes." + n.Name + ".sysctls"
		explicit := map[string]bool{}
		var node []Sysctl
		for _, k := range sortedKeys(n.Spec.Sysctls) {
			kp := p + "." + k
			sk, err := ParseSysctlKey(k)
			if err != nil {
				v.errf(kp, "%v", err)
				continue
			}
			if sk.RootOnly {
				v.errf(kp, "%s exists only in the root namespace (there is no neigh/default inside a node): set it under host.sysctls", k)
				continue
			}
			val := string(n.Spec.Sysctls[k])
			if !v.checkSysctlValue(kp, val) {
				continue
			}
			if explicit[sk.Path] {
				v.errf(kp, "sysctl %s is set twice (written differently)", sk.Path)
				continue
			}
			explicit[sk.Path] = true
			s := Sysctl{SysctlKey: sk, Value: strings.TrimSpace(val), From: kp}
			if sk.Iface != "" {
				ri := n.Iface(sk.Iface)
				if ri == nil {
					v.errf(kp, "node %s has no interface %s", n.Name, sk.Iface)
					continue
				}
				ri.Sysctls = append(ri.Sysctls, s)
				continue
			}
			node = append(node, s)
		}
		if n.Kind == NodeKindRouter {
			var defs []Sysctl
			for _, k := range []string{"net.ipv4.ip_forward", "net.ipv4.conf.all.forwarding", "net.ipv6.conf.all.forwarding"} {
				sk, _ := ParseSysctlKey(k)
				if !explicit[sk.Path] {
					defs = append(defs, Sysctl{SysctlKey: sk, Value: "1"})
				}
			}
			node = append(defs, node...)
		}
		// conf.all/default first (they shape interfaces created later), then the rest.
		sort.SliceStable(node, func(i, j int) bool { return node[i].Global && !node[j].Global })
		n.Sysctls = node
		v.neighTimingWarnings(n)
	}
}

func (v *validator) checkSysctlValue(path, val string) bool {
	if strings.TrimSpace(val) == "" {
		v.errf(path, "empty sysctl value")
		return false
	}
	if strings.ContainsAny(val, "\n\r\x00") {
		v.errf(path, "sysctl value contains a line break or NUL")
		return false
	}
	return true
}

// neighTimingWarnings warns when delay_first_probe_time >= reachable_time
// could be drawn: then an ARP-confirmed entry loops REACHABLE -> DELAY ->
// PROBE -> REACHABLE without traffic and never shows STALE (KERNEL-NOTES).
func (v *validator) neighTimingWarnings(n *RNode) {
	for _, i := range n.Ifaces {
		if base, delay, from, loops := i.DeclaredARPTiming(); loops {
			v.warnf(from, "delay_first_probe_time (%gs) >= base_reachable_time/2 (%gs): an entry confirmed by ARP can loop REACHABLE -> DELAY -> PROBE -> REACHABLE with no traffic and never show STALE; set net.ipv4.neigh.%s.delay_first_probe_time below %gs to see REACHABLE -> STALE",
				delay, base/2, strings.ReplaceAll(i.Name, ".", "/"), base/2)
		}
	}
}

// DeclaredARPTiming returns the IPv4 neighbour timing an interface's
// declared sysctls imply: base_reachable_time in seconds (-1 when not
// declared), delay_first_probe_time in seconds (the kernel default 5 when not
// declared), the lab path that declared base, and whether they loop (base
// declared and delay >= base/2). It is what validation warns about.
func (i *RIface) DeclaredARPTiming() (base, delay float64, from string, loops bool) {
	base, delay = -1.0, 5.0 // kernel default delay_first_probe_time is 5 s
	for _, s := range i.Sysctls {
		if s.Section != "neigh" || s.Family != "ipv4" {
			continue
		}
		f, err := strconv.ParseFloat(s.Value, 64)
		if err != nil {
			continue
		}
		switch s.Leaf {
		case "base_reachable_time_ms":
			base, from = f/1000, s.From
		case "base_reachable_time":
			base, from = f, s.From
		case "delay_first_probe_time":
			delay = f
		}
	}
	return base, delay, from, base > 0 && delay >= base/2
}

func (v *validator) hostPass() {
	h := v.lab.Host
	if h == nil {
		return
	}
	for _, k := range sortedKeys(h.Sysctls) {
		kp := "host.sysctls." + k
		sk, err := ParseSysctlKey(k)
		if err != nil {
			v.errf(kp, "%v", err)
			continue
		}
		if !sk.RootOnly && !v.opts.AllowHostSysctl {
			v.errf(kp, "host sysctl %s changes the whole machine; only net.ipv4.neigh.default.* and net.ipv6.neigh.default.* are allowed without --allow-host-sysctl", k)
			continue
		}
		val := string(h.Sysctls[k])
		if !v.checkSysctlValue(kp, val) {
			continue
		}
		v.topo.HostSysctls = append(v.topo.HostSysctls, Sysctl{SysctlKey: sk, Value: strings.TrimSpace(val), From: kp})
	}
}
