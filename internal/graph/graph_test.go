package graph

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/netlabdev/netlab/topology"
)

var update = flag.Bool("update", false, "rewrite internal/graph/testdata/*.dot and *.mmd golden files")

func load(t *testing.T, file string) *Graph {
	t.Helper()
	l, _, err := topology.Load(file, topology.ValidateOptions{AllowHostSysctl: true})
	if err != nil {
		t.Fatalf("load %s: %v", file, err)
	}
	return FromTopo(l.Resolve())
}

func parse(t *testing.T, src string) *Graph {
	t.Helper()
	l, err := topology.Parse("test.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.Validate(topology.ValidateOptions{}); err != nil {
		t.Fatal(err)
	}
	return FromTopo(l.Resolve())
}

// TestGolden compares the dot and Mermaid text of every example lab
// (../../labs/*.yaml, globbed now, so a new lab needs goldens) with
// testdata/<name>.dot and .mmd. Run
// `go test ./internal/graph -run TestGolden -update` to rewrite them.
func TestGolden(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("..", "..", "labs", "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no ../../labs/*.yaml found")
	}
	seen := map[string]bool{}
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".yaml")
		g := load(t, f)
		for _, format := range []struct {
			ext   string
			write func(*Graph, *bytes.Buffer) error
		}{
			{".dot", func(g *Graph, b *bytes.Buffer) error { return g.Dot(b) }},
			{".mmd", func(g *Graph, b *bytes.Buffer) error { return g.Mermaid(b) }},
		} {
			golden := filepath.Join("testdata", name+format.ext)
			seen[filepath.Base(golden)] = true
			t.Run(name+format.ext, func(t *testing.T) {
				var b bytes.Buffer
				if err := format.write(g, &b); err != nil {
					t.Fatal(err)
				}
				var again bytes.Buffer
				if err := format.write(load(t, f), &again); err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(b.Bytes(), again.Bytes()) {
					t.Fatalf("two renderings of %s differ", f)
				}
				if *update {
					if err := os.MkdirAll("testdata", 0o755); err != nil {
						t.Fatal(err)
					}
					if err := os.WriteFile(golden, b.Bytes(), 0o644); err != nil {
						t.Fatal(err)
					}
					return
				}
				want, err := os.ReadFile(golden)
				if err != nil {
					t.Fatalf("%v (run go test ./internal/graph -run TestGolden -update to create it)", err)
				}
				if got := b.String(); got != string(want) {
					t.Errorf("%s of %s differs from %s (rerun with -update if the change is intended):\ngot:\n%s", format.ext, f, golden, got)
				}
			})
		}
	}
	goldens, _ := filepath.Glob(filepath.Join("testdata", "*.*"))
	for _, g := range goldens {
		if !seen[filepath.Base(g)] {
			t.Errorf("%s has no lab in ../../labs", g)
		}
	}
}

var (
	dotRow  = regexp.MustCompile(`<td port="(i\d+)" align="left"><b>([^<]*)</b>`)
	dotNode = regexp.MustCompile(`(?m)^\t"([^"]+)" \[shape=(\w+),.*label=<(.*)>\];$`)
	dotEdge = regexp.MustCompile(`(?m)^\t"([^"]+)":"(i\d+)" -- "([^"]+)":"(i\d+)"`)
)

