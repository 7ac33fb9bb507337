package topology

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"
)

// problemsOf returns the problems of an error that must be a *Error.
func problemsOf(t *testing.T, err error) []*Problem {
	t.Helper()
	if err == nil {
		t.Fatal("got no error, want one")
	}
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("error %v is a %T, want *topology.Error", err, err)
	}
	if len(e.Problems) == 0 {
		t.Fatal("*Error with no problems")
	}
	for _, p := range e.Problems {
		if p.Msg == "" {
			t.Errorf("problem with an empty message: %+v", *p)
		}
	}
	return e.Problems
}

// The column is left out when the YAML library does not know it (syntax errors).
var posPrefixRE = regexp.MustCompile(`^lab\.yaml:([1-9][0-9]*)(?::([1-9][0-9]*))?: \S`)

// checkFormat asserts that the error and each of its problems read
// "lab.yaml:LINE:COL: ...".
func checkFormat(t *testing.T, err error, ps []*Problem) {
	t.Helper()
	if !posPrefixRE.MatchString(err.Error()) {
		t.Errorf("error %q does not start with lab.yaml:LINE:COL: ", err.Error())
	}
	for _, p := range ps {
		s := p.String()
		m := posPrefixRE.FindStringSubmatch(s)
		if m == nil {
			t.Errorf("problem %q does not start with lab.yaml:LINE:COL: ", s)
			continue
		}
		got := m[1] + ":" + m[2]
		if m[2] == "" {
			got = m[1] + ":0"
		}
		if want := fmt.Sprintf("%d:%d", p.Line, p.Col); got != want {
			t.Errorf("problem %q prints position %s:%s, want %s", s, m[1], m[2], want)
		}
		if p.Path != "" && !strings.Contains(s, " "+p.Path+": ") {
			t.Errorf("problem %q does not name its path %q", s, p.Path)
		}
	}
}

