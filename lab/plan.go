package lab

import (
	"fmt"
	"net"
	"net/netip"
	"strings"

	"github.com/netlabdev/netlab/firewall"
	"github.com/netlabdev/netlab/topology"
)

// OpKind is the kind of one plan operation.
type OpKind int

// Plan operation kinds, in the order a plan applies them.
const (
	OpNetns      OpKind = iota // create a named namespace (marker + lo up before publishing)
	OpSysctl                   // write a sysctl inside a node
	OpVeth                     // create a veth pair directly in its two namespaces
	OpBridge                   // create a bridge device
	OpMaster                   // enslave a port to a bridge
	OpAddr                     // add an address
	OpLinkUp                   // set an interface up
	OpHostSysctl               // take a host knob through the ledger
	OpBridgeMTU                // set a bridge's declared MTU once its ports have joined
	// OpNeigh adds a static neighbour entry, after every interface is up
	// (so no link change of the bring-up touches it) and before the host
	// knobs.
	OpNeigh
	// OpRoute adds a declared route once every address is in place and
	// every interface is up (the kernel refuses a route through a device
	// that is down, or via a gateway it cannot reach on a connected
	// route); a node's routes come in routeOrder.
	OpRoute
	// OpRule adds a policy-routing rule, after every route: a rule needs
	// no route, while a rule already in place (prohibit, oif, ...) could
	// make the kernel's gateway check of a later route fail.
	OpRule
	// OpQdisc sets a link end's root qdisc (the link's shape: tbf, or its
	// impairment: netem), on both ends of the link, before any interface
	// goes up, so the link never carries a frame unshaped.
	OpQdisc
	// OpFirewall creates a node's netlab nftables table with its base
	// chains (FW nil) or adds one declared rule (FW), after the routes and
	// rules and before the host knobs.
	OpFirewall
)

// Op is one ordered plan step. It is data: Apply interprets it, String
// prints it as an ip-like line.
type Op struct {
	Kind   OpKind
	Node   string
	Netns  string
	Iface  *topology.RIface
	Link   *topology.RLink
	PeerNS string
	// Peer is the B end of a veth op.
	Peer   *topology.RIface
	Sysctl topology.Sysctl
	Addr   netip.Prefix
	// Default marks a sysctl netlab adds by itself (a kind's default).
	Default bool
	// Neigh is the declared entry of an OpNeigh; Index is its position in
	// the node's neighbors list (routes list, rules list).
	Neigh *topology.Neighbor
	Index int
	// Route and Rule are the declared entries of OpRoute and OpRule; Spec
	// is their node's declaration, whose tables: map names tables.
	Route *topology.Route
	Rule  *topology.Rule
	Spec  *topology.Node
	// Qdisc is an OpQdisc's root qdisc, shared by the link's two ends.
	Qdisc *Qdisc
	// Table is an OpFirewall's table; FW its rule (nil: create the table),
	// FWErr a conversion error (none for a validated lab).
	Table firewall.Table
	FW    *firewall.Rule
	FWErr error
	// Stage numbers the plan's sections: ops of one stage depend only on
	// earlier stages and on earlier ops of their own node, so Up runs a
	// stage's nodes in parallel.
	Stage int
}

// Plan is a lab's ordered operations.
type Plan struct {
	Lab  string
	Topo *topology.Topo
	Ops  []Op
}

// MarkerPrefix starts the alias netlab puts on every namespace's lo; the
// rest is "<lab>:<run id>". down deletes only namespaces that carry it.
const MarkerPrefix = "netlab:"

// VethIndexBase is the interface index of link k's A end: VethIndexBase+k.
// The B end gets the kernel's next index in its namespace, a small number,
// so the two ends of a pair never share an index. When they do (both 2,
// say, in two fresh namespaces), the kernel's linkwatch does not treat the
// pair's carrier change as urgent and turns carriers on at most about 100
// devices a second: a 1000-node chain then takes more than 5 s to be
// operationally up instead of well under one.
const VethIndexBase = 1 << 20

// Marker is the ownership alias for a lab run.
func Marker(lab, runID string) string { return MarkerPrefix + lab + ":" + runID }

