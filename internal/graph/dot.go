package graph

import (
	"bufio"
	"fmt"
	"html"
	"io"
	"strings"
)

// dotStyle is the node attributes of each kind: the shape tells hosts,
// routers and bridges apart, the colour helps.
var dotStyle = map[string]string{
	"host":   `shape=box, style="rounded,filled", fillcolor="#e8f0fe", color="#3b6fb6"`,
	"router": `shape=cylinder, style=filled, fillcolor="#fdebd0", color="#b9770e"`,
	"bridge": `shape=box3d, style=filled, fillcolor="#e2f0d9", color="#548235"`,
}

// Dot writes the graph in Graphviz's dot language: one node per lab node,
// drawn as a table whose rows are its interfaces (name, addresses, bridge
// ports), and one edge per link from interface row to interface row, so
// both ends of every link carry their interface's name and addresses.
func (g *Graph) Dot(w io.Writer) error {
	bw := bufio.NewWriter(w)
	p := func(format string, args ...any) { fmt.Fprintf(bw, format, args...) }
	p("// netlab graph %s -o dot\n", g.Lab)
	p("graph %s {\n", dotID(g.Lab))
	title := "<b>" + html.EscapeString(g.Lab) + "</b>"
	if g.Description != "" {
		title += ": " + html.EscapeString(g.Description)
	}
	p("\tgraph [rankdir=LR, fontname=\"Helvetica\", fontsize=12, labelloc=t, label=<%s>];\n", title)
	p("\tnode [fontname=\"Helvetica\", fontsize=10, margin=\"0.1,0.05\"];\n")
	p("\tedge [fontname=\"Helvetica\", fontsize=9, color=\"#555555\"];\n")
	for _, n := range g.Nodes {
		style, ok := dotStyle[n.Kind]
		if !ok {
			style = dotStyle["host"]
		}
		p("\t%s [%s, label=<%s>];\n", dotID(n.Name), style, dotNodeLabel(&n))
	}
	for _, l := range g.Links {
		p("\t%s -- %s", dotEnd(g, l.A), dotEnd(g, l.B))
		if len(l.Attrs) > 0 {
			p(" [label=<%s>]", html.EscapeString(strings.Join(l.Attrs, ", ")))
		}
		p(";\n")
	}
	p("}\n")
	return bw.Flush()
}

// dotNodeLabel is an HTML-like table: the node's name and kind, then one
// row per interface with a port named after its position.
func dotNodeLabel(n *Node) string {
	var b strings.Builder
	b.WriteString(`<table border="0" cellborder="0" cellspacing="0" cellpadding="2">`)
	fmt.Fprintf(&b, `<tr><td><b>%s</b> <font point-size="8">%s</font></td></tr>`, html.EscapeString(n.Name), html.EscapeString(n.Kind))
	for i := range n.Interfaces {
		fmt.Fprintf(&b, `<tr><td port="%s" align="left">%s</td></tr>`, portID(i), dotIfaceText(&n.Interfaces[i]))
	}
	b.WriteString(`</table>`)
	return b.String()
}

// dotIfaceText is one interface row: "eth0 192.0.2.1/24 2001:db8::1/64",
// a bridge with its ports, a port with its bridge.
func dotIfaceText(i *Interface) string {
	s := "<b>" + html.EscapeString(i.Name) + "</b>"
	if note := ifaceNote(i); note != "" {
		s += ` <font point-size="8">` + html.EscapeString(note) + `</font>`
	}
	for _, a := range i.Addresses {
		s += "<br/>" + html.EscapeString(a)
	}
	return s
}

// ifaceNote says what a bridge or a bridge port is, in words.
func ifaceNote(i *Interface) string {
	switch {
	case i.Kind == "bridge" && len(i.Ports) > 0:
		return "bridge: " + strings.Join(i.Ports, " ")
	case i.Kind == "bridge":
		return "bridge"
	case i.Master != "":
		return "port of " + i.Master
	}
	return ""
}

// dotEnd is a link end as node:port.
func dotEnd(g *Graph, e End) string {
	n := g.node(e.Node)
	if n != nil {
		for i := range n.Interfaces {
			if n.Interfaces[i].Name == e.Interface {
				return dotID(e.Node) + ":" + dotID(portID(i))
			}
		}
	}
	return dotID(e.Node)
}

// portID names an interface's table cell. Positions, not interface names:
// a name such as "n" or "e" would read as a compass point.
func portID(i int) string { return fmt.Sprintf("i%d", i) }

// dotID quotes an identifier for dot.
func dotID(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", " ").Replace(s) + `"`
}