// colOf returns the 1-based column of the first occurrence of needle on the
// given 1-based line of src, so that expected columns are read off the
// source rather than copied from the parser's output.
func colOf(t *testing.T, src string, line int, needle string) int {
	t.Helper()
	lines := strings.Split(src, "\n")
	if line < 1 || line > len(lines) {
		t.Fatalf("line %d out of range", line)
	}
	i := strings.Index(lines[line-1], needle)
	if i < 0 {
		t.Fatalf("%q not on line %d: %q", needle, line, lines[line-1])
	}
	return i + 1
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name string
		src  string
		line int
		// at is the text whose first occurrence on line gives the column.
		at   string
		path string
		msg  string
		// n is the number of problems expected (0: exactly 1).
		n int
	}{
		{
			name: "unknown top-level key",
			src:  "name: t\nnodes:\n  h1: {}\ncolour: red\n",
			line: 4, at: "colour", path: "", msg: `unknown key "colour"`,
		},
		{
			name: "unknown key lists the known keys",
			src:  "name: t\nnode: {h1: {}}\n",
			line: 2, at: "node", path: "", msg: "known keys: description, host, links, name, nodes, scenario, version",
		},
		{
			name: "unknown key inside a node",
			src:  "name: t\nnodes:\n  h1:\n    kind: host\n    colour: red\n",
			line: 5, at: "colour", path: "nodes.h1", msg: `unknown key "colour"`,
		},
		{
			name: "unknown key inside an interface",
			src:  "name: t\nnodes:\n  h1:\n    interfaces:\n      eth0: {addresses: [192.0.2.1/24], colour: red}\n",
			line: 5, at: "colour", path: "nodes.h1.interfaces.eth0", msg: `unknown key "colour"`,
		},
		{
			name: "unknown key inside links[1]",
			src:  "name: t\nnodes: {h1: {}, h2: {}}\nlinks:\n  - endpoints: [h1:eth0, h2:eth0]\n  - endpoints: [h1:eth1, h2:eth1]\n    speed: 10G\n",
			line: 6, at: "speed", path: "links[1]", msg: `unknown key "speed"`,
		},
		{
			name: "unknown key inside links[0].shape",
			src:  "name: t\nnodes: {h1: {}, h2: {}}\nlinks:\n  - endpoints: [h1:eth0, h2:eth0]\n    shape: {rate: 1mbit, ceil: 2mbit}\n",
			line: 5, at: "ceil", path: "links[0].shape", msg: `unknown key "ceil"`,
		},
		{
			name: "unknown key inside a scenario step action",
			src:  "name: t\nnodes: {h1: {}}\nscenario:\n  - sleep: 1s\n  - ping: {from: h1, to: 192.0.2.2, cnt: 3}\n",
			line: 5, at: "cnt", path: "scenario[1].ping", msg: `unknown key "cnt"`,
		},
		{
			name: "unknown scenario action",
			src:  "name: t\nnodes: {h1: {}}\nscenario:\n  - name: first\n    pong: {from: h1}\n",
			line: 5, at: "pong", path: "scenario[0]", msg: `unknown key "pong"`,
		},
		{
			name: "unknown key inside an expect route query",
			src:  "name: t\nnodes: {h1: {}}\nscenario:\n  - expect: {node: h1, route: {to: 192.0.2.1, tos: 4}, dev: eth0}\n",
			line: 4, at: "tos", path: "scenario[0].expect.route", msg: `unknown key "tos"`,
		},
		{
			name: "unknown key inside host",
			src:  "name: t\nhost:\n  sysctl: {net.ipv4.neigh.default.gc_interval: 30}\nnodes: {h1: {}}\n",
			line: 3, at: "sysctl", path: "host", msg: `unknown key "sysctl"`,
		},
		{
			name: "duplicate top-level key",
			src:  "name: t\nnodes: {h1: {}}\nname: u\n",
			line: 3, at: "name", path: "name", msg: `duplicate key "name" (first at line 1)`,
		},
		{
			name: "duplicate node",
			src:  "name: t\nnodes:\n  h1: {}\n  h2: {}\n  h1: {kind: router}\n",
			line: 5, at: "h1", path: "nodes.h1", msg: `duplicate key "h1" (first at line 3)`,
		},
		{
			name: "duplicate key inside an interface",
			src:  "name: t\nnodes:\n  h1:\n    interfaces:\n      eth0:\n        mtu: 1500\n        mtu: 9000\n",
			line: 7, at: "mtu", path: "nodes.h1.interfaces.eth0.mtu", msg: `duplicate key "mtu" (first at line 6)`,
		},
		{
			name: "duplicate sysctl key",
			src:  "name: t\nnodes:\n  h1:\n    sysctls:\n      net.ipv4.ip_forward: 1\n      net.ipv4.ip_forward: 0\n",
			line: 6, at: "net.ipv4", path: "nodes.h1.sysctls.net.ipv4.ip_forward", msg: `duplicate key "net.ipv4.ip_forward" (first at line 5)`,
		},
		{
			name: "a list where a mapping is expected (nodes)",
			src:  "name: t\nnodes: [h1, h2]\n",
			line: 2, at: "[", path: "nodes", msg: "want a mapping, got a list",
		},
		{
			name: "a list where a mapping is expected (interfaces)",
			src:  "name: t\nnodes:\n  h1:\n    interfaces:\n      - eth0\n",
			line: 5, at: "- eth0", path: "nodes.h1.interfaces", msg: "want a mapping, got a list",
		},
		{
			name: "a list where a mapping is expected (a node)",
			src:  "name: t\nnodes:\n  h1: [eth0]\n",
			line: 3, at: "[", path: "nodes.h1", msg: "want a mapping, got a list",
		},
		{
			name: "a whole file that is a list",
			src:  "- name: t\n",
			line: 1, at: "-", path: "", msg: "want a mapping, got a list",
		},
		{
			name: "a mapping where a list is expected (links)",
			src:  "name: t\nnodes: {h1: {}}\nlinks:\n  endpoints: [h1:eth0, h1:eth1]\n",
			line: 4, at: "endpoints", path: "links", msg: "want a list, got a mapping",
		},
		{
			name: "a string where a list is expected (endpoints)",
			src:  "name: t\nnodes: {h1: {}}\nlinks:\n  - endpoints: h1:eth0\n",
			line: 4, at: "h1:eth0", path: "links[0].endpoints", msg: `want a list, got "h1:eth0"`,
		},
		{
			name: "a string for mtu",
			src:  "name: t\nnodes:\n  h1:\n    interfaces:\n      eth0: {mtu: big}\n",
			line: 5, at: "big", path: "nodes.h1.interfaces.eth0.mtu", msg: `want a whole number, got "big"`,
		},
		{
			name: "a quoted number for mtu",
			src:  "name: t\nnodes:\n  h1:\n    interfaces:\n      eth0:\n        mtu: \"1500\"\n",
			line: 6, at: `"1500"`, path: "nodes.h1.interfaces.eth0.mtu", msg: `want a whole number, got "1500"`,
		},
		{
			name: "a float for a link mtu",
			src:  "name: t\nnodes: {h1: {}}\nlinks:\n  - {endpoints: [h1:a, h1:b], mtu: 1500.5}\n",
			line: 4, at: "1500.5", path: "links[0].mtu", msg: "want a whole number",
		},
		{
			name: "yes for a bool",
			src:  "name: t\nnodes:\n  h1:\n    interfaces:\n      eth0: {dad: yes}\n",
			line: 5, at: "yes", path: "nodes.h1.interfaces.eth0.dad", msg: `want true or false, got "yes"`,
		},
		{
			name: "yes for bridge stp",
			src:  "name: t\nnodes:\n  sw:\n    kind: bridge\n    bridge: {stp: yes}\n",
			line: 5, at: "yes", path: "nodes.sw.bridge.stp", msg: `want true or false, got "yes"`,
		},
		{
			name: "a mapping for a string",
			src:  "name: t\ndescription: {a: b}\nnodes: {h1: {}}\n",
			line: 2, at: "{", path: "description", msg: "want a string, got a mapping",
		},
		{
			name: "a negative table number",
			src:  "name: t\nnodes:\n  h1:\n    tables: {isp1: -1}\n",
			line: 4, at: "-1", path: "nodes.h1.tables.isp1", msg: "from 0 to 4294967295",
		},
		{
			name: "a table number over 32 bits",
			src:  "name: t\nnodes:\n  h1:\n    tables: {isp1: 4294967296}\n",
			line: 4, at: "4294967296", path: "nodes.h1.tables.isp1", msg: "from 0 to 4294967295",
		},
		{
			name: "a list as a sysctl value",
			src:  "name: t\nnodes:\n  h1:\n    sysctls: {net.ipv4.ip_forward: [1]}\n",
			line: 4, at: "[1]", path: "nodes.h1.sysctls.net.ipv4.ip_forward", msg: "want a scalar value, got a list",
		},
		{
			name: "a string for ping count",
			src:  "name: t\nnodes: {h1: {}}\nscenario:\n  - ping: {from: h1, to: 192.0.2.1, count: three}\n",
			line: 4, at: "three", path: "scenario[0].ping.count", msg: `want a whole number, got "three"`,
		},
		{
			name: "a mapping for a neighbour state",
			src:  "name: t\nnodes: {h1: {}}\nscenario:\n  - expect: {node: h1, neighbor: 192.0.2.1, state: {a: b}}\n",
			line: 4, at: "{a", path: "scenario[0].expect.state", msg: "want a state or a list of states, got a mapping",
		},
		{
			name: "a nested list for a neighbour state",
			src:  "name: t\nnodes: {h1: {}}\nscenario:\n  - expect: {node: h1, neighbor: 192.0.2.1, state: [STALE, [DELAY]]}\n",
			line: 4, at: "[DELAY]", path: "scenario[0].expect.state[1]", msg: "want a state name, got a list",
		},
		{
			name: "a bad duration",
			src:  "name: t\nnodes: {h1: {}}\nscenario:\n  - sleep: 5x\n",
			line: 4, at: "5x", path: "scenario[0].sleep", msg: `invalid duration "5x"`,
		},
		{
			name: "a negative duration",
			src:  "name: t\nnodes:\n  sw:\n    kind: bridge\n    bridge: {ageing_time: -5s}\n",
			line: 5, at: "-5s", path: "nodes.sw.bridge.ageing_time", msg: "negative",
		},
		{
			name: "a list for a duration",
			src:  "name: t\nnodes: {h1: {}}\nscenario:\n  - sleep: [1s]\n",
			line: 4, at: "[1s]", path: "scenario[0].sleep", msg: "want a scalar value, got a list",
		},
		{
			name: "a mapping key that is a list",
			src:  "name: t\nnodes:\n  ? [h1]\n  : {}\n",
			line: 3, at: "[h1]", path: "nodes", msg: "want a scalar key, got a list",
		},
		{
			name: "two documents",
			src:  "name: t\nnodes: {h1: {}}\n---\nname: u\n",
			line: 3, at: "---", path: "", msg: "more than one YAML document",
		},
		{
			name: "empty file",
			src:  "",
			line: 1, at: "", path: "", msg: "empty lab file",
		},
		{
			name: "only comments",
			src:  "# a lab\n# to come\n",
			line: 1, at: "#", path: "", msg: "empty lab file",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, err := Parse("lab.yaml", []byte(tt.src))
			if l != nil {
				t.Errorf("Parse returned a lab along with the error")
			}
			ps := problemsOf(t, err)
			checkFormat(t, err, ps)
			n := tt.n
			if n == 0 {
				n = 1
			}
			if len(ps) != n {
				t.Errorf("got %d problems, want %d:\n%v", len(ps), n, err)
			}
			col := 1
			if tt.at != "" {
				col = colOf(t, tt.src, tt.line, tt.at)
			}
			p := ps[0]
			if p.Line != tt.line || p.Col != col {
				t.Errorf("position %d:%d, want %d:%d (%v)", p.Line, p.Col, tt.line, col, err)
			}
			if p.Path != tt.path {
				t.Errorf("path %q, want %q (%v)", p.Path, tt.path, err)
			}
			if !strings.Contains(p.Msg, tt.msg) {
				t.Errorf("message %q does not contain %q", p.Msg, tt.msg)
			}
			if p.File != "lab.yaml" {
				t.Errorf("file %q, want lab.yaml", p.File)
			}
		})
	}
}