// NewPlan orders the operations that build a validated lab.
func NewPlan(t *topology.Topo) *Plan {
	p := &Plan{Lab: t.Name, Topo: t, Ops: make([]Op, 0, opCount(t))}
	stage := 0
	add := func(o Op) { o.Stage = stage; p.Ops = append(p.Ops, o) }
	next := func() { stage++ }
	// 1. namespaces, then node-wide sysctls (conf.all/default first) before
	// any link exists.
	for _, n := range t.Nodes {
		add(Op{Kind: OpNetns, Node: n.Name, Netns: n.Netns})
		for _, s := range nodeSysctls(n) {
			add(Op{Kind: OpSysctl, Node: n.Name, Netns: n.Netns, Sysctl: s, Default: s.From == ""})
		}
	}
	// 2. veth pairs, each end created directly in its namespace.
	next()
	for k, l := range t.Links {
		na, nb := t.Node(l.A.Node), t.Node(l.B.Node)
		add(Op{Kind: OpVeth, Node: na.Name, Netns: na.Netns, Iface: na.Iface(l.A.Iface), Link: l, PeerNS: nb.Netns, Peer: nb.Iface(l.B.Iface), Index: VethIndexBase + k})
	}
	// 3. bridges.
	next()
	for _, n := range t.Nodes {
		for _, i := range n.Ifaces {
			if i.Kind == topology.IfBridge {
				add(Op{Kind: OpBridge, Node: n.Name, Netns: n.Netns, Iface: i})
			}
		}
	}
	// 4. per-interface sysctls, now that every interface is in its final
	// namespace and before it goes up.
	next()
	for _, n := range t.Nodes {
		for _, i := range n.Ifaces {
			for _, s := range ifaceSysctls(n, i) {
				add(Op{Kind: OpSysctl, Node: n.Name, Netns: n.Netns, Iface: i, Sysctl: s, Default: s.From == ""})
			}
		}
	}
	// 5. bridge ports.
	next()
	for _, n := range t.Nodes {
		for _, i := range n.Ifaces {
			if i.Master != "" {
				add(Op{Kind: OpMaster, Node: n.Name, Netns: n.Netns, Iface: i})
			}
		}
	}
	// 5b. a bridge's declared MTU: each port joining resets a bridge's MTU
	// to the smallest port MTU unless the MTU was set after creation.
	next()
	for _, n := range t.Nodes {
		for _, i := range n.Ifaces {
			if i.Kind == topology.IfBridge && i.MTU != 0 && len(i.Ports) > 0 {
				add(Op{Kind: OpBridgeMTU, Node: n.Name, Netns: n.Netns, Iface: i})
			}
		}
	}
	// 5c. link shaping and impairment: the root qdisc of both ends, before
	// any interface goes up.
	next()
	for _, l := range t.Links {
		for _, o := range qdiscOps(t, l) {
			add(o)
		}
	}
	// 6. addresses.
	next()
	for _, n := range t.Nodes {
		for _, i := range n.Ifaces {
			for _, a := range i.Addresses {
				add(Op{Kind: OpAddr, Node: n.Name, Netns: n.Netns, Iface: i, Addr: a})
			}
		}
	}
	// 7. up: ports and veths first, bridges last (lo is up already).
	next()
	for _, kind := range []string{topology.IfVeth, topology.IfBridge} {
		for _, n := range t.Nodes {
			for _, i := range n.Ifaces {
				if i.Kind == kind && i.Up {
					add(Op{Kind: OpLinkUp, Node: n.Name, Netns: n.Netns, Iface: i})
				}
			}
		}
	}
	// 8. static neighbour entries, once every interface is up, so no link
	// change of the bring-up touches them: an admin down flushes every entry
	// of a device (permanent ones too), a carrier loss the non-permanent
	// ones (arp_evict_nocarrier).
	next()
	for _, n := range t.Nodes {
		for i, nb := range n.Spec.Neighbors {
			add(Op{Kind: OpNeigh, Node: n.Name, Netns: n.Netns, Iface: n.Iface(nb.Dev), Neigh: nb, Index: i})
		}
	}
	// 9. routes, in an order the kernel cannot refuse on dependencies
	// (routeOrder), then rules; they die with their namespace.
	next()
	for _, n := range t.Nodes {
		for _, i := range routeOrder(n) {
			add(Op{Kind: OpRoute, Node: n.Name, Netns: n.Netns, Route: n.Spec.Routes[i], Index: i, Spec: n.Spec})
		}
	}
	next()
	for _, n := range t.Nodes {
		for i, r := range n.Spec.Rules {
			add(Op{Kind: OpRule, Node: n.Name, Netns: n.Netns, Rule: r, Index: i, Spec: n.Spec})
		}
	}
	// 9b. firewall tables and rules: they die with their namespace.
	next()
	for _, n := range t.Nodes {
		for _, o := range firewallOps(n) {
			add(o)
		}
	}
	// 10. host knobs last: a lab that fails earlier never touches the host.
	next()
	for _, s := range t.HostSysctls {
		add(Op{Kind: OpHostSysctl, Sysctl: s})
	}
	return p
}

