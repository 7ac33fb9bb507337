package e2e

import (
	"fmt"
	"net"
	"net/netip"
	"sort"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// This file reads a lab file on its own, without netlab's topology package,
// and derives what the kernel must hold once the lab is up. It implements
// the lab-file contract of DESIGN.md directly (so a resolver bug in netlab
// cannot hide itself): namespaces <lab>-<node>; one veth pair per link; a
// link's mtu applies to both ends and an interface's own mtu wins for its
// end; a kind: bridge node's link ends join its bridge (default br0, stp off,
// ageing 300s); kind: bridge interfaces enslave their ports; IPv6 addresses
// are usable at once (nodad) unless the interface asks for dad.

// scalar is a YAML scalar kept as written.
type scalar string

func (s *scalar) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("line %d: want a scalar", n.Line)
	}
	*s = scalar(n.Value)
	return nil
}

type specLab struct {
	Name string `yaml:"name"`
	Host *struct {
		Sysctls map[string]scalar `yaml:"sysctls"`
	} `yaml:"host"`
	Nodes map[string]*specNode `yaml:"nodes"`
	Links []*specLink          `yaml:"links"`
}

type specNode struct {
	Kind   string `yaml:"kind"`
	Bridge *struct {
		Name       string `yaml:"name"`
		STP        *bool  `yaml:"stp"`
		AgeingTime string `yaml:"ageing_time"`
	} `yaml:"bridge"`
	Sysctls    map[string]scalar     `yaml:"sysctls"`
	Interfaces map[string]*specIface `yaml:"interfaces"`
	Routes     []*specRoute          `yaml:"routes"`
	Tables     map[string]uint32     `yaml:"tables"`
	Rules      []*specRule           `yaml:"rules"`
	Neighbors  []*specNeigh          `yaml:"neighbors"`
	Firewall   []*specFW             `yaml:"firewall"`
}

// specFW is one firewall rule (DESIGN.md "Firewall rules", plus family);
// firewall_test.go decides from it what a ping may cross.
type specFW struct {
	Chain    string `yaml:"chain"`
	Action   string `yaml:"action"`
	Family   string `yaml:"family"`
	Proto    string `yaml:"proto"`
	ICMPType string `yaml:"icmp_type"`
	Src      string `yaml:"src"`
	Dst      string `yaml:"dst"`
	IIF      string `yaml:"iif"`
	OIF      string `yaml:"oif"`
	Sport    int    `yaml:"sport"`
	Dport    int    `yaml:"dport"`
}

type specNeigh struct {
	To     string `yaml:"to"`
	LLAddr string `yaml:"lladdr"`
	Dev    string `yaml:"dev"`
	State  string `yaml:"state"`
	Proxy  bool   `yaml:"proxy"`
	Router bool   `yaml:"router"`
}

// specRoute and specRule are the routing keys of DESIGN.md's contract;
// route_test.go derives what the kernel must hold from them.
type specRoute struct {
	To       string  `yaml:"to"`
	Via      string  `yaml:"via"`
	Dev      string  `yaml:"dev"`
	Src      string  `yaml:"src"`
	Metric   *uint32 `yaml:"metric"`
	Table    scalar  `yaml:"table"`
	Type     string  `yaml:"type"`
	Scope    string  `yaml:"scope"`
	Onlink   bool    `yaml:"onlink"`
	Nexthops []*struct {
		Via    string `yaml:"via"`
		Dev    string `yaml:"dev"`
		Weight int    `yaml:"weight"`
		Onlink bool   `yaml:"onlink"`
	} `yaml:"nexthops"`
}

type specRule struct {
	Priority *uint32 `yaml:"priority"`
	From     string  `yaml:"from"`
	To       string  `yaml:"to"`
	IIF      string  `yaml:"iif"`
	OIF      string  `yaml:"oif"`
	FWMark   scalar  `yaml:"fwmark"`
	Table    scalar  `yaml:"table"`
	Action   string  `yaml:"action"`
	Invert   bool    `yaml:"invert"`
	Family   string  `yaml:"family"`
}

type specIface struct {
	Kind       string   `yaml:"kind"`
	Addresses  []string `yaml:"addresses"`
	MAC        string   `yaml:"mac"`
	MTU        int      `yaml:"mtu"`
	Ports      []string `yaml:"ports"`
	STP        *bool    `yaml:"stp"`
	AgeingTime string   `yaml:"ageing_time"`
	State      string   `yaml:"state"`
	DAD        bool     `yaml:"dad"`
}

type specLink struct {
	Endpoints []string `yaml:"endpoints"`
	MTU       int      `yaml:"mtu"`
	Shape     *struct {
		Rate    string `yaml:"rate"`
		Burst   string `yaml:"burst"`
		Latency string `yaml:"latency"`
	} `yaml:"shape"`
	Impair any `yaml:"impair"`
}

func parseSpec(b []byte) (*specLab, error) {
	var s specLab
	if err := yaml.Unmarshal(b, &s); err != nil {
		return nil, err
	}
	if s.Nodes == nil {
		s.Nodes = map[string]*specNode{}
	}
	for k, n := range s.Nodes {
		if n == nil {
			s.Nodes[k] = &specNode{}
		}
	}
	return &s, nil
}