// Syntax errors come from the yaml library, which knows the line but not the
// column.
func TestParseSyntaxErrors(t *testing.T) {
	tests := []struct {
		name string
		src  string
		line int
		msg  string
	}{
		{"mapping value on the first line", "a: b: c\n", 1, "mapping values are not allowed"},
		{"mapping value further down", "name: t\nnodes:\n  h1: {}\n  h2: a: b\n", 4, "mapping values are not allowed"},
		{"tab indentation", "name: t\nnodes:\n\th1: {}\n", 3, "cannot start any token"},
		// Parser errors point at the start of the unclosed construct.
		{"unclosed flow mapping", "name: t\nnodes:\n  h1: {kind: host\nlinks: []\n", 3, "did not find expected ',' or '}'"},
		{"unclosed flow sequence", "name: t\nnodes: {h1: {}}\nlinks:\n  - endpoints: [h1:a, h1:b\n", 4, "did not find expected ',' or ']'"},
		{"unclosed flow sequence on the first line", "[1, 2", 1, "did not find expected ',' or ']'"},
		{"bad indentation", "name: t\nnodes:\n    h1: {}\n  h2: {}\n", 4, "did not find expected key"},
		{"block entry in a mapping", "name: t\nnodes: {h1: {}}\nlinks:\n  - endpoints: [h1:a, h1:b]\n - endpoints: [h1:c, h1:d]\n", 5, "did not find expected key"},
		{"duplicate %YAML directive", "%YAML 1.1\n%YAML 1.1\n---\nname: t\n", 2, "duplicate %YAML directive"},
		{"unterminated quote", "name: t\ndescription: \"abc\nnodes: {}\n", 2, "end of stream"},
		{"unknown anchor", "name: t\nnodes:\n  h0: &h {}\n  h1: *h\n  h2: *hh\n", 5, "unknown anchor 'hh'"},
		{"invalid UTF-8", "name: t\nnodes: {h1: {}}\ndescription: caf\xe9\n", 3, "invalid UTF-8 (byte 0xe9)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("lab.yaml", []byte(tt.src))
			ps := problemsOf(t, err)
			checkFormat(t, err, ps)
			if len(ps) != 1 {
				t.Fatalf("got %d problems, want 1: %v", len(ps), err)
			}
			if ps[0].Line != tt.line {
				t.Errorf("line %d, want %d (%v)", ps[0].Line, tt.line, err)
			}
			if !strings.Contains(ps[0].Msg, tt.msg) {
				t.Errorf("message %q does not contain %q", ps[0].Msg, tt.msg)
			}
			if strings.Contains(ps[0].Msg, "line ") || strings.HasPrefix(ps[0].Msg, "yaml:") {
				t.Errorf("message %q repeats the yaml library's position or prefix", ps[0].Msg)
			}
		})
	}
}