// TestDotStructure reads every example lab's dot back: each node has its
// kind's shape and one row per drawn interface, and each link is one edge
// between the rows of its two interfaces.
func TestDotStructure(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join("..", "..", "labs", "*.yaml"))
	for _, f := range files {
		l, _, err := topology.Load(f, topology.ValidateOptions{AllowHostSysctl: true})
		if err != nil {
			t.Fatal(err)
		}
		topo := l.Resolve()
		var b bytes.Buffer
		if err := FromTopo(topo).Dot(&b); err != nil {
			t.Fatal(err)
		}
		rows := map[string]map[string]string{} // node -> port -> interface
		shapes := map[string]string{}
		for _, m := range dotNode.FindAllStringSubmatch(b.String(), -1) {
			shapes[m[1]] = m[2]
			rows[m[1]] = map[string]string{}
			for _, r := range dotRow.FindAllStringSubmatch(m[3], -1) {
				rows[m[1]][r[1]] = r[2]
			}
		}
		want := map[string]string{"host": "box", "router": "cylinder", "bridge": "box3d"}
		for _, n := range topo.Nodes {
			if shapes[n.Name] != want[n.Kind] {
				t.Errorf("%s: node %s (%s) has shape %q, want %q", f, n.Name, n.Kind, shapes[n.Name], want[n.Kind])
			}
			for _, i := range n.Ifaces {
				found := false
				for _, name := range rows[n.Name] {
					found = found || name == i.Name
				}
				if found == (i.Kind == topology.IfLo && len(i.Addresses) == 0) {
					t.Errorf("%s: node %s: interface %s drawn=%v", f, n.Name, i.Name, found)
				}
			}
		}
		edges := dotEdge.FindAllStringSubmatch(b.String(), -1)
		if len(edges) != len(topo.Links) {
			t.Fatalf("%s: %d edges for %d links", f, len(edges), len(topo.Links))
		}
		for k, e := range edges {
			ln := topo.Links[k]
			if got := e[1] + ":" + rows[e[1]][e[2]]; got != ln.A.String() {
				t.Errorf("%s: link %d starts at %s, want %s", f, k, got, ln.A)
			}
			if got := e[3] + ":" + rows[e[3]][e[4]]; got != ln.B.String() {
				t.Errorf("%s: link %d ends at %s, want %s", f, k, got, ln.B)
			}
		}
	}
}

const oddLab = `
name: odd
description: "quotes \" and <tags> & #hash | pipe"
nodes:
  end:
    kind: router
    interfaces:
      'a"<&b': {addresses: [192.0.2.1/24]}
      lo: {addresses: [10.255.0.1/32]}
  graph:
    interfaces:
      br0: {kind: bridge, ports: [e, n]}
links:
  - endpoints: ['end:a"<&b', graph:e]
    mtu: 9000
  - endpoints: [end:x, graph:n]
`

// TestEscaping: names that are valid in a lab but special in dot, HTML or
// Mermaid come out as text.
func TestEscaping(t *testing.T) {
	g := parse(t, oddLab)
	var dot, mmd bytes.Buffer
	if err := g.Dot(&dot); err != nil {
		t.Fatal(err)
	}
	if err := g.Mermaid(&mmd); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{`<b>a&#34;&lt;&amp;b</b>`, `&lt;tags&gt; &amp; #hash`, `<b>lo</b><br/>10.255.0.1/32`, `label=<mtu 9000>`, `port of br0`, `bridge: e n`} {
		if !strings.Contains(dot.String(), s) {
			t.Errorf("dot lacks %q:\n%s", s, dot.String())
		}
	}
	// Interfaces named like compass points get positional ports.
	if !strings.Contains(dot.String(), `"end":"i2" -- "graph":"i1";`) {
		t.Errorf("dot edge for end:x -- graph:n missing:\n%s", dot.String())
	}
	for _, s := range []string{`n_end[("<b>end</b> router<br/>lo 10.255.0.1/32")]`, `n_end ---|"end:a#34;#60;#38;b 192.0.2.1/24<br/>graph:e (port of br0)<br/><i>mtu 9000</i>`, `title: "odd: quotes \" and <tags> & #hash | pipe"`, `n_graph("<b>graph</b> host<br/>br0 (bridge: e n)")`} {
		if !strings.Contains(mmd.String(), s) {
			t.Errorf("mermaid lacks %q:\n%s", s, mmd.String())
		}
	}
	// Inside a quoted Mermaid label no raw quote may appear.
	for _, line := range strings.Split(mmd.String(), "\n") {
		if strings.HasPrefix(line, "  n_") && strings.Count(line, `"`) != 2 {
			t.Errorf("mermaid line has stray quotes: %s", line)
		}
	}
	if _, err := exec.LookPath("dot"); err == nil {
		cmd := exec.Command("dot", "-Tcanon")
		cmd.Stdin = bytes.NewReader(dot.Bytes())
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("dot rejects the odd lab: %v\n%s", err, out)
		}
	}
}