// expIface is what one interface must look like in the kernel.
type expIface struct {
	Node, Name string
	Kind       string // veth, bridge, lo
	MAC        string // "" = not declared
	MTU        int    // 0 = not declared
	Up         bool
	Addrs      []netip.Prefix
	DAD        bool
	// Peer of a veth.
	PeerNode, PeerIface string
	// Master is the bridge a port belongs to.
	Master string
	// Bridges.
	STP      bool
	AgeingCS uint32 // centiseconds (USER_HZ)
	Ports    []string
}

type expNode struct {
	Name, NS string
	Ifaces   []*expIface // lo first, then by name
	// Sysctls maps a /proc/sys-relative path to the declared value.
	Sysctls map[string]string
	// Neighbors are the static entries, in file order.
	Neighbors []expNeigh
	// Routes and Rules are the declared ones, in file order (route_test.go).
	Routes []expRoute
	Rules  []expRule
	// Kind is host, router or bridge; Firewall the declared rules, in file
	// order (firewall_test.go).
	Kind     string
	Firewall []*specFW
}

// expNeigh is one static neighbour entry as the kernel must hold it: state
// in upper case (PERMANENT unless declared; none for a proxy entry), lladdr
// in ip's lower-case colon form.
type expNeigh struct {
	To     netip.Addr
	Dev    string
	LLAddr string
	State  string
	Proxy  bool
	Router bool
}

func (n *expNode) iface(name string) *expIface {
	for _, i := range n.Ifaces {
		if i.Name == name {
			return i
		}
	}
	return nil
}

type expLab struct {
	Name  string
	Nodes []*expNode // by name
	// Refused lists the declared keys this kernel cannot apply (impair
	// without netem), as lab paths: up must refuse the lab with exit 3.
	Refused []string
	// Shapes are the shaped links (tc_test.go).
	Shapes []expShape
	// HostSysctls maps a /proc/sys-relative path to the declared value.
	HostSysctls map[string]string
}

func (e *expLab) node(name string) *expNode {
	for _, n := range e.Nodes {
		if n.Name == name {
			return n
		}
	}
	return nil
}

// sysctlPath turns a dotted key into a /proc/sys-relative path ('/' in an
// element stands for a dot of an interface name).
func sysctlPath(key string) string {
	parts := strings.Split(key, ".")
	for i, p := range parts {
		parts[i] = strings.ReplaceAll(p, "/", ".")
	}
	return strings.Join(parts, "/")
}

func centis(d string, def time.Duration) uint32 {
	v := def
	if d != "" {
		if d == "0" {
			v = 0
		} else if p, err := time.ParseDuration(d); err == nil {
			v = p
		}
	}
	return uint32(v.Milliseconds() / 10)
}