// Every problem of one file is reported at once, sorted by position.
func TestParseReportsAllProblems(t *testing.T) {
	src := `name: t
colour: red
nodes:
  h1:
    kind: host
    interfaces:
      eth0: {mtu: big, dad: yes, colour: blue}
    routes: {to: default}
  h1: {}
links:
  - endpoints: [h1:eth0, h1:eth1]
    speed: 1G
scenario:
  - sleep: 5x
  - sleep: 7y
`
	_, err := Parse("lab.yaml", []byte(src))
	ps := problemsOf(t, err)
	checkFormat(t, err, ps)
	want := []struct {
		line int
		at   string
		path string
		msg  string
	}{
		{2, "colour", "", `unknown key "colour"`},
		{7, "big", "nodes.h1.interfaces.eth0.mtu", "want a whole number"},
		{7, "yes", "nodes.h1.interfaces.eth0.dad", "want true or false"},
		{7, "colour", "nodes.h1.interfaces.eth0", `unknown key "colour"`},
		{8, "{", "nodes.h1.routes", "want a list, got a mapping"},
		{9, "h1", "nodes.h1", "duplicate key"},
		{12, "speed", "links[0]", `unknown key "speed"`},
		{14, "5x", "scenario[0].sleep", `invalid duration "5x"`},
		{15, "7y", "scenario[1].sleep", `invalid duration "7y"`},
	}
	if len(ps) != len(want) {
		t.Fatalf("got %d problems, want %d:\n%v", len(ps), len(want), err)
	}
	for i, w := range want {
		p := ps[i]
		col := colOf(t, src, w.line, w.at)
		if p.Line != w.line || p.Col != col || p.Path != w.path || !strings.Contains(p.Msg, w.msg) {
			t.Errorf("problem %d = %s\nwant %d:%d path %q containing %q", i, p, w.line, col, w.path, w.msg)
		}
	}
}