// opCount is an upper bound of a plan's length, so NewPlan allocates once
// (an Op is a few hundred bytes; a 1000-node lab has thousands).
func opCount(t *topology.Topo) int {
	n := len(t.HostSysctls) + 3*len(t.Links)
	for _, nd := range t.Nodes {
		n += 2 + len(nd.Sysctls) + len(nd.Spec.Neighbors) + len(nd.Spec.Routes) + len(nd.Spec.Rules) + 2*len(nd.Spec.Firewall)
		for _, i := range nd.Ifaces {
			n += 5 + len(i.Sysctls) + len(i.Addresses)
		}
	}
	return n
}

// dadDefault is the node-wide sysctl netlab writes so that IPv6 is usable at
// once: interfaces created afterwards inherit default.accept_dad = 0, so no
// link-local address waits for duplicate address detection. It costs one
// write per node, where a per-interface key would cost one per interface.
var dadDefault = mustSysctlKey("net.ipv6.conf.default.accept_dad")

func mustSysctlKey(key string) topology.SysctlKey {
	k, err := topology.ParseSysctlKey(key)
	if err != nil {
		panic(err)
	}
	return k
}

// nodeSysctls returns a node's node-wide sysctls: netlab's default DAD
// setting first (unless the node declares default.accept_dad itself), then
// the resolved ones (a kind's defaults, then the declared keys).
func nodeSysctls(n *topology.RNode) []topology.Sysctl {
	if _, declared := declaredDADDefault(n); declared {
		return n.Sysctls
	}
	return append([]topology.Sysctl{{SysctlKey: dadDefault, Value: "0"}}, n.Sysctls...)
}

// declaredDADDefault returns the node's own default.accept_dad, if any.
func declaredDADDefault(n *topology.RNode) (string, bool) {
	for _, s := range n.Sysctls {
		if s.Path == dadDefault.Path {
			return strings.TrimSpace(s.Value), true
		}
	}
	return "", false
}

// ifaceSysctls returns an interface's sysctls: netlab's DAD default where
// the interface would not inherit the right one from the node's
// default.accept_dad (1 for an interface that asks for DAD, 0 for the
// others; an inherited 2 counts as DAD on), then the declared ones; an explicit key wins over a default. An
// interface created with an MTU below IPv6's minimum 1280 has no IPv6 (and
// no net/ipv6/conf/<dev> directory), so it gets no IPv6 default.
func ifaceSysctls(n *topology.RNode, i *topology.RIface) []topology.Sysctl {
	var out []topology.Sysctl
	if i.Kind != topology.IfLo && (i.MTU == 0 || i.MTU >= 1280) {
		inherited, declared := declaredDADDefault(n)
		if !declared {
			inherited = "0"
		}
		want := "0"
		if i.DAD {
			want = "1"
		}
		key := "net.ipv6.conf." + strings.ReplaceAll(i.Name, ".", "/") + ".accept_dad"
		sk, err := topology.ParseSysctlKey(key)
		explicit := false
		for _, s := range i.Sysctls {
			if s.Path == sk.Path {
				explicit = true
			}
		}
		// accept_dad 2 also does DAD (and more): only on/off matters here.
		if i.DAD != (inherited != "0") && err == nil && !explicit {
			out = append(out, topology.Sysctl{SysctlKey: sk, Value: want})
		}
	}
	return append(out, i.Sysctls...)
}

// String prints the plan, one ip-like line per operation.
func (p *Plan) String() string {
	var b strings.Builder
	for _, o := range p.Ops {
		b.WriteString(o.String())
		b.WriteByte('\n')
	}
	return b.String()
}

