// Package graph draws a validated lab as a picture: a Graphviz (dot) or
// Mermaid graph of its nodes (one shape per kind: host, router, bridge),
// their interfaces (names, addresses, bridge ports) and its links. The
// output is deterministic (nodes by name, links in file order), so it can be
// checked in and diffed.
//
// Building the model and writing dot or Mermaid text is pure. SVG is
// rendered by Graphviz's dot program (run with an argv, the dot text on its
// stdin); ErrNoDot says it is not installed.
package graph
