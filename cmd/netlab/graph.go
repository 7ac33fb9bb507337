package main

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/netlabdev/netlab/internal/graph"
	"github.com/netlabdev/netlab/lab"
	"github.com/netlabdev/netlab/topology"
)

func (a *app) graphCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "graph <lab> [-o dot|mermaid|svg|json]",
		Short: "Draw a lab file as a Graphviz, Mermaid or SVG graph (no root needed)",
		Long: `Draw a lab file: its nodes (hosts as rounded boxes, routers as
cylinders, bridges as 3-D boxes, in Mermaid as barred boxes), their
interfaces with addresses, bridge interfaces with their ports, and one
line per link from interface to interface, labelled with the link's MTU
and traffic control when it has them. The output is deterministic.

-o dot (the default; "text" means dot here) prints Graphviz's dot language,
-o mermaid a Mermaid flowchart (GitHub renders it in a mermaid code block),
-o svg an SVG picture rendered by Graphviz's dot program (exit 3 if it is
not installed: scripts/setup --graphviz installs it), -o json the graph's
nodes, interfaces and links.

<lab> is a file path, or NAME for labs/NAME.yaml (also searched in
NETLAB_PATH), as for validate and up. The lab is validated first: an
invalid lab exits 2 with every problem. Nothing touches the kernel.

  netlab graph switch | dot -Tpng > switch.png
  netlab graph router -o svg > router.svg`,
		Args: exactArgs(1),
		// Replaces the root's check of -o: this command has its own formats.
		PersistentPreRunE: func(cmd *cobra.Command, args []string) error {
			switch a.output {
			case "text", "dot", "mermaid", "svg", "json":
				return nil
			}
			return &usageError{fmt.Errorf("--output %q: graph writes dot (default), mermaid, svg or json", a.output)}
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			// Host knobs are only drawn, never applied: do not refuse them.
			l, warns, err := a.load(args[0], topology.ValidateOptions{AllowHostSysctl: true})
			a.printWarnings(warns)
			if err != nil {
				return err
			}
			g := graph.FromTopo(l.Resolve())
			switch a.output {
			case "json":
				return a.json(g)
			case "mermaid":
				return g.Mermaid(a.stdout)
			case "svg":
				var dot bytes.Buffer
				if err := g.Dot(&dot); err != nil {
					return err
				}
				svg, err := graph.SVG(cmd.Context(), dot.Bytes())
				if errors.Is(err, graph.ErrNoDot) {
					return &lab.EnvError{Err: fmt.Errorf("graph %s: -o svg needs Graphviz's dot program, which is not on PATH: install it with scripts/setup --graphviz (the Debian package graphviz), or print -o dot or -o mermaid instead", l.Name)}
				}
				if err != nil {
					return fmt.Errorf("graph %s: %w", l.Name, err)
				}
				_, err = a.stdout.Write(svg)
				return err
			}
			return g.Dot(a.stdout)
		},
	}
}