// String prints the operation as an ip-like command line.
func (o Op) String() string {
	switch o.Kind {
	case OpNetns:
		return fmt.Sprintf("ip netns add %s  # lo up, lo alias %q set before the name is published", o.Netns, MarkerPrefix+strings.TrimSuffix(o.Netns, "-"+o.Node)+":<run>")
	case OpSysctl:
		s := fmt.Sprintf("ip netns exec %s sysctl -w %s=%s", o.Netns, o.Sysctl.Key, o.Sysctl.Value)
		if o.Default {
			s += "  # netlab default"
		}
		return s
	case OpVeth:
		a, l := o.Iface, o.Link
		var b strings.Builder
		fmt.Fprintf(&b, "ip -n %s link add name %s index %d", o.Netns, a.Name, o.Index)
		linkAttrs(&b, a)
		fmt.Fprintf(&b, " type veth peer name %s netns %s", l.B.Iface, o.PeerNS)
		return b.String() + o.peerAttrs()
	case OpBridge:
		var b strings.Builder
		fmt.Fprintf(&b, "ip -n %s link add name %s", o.Netns, o.Iface.Name)
		linkAttrs(&b, o.Iface)
		stp := 0
		if o.Iface.STP {
			stp = 1
		}
		fmt.Fprintf(&b, " type bridge stp_state %d ageing_time %d", stp, int64(o.Iface.Ageing.Seconds()*100))
		return b.String()
	case OpMaster:
		return fmt.Sprintf("ip -n %s link set dev %s master %s", o.Netns, o.Iface.Name, o.Iface.Master)
	case OpAddr:
		s := fmt.Sprintf("ip -n %s addr add %s dev %s", o.Netns, o.Addr, o.Iface.Name)
		if o.Addr.Addr().Is6() && !o.Iface.DAD {
			s += " nodad"
		}
		return s
	case OpLinkUp:
		return fmt.Sprintf("ip -n %s link set dev %s up", o.Netns, o.Iface.Name)
	case OpBridgeMTU:
		return fmt.Sprintf("ip -n %s link set dev %s mtu %d  # again: ports joining reset a bridge's mtu", o.Netns, o.Iface.Name, o.Iface.MTU)
	case OpNeigh:
		return fmt.Sprintf("ip -n %s neigh add %s", o.Netns, neighArgs(o.Neigh))
	case OpRoute:
		return routeLine(o.Netns, o.Spec, o.Route)
	case OpRule:
		return ruleLine(o.Netns, o.Spec, o.Rule)
	case OpQdisc:
		return qdiscLine(o)
	case OpFirewall:
		return firewallLine(o)
	case OpHostSysctl:
		return fmt.Sprintf("sysctl -w %s=%s  # host knob: old value kept in the ledger, restored by the last lab that holds it", o.Sysctl.Key, o.Sysctl.Value)
	}
	return fmt.Sprintf("# unknown op %d", o.Kind)
}

// neighArgs prints a static entry as `ip neigh add` arguments: the address
// and lladdr in canonical form, the state in ip's lower case (permanent by
// default, as ip does).
func neighArgs(nb *topology.Neighbor) string {
	to := nb.To
	if a, err := netip.ParseAddr(nb.To); err == nil {
		to = a.String()
	}
	var b strings.Builder
	if nb.Proxy {
		fmt.Fprintf(&b, "proxy %s dev %s", to, nb.Dev)
	} else {
		lladdr := nb.LLAddr
		if mac, err := net.ParseMAC(nb.LLAddr); err == nil {
			lladdr = mac.String()
		}
		fmt.Fprintf(&b, "%s lladdr %s dev %s nud %s", to, lladdr, nb.Dev, neighStateName(nb))
	}
	if nb.Router {
		b.WriteString(" router")
	}
	return b.String()
}

// neighStateName is a static entry's state in lower case; "" is permanent.
func neighStateName(nb *topology.Neighbor) string {
	if nb.State == "" {
		return "permanent"
	}
	return strings.ToLower(nb.State)
}

func linkAttrs(b *strings.Builder, i *topology.RIface) {
	if i.MAC != nil {
		fmt.Fprintf(b, " address %s", i.MAC)
	}
	if i.MTU != 0 {
		fmt.Fprintf(b, " mtu %d", i.MTU)
	}
}

// peerAttrs prints the peer end's address and mtu (iproute2 puts them after
// the peer name).
func (o Op) peerAttrs() string {
	var b strings.Builder
	if o.Peer != nil {
		linkAttrs(&b, o.Peer)
	}
	return b.String()
}