func TestLinkAttrs(t *testing.T) {
	g := parse(t, `
name: tc
nodes: {a: {}, b: {}}
links:
  - endpoints: [a:eth0, b:eth0]
    mtu: 1400
    shape: {rate: 20mbit, burst: 32kb, latency: 50ms}
  - endpoints: [a:eth1, b:eth1]
    impair: {delay: 10ms, jitter: 1ms, loss: 1%}
  - endpoints: [a:eth2, b:eth2]
`)
	for i, want := range []string{"mtu 1400, tbf rate 20mbit burst 32kb latency 50ms", "netem delay 10ms jitter 1ms loss 1%", ""} {
		if got := strings.Join(g.Links[i].Attrs, ", "); got != want {
			t.Errorf("link %d: attrs = %q, want %q", i, got, want)
		}
	}
}

// requireDot skips when Graphviz is missing, except where the tests must
// run everything (CI, NETLAB_E2E_REQUIRED=1): there it fails.
func requireDot(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("dot"); err != nil {
		if os.Getenv("CI") == "true" || os.Getenv("NETLAB_E2E_REQUIRED") == "1" {
			t.Fatalf("graphviz's dot is not installed (run scripts/setup --graphviz): %v", err)
		}
		t.Skipf("graphviz's dot is not installed (scripts/setup --graphviz installs it): %v", err)
	}
}

// TestSVG renders every example lab with Graphviz and reads the SVG back:
// one node group per lab node (titled with its name), one edge group per
// link.
func TestSVG(t *testing.T) {
	requireDot(t)
	files, _ := filepath.Glob(filepath.Join("..", "..", "labs", "*.yaml"))
	for _, f := range files {
		g := load(t, f)
		var dot bytes.Buffer
		if err := g.Dot(&dot); err != nil {
			t.Fatal(err)
		}
		svg, err := SVG(context.Background(), dot.Bytes())
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		nodes, edges := svgGroups(t, svg)
		var want []string
		for _, n := range g.Nodes {
			want = append(want, n.Name)
		}
		sort.Strings(nodes) // Graphviz writes them in layout order
		if strings.Join(nodes, " ") != strings.Join(want, " ") {
			t.Errorf("%s: svg nodes %q, want %q", f, nodes, want)
		}
		if len(edges) != len(g.Links) {
			t.Errorf("%s: svg has %d edges, want %d", f, len(edges), len(g.Links))
		}
	}
}

// svgGroups returns the titles of the SVG's node and edge groups.
func svgGroups(t *testing.T, svg []byte) (nodes, edges []string) {
	t.Helper()
	var doc struct {
		XMLName xml.Name `xml:"svg"`
		G       struct {
			G []struct {
				Class string `xml:"class,attr"`
				Title string `xml:"title"`
			} `xml:"g"`
		} `xml:"g"`
	}
	if err := xml.Unmarshal(svg, &doc); err != nil {
		t.Fatalf("svg does not parse: %v\n%s", err, svg)
	}
	for _, g := range doc.G.G {
		switch g.Class {
		case "node":
			nodes = append(nodes, g.Title)
		case "edge":
			edges = append(edges, g.Title)
		}
	}
	return nodes, edges
}

func TestSVGBadInput(t *testing.T) {
	requireDot(t)
	_, err := SVG(context.Background(), []byte("graph {"))
	if err == nil || errors.Is(err, ErrNoDot) || !strings.Contains(err.Error(), "-Tsvg") {
		t.Errorf("SVG of broken dot: err = %v, want dot's own error", err)
	}
}

func TestSVGNoDot(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	_, err := SVG(context.Background(), []byte("graph {}"))
	if !errors.Is(err, ErrNoDot) {
		t.Errorf("SVG without dot on PATH: err = %v, want ErrNoDot", err)
	}
}

// TestReadmeExample: the Mermaid block in README.md is today's output for
// labs/router.yaml (the golden file).
func TestReadmeExample(t *testing.T) {
	readme, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, block, ok := strings.Cut(string(readme), "```mermaid\n")
	block, _, ok2 := strings.Cut(block, "```")
	if !ok || !ok2 {
		t.Fatal("README.md has no ```mermaid block")
	}
	want, err := os.ReadFile(filepath.Join("testdata", "router.mmd"))
	if err != nil {
		t.Fatal(err)
	}
	if block != string(want) {
		t.Errorf("README.md's mermaid block is not `netlab graph router -o mermaid` (testdata/router.mmd):\n%s", want)
	}
}