// expect derives the kernel state of a lab from its spec.
func expect(s *specLab) *expLab {
	e := &expLab{Name: s.Name, HostSysctls: map[string]string{}}
	if s.Host != nil {
		for k, v := range s.Host.Sysctls {
			e.HostSysctls[sysctlPath(k)] = strings.TrimSpace(string(v))
		}
	}
	names := make([]string, 0, len(s.Nodes))
	for n := range s.Nodes {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, name := range names {
		sn := s.Nodes[name]
		n := &expNode{Name: name, NS: s.Name + "-" + name, Sysctls: map[string]string{}}
		n.Ifaces = append(n.Ifaces, &expIface{Node: name, Name: "lo", Kind: "lo", Up: true})
		if sn.Kind == "bridge" {
			br := &expIface{Node: name, Name: "br0", Kind: "bridge", Up: true, AgeingCS: centis("", 300*time.Second)}
			if b := sn.Bridge; b != nil {
				if b.Name != "" {
					br.Name = b.Name
				}
				if b.STP != nil {
					br.STP = *b.STP
				}
				br.AgeingCS = centis(b.AgeingTime, 300*time.Second)
			}
			n.Ifaces = append(n.Ifaces, br)
		}
		if sn.Kind == "router" { // forwarding on, unless the lab says otherwise
			for _, k := range []string{"net/ipv4/ip_forward", "net/ipv4/conf/all/forwarding", "net/ipv6/conf/all/forwarding"} {
				n.Sysctls[k] = "1"
			}
		}
		for k, v := range sn.Sysctls {
			n.Sysctls[sysctlPath(k)] = strings.TrimSpace(string(v))
		}
		n.Kind, n.Firewall = sn.Kind, sn.Firewall
		n.Routes, n.Rules = expectRouting(sn)
		for _, sb := range sn.Neighbors {
			if sb == nil {
				continue
			}
			nb := expNeigh{Dev: sb.Dev, Proxy: sb.Proxy, Router: sb.Router, State: strings.ToUpper(sb.State)}
			nb.To, _ = netip.ParseAddr(sb.To)
			if m, err := net.ParseMAC(sb.LLAddr); err == nil {
				nb.LLAddr = m.String()
			}
			if nb.State == "" && !nb.Proxy {
				nb.State = "PERMANENT"
			}
			if nb.State == "NONE" {
				nb.LLAddr = "" // the kernel reports no lladdr for an entry that is not NUD_VALID
			}
			n.Neighbors = append(n.Neighbors, nb)
		}
		e.Nodes = append(e.Nodes, n)
	}
	// Links: one veth pair each.
	for i, l := range s.Links {
		if l.Impair != nil && !kernelHasNetem() {
			e.Refused = append(e.Refused, fmt.Sprintf("links[%d].impair", i))
		}
		if len(l.Endpoints) != 2 {
			continue
		}
		if l.Shape != nil {
			e.Shapes = append(e.Shapes, expectShape(i, l))
		}
		var ends [2][2]string
		for j, ep := range l.Endpoints {
			node, ifn, _ := strings.Cut(ep, ":")
			ends[j] = [2]string{node, ifn}
		}
		for j := 0; j < 2; j++ {
			me, peer := ends[j], ends[1-j]
			n := e.node(me[0])
			if n == nil {
				continue
			}
			vi := &expIface{Node: me[0], Name: me[1], Kind: "veth", MTU: l.MTU, Up: true, PeerNode: peer[0], PeerIface: peer[1]}
			if s.Nodes[me[0]].Kind == "bridge" {
				for _, b := range n.Ifaces {
					if b.Kind == "bridge" {
						vi.Master = b.Name
						b.Ports = append(b.Ports, vi.Name)
					}
				}
			}
			n.Ifaces = append(n.Ifaces, vi)
		}
	}
	// Declared interfaces: bridges first (so ports find them), then properties.
	for _, n := range e.Nodes {
		sn := s.Nodes[n.Name]
		for name, si := range sn.Interfaces {
			if si != nil && si.Kind == "bridge" && n.iface(name) == nil {
				br := &expIface{Node: n.Name, Name: name, Kind: "bridge", Up: true, AgeingCS: centis(si.AgeingTime, 300*time.Second)}
				if si.STP != nil {
					br.STP = *si.STP
				}
				n.Ifaces = append(n.Ifaces, br)
			}
		}
		for name, si := range sn.Interfaces {
			i := n.iface(name)
			if i == nil || si == nil {
				continue
			}
			if si.Kind == "bridge" {
				for _, p := range si.Ports {
					if pi := n.iface(p); pi != nil {
						pi.Master = name
						i.Ports = append(i.Ports, p)
					}
				}
			}
			for _, a := range si.Addresses {
				if p, err := netip.ParsePrefix(a); err == nil {
					i.Addrs = append(i.Addrs, p)
				}
			}
			if si.MAC != "" {
				if m, err := net.ParseMAC(si.MAC); err == nil {
					i.MAC = m.String()
				}
			}
			if si.MTU != 0 {
				i.MTU = si.MTU // the interface's own mtu wins for its end
			}
			if strings.EqualFold(si.State, "down") {
				i.Up = false
			}
			i.DAD = si.DAD
		}
		sort.SliceStable(n.Ifaces, func(a, b int) bool {
			if (n.Ifaces[a].Kind == "lo") != (n.Ifaces[b].Kind == "lo") {
				return n.Ifaces[a].Kind == "lo"
			}
			return n.Ifaces[a].Name < n.Ifaces[b].Name
		})
	}
	return e
}

// peerOf returns the interface at the other end of a veth.
func (e *expLab) peerOf(i *expIface) *expIface {
	if n := e.node(i.PeerNode); n != nil {
		return n.iface(i.PeerIface)
	}
	return nil
}

// segments groups the lab's addressed interfaces into L2 segments (veth
// pairs joined through bridges) and returns, per segment, the addresses of
// every node on it.
func (e *expLab) segments() [][]segAddr {
	type key struct{ node, ifn string }
	parent := map[key]key{}
	find := func(k key) key {
		for {
			p, ok := parent[k]
			if !ok || p == k {
				return k
			}
			k = p
		}
	}
	union := func(a, b key) {
		ra, rb := find(a), find(b)
		if ra != rb {
			parent[ra] = rb
		}
	}
	for _, n := range e.Nodes {
		for _, i := range n.Ifaces {
			if i.PeerNode != "" {
				union(key{n.Name, i.Name}, key{i.PeerNode, i.PeerIface})
			}
			if i.Master != "" {
				union(key{n.Name, i.Name}, key{n.Name, i.Master})
			}
		}
	}
	bySeg := map[key][]segAddr{}
	var order []key
	for _, n := range e.Nodes {
		for _, i := range n.Ifaces {
			if i.Kind == "lo" || !i.Up {
				continue
			}
			root := find(key{n.Name, i.Name})
			for _, a := range i.Addrs {
				if _, ok := bySeg[root]; !ok {
					order = append(order, root)
				}
				bySeg[root] = append(bySeg[root], segAddr{Node: n.Name, Iface: i.Name, Addr: a.Addr()})
			}
		}
	}
	var out [][]segAddr
	for _, k := range order {
		out = append(out, bySeg[k])
	}
	return out
}

type segAddr struct {
	Node, Iface string
	Addr        netip.Addr
}
