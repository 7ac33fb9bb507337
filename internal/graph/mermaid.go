package graph

import (
	"bufio"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// mermaidShape is each kind's node shape (opening and closing brackets).
var mermaidShape = map[string][2]string{
	"host":   {"(", ")"},   // rounded box
	"router": {"[(", ")]"}, // cylinder
	"bridge": {"[[", "]]"}, // box with bars
}

// mermaidClass is each kind's colours (as in the dot output).
var mermaidClass = []struct{ kind, style string }{
	{"host", "fill:#e8f0fe,stroke:#3b6fb6,color:#000"},
	{"router", "fill:#fdebd0,stroke:#b9770e,color:#000"},
	{"bridge", "fill:#e2f0d9,stroke:#548235,color:#000"},
}

// Mermaid writes the graph as a Mermaid flowchart (GitHub renders it in a
// ```mermaid block). A node shows its name, kind, bridge interfaces (with
// their ports) and addressed lo; a link's label names both ends with their
// interface and addresses, one line each ("h1:eth0 192.0.2.1/24",
// "sw:p1 (port of br0)"), then the link's own properties.
func (g *Graph) Mermaid(w io.Writer) error {
	bw := bufio.NewWriter(w)
	p := func(format string, args ...any) { fmt.Fprintf(bw, format, args...) }
	title := g.Lab
	if g.Description != "" {
		title += ": " + g.Description
	}
	p("---\ntitle: %s\n---\n", strconv.Quote(title)) // YAML front matter: a double-quoted string
	p("%%%% netlab graph %s -o mermaid\n", mermaidText(g.Lab))
	p("flowchart LR\n")
	for _, n := range g.Nodes {
		sh, ok := mermaidShape[n.Kind]
		if !ok {
			sh = mermaidShape["host"]
		}
		p("  %s%s\"%s\"%s\n", mermaidID(n.Name), sh[0], mermaidNodeLabel(&n), sh[1])
	}
	for _, l := range g.Links {
		lines := []string{mermaidEnd(g, l.A), mermaidEnd(g, l.B)}
		if len(l.Attrs) > 0 {
			lines = append(lines, "<i>"+mermaidText(strings.Join(l.Attrs, ", "))+"</i>")
		}
		p("  %s ---|\"%s\"| %s\n", mermaidID(l.A.Node), strings.Join(lines, "<br/>"), mermaidID(l.B.Node))
	}
	for _, c := range mermaidClass {
		var ids []string
		for _, n := range g.Nodes {
			if n.Kind == c.kind {
				ids = append(ids, mermaidID(n.Name))
			}
		}
		if len(ids) > 0 {
			p("  classDef %s %s\n", c.kind, c.style)
			p("  class %s %s\n", strings.Join(ids, ","), c.kind)
		}
	}
	return bw.Flush()
}

// mermaidNodeLabel: the name, the kind, and the interfaces a link label
// does not show (bridges and lo).
func mermaidNodeLabel(n *Node) string {
	s := "<b>" + mermaidText(n.Name) + "</b> " + mermaidText(n.Kind)
	for i := range n.Interfaces {
		in := &n.Interfaces[i]
		if in.Kind == "veth" {
			continue
		}
		line := mermaidText(in.Name)
		if note := ifaceNote(in); note != "" {
			line += " (" + mermaidText(note) + ")"
		}
		if len(in.Addresses) > 0 {
			line += " " + mermaidText(strings.Join(in.Addresses, " "))
		}
		s += "<br/>" + line
	}
	return s
}

// mermaidEnd is "node:iface addresses", plus the bridge it is a port of.
func mermaidEnd(g *Graph, e End) string {
	s := mermaidText(e.String())
	if i := g.iface(e); i != nil {
		if i.Master != "" {
			s += " (" + mermaidText(ifaceNote(i)) + ")"
		}
		if len(i.Addresses) > 0 {
			s += " " + mermaidText(strings.Join(i.Addresses, " "))
		}
	}
	return s
}

// mermaidID prefixes node names: Mermaid reserves words such as "end" and
// "graph", which are valid node names.
func mermaidID(name string) string { return "n_" + name }

// mermaidText escapes text inside a quoted Mermaid label with its entity
// codes, so quotes, brackets and markup in names stay text.
func mermaidText(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch r {
		case '"', '#', '&', '<', '>', '|', '`':
			fmt.Fprintf(&b, "#%d;", r)
		case '\n', '\r', '\t':
			b.WriteByte(' ')
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}
