package topology

import (
	"net"
	"net/netip"
	"sort"
	"time"
)

// Interface kinds in a resolved lab.
const (
	IfVeth   = "veth"
	IfBridge = "bridge"
	IfLo     = "lo"
)

// Topo is a validated lab resolved into kernel-ready, ordered pieces. Nodes
// are sorted by name, links keep file order, a node's interfaces are sorted
// by name.
type Topo struct {
	Lab   *Lab
	Name  string
	Nodes []*RNode
	Links []*RLink
	// HostSysctls go through the host-knob ledger.
	HostSysctls []Sysctl
	// byName indexes Nodes (the validator's map).
	byName map[string]*RNode
}

// Node returns the node by name, or nil.
func (t *Topo) Node(name string) *RNode { return t.byName[name] }

// RNode is a resolved node.
type RNode struct {
	Name  string
	Kind  string
	Netns string
	// Sysctls are node-wide keys (conf.all/default, ip_forward, ...), written
	// before any link exists; a kind's defaults come first, explicit keys win.
	Sysctls []Sysctl
	Ifaces  []*RIface
	Spec    *Node
}

// Iface returns the node's interface by name, or nil.
func (n *RNode) Iface(name string) *RIface {
	for _, i := range n.Ifaces {
		if i.Name == name {
			return i
		}
	}
	return nil
}

// Endpoint names one end of a link.
type Endpoint struct {
	Node  string `json:"node"`
	Iface string `json:"interface"`
}

func (e Endpoint) String() string { return e.Node + ":" + e.Iface }

// RIface is a resolved interface.
type RIface struct {
	Node string
	Name string
	Kind string // veth, bridge, lo
	// Peer is the other end of a veth.
	Peer *Endpoint
	// Link is the index of the veth's link in Topo.Links.
	Link int
	// Master is the bridge this interface is a port of.
	Master    string
	Ports     []string
	Addresses []netip.Prefix
	MAC       net.HardwareAddr
	MTU       int
	Up        bool
	DAD       bool
	STP       bool
	Ageing    time.Duration
	// Sysctls are per-interface keys, written once the interface is in its
	// namespace and before it goes up.
	Sysctls []Sysctl
}

// RLink is a resolved link.
type RLink struct {
	Index int
	A, B  Endpoint
	MTU   int
	Spec  *Link
}

// Resolve returns the resolved lab. It is valid only after Validate returned
// nil.
func (l *Lab) Resolve() *Topo { return l.topo }

func sortIfaces(ifs []*RIface) {
	sort.Slice(ifs, func(i, j int) bool {
		ki, kj := ifaceOrder(ifs[i]), ifaceOrder(ifs[j])
		if ki != kj {
			return ki < kj
		}
		return ifs[i].Name < ifs[j].Name
	})
}

// ifaceOrder sorts lo first, then veths, then bridges.
func ifaceOrder(i *RIface) int {
	switch i.Kind {
	case IfLo:
		return 0
	case IfVeth:
		return 1
	}
	return 2
}