// billionLaughs is the classic bomb: each level a list of ten aliases of the
// level before, nine levels deep, under a key the lab file does have.
func billionLaughs() string {
	var b strings.Builder
	b.WriteString("name: bomb\ndescription: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n")
	for i := 1; i <= 9; i++ {
		fmt.Fprintf(&b, "l%d: &l%d [", i, i)
		for j := 0; j < 10; j++ {
			if j > 0 {
				b.WriteString(", ")
			}
			fmt.Fprintf(&b, "*l%d", i-1)
		}
		b.WriteString("]\n")
	}
	b.WriteString("nodes: {h1: {}}\n")
	return b.String()
}

// typedBomb expands only through keys and kinds the lab file accepts: k
// nodes, each with k interfaces, each with k addresses, written in O(k)
// bytes.
func typedBomb(k int) string {
	var b strings.Builder
	b.WriteString("name: bomb\nnodes:\n  n0: &n\n    interfaces:\n      e0: &e {addresses: [")
	for i := 0; i < k; i++ {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString("10.0.0.1/32")
	}
	b.WriteString("]}\n")
	for i := 1; i < k; i++ {
		fmt.Fprintf(&b, "      e%d: *e\n", i)
	}
	for i := 1; i < k; i++ {
		fmt.Fprintf(&b, "  n%d: *n\n", i)
	}
	return b.String()
}

