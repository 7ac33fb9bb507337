package graph

import (
	"fmt"
	"strings"

	"github.com/netlabdev/netlab/topology"
)

// Graph is a lab as nodes and links. Its JSON form (netlab graph -o json)
// only grows.
type Graph struct {
	Lab         string `json:"lab"`
	Description string `json:"description,omitempty"`
	Nodes       []Node `json:"nodes"`
	Links       []Link `json:"links"`
}

// Node is one lab node (a namespace).
type Node struct {
	Name string `json:"name"`
	Kind string `json:"kind"` // host, router, bridge
	// Interfaces are the ones worth drawing: every link end and bridge, and
	// lo when it carries addresses; lo first, then link ends, then bridges,
	// each group by name.
	Interfaces []Interface `json:"interfaces"`
}

// Interface is one interface of a node.
type Interface struct {
	Name      string   `json:"name"`
	Kind      string   `json:"kind"` // veth, bridge, lo
	Addresses []string `json:"addresses,omitempty"`
	// Master is the bridge this interface is a port of.
	Master string `json:"master,omitempty"`
	// Ports are a bridge's ports.
	Ports []string `json:"ports,omitempty"`
}

// Link is one veth pair.
type Link struct {
	A End `json:"a"`
	B End `json:"b"`
	// Attrs are the link's own properties worth a label (mtu, shape,
	// impair), e.g. "mtu 9000".
	Attrs []string `json:"attrs,omitempty"`
}

// End is one end of a link.
type End struct {
	Node      string `json:"node"`
	Interface string `json:"interface"`
}

func (e End) String() string { return e.Node + ":" + e.Interface }

// FromTopo builds the graph of a resolved (validated) lab.
func FromTopo(t *topology.Topo) *Graph {
	g := &Graph{Lab: t.Name, Nodes: []Node{}, Links: []Link{}}
	if t.Lab != nil {
		g.Description = strings.Join(strings.Fields(t.Lab.Description), " ")
	}
	for _, n := range t.Nodes {
		gn := Node{Name: n.Name, Kind: n.Kind, Interfaces: []Interface{}}
		for _, i := range n.Ifaces {
			if i.Kind == topology.IfLo && len(i.Addresses) == 0 {
				continue
			}
			gi := Interface{Name: i.Name, Kind: i.Kind, Master: i.Master}
			for _, a := range i.Addresses {
				gi.Addresses = append(gi.Addresses, a.String())
			}
			gi.Ports = append(gi.Ports, i.Ports...)
			gn.Interfaces = append(gn.Interfaces, gi)
		}
		g.Nodes = append(g.Nodes, gn)
	}
	for _, l := range t.Links {
		g.Links = append(g.Links, Link{
			A:     End{Node: l.A.Node, Interface: l.A.Iface},
			B:     End{Node: l.B.Node, Interface: l.B.Iface},
			Attrs: linkAttrs(l.Spec),
		})
	}
	return g
}

// linkAttrs describes a link's MTU and traffic control in a few words.
func linkAttrs(l *topology.Link) []string {
	if l == nil {
		return nil
	}
	var out []string
	if l.MTU != 0 {
		out = append(out, fmt.Sprintf("mtu %d", l.MTU))
	}
	if s := l.Shape; s != nil {
		w := []string{"rate " + s.Rate}
		if s.Burst != "" {
			w = append(w, "burst "+s.Burst)
		}
		if s.Latency != nil {
			w = append(w, "latency "+s.Latency.String())
		}
		out = append(out, "tbf "+strings.Join(w, " "))
	}
	if m := l.Impair; m != nil {
		var w []string
		if m.Delay != nil {
			w = append(w, "delay "+m.Delay.String())
		}
		if m.Jitter != nil {
			w = append(w, "jitter "+m.Jitter.String())
		}
		if m.Loss != "" {
			w = append(w, "loss "+m.Loss)
		}
		out = append(out, strings.TrimSpace("netem "+strings.Join(w, " ")))
	}
	return out
}

// node returns the node by name, or nil.
func (g *Graph) node(name string) *Node {
	for i := range g.Nodes {
		if g.Nodes[i].Name == name {
			return &g.Nodes[i]
		}
	}
	return nil
}

// iface returns the interface of a link end, or nil.
func (g *Graph) iface(e End) *Interface {
	n := g.node(e.Node)
	if n == nil {
		return nil
	}
	for i := range n.Interfaces {
		if n.Interfaces[i].Name == e.Interface {
			return &n.Interfaces[i]
		}
	}
	return nil
}