// A typed bomb as scenario steps: k steps, each a firewall step adding k
// aliased rules.
func scenarioBomb(k int) string {
	var b strings.Builder
	b.WriteString("name: bomb\nnodes: {h1: {}}\nscenario:\n  - &s {firewall: {node: h1, add: [")
	for i := 0; i < k; i++ {
		if i > 0 {
			b.WriteString(", ")
		}
		if i == 0 {
			b.WriteString("&r {chain: input, action: drop, proto: tcp, dport: 9}")
		} else {
			b.WriteString("*r")
		}
	}
	b.WriteString("]}}\n")
	for i := 1; i < k; i++ {
		b.WriteString("  - *s\n")
	}
	return b.String()
}

func TestParseAliasBomb(t *testing.T) {
	tests := []struct {
		name string
		src  string
		msg  string
	}{
		{"billion laughs", billionLaughs(), "alias"},
		{"typed bomb, 1000^3", typedBomb(1000), "alias"},
		{"typed bomb, 150^3", typedBomb(150), "alias"},
		{"scenario bomb", scenarioBomb(3000), "alias"},
		{"alias into itself", "name: t\nnodes: &a {h1: *a}\n", "alias *a"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			start := time.Now()
			done := make(chan error, 1)
			go func() {
				_, err := Parse("lab.yaml", []byte(tt.src))
				done <- err
			}()
			var err error
			select {
			case err = <-done:
			case <-time.After(20 * time.Second):
				t.Fatal("Parse did not return within 20s")
			}
			took := time.Since(start)
			runtime.ReadMemStats(&after)
			ps := problemsOf(t, err)
			checkFormat(t, err, ps)
			if !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("error %q does not mention %q", err, tt.msg)
			}
			if took > 2*time.Second {
				t.Errorf("Parse took %v on a %d-byte file; want well under 2s", took, len(tt.src))
			}
			if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 64<<20 {
				t.Errorf("Parse allocated %d MiB on a %d-byte file; want under 64 MiB", alloc>>20, len(tt.src))
			}
		})
	}
}

// The bomb check must leave ordinary anchors alone: one node template
// shared by many nodes decodes into every one of them.
func TestParseAliasTemplates(t *testing.T) {
	var b strings.Builder
	b.WriteString("name: t\nnodes:\n  h0: &tmpl\n    kind: router\n    sysctls: {net.ipv4.conf.all.rp_filter: 0, net.core.somaxconn: 512}\n    firewall:\n      - {chain: input, action: drop, proto: udp, dport: 53}\n")
	for i := 1; i < 200; i++ {
		fmt.Fprintf(&b, "  h%d: *tmpl\n", i)
	}
	l, err := Parse("lab.yaml", []byte(b.String()))
	if err != nil {
		t.Fatal(err)
	}
	if len(l.Nodes) != 200 {
		t.Fatalf("got %d nodes, want 200", len(l.Nodes))
	}
	for name, n := range l.Nodes {
		if n.Kind != NodeKindRouter || n.Sysctls["net.core.somaxconn"] != "512" || len(n.Firewall) != 1 || n.Firewall[0].Dport != 53 {
			t.Fatalf("node %s did not get the template: %+v", name, n)
		}
	}
	if _, err := l.Validate(ValidateOptions{}); err != nil {
		t.Fatalf("Validate: %v", err)
	}
}

func TestParseTooLarge(t *testing.T) {
	data := make([]byte, MaxFileBytes+1)
	for i := range data {
		data[i] = '#'
	}
	start := time.Now()
	l, err := Parse("lab.yaml", data)
	if l != nil {
		t.Error("Parse returned a lab for an oversized file")
	}
	ps := problemsOf(t, err)
	checkFormat(t, err, ps)
	if len(ps) != 1 || !strings.Contains(ps[0].Msg, "larger than 64 MiB") {
		t.Errorf("got %v, want one 'larger than 64 MiB' problem", err)
	}
	if time.Since(start) > time.Second {
		t.Errorf("refusing an oversized file took %v: it should not parse it", time.Since(start))
	}

	// Load reads no more than the limit (plus one byte) and refuses the same way.
	path := filepath.Join(t.TempDir(), "big.yaml")
	if err := os.WriteFile(path, append(data, "\nname: t\n"...), 0o644); err != nil {
		t.Fatal(err)
	}
	_, _, err = Load(path, ValidateOptions{})
	ps = problemsOf(t, err)
	if !strings.Contains(ps[0].Msg, "larger than") || ps[0].File != path {
		t.Errorf("Load: got %v", err)
	}
}

func TestParseValid(t *testing.T) {
	src := `version: 1
name: t
description: two hosts
nodes:
  h1:
    interfaces:
      eth0: {addresses: [192.0.2.1/24], mac: "02:00:00:00:00:01", mtu: 0x5dc, dad: true}
  h2: ~
links:
  - endpoints: [h1:eth0, h2:eth0]
scenario:
  - name: warm up
    ping: {from: h1, to: 192.0.2.2, count: 2, interval: 100ms}
  - expect: {node: h1, neighbor: 192.0.2.2, state: reachable}
  - wait: {node: h1, neighbor: 192.0.2.2, state: [STALE, DELAY], timeout: 0}
  - sleep: 1s
`
	l, err := Parse("lab.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	if l.File != "lab.yaml" || l.Name != "t" || l.Version != 1 || l.Description != "two hosts" {
		t.Errorf("lab header: %+v", l)
	}
	eth0 := l.Nodes["h1"].Interfaces["eth0"]
	if eth0.MTU != 1500 || !eth0.DAD || eth0.MAC != "02:00:00:00:00:01" || len(eth0.Addresses) != 1 {
		t.Errorf("h1 eth0: %+v", eth0)
	}
	if n, ok := l.Nodes["h2"]; !ok || n != nil {
		t.Errorf("h2: %v %v, want a nil node", n, ok)
	}
	if len(l.Scenario) != 4 || l.Scenario[0].Name != "warm up" || *l.Scenario[0].Ping.Count != 2 ||
		l.Scenario[0].Ping.Interval.Duration != 100*time.Millisecond {
		t.Errorf("scenario[0]: %+v", l.Scenario[0])
	}
	if got := l.Scenario[1].Expect.State; len(got) != 1 || got[0] != "reachable" {
		t.Errorf("scenario[1] state %v", got)
	}
	if got := l.Scenario[2].Wait.State; len(got) != 2 || got[1] != "DELAY" {
		t.Errorf("scenario[2] state %v", got)
	}
	if l.Scenario[3].Sleep.Duration != time.Second || l.Scenario[3].Action() != "sleep" {
		t.Errorf("scenario[3]: %+v", l.Scenario[3])
	}
	// Positions are recorded for later validation problems.
	for path, want := range map[string]Pos{
		"nodes.h1.interfaces.eth0.addresses[0]": {7, colOf(t, src, 7, "192.0.2.1")},
		"nodes.h1.interfaces.eth0.mtu":          {7, colOf(t, src, 7, "0x5dc")},
		"links[0].endpoints[1]":                 {10, colOf(t, src, 10, "h2:eth0")},
		"nodes.h1":                              {5, 3},
	} {
		if got := l.pos[path]; got != want {
			t.Errorf("pos[%s] = %v, want %v", path, got, want)
		}
	}
}

func TestLoadMissingFile(t *testing.T) {
	_, _, err := Load(filepath.Join(t.TempDir(), "nope.yaml"), ValidateOptions{})
	if err == nil || !errors.Is(err, os.ErrNotExist) {
		t.Errorf("got %v, want a not-exist error", err)
	}
}

func TestProblemString(t *testing.T) {
	tests := []struct {
		p    Problem
		want string
	}{
		{Problem{File: "a.yaml", Pos: Pos{3, 7}, Path: "nodes.h1", Msg: "bad"}, "a.yaml:3:7: nodes.h1: bad"},
		{Problem{File: "a.yaml", Pos: Pos{3, 7}, Msg: "bad"}, "a.yaml:3:7: bad"},
		{Problem{Path: "name", Msg: "a lab needs a name"}, "<lab>: name: a lab needs a name"},
	}
	for _, tt := range tests {
		if got := tt.p.String(); got != tt.want {
			t.Errorf("String() = %q, want %q", got, tt.want)
		}
	}
	e := &Error{Problems: []*Problem{&tests[0].p, &tests[1].p}}
	if got, want := e.Error(), "a.yaml:3:7: nodes.h1: bad\na.yaml:3:7: bad"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
}
