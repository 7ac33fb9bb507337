package topology

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// want is one expected problem: its path, a piece of its message and the
// line it is reported at.
type want struct {
	path string
	msg  string
	line int
}

// parseOK parses src and fails the test on a parse error.
func parseOK(t *testing.T, src string) *Lab {
	t.Helper()
	l, err := Parse("lab.yaml", []byte(src))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return l
}

// matchProblems checks that got holds exactly the wanted problems (in any
// order), each with its path, message and line.
func matchProblems(t *testing.T, what string, got []*Problem, wants []want) {
	t.Helper()
	used := make([]bool, len(got))
	for _, w := range wants {
		found := false
		for i, p := range got {
			if !used[i] && p.Path == w.path && strings.Contains(p.Msg, w.msg) && p.Line == w.line {
				used[i], found = true, true
				break
			}
		}
		if !found {
			t.Errorf("no %s at line %d, path %q, containing %q", what, w.line, w.path, w.msg)
		}
	}
	for i, p := range got {
		if !used[i] {
			t.Errorf("unexpected %s: %s", what, p)
		}
	}
}

type validateCase struct {
	name  string
	src   string
	opts  ValidateOptions
	wants []want
}

func runValidateCases(t *testing.T, tests []validateCase) {
	t.Helper()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := parseOK(t, tt.src)
			_, err := l.Validate(tt.opts)
			if len(tt.wants) == 0 {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				if l.Resolve() == nil {
					t.Fatal("valid lab has no resolved topology")
				}
				return
			}
			ps := problemsOf(t, err)
			matchProblems(t, "problem", ps, tt.wants)
			for _, p := range ps {
				if p.File != "lab.yaml" {
					t.Errorf("problem %s: file %q", p, p.File)
				}
			}
			if l.Resolve() != nil {
				t.Error("an invalid lab was resolved")
			}
		})
	}
}

func TestValidateLinksAndInterfaces(t *testing.T) {
	runValidateCases(t, []validateCase{
		{
			name: "link names an unknown node",
			src: `name: t
nodes:
  h1: {}
links:
  - endpoints: [h1:eth0, h9:eth0]
`,
			wants: []want{{"links[0].endpoints[1]", `unknown node "h9"`, 5}},
		},
		{
			name: "endpoint without a colon",
			src: `name: t
nodes: {h1: {}, h2: {}}
links:
  - endpoints: [h1:eth0, h2:eth0]
  - endpoints: [h1eth1, h2:eth1]
`,
			wants: []want{{"links[1].endpoints[0]", "want node:interface", 5}},
		},
		{
			name: "a link with three endpoints",
			src: `name: t
nodes: {h1: {}, h2: {}}
links:
  - endpoints:
      - h1:eth0
      - h2:eth0
      - h2:eth1
`,
			wants: []want{{"links[0].endpoints", "exactly two endpoints", 4}},
		},
		{
			name: "an interface used by two links",
			src: `name: t
nodes: {h1: {}, h2: {}, h3: {}}
links:
  - endpoints: [h1:eth0, h2:eth0]
  - endpoints: [h1:eth0, h3:eth0]
`,
			wants: []want{{"links[1].endpoints[0]", "interface h1:eth0 is already used by links[0].endpoints[0]", 5}},
		},
		{
			name: "lo as a link end",
			src: `name: t
nodes: {h1: {}, h2: {}}
links:
  - endpoints: [h1:lo, h2:eth0]
`,
			wants: []want{{"links[0].endpoints[0]", "lo cannot be a link end", 4}},
		},
		{
			name: "a switch's bridge device as a link end",
			src: `name: t
nodes:
  sw: {kind: bridge}
  h1: {}
links:
  - endpoints: [h1:eth0, sw:br0]
`,
			wants: []want{{"links[0].endpoints[1]", "is the bridge device of node sw", 6}},
		},
		{
			name: "a bridge port that is not a link end of the same node",
			src: `name: t
nodes:
  h1:
    interfaces:
      br0: {kind: bridge, ports: [eth0, eth9]}
  h2: {}
links:
  - endpoints: [h1:eth0, h2:eth0]
  - endpoints: [h2:eth9, h2:eth8]
`,
			wants: []want{{"nodes.h1.interfaces.br0.ports[1]", `bridge port "eth9" is not a link end of node h1`, 5}},
		},
		{
			name: "lo as a bridge port",
			src: `name: t
nodes:
  h1:
    interfaces:
      br0:
        kind: bridge
        ports: [lo]
`,
			wants: []want{{"nodes.h1.interfaces.br0.ports[0]", `bridge port "lo" is not a link end`, 7}},
		},
		{
			name: "a port in two bridges",
			src: `name: t
nodes:
  h1:
    interfaces:
      br0: {kind: bridge, ports: [eth0]}
      br1: {kind: bridge, ports: [eth0]}
  h2: {}
links:
  - endpoints: [h1:eth0, h2:eth0]
`,
			wants: []want{{"nodes.h1.interfaces.br1.ports[0]", "eth0 is already a port of bridge br0", 6}},
		},
		{
			name: "a port listed twice in one bridge",
			src: `name: t
nodes:
  h1:
    interfaces:
      br0:
        kind: bridge
        ports:
          - eth0
          - eth0
  h2: {}
links:
  - endpoints: [h1:eth0, h2:eth0]
`,
			wants: []want{{"nodes.h1.interfaces.br0.ports[1]", "eth0 is already a port of bridge br0", 9}},
		},
		{
			name: "a switch node's port in a declared bridge too",
			src: `name: t
nodes:
  sw:
    kind: bridge
    interfaces:
      br1: {kind: bridge, ports: [p1]}
  h1: {}
links:
  - endpoints: [h1:eth0, sw:p1]
`,
			wants: []want{{"nodes.sw.interfaces.br1.ports[0]", "p1 is already a port of bridge br0", 6}},
		},
		{
			name: "an interface that is no link end, bridge or lo",
			src: `name: t
nodes:
  h1:
    interfaces:
      eth0: {addresses: [192.0.2.1/24]}
      eth5: {addresses: [192.0.2.5/24]}
  h2: {}
links:
  - endpoints: [h1:eth0, h2:eth0]
`,
			wants: []want{{"nodes.h1.interfaces.eth5", "interface eth5 of node h1 is not a link end, a bridge (kind: bridge) or lo", 6}},
		},
		{
			name: "a link end declared as a bridge",
			src: `name: t
nodes:
  h1:
    interfaces:
      eth0: {kind: bridge}
  h2: {}
links:
  - endpoints: [h1:eth0, h2:eth0]
`,
			wants: []want{{"nodes.h1.interfaces.eth0.kind", "is a link end of node h1, it cannot also be a bridge", 5}},
		},
		{
			name: "an unknown interface kind",
			src: `name: t
nodes:
  h1:
    interfaces:
      vx0: {kind: vxlan}
`,
			wants: []want{{"nodes.h1.interfaces.vx0.kind", `unknown interface kind "vxlan"`, 5}},
		},
		{
			name: "bridge options on a link end",
			src: `name: t
nodes:
  h1:
    interfaces:
      eth0: {stp: true}
  h2: {}
links:
  - endpoints: [h1:eth0, h2:eth0]
`,
			wants: []want{{"nodes.h1.interfaces.eth0", "belong to bridge interfaces", 5}},
		},
		{
			name: "mtu out of range",
			src: `name: t
nodes:
  h1:
    interfaces:
      eth0: {mtu: 67}
  h2: {}
links:
  - endpoints: [h1:eth0, h2:eth0]
    mtu: 65536
`,
			wants: []want{
				{"nodes.h1.interfaces.eth0.mtu", "mtu 67 out of range", 5},
				{"links[0].mtu", "mtu 65536 out of range", 9},
			},
		},
		{
			name: "interface state",
			src: `name: t
nodes:
  h1:
    interfaces:
      eth0: {state: sideways}
      lo: {state: down}
  h2: {}
links:
  - endpoints: [h1:eth0, h2:eth0]
`,
			wants: []want{
				{"nodes.h1.interfaces.eth0.state", `state "sideways": want up or down`, 5},
				{"nodes.h1.interfaces.lo.state", "lo stays up", 6},
			},
		},
		{
			name: "bridge options on a host node",
			src: `name: t
nodes:
  h1:
    bridge: {name: br0}
`,
			wants: []want{{"nodes.h1.bridge", "apply only to kind: bridge nodes", 4}},
		},
		{
			name: "unknown node kind",
			src: `name: t
nodes:
  h1: {kind: switch}
`,
			wants: []want{{"nodes.h1.kind", `unknown node kind "switch"`, 3}},
		},
		{
			name: "a switch bridge named lo",
			src: `name: t
nodes:
  sw:
    kind: bridge
    bridge:
      name: lo
`,
			wants: []want{{"nodes.sw.bridge.name", "a bridge cannot be named lo", 6}},
		},
		{
			name: "shape and impair",
			src: `name: t
nodes: {h1: {}, h2: {}, h3: {}}
links:
  - endpoints: [h1:eth0, h2:eth0]
    shape: {rate: fast, burst: huge}
  - endpoints: [h1:eth1, h3:eth0]
    impair: {jitter: 5ms, loss: lots}
  - endpoints: [h2:eth1, h3:eth1]
    shape: {rate: 10mbit}
    impair: {delay: 5ms}
`,
			wants: []want{
				{"links[0].shape.rate", `rate "fast"`, 5},
				{"links[0].shape.burst", `burst "huge"`, 5},
				{"links[1].impair.jitter", "jitter needs delay", 7},
				{"links[1].impair.loss", `loss "lots"`, 7},
				{"links[2]", "shape (tbf) and impair (netem) on one link are not supported together", 8},
			},
		},
	})
}

func TestValidateNames(t *testing.T) {
	var tests []validateCase
	ifName := func(name, wantMsg string) validateCase {
		src := fmt.Sprintf("name: t\nnodes:\n  h1:\n    interfaces:\n      %q: {kind: bridge}\n", name)
		vc := validateCase{name: fmt.Sprintf("interface name %q", name), src: src}
		if wantMsg != "" {
			vc.wants = []want{{"nodes.h1.interfaces." + name, wantMsg, 5}}
		}
		return vc
	}
	tests = append(tests,
		ifName("abcdefghijklmnop", "is 16 bytes; the kernel allows at most 15"),
		ifName("abcdefghijklmno", ""),
		ifName("eth0.1", ""),
		ifName("br/0", `contains '/'`),
		ifName("br:0", `contains ':'`),
		ifName("br 0", `contains ' '`),
		ifName("br\t0", `contains '\t'`),
		ifName(".", "not allowed by the kernel"),
		ifName("..", "not allowed by the kernel"),
		ifName("all", "clash with the sysctl section"),
		ifName("default", "clash with the sysctl section"),
		ifName("lo", "a bridge cannot be named lo"),
	)
	// The same rules hold for interface names in link endpoints.
	endpoint := func(ifn, wantMsg string) validateCase {
		src := fmt.Sprintf("name: t\nnodes: {h1: {}, h2: {}}\nlinks:\n  - endpoints: [h1:eth0, %q]\n", "h2:"+ifn)
		return validateCase{
			name:  fmt.Sprintf("endpoint interface %q", ifn),
			src:   src,
			wants: []want{{"links[0].endpoints[1]", wantMsg, 4}},
		}
	}
	tests = append(tests,
		endpoint("abcdefghijklmnop", "is 16 bytes"),
		endpoint("e/0", `contains '/'`),
		endpoint("e:0", `contains ':'`),
		endpoint("e 0", `contains ' '`),
		endpoint(".", "not allowed by the kernel"),
		endpoint("..", "not allowed by the kernel"),
		endpoint("all", "clash with the sysctl section"),
	)
	nodeName := func(name, wantMsg string) validateCase {
		src := fmt.Sprintf("name: t\nnodes:\n  h0: {}\n  %q: {}\n", name)
		vc := validateCase{name: fmt.Sprintf("node name %q", name), src: src}
		if wantMsg != "" {
			vc.wants = []want{{"nodes." + name, wantMsg, 4}}
		}
		return vc
	}
	tests = append(tests,
		nodeName("h-1", "must match [a-z0-9_]+ (no '-'"),
		nodeName("H1", "must match [a-z0-9_]+"),
		nodeName("h.1", "must match [a-z0-9_]+"),
		nodeName(strings.Repeat("n", 33), "is 33 bytes; at most 32"),
		nodeName(strings.Repeat("n", 32), ""),
		nodeName("host_1", ""),
	)
	labName := func(name, wantMsg string) validateCase {
		src := fmt.Sprintf("name: %q\nnodes: {h1: {}}\n", name)
		vc := validateCase{name: fmt.Sprintf("lab name %q", name), src: src}
		if wantMsg != "" {
			vc.wants = []want{{"name", wantMsg, 1}}
		}
		return vc
	}
	for _, verb := range []string{"watch", "params", "get", "add", "set", "del", "flush", "use"} {
		tests = append(tests, labName(verb, "is a netlab verb"))
	}
	tests = append(tests,
		labName(strings.Repeat("a", 33), "is 33 bytes; at most 32"),
		labName(strings.Repeat("a", 32), ""),
		labName("my_lab", "must match [a-z0-9][a-z0-9-]*"),
		labName("-lab", "must match [a-z0-9][a-z0-9-]*"),
		labName("Lab", "must match [a-z0-9][a-z0-9-]*"),
		labName("my-lab-2", ""),
		labName("watcher", ""),
		validateCase{
			name:  "no name (no line to point at)",
			src:   "nodes: {h1: {}}\n",
			wants: []want{{"name", "a lab needs a name", 0}},
		},
		validateCase{
			name:  "no nodes",
			src:   "name: t\nnodes: {}\n",
			wants: []want{{"nodes", "at least one node", 2}},
		},
		validateCase{
			name:  "a version from the future",
			src:   "version: 2\nname: t\nnodes: {h1: {}}\n",
			wants: []want{{"version", "file-format version 2", 1}},
		},
	)
	runValidateCases(t, tests)
}

func TestValidateAddresses(t *testing.T) {
	runValidateCases(t, []validateCase{
		{
			name: "bad CIDR",
			src: `name: t
nodes:
  h1:
    interfaces:
      eth0:
        addresses:
          - 192.0.2.1/24
          - 192.0.2.300/24
          - 192.0.2.2
          - 2001:db8::1/129
  h2: {}
links:
  - endpoints: [h1:eth0, h2:eth0]
`,
			wants: []want{
				{"nodes.h1.interfaces.eth0.addresses[1]", `address "192.0.2.300/24": want an address with prefix length`, 8},
				{"nodes.h1.interfaces.eth0.addresses[2]", `address "192.0.2.2": want an address with prefix length`, 9},
				{"nodes.h1.interfaces.eth0.addresses[3]", `address "2001:db8::1/129"`, 10},
			},
		},
		{
			name: "non-unicast, mapped and repeated addresses",
			src: `name: t
nodes:
  h1:
    interfaces:
      eth0: {addresses: [224.0.0.1/4, "::ffff:192.0.2.1/120", 0.0.0.0/0, 192.0.2.1/24, 192.0.2.1/25]}
  h2: {}
links:
  - endpoints: [h1:eth0, h2:eth0]
`,
			wants: []want{
				{"nodes.h1.interfaces.eth0.addresses[0]", "is not a unicast address", 5},
				{"nodes.h1.interfaces.eth0.addresses[1]", "IPv4-mapped", 5},
				{"nodes.h1.interfaces.eth0.addresses[2]", "is not a unicast address", 5},
				{"nodes.h1.interfaces.eth0.addresses[4]", "address 192.0.2.1 is already on eth0 (addresses[3])", 5},
			},
		},
		{
			name: "bad and multicast MACs",
			src: `name: t
nodes:
  h1:
    interfaces:
      eth0: {mac: "02:00:00:00:00"}
      eth1: {mac: "03:00:00:00:00:01"}
      eth2: {mac: "zz:00:00:00:00:01"}
      eth3: {mac: "00:00:00:00:00:00"}
      eth4: {mac: "00:00:00:00:fe:80:00:00:00:00:00:00:02:00:5e:10:00:00:00:01"}
      lo: {mac: "02:00:00:00:00:07"}
  h2: {}
links:
  - endpoints: [h1:eth0, h2:eth0]
  - endpoints: [h1:eth1, h2:eth1]
  - endpoints: [h1:eth2, h2:eth2]
  - endpoints: [h1:eth3, h2:eth3]
  - endpoints: [h1:eth4, h2:eth4]
`,
			wants: []want{
				{"nodes.h1.interfaces.eth0.mac", "want a 6-byte Ethernet address", 5},
				{"nodes.h1.interfaces.eth1.mac", "is a multicast address", 6},
				{"nodes.h1.interfaces.eth2.mac", "want a 6-byte Ethernet address", 7},
				{"nodes.h1.interfaces.eth3.mac", "is not a valid interface address", 8},
				{"nodes.h1.interfaces.eth4.mac", "want a 6-byte Ethernet address", 9},
				{"nodes.h1.interfaces.lo.mac", "lo has no MAC address", 10},
			},
		},
		{
			name: "the same address on both ends of a veth",
			src: `name: t
nodes:
  h1:
    interfaces:
      eth0: {addresses: [192.0.2.1/24]}
  h2:
    interfaces:
      eth0: {addresses: [192.0.2.1/24]}
links:
  - endpoints: [h1:eth0, h2:eth0]
`,
			wants: []want{{"nodes.h2.interfaces.eth0.addresses[0]", "address 192.0.2.1 is also on h1:eth0, on the same L2 segment", 8}},
		},
		{
			name: "the same address on two hosts behind a switch node",
			src: `name: t
nodes:
  sw: {kind: bridge}
  a:
    interfaces:
      eth0: {addresses: [192.0.2.1/24, 2001:db8::1/64]}
  b:
    interfaces:
      eth0: {addresses: [192.0.2.2/24, 2001:db8::1/64]}
links:
  - endpoints: [a:eth0, sw:p1]
  - endpoints: [b:eth0, sw:p2]
`,
			wants: []want{{"nodes.b.interfaces.eth0.addresses[1]", "address 2001:db8::1 is also on a:eth0", 9}},
		},
		{
			name: "the same address on two hosts behind a bridge interface",
			src: `name: t
nodes:
  h2:
    interfaces:
      br0: {kind: bridge, ports: [eth1, eth2]}
  h3:
    interfaces:
      eth0: {addresses: [198.51.100.3/24]}
  h4:
    interfaces:
      eth0: {addresses: [198.51.100.3/24]}
links:
  - endpoints: [h2:eth1, h3:eth0]
  - endpoints: [h2:eth2, h4:eth0]
`,
			wants: []want{{"nodes.h4.interfaces.eth0.addresses[0]", "address 198.51.100.3 is also on h3:eth0, on the same L2 segment", 11}},
		},
		{
			name: "a bridge's own address on a host behind it",
			src: `name: t
nodes:
  h2:
    interfaces:
      br0: {kind: bridge, ports: [eth1], addresses: [198.51.100.1/24]}
  h3:
    interfaces:
      eth0: {addresses: [198.51.100.1/24]}
links:
  - endpoints: [h2:eth1, h3:eth0]
`,
			wants: []want{{"nodes.h3.interfaces.eth0.addresses[0]", "also on h2:br0", 8}},
		},
		{
			name: "the same address on different segments is fine",
			src: `name: t
nodes:
  h1:
    interfaces:
      eth0: {addresses: [192.0.2.1/24], mac: "02:00:00:00:00:01"}
  h2:
    interfaces:
      eth0: {addresses: [192.0.2.2/24]}
      eth1: {addresses: [192.0.2.2/24]}
  h3:
    interfaces:
      eth0: {addresses: [192.0.2.1/24], mac: "02:00:00:00:00:01"}
  sw1: {kind: bridge}
  sw2: {kind: bridge}
  h4:
    interfaces:
      eth0: {addresses: [10.0.0.1/8]}
  h5:
    interfaces:
      eth0: {addresses: [10.0.0.1/8]}
links:
  - endpoints: [h1:eth0, h2:eth0]
  - endpoints: [h2:eth1, h3:eth0]
  - endpoints: [h4:eth0, sw1:p1]
  - endpoints: [h5:eth0, sw2:p1]
`,
		},
		{
			name: "the same MAC twice on a segment",
			src: `name: t
nodes:
  sw: {kind: bridge}
  h1:
    interfaces:
      eth0: {mac: "02:00:00:00:00:01"}
  h2:
    interfaces:
      eth0: {mac: "02:00:00:00:00:01"}
links:
  - endpoints: [h1:eth0, sw:p1]
  - endpoints: [h2:eth0, sw:p2]
`,
			wants: []want{{"nodes.h2.interfaces.eth0.mac", "mac 02:00:00:00:00:01 is also on h1:eth0, on the same L2 segment", 9}},
		},
	})
}

func TestValidateSysctls(t *testing.T) {
	runValidateCases(t, []validateCase{
		{
			name: "refused keys",
			src: `name: t
nodes:
  h1:
    sysctls:
      kernel.pid_max: 4096
      net..x: 1
      net.ipv4.conf.../x: 1
      net.ipv4.conf.x/...rp_filter: 1
      net/ipv4/ip_forward: 1
      "net.ipv4.conf.eth 0.rp_filter": 1
      net.ipv4.neigh.*.gc_stale_time: 1
`,
			wants: []want{
				{"nodes.h1.sysctls.kernel.pid_max", "is not under net.", 5},
				{"nodes.h1.sysctls.net..x", "empty or relative element", 6},
				{"nodes.h1.sysctls.net.ipv4.conf.../x", "sysctl key", 7},
				{"nodes.h1.sysctls.net.ipv4.conf.x/...rp_filter", "sysctl key", 8},
				{"nodes.h1.sysctls.net/ipv4/ip_forward", "use the dotted form", 9},
				{"nodes.h1.sysctls.net.ipv4.conf.eth 0.rp_filter", "contains ' '", 10},
				{"nodes.h1.sysctls.net.ipv4.neigh.*.gc_stale_time", "contains '*'", 11},
			},
		},
		{
			name: "neigh.default in a node points to host.sysctls",
			src: `name: t
nodes:
  h1:
    sysctls:
      net.ipv4.neigh.default.gc_thresh1: 0
      net.ipv6.neigh.default.gc_thresh1: 0
`,
			wants: []want{
				{"nodes.h1.sysctls.net.ipv4.neigh.default.gc_thresh1", "exists only in the root namespace", 5},
				{"nodes.h1.sysctls.net.ipv6.neigh.default.gc_thresh1", "set it under host.sysctls", 6},
			},
		},
		{
			name: "a per-interface key for an interface the node lacks",
			src: `name: t
nodes:
  h1:
    sysctls:
      net.ipv4.conf.eth0.rp_filter: 2
      net.ipv4.conf.eth1.rp_filter: 2
      net.ipv6.neigh.eth0/5.retrans_time_ms: 100
  h2: {}
links:
  - endpoints: [h1:eth0, h2:eth0]
`,
			wants: []want{
				{"nodes.h1.sysctls.net.ipv4.conf.eth1.rp_filter", "node h1 has no interface eth1", 6},
				{"nodes.h1.sysctls.net.ipv6.neigh.eth0/5.retrans_time_ms", "node h1 has no interface eth0.5", 7},
			},
		},
		{
			name: "empty values and one key written twice",
			src: `name: t
nodes:
  h1:
    sysctls:
      net.core.somaxconn: ""
      net.ipv4.ip_forward: 1
      " net.ipv4.ip_forward": 0
`,
			wants: []want{
				{"nodes.h1.sysctls.net.core.somaxconn", "empty sysctl value", 5},
				{"nodes.h1.sysctls.net.ipv4.ip_forward", "set twice", 6},
			},
		},
		{
			name: "a machine-wide host sysctl without the flag",
			src: `name: t
host:
  sysctls:
    net.ipv4.neigh.default.gc_thresh1: 0
    net.ipv4.ip_forward: 1
    net.core.rmem_max: 1048576
    kernel.pid_max: 4096
nodes: {h1: {}}
`,
			wants: []want{
				{"host.sysctls.net.ipv4.ip_forward", "--allow-host-sysctl", 5},
				{"host.sysctls.net.core.rmem_max", "--allow-host-sysctl", 6},
				{"host.sysctls.kernel.pid_max", "is not under net.", 7},
			},
		},
		{
			name: "a machine-wide host sysctl with the flag",
			src: `name: t
host:
  sysctls:
    net.ipv4.neigh.default.gc_thresh1: 0
    net.ipv4.ip_forward: 1
nodes: {h1: {}}
`,
			opts: ValidateOptions{AllowHostSysctl: true},
		},
		{
			name: "the flag does not open kernel.*",
			src: `name: t
host:
  sysctls: {kernel.pid_max: 4096}
nodes: {h1: {}}
`,
			opts:  ValidateOptions{AllowHostSysctl: true},
			wants: []want{{"host.sysctls.kernel.pid_max", "is not under net.", 3}},
		},
	})
}

func TestValidateRouting(t *testing.T) {
	const head = `name: t
nodes:
  h1:
    interfaces:
      eth0: {addresses: [192.0.2.1/24, 2001:db8::1/64]}
    tables: {isp1: 101}
`
	const tail = `  h2: {}
links:
  - endpoints: [h1:eth0, h2:eth0]
`
	runValidateCases(t, []validateCase{
		{
			name: "routes",
			src: head + `    routes:
      - {to: 203.0.113.0/24, via: 198.51.100.1}
      - {to: 203.0.113.0/24, via: 198.51.100.1, dev: eth0, onlink: true}
      - {to: 2001:db8:1::/48, via: fe80::1}
      - {to: 2001:db8:2::/48, via: fe80::1, dev: eth0}
      - {to: 10.0.0.0/8, dev: eth9}
      - {to: 10.1.0.0/16, via: 192.0.2.254, table: isp2}
      - {to: 10.2.0.0/16, via: 2001:db8::2}
      - {to: 10.3.0.0/16, via: 192.0.2.254, table: isp1}
      - {to: 10.4.0.0/16, via: 192.0.2.254, table: 200}
      - {to: 10.5.0.0/16, via: 192.0.2.1}
` + tail,
			wants: []want{
				{"nodes.h1.routes[0].via", "next hop 198.51.100.1 is not on any declared subnet of node h1", 8},
				{"nodes.h1.routes[2].via", "link-local next hop fe80::1 needs dev", 10},
				{"nodes.h1.routes[4].dev", "node h1 has no interface eth9", 12},
				{"nodes.h1.routes[5].table", `unknown table "isp2"`, 13},
				{"nodes.h1.routes[6].via", "mixes IPv4 and IPv6 in one route", 14},
				{"nodes.h1.routes[9].via", "next hop 192.0.2.1 is not on", 17},
			},
		},
		{
			name: "more route mistakes",
			src: head + `    routes:
      - {to: 203.0.113.1/24, via: 192.0.2.254}
      - {to: 203.0.113.0/24, via: 192.0.2.254, onlink: true}
      - {to: 203.0.113.0/24}
      - {to: 198.18.0.0/15, type: blackhole, via: 192.0.2.254}
      - {to: 198.18.0.0/15, type: anycast}
      - {to: 198.18.0.0/15, via: 192.0.2.254, src: 192.0.2.99}
      - {via: 192.0.2.254}
      - {to: 0.0.0.0/0, via: 192.0.2.254, dev: eth0, table: 0}
` + tail,
			wants: []want{
				{"nodes.h1.routes[0].to", "has host bits set; did you mean 203.0.113.0/24?", 8},
				{"nodes.h1.routes[1].onlink", "an onlink next hop needs dev", 9},
				{"nodes.h1.routes[2]", "a unicast route needs via, dev or nexthops", 10},
				{"nodes.h1.routes[3].type", "a blackhole route has no via", 11},
				{"nodes.h1.routes[4].type", `route type "anycast"`, 12},
				{"nodes.h1.routes[5].src", "src 192.0.2.99 is not an address of node h1", 13},
				{"nodes.h1.routes[6].to", "a route needs to:", 14},
				{"nodes.h1.routes[7].table", "table 0 is not a routing table", 15},
			},
		},
		{
			name: "multipath",
			src: head + `    routes:
      - to: 203.0.113.0/24
        nexthops:
          - {via: 192.0.2.2, weight: 1}
          - {via: 198.51.100.9}
          - {dev: eth7}
          - {weight: 300, dev: eth0}
` + tail,
			wants: []want{
				{"nodes.h1.routes[0].nexthops[1].via", "next hop 198.51.100.9 is not on", 11},
				{"nodes.h1.routes[0].nexthops[2].dev", "node h1 has no interface eth7", 12},
				{"nodes.h1.routes[0].nexthops[3].weight", "weight 300 out of range", 13},
			},
		},
		{
			// The kernel refuses a route through a device that is not up
			// (ENETDOWN, or no connected route for the next hop), and an
			// IPv6 src that is still tentative: found before up.
			name: "routes through down interfaces, tentative src",
			src: `name: t
nodes:
  h1:
    interfaces:
      eth0: {addresses: [192.0.2.1/24, 2001:db8::1/64]}
      eth1: {addresses: [198.51.100.1/24, 2001:db8:1::1/64], state: down, dad: true}
      eth2: {addresses: [198.51.100.129/25]}
    routes:
      - {to: 203.0.113.0/24, dev: eth1}
      - {to: 203.0.113.0/25, via: 198.51.100.2}
      - {to: 203.0.113.128/25, via: 198.51.100.130}
      - to: 10.0.0.0/8
        nexthops: [{via: 192.0.2.2}, {via: 198.51.100.3, dev: eth1}]
      - {to: 2001:db8:9::/48, via: 2001:db8::2, src: 2001:db8:1::1}
      - {to: 10.9.0.0/16, via: 198.51.100.2, dev: eth1, onlink: true}
  h2: {}
links:
  - endpoints: [h1:eth0, h2:eth0]
  - endpoints: [h1:eth1, h2:eth1]
  - endpoints: [h1:eth2, h2:eth2]
`,
			wants: []want{
				{"nodes.h1.routes[0].dev", "eth1 is declared state: down: the kernel refuses routes through a device that is not up", 9},
				{"nodes.h1.routes[1].via", "next hop 198.51.100.2 is only on subnets of eth1, declared state: down", 10},
				{"nodes.h1.routes[3].nexthops[1].dev", "eth1 is declared state: down", 13},
				{"nodes.h1.routes[3].nexthops[1].via", "next hop 198.51.100.3 is only on subnets of eth1", 13},
				{"nodes.h1.routes[4].src", "src 2001:db8:1::1 is on eth1, which has dad: true", 14},
				{"nodes.h1.routes[5].dev", "eth1 is declared state: down", 15},
			},
		},
		{
			name: "tables",
			src: `name: t
nodes:
  h1:
    tables: {main: 254, 1isp: 101, isp2: 253, isp3: 0}
`,
			wants: []want{
				{"nodes.h1.tables.main", `table name "main" is reserved`, 4},
				{"nodes.h1.tables.main", "table number 254 is reserved", 4},
				{"nodes.h1.tables.1isp", `table name "1isp"`, 4},
				{"nodes.h1.tables.isp2", "table number 253 is reserved", 4},
				{"nodes.h1.tables.isp3", "table number 0 is reserved", 4},
			},
		},
		{
			name: "rules",
			src: head + `    rules:
      - {priority: 100, from: 192.0.2.0/25, to: 2001:db8::/64, table: isp1}
      - {priority: 101, from: 192.0.2.0/25, table: isp9}
      - {priority: 102, from: 192.0.2.0/25, family: ipv6, table: main}
      - {priority: 103, from: 192.0.2.0/25}
      - {priority: 104, iif: eth5, fwmark: 0xzz, table: isp1}
      - {priority: 105, action: blackhole, table: isp1}
      - {priority: 106, action: nat}
      - {priority: 107, from: 192.0.2.128/25, table: 101}
` + tail,
			wants: []want{
				{"nodes.h1.rules[0].to", "mixes IPv4 and IPv6 in one rule", 8},
				{"nodes.h1.rules[1].table", `unknown table "isp9"`, 9},
				{"nodes.h1.rules[2].from", "mixes IPv4 and IPv6 in one rule", 10},
				{"nodes.h1.rules[3].table", "a lookup rule needs table", 11},
				{"nodes.h1.rules[4].iif", "node h1 has no interface eth5", 12},
				{"nodes.h1.rules[4].fwmark", `fwmark "0xzz"`, 12},
				{"nodes.h1.rules[5].table", "a blackhole rule takes no table", 13},
				{"nodes.h1.rules[6].action", `rule action "nat"`, 14},
			},
		},
		{
			name: "neighbors",
			src: head + `    neighbors:
      - {to: 192.0.2.9, dev: eth0}
      - {to: 192.0.2.10, dev: eth0, proxy: true}
      - {to: 192.0.2.11, lladdr: "02:00:00:00:00:0b", dev: eth3}
      - {to: 192.0.2.12, lladdr: nope, dev: eth0, state: sleepy}
      - {to: 192.0.2, lladdr: "02:00:00:00:00:0d"}
      - {to: 192.0.2.14, lladdr: "02:00:00:00:00:0e", dev: eth0, state: permanent}
      - {to: 192.0.2.15, lladdr: "02:00:00:00:00:0f", dev: eth0, state: Stale}
` + tail,
			wants: []want{
				{"nodes.h1.neighbors[0].lladdr", "a neighbour entry needs lladdr (unless proxy: true)", 8},
				{"nodes.h1.neighbors[2].dev", "node h1 has no interface eth3", 10},
				{"nodes.h1.neighbors[3].lladdr", `lladdr "nope"`, 11},
				{"nodes.h1.neighbors[3].state", `state "sleepy"`, 11},
				{"nodes.h1.neighbors[4].to", `to "192.0.2" is not an IP address`, 12},
				{"nodes.h1.neighbors[4].dev", "a neighbour entry needs dev", 12},
			},
		},
		{
			name: "neighbour identity, lladdr length, proxy keys",
			src: `name: t
nodes:
  h1:
    interfaces:
      eth0: {addresses: [192.0.2.1/24, 2001:db8::1/64]}
      lo: {addresses: [10.255.0.1/32]}
    neighbors:
      - {to: 192.0.2.9, lladdr: "02:00:00:00:00:09", dev: eth0}
      - {to: 192.0.2.9, lladdr: "02:00:00:00:00:0a", dev: eth0, state: stale}
      - {to: "2001:db8::9", lladdr: "02:00:00:00:00:09", dev: eth0}
      - {to: "2001:0db8:0::9", lladdr: "02:00:00:00:00:09", dev: eth0, router: true}
      - {to: 192.0.2.10, dev: eth0, proxy: true}
      - {to: 192.0.2.10, dev: eth0, proxy: true}
      - {to: 192.0.2.11, lladdr: "02:00:00:00:00:00:00:0b", dev: eth0}
      - {to: 192.0.2.12, lladdr: "00:00:00:00:fe:80:00:00:00:00:00:00:02:00:5e:10:00:00:00:01", dev: eth0}
      - {to: 192.0.2.13, lladdr: "02:00:00:00:00:0d", dev: eth0, proxy: true}
      - {to: 192.0.2.14, dev: eth0, proxy: true, state: stale}
      - {to: "fe80::1%eth0", lladdr: "02:00:00:00:00:0f", dev: eth0}
      - {to: "::ffff:192.0.2.16", lladdr: "02:00:00:00:00:10", dev: eth0}
      - {to: 0.0.0.0, lladdr: "02:00:00:00:00:11", dev: eth0}
      - {to: 10.255.0.9, lladdr: "02:00:00:00:00:12", dev: lo}
      - {to: "2001:db8::13", lladdr: "02:00:00:00:00:13", dev: eth1}
      - {to: 192.0.2.20, lladdr: "02:00:00:00:00:14", dev: eth1}
  h2: {}
links:
  - endpoints: [h1:eth0, h2:eth0]
  - endpoints: [h1:eth1, h2:eth1]
    mtu: 1000
`,
			wants: []want{
				{"nodes.h1.neighbors[1].to", "duplicate neighbour entry 192.0.2.9 dev eth0: already declared at nodes.h1.neighbors[0]", 9},
				{"nodes.h1.neighbors[3].to", "duplicate neighbour entry 2001:db8::9 dev eth0: already declared at nodes.h1.neighbors[2]", 11},
				{"nodes.h1.neighbors[5].to", "duplicate proxy entry 192.0.2.10 dev eth0: already declared at nodes.h1.neighbors[4]", 13},
				{"nodes.h1.neighbors[6].lladdr", `lladdr "02:00:00:00:00:00:00:0b" is 8 bytes; netlab's interfaces (veth, bridge) are Ethernet: want 6 bytes`, 14},
				{"nodes.h1.neighbors[7].lladdr", "is 20 bytes", 15},
				{"nodes.h1.neighbors[8].lladdr", "a proxy entry has no lladdr", 16},
				{"nodes.h1.neighbors[9].state", "a proxy entry has no state", 17},
				{"nodes.h1.neighbors[10].to", "no zone in a neighbour address", 18},
				{"nodes.h1.neighbors[11].to", "IPv4-mapped IPv6 address; write 192.0.2.16", 19},
				{"nodes.h1.neighbors[12].to", "unspecified address", 20},
				{"nodes.h1.neighbors[13].dev", "lo resolves no neighbours", 21},
				{"nodes.h1.neighbors[14].dev", "eth1 has mtu 1000, below IPv6's minimum 1280: the kernel disables IPv6 there and refuses IPv6 neighbour entries", 22},
			},
		},
		{
			// One address may have an entry per device, and a proxy entry
			// beside a normal one; a neighbour whose family has no address
			// on dev is the kernel's business (it accepts it), not an error.
			name: "valid neighbour entries",
			src: `name: t
nodes:
  h1:
    interfaces:
      eth0: {addresses: [192.0.2.1/24]}
      eth1: {addresses: [2001:db8:1::1/64]}
    neighbors:
      - {to: 192.0.2.9, lladdr: "02:00:00:00:00:09", dev: eth0, state: PERMANENT}
      - {to: 192.0.2.9, lladdr: "02:00:00:00:00:09", dev: eth1}
      - {to: 192.0.2.9, dev: eth0, proxy: true, state: permanent}
      - {to: "2001:db8::9", lladdr: "02-00-00-00-00-09", dev: eth0, router: true}
      - {to: "2001:db8::a", dev: eth0, proxy: true, router: true}
      - {to: 198.51.100.7, lladdr: "02:00:00:00:00:07", dev: eth1, state: noarp}
  h2: {}
links:
  - endpoints: [h1:eth0, h2:eth0]
  - endpoints: [h1:eth1, h2:eth1]
`,
		},
		{
			name: "firewall",
			src: head + `    firewall:
      - {chain: prerouting, action: drop}
      - {chain: input, action: drop, dport: 22}
      - {chain: input, action: drop, proto: udp, dport: 53}
      - {chain: output, action: reject, proto: sctp}
      - {chain: forward, action: log, proto: tcp, sport: 70000}
      - {chain: input, action: accept, proto: tcp, icmp_type: echo-request}
      - {chain: input, action: drop, src: 192.0.2.300, iif: eth4}
` + tail,
			wants: []want{
				{"nodes.h1.firewall[0].chain", `chain "prerouting": want input, output or forward`, 8},
				{"nodes.h1.firewall[1]", "sport/dport need proto tcp or udp", 9},
				{"nodes.h1.firewall[3].proto", `proto "sctp"`, 11},
				{"nodes.h1.firewall[4].action", `action "log"`, 12},
				{"nodes.h1.firewall[4].sport", "port 70000 out of range", 12},
				{"nodes.h1.firewall[5].icmp_type", "icmp_type needs proto icmp or icmpv6", 13},
				{"nodes.h1.firewall[6].src", `src "192.0.2.300"`, 14},
				{"nodes.h1.firewall[6].iif", "node h1 has no interface eth4", 14},
			},
		},
		{
			name: "a valid routed node",
			src: head + `    routes:
      - {to: default, via: 192.0.2.254}
      - {to: "::/0", via: 2001:db8::fe}
      - {to: 203.0.113.0/24, via: 192.0.2.2, table: isp1, metric: 10}
      - {to: 203.0.113.7, via: 192.0.2.3, src: 192.0.2.1}
      - {to: 198.18.0.0/15, type: blackhole}
      - {to: 198.51.100.0/24, via: 203.0.113.1, dev: eth0, onlink: true}
      - {to: 2001:db8:9::/48, via: fe80::2, dev: eth0}
      - to: 10.0.0.0/8
        nexthops: [{via: 192.0.2.2, weight: 2}, {via: 192.0.2.3}]
    rules:
      - {priority: 100, from: 192.0.2.0/25, table: isp1}
      - {priority: 101, to: 2001:db8::/64, table: main}
      - {priority: 102, fwmark: 0x10/0xff, action: prohibit}
    neighbors:
      - {to: 192.0.2.9, lladdr: "02:00:00:00:00:09", dev: eth0, state: permanent}
      - {to: 2001:db8::9, dev: eth0, proxy: true}
    firewall:
      - {chain: input, action: drop, proto: tcp, dport: 9}
      - {chain: input, action: drop, proto: icmpv6, icmp_type: echo-request}
` + tail,
		},
	})
}

func TestValidateScenario(t *testing.T) {
	const head = `name: t
nodes:
  h1:
    interfaces:
      eth0: {addresses: [192.0.2.1/24]}
  h2:
    interfaces:
      eth0: {addresses: [192.0.2.2/24]}
links:
  - endpoints: [h1:eth0, h2:eth0]
scenario:
`
	runValidateCases(t, []validateCase{
		{
			name: "scenario mistakes",
			src: head + `  - {ping: {from: h1, to: 192.0.2.2}, sleep: 1s}
  - ping: {from: h9, to: 192.0.2.2}
  - expect: {node: h1, neighbor: 192.0.2.2, state: BOGUS}
  - ping: {from: h1, to: 192.0.2.2, count: 0}
  - name: only a name
  - wait: {node: h1, neighbor: 192.0.2.2, state: [STALE, SLEEPY]}
  - arping: {from: h2, to: 192.0.2.1, mode: shout, count: 0, expect: maybe}
`,
			wants: []want{
				{"scenario[0]", "a step has exactly one action", 12},
				{"scenario[1].ping.from", `unknown node "h9"`, 13},
				{"scenario[2].expect.state[0]", `unknown neighbour state "BOGUS"`, 14},
				{"scenario[3].ping.count", "count 0: want a positive number", 15},
				{"scenario[4]", "found 0", 16},
				{"scenario[5].wait.state[1]", `unknown neighbour state "SLEEPY"`, 17},
				{"scenario[6].arping.mode", `mode "shout"`, 18},
				{"scenario[6].arping.count", "count 0: want a positive number", 18},
				{"scenario[6].arping.expect", `expect "maybe": want success or failure`, 18},
			},
		},
		{
			name: "two actions are named",
			src:  head + "  - {ping: {from: h1, to: 192.0.2.2}, sleep: 1s}\n",
			wants: []want{
				{"scenario[0]", "found 2: ping, sleep", 12},
			},
		},
		{
			name: "more step mistakes",
			src: head + `  - sysctl: {node: h1, key: net.ipv4.neigh.default.gc_thresh1, value: 1}
  - sysctl: {node: h1, key: kernel.pid_max, value: ""}
  - neigh: {node: h1, action: add, to: 192.0.2.9}
  - neigh: {node: h1, action: zap, dev: eth9}
  - exec: {node: h3, cmd: []}
  - link: {node: h1, dev: eth0, state: sideways}
  - firewall: {node: h1}
  - tcp: {from: h1, to: 192.0.2.2, port: 0}
  - expect: {node: h1, route: {to: 203.0.113.7}}
  - expect: {node: h1, sysctl: net.ipv4.ip_forward}
  - wait: {node: h1, neighbor: 192.0.2.2, absent: true, state: STALE, timeout: 0s}
  - expect: {node: h1, neighbor: 192.0.2.2, fdb: "02:00:00:00:00:01", state: STALE}
  - capture: {node: h1}
  - ping: {from: h1, to: 192.0.2.2, expect: maybe, loss: some}
`,
			wants: []want{
				{"scenario[0].sysctl.key", "exists only in the root namespace", 12},
				{"scenario[1].sysctl.key", "is not under net.", 13},
				{"scenario[1].sysctl.value", "empty sysctl value", 13},
				{"scenario[2].neigh.dev", "neigh add needs dev", 14},
				{"scenario[3].neigh.action", `action "zap"`, 15},
				{"scenario[3].neigh.dev", "node h1 has no interface eth9", 15},
				{"scenario[4].exec.node", `unknown node "h3"`, 16},
				{"scenario[4].exec.cmd", "exec needs cmd", 16},
				{"scenario[5].link.state", `state "sideways"`, 17},
				{"scenario[6].firewall", "give either add: [rules] or flush: true", 18},
				{"scenario[7].tcp.port", "port 0 out of range", 19},
				{"scenario[7].tcp", "give exactly one of bytes or duration", 19},
				{"scenario[8].expect", "a route condition needs via, dev or type", 20},
				{"scenario[9].expect.value", "a sysctl condition needs value", 21},
				{"scenario[10].wait.absent", "contradict", 22},
				{"scenario[10].wait.timeout", "timeout must be positive", 22},
				{"scenario[11].expect", "exactly one of neighbor, route, sysctl or fdb", 23},
				{"scenario[12].capture.dev", "capture needs dev", 24},
				{"scenario[13].ping.expect", `expect "maybe"`, 25},
				{"scenario[13].ping.loss", `loss "some"`, 25},
			},
		},
		{
			name: "a scenario firewall rule is checked like a node's",
			src: head + `  - firewall: {node: h1, add: [{chain: input, action: drop, proto: udp, dport: 99999}]}
`,
			wants: []want{{"scenario[0].firewall.add[0].dport", "port 99999 out of range", 12}},
		},
		{
			name: "every kind of valid step",
			src: head + `  - name: warm up
    ping: {from: h1, to: 192.0.2.2, count: 3, interval: 10ms, timeout: 1s, dev: eth0, expect: success, loss: 0%}
  - arping: {from: h2, dev: eth0, to: 192.0.2.2, mode: gratuitous}
  - arping: {from: h2, to: 192.0.2.1, count: 2}
  - tcp: {from: h1, to: 192.0.2.2, port: 5201, bytes: 1000}
  - tcp: {from: h1, to: 192.0.2.2, port: 5201, duration: 1s}
  - expect: {node: h1, neighbor: 192.0.2.2, state: [reachable, Delay]}
  - wait: {node: h1, neighbor: 192.0.2.2, state: STALE, timeout: 10s}
  - wait: {node: h1, neighbor: 192.0.2.3, absent: true}
  - expect: {node: h1, neighbor: 192.0.2.2, lladdr: "02:00:00:00:00:02"}
  - expect: {node: h1, route: {to: 203.0.113.7, from: 192.0.2.1, iif: eth0, mark: 7}, via: 192.0.2.2, dev: eth0}
  - expect: {node: h1, sysctl: net.ipv4.neigh.eth0.base_reachable_time_ms, value: 30000}
  - expect: {node: h1, fdb: "02:00:00:00:00:02", dev: eth0}
  - sysctl: {node: h1, key: net.ipv4.neigh.eth0.gc_stale_time, value: 5}
  - neigh: {node: h1, action: set, to: 192.0.2.2, dev: eth0, lladdr: "02:00:00:00:00:02", state: stale}
  - neigh: {node: h1, action: flush, dev: eth0}
  - exec: {node: h2, cmd: [ip, -j, neigh, show], expect_exit: 0}
  - link: {node: h2, dev: eth0, state: down}
  - link: {node: h2, dev: eth0, state: UP}
  - firewall: {node: h2, add: [{chain: input, action: drop, proto: icmp}]}
  - firewall: {node: h2, flush: true}
  - capture: {node: h1, dev: eth0, file: out.pcap, count: 10, duration: 2s}
  - sleep: 1s
  - sleep: 0
`,
		},
	})
}

func TestValidateReportsAllAtOnce(t *testing.T) {
	path := filepath.Join("testdata", "multi_error.yaml")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	l, err := Parse(path, data)
	if err != nil {
		t.Fatalf("%s must parse (its mistakes are for Validate): %v", path, err)
	}
	_, err = l.Validate(ValidateOptions{})
	ps := problemsOf(t, err)
	if len(ps) < 10 {
		t.Fatalf("got %d problems, want at least 10 (one per mistake):\n%v", len(ps), err)
	}
	wants := []want{
		{"name", "is a netlab verb", 1},
		{"nodes.Router-1", "must match [a-z0-9_]+", 3},
		{"nodes.h1.interfaces.eth0.addresses[1]", `address "192.0.2.300/24"`, 9},
		{"nodes.h1.interfaces.eth0.mac", "is a multicast address", 10},
		{"nodes.h1.interfaces.eth5", "is not a link end", 11},
		{"nodes.h1.sysctls.kernel.pid_max", "is not under net.", 13},
		{"nodes.h1.sysctls.net.ipv4.neigh.default.gc_thresh1", "host.sysctls", 14},
		{"nodes.h1.routes[0].via", "is not on any declared subnet", 16},
		{"nodes.h2.interfaces.eth0.addresses[0]", "on the same L2 segment", 20},
		{"links[1].endpoints[1]", `unknown node "h9"`, 23},
		{"scenario[0].ping.count", "want a positive number", 25},
		{"scenario[1]", "exactly one action", 26},
	}
	matchProblems(t, "problem", ps, wants)
	// Sorted by position.
	for i := 1; i < len(ps); i++ {
		if ps[i].Line < ps[i-1].Line || ps[i].Line == ps[i-1].Line && ps[i].Col < ps[i-1].Col {
			t.Errorf("problems out of order: %s before %s", ps[i-1], ps[i])
		}
	}
	// Every problem of the file has a position and its path in its text.
	for _, p := range ps {
		if p.Line == 0 || !strings.HasPrefix(p.String(), fmt.Sprintf("%s:%d:%d: %s: ", path, p.Line, p.Col, p.Path)) {
			t.Errorf("problem without a position: %s", p)
		}
	}
}

// contract loads labs/contract.yaml, which must validate.
func contract(t *testing.T) (*Topo, []*Problem) {
	t.Helper()
	l, warns, err := Load(filepath.Join("..", "labs", "contract.yaml"), ValidateOptions{})
	if err != nil {
		t.Fatalf("labs/contract.yaml: %v", err)
	}
	topo := l.Resolve()
	if topo == nil {
		t.Fatal("no resolved topology")
	}
	return topo, warns
}

func node(t *testing.T, topo *Topo, name string) *RNode {
	t.Helper()
	for _, n := range topo.Nodes {
		if n.Name == name {
			return n
		}
	}
	t.Fatalf("no node %s", name)
	return nil
}

func iface(t *testing.T, n *RNode, name string) *RIface {
	t.Helper()
	i := n.Iface(name)
	if i == nil {
		t.Fatalf("node %s has no interface %s", n.Name, name)
	}
	return i
}

func sysctlKeys(ss []Sysctl) []string {
	var out []string
	for _, s := range ss {
		out = append(out, s.Key+"="+s.Value)
	}
	return out
}

func TestContract(t *testing.T) {
	topo, warns := contract(t)
	if len(warns) != 0 {
		t.Errorf("labs/contract.yaml has warnings: %v", warns)
	}
	if topo.Name != "contract" {
		t.Errorf("name %q", topo.Name)
	}
	var names, netns []string
	for _, n := range topo.Nodes {
		names = append(names, n.Name)
		netns = append(netns, n.Netns)
	}
	if want := []string{"h1", "h2", "h3", "h4", "sw"}; !slices.Equal(names, want) {
		t.Errorf("nodes %v, want %v (sorted)", names, want)
	}
	if want := []string{"contract-h1", "contract-h2", "contract-h3", "contract-h4", "contract-sw"}; !slices.Equal(netns, want) {
		t.Errorf("namespaces %v, want %v", netns, want)
	}

	sw := node(t, topo, "sw")
	if sw.Kind != NodeKindBridge {
		t.Errorf("sw kind %q", sw.Kind)
	}
	br := iface(t, sw, "br0")
	if br.Kind != IfBridge || !slices.Equal(br.Ports, []string{"p1", "p2"}) || br.STP || br.Ageing != 300*time.Second || !br.Up {
		t.Errorf("sw br0: %+v", br)
	}
	for _, p := range []string{"p1", "p2"} {
		if pi := iface(t, sw, p); pi.Master != "br0" || pi.Kind != IfVeth {
			t.Errorf("sw %s: master %q kind %q", p, pi.Master, pi.Kind)
		}
	}

	h2 := node(t, topo, "h2")
	hbr := iface(t, h2, "br0")
	if hbr.Kind != IfBridge || !slices.Equal(hbr.Ports, []string{"eth1", "eth2"}) {
		t.Errorf("h2 br0: kind %q ports %v", hbr.Kind, hbr.Ports)
	}
	if got := fmt.Sprint(hbr.Addresses); got != "[198.51.100.1/24]" {
		t.Errorf("h2 br0 addresses %s", got)
	}
	for _, p := range []string{"eth1", "eth2"} {
		if iface(t, h2, p).Master != "br0" {
			t.Errorf("h2 %s is not a port of br0", p)
		}
	}
	if m := iface(t, h2, "eth0").Master; m != "" {
		t.Errorf("h2 eth0 has master %q", m)
	}
	// Interfaces sorted: lo, veths by name, bridges.
	var ifs []string
	for _, i := range h2.Ifaces {
		ifs = append(ifs, i.Name)
	}
	if want := []string{"lo", "eth0", "eth1", "eth2", "br0"}; !slices.Equal(ifs, want) {
		t.Errorf("h2 interfaces %v, want %v", ifs, want)
	}

	h1 := node(t, topo, "h1")
	eth0 := iface(t, h1, "eth0")
	if eth0.MAC.String() != "02:00:00:00:00:01" {
		t.Errorf("h1 eth0 mac %v", eth0.MAC)
	}
	wantAddrs := []netip.Prefix{netip.MustParsePrefix("192.0.2.1/24"), netip.MustParsePrefix("2001:db8::1/64")}
	if !slices.Equal(eth0.Addresses, wantAddrs) {
		t.Errorf("h1 eth0 addresses %v, want %v", eth0.Addresses, wantAddrs)
	}
	if eth0.MTU != 1500 || eth0.Peer == nil || *eth0.Peer != (Endpoint{"sw", "p1"}) || eth0.Link != 0 {
		t.Errorf("h1 eth0: mtu %d peer %v link %d", eth0.MTU, eth0.Peer, eth0.Link)
	}
	if got := sysctlKeys(eth0.Sysctls); !slices.Equal(got, []string{
		"net.ipv4.neigh.eth0.base_reachable_time_ms=5000",
		"net.ipv4.neigh.eth0.delay_first_probe_time=1",
	}) {
		t.Errorf("h1 eth0 sysctls %v", got)
	}
	if got := sysctlKeys(h1.Sysctls); !slices.Equal(got, []string{"net.ipv4.conf.all.rp_filter=0"}) {
		t.Errorf("h1 node sysctls %v", got)
	}
	if lo := iface(t, h1, "lo"); fmt.Sprint(lo.Addresses) != "[10.255.0.1/32]" || lo.Kind != IfLo {
		t.Errorf("h1 lo: %+v", lo)
	}

	// The link mtu applies to both ends unless an interface sets its own.
	if got := iface(t, h2, "eth0").MTU; got != 1500 {
		t.Errorf("h2 eth0 mtu %d, want the link's 1500", got)
	}
	if len(topo.Links) != 4 || topo.Links[1].A != (Endpoint{"h2", "eth0"}) || topo.Links[1].MTU != 1500 {
		t.Errorf("links: %+v", topo.Links)
	}
	if got := sysctlKeys(topo.HostSysctls); !slices.Equal(got, []string{"net.ipv4.neigh.default.gc_interval=30"}) || !topo.HostSysctls[0].RootOnly {
		t.Errorf("host sysctls %v", got)
	}
	if topo.Lab.Scenario[0].Action() != "ping" || len(topo.Lab.Scenario) != 9 {
		t.Errorf("scenario not kept: %d steps", len(topo.Lab.Scenario))
	}
	if id, err := TableID(h1.Spec, "isp1"); err != nil || id != 101 {
		t.Errorf("TableID(isp1) = %d, %v", id, err)
	}
}

func TestRouterDefaults(t *testing.T) {
	l := parseOK(t, `name: t
nodes:
  r1:
    kind: router
  r2:
    kind: router
    sysctls:
      net.ipv4.ip_forward: 0
      net.core.somaxconn: 512
      net.ipv4.conf.default.rp_filter: 2
  h1:
    sysctls: {net.core.somaxconn: 512}
`)
	if _, err := l.Validate(ValidateOptions{}); err != nil {
		t.Fatal(err)
	}
	topo := l.Resolve()
	r1 := node(t, topo, "r1")
	if got, want := sysctlKeys(r1.Sysctls), []string{
		"net.ipv4.conf.all.forwarding=1",
		"net.ipv6.conf.all.forwarding=1",
		"net.ipv4.ip_forward=1",
	}; !slices.Equal(got, want) {
		t.Errorf("r1 sysctls %v, want %v", got, want)
	}
	for _, s := range r1.Sysctls {
		if s.From != "" {
			t.Errorf("kind default %s has From %q", s.Key, s.From)
		}
	}
	r2 := node(t, topo, "r2")
	if got, want := sysctlKeys(r2.Sysctls), []string{
		"net.ipv4.conf.all.forwarding=1",
		"net.ipv6.conf.all.forwarding=1",
		"net.ipv4.conf.default.rp_filter=2",
		"net.core.somaxconn=512",
		"net.ipv4.ip_forward=0",
	}; !slices.Equal(got, want) {
		t.Errorf("r2 sysctls %v, want %v (explicit ip_forward wins, globals first)", got, want)
	}
	for _, s := range r2.Sysctls {
		if s.Key == "net.ipv4.ip_forward" && s.From != "nodes.r2.sysctls.net.ipv4.ip_forward" {
			t.Errorf("explicit ip_forward From %q", s.From)
		}
	}
	if got := sysctlKeys(node(t, topo, "h1").Sysctls); !slices.Equal(got, []string{"net.core.somaxconn=512"}) {
		t.Errorf("a host gets no forwarding defaults: %v", got)
	}
}

func TestSysctlOrder(t *testing.T) {
	l := parseOK(t, `name: t
nodes:
  h1:
    sysctls:
      net.core.somaxconn: 512
      net.ipv4.tcp_syncookies: 1
      net.ipv6.conf.default.disable_ipv6: 0
      net.ipv4.conf.all.arp_ignore: 1
      net.ipv4.conf.eth0/1.rp_filter: 2
      net.ipv4.conf.eth0.arp_announce: 2
      net.ipv6.neigh.eth0/1.retrans_time_ms: 500
  h2: {}
links:
  - endpoints: [h1:eth0, h2:eth0]
  - endpoints: [h1:eth0.1, h2:eth1]
`)
	if _, err := l.Validate(ValidateOptions{}); err != nil {
		t.Fatal(err)
	}
	h1 := node(t, l.Resolve(), "h1")
	got := sysctlKeys(h1.Sysctls)
	want := []string{
		"net.ipv4.conf.all.arp_ignore=1",
		"net.ipv6.conf.default.disable_ipv6=0",
		"net.core.somaxconn=512",
		"net.ipv4.tcp_syncookies=1",
	}
	if !slices.Equal(got, want) {
		t.Errorf("node sysctls %v, want %v (conf.all/default first)", got, want)
	}
	seenOther := false
	for _, s := range h1.Sysctls {
		if !s.Global {
			seenOther = true
		} else if seenOther {
			t.Errorf("global key %s after a non-global one", s.Key)
		}
	}
	dotted := iface(t, h1, "eth0.1")
	if got := sysctlKeys(dotted.Sysctls); !slices.Equal(got, []string{
		"net.ipv4.conf.eth0/1.rp_filter=2",
		"net.ipv6.neigh.eth0/1.retrans_time_ms=500",
	}) {
		t.Errorf("eth0.1 sysctls %v", got)
	}
	if p := dotted.Sysctls[0].Path; p != "net/ipv4/conf/eth0.1/rp_filter" {
		t.Errorf("eth0.1 rp_filter path %q", p)
	}
	if got := sysctlKeys(iface(t, h1, "eth0").Sysctls); !slices.Equal(got, []string{"net.ipv4.conf.eth0.arp_announce=2"}) {
		t.Errorf("eth0 sysctls %v", got)
	}
}

func TestWarnings(t *testing.T) {
	const base = `name: t
nodes:
  h1:
    interfaces:
      eth0: {addresses: [192.0.2.1/24, 2001:db8::1/64]}
    sysctls:
%s
    firewall:
%s
  h2: {}
links:
  - endpoints: [h1:eth0, h2:eth0]
`
	tests := []struct {
		name     string
		sysctls  string
		firewall string
		wants    []want
	}{
		{
			name:     "delay_first_probe_time left at 5 with base_reachable_time_ms 5000",
			sysctls:  "      net.ipv4.neigh.eth0.base_reachable_time_ms: 5000",
			firewall: "      - {chain: input, action: drop, proto: tcp, dport: 9}",
			wants:    []want{{"nodes.h1.sysctls.net.ipv4.neigh.eth0.base_reachable_time_ms", "delay_first_probe_time (5s) >= base_reachable_time/2 (2.5s)", 7}},
		},
		{
			name:     "delay_first_probe_time 1 with base_reachable_time_ms 5000",
			sysctls:  "      net.ipv4.neigh.eth0.base_reachable_time_ms: 5000\n      net.ipv4.neigh.eth0.delay_first_probe_time: 1",
			firewall: "      - {chain: input, action: drop, proto: tcp, dport: 9}",
		},
		{
			name:     "base_reachable_time in seconds",
			sysctls:  "      net.ipv4.neigh.eth0.delay_first_probe_time: 3\n      net.ipv4.neigh.eth0.base_reachable_time: 4",
			firewall: "      - {chain: input, action: drop, proto: tcp, dport: 9}",
			wants:    []want{{"nodes.h1.sysctls.net.ipv4.neigh.eth0.base_reachable_time", "delay_first_probe_time (3s) >= base_reachable_time/2 (2s)", 8}},
		},
		{
			name:     "the kernel's default base_reachable_time",
			sysctls:  "      net.ipv4.neigh.eth0.delay_first_probe_time: 5",
			firewall: "      - {chain: input, action: drop, proto: tcp, dport: 9}",
		},
		{
			name:     "dropping icmpv6",
			sysctls:  "      net.core.somaxconn: 512",
			firewall: "      - {chain: input, action: drop, proto: tcp, dport: 9}\n      - {chain: input, action: drop, proto: icmpv6}\n      - {chain: output, action: reject, proto: icmpv6}",
			wants: []want{
				{"nodes.h1.firewall[1]", "drops IPv6 neighbour discovery", 10},
				{"nodes.h1.firewall[2]", "drops IPv6 neighbour discovery", 11},
			},
		},
		{
			name:     "accepting icmpv6 or dropping one icmpv6 type",
			sysctls:  "      net.core.somaxconn: 512",
			firewall: "      - {chain: input, action: accept, proto: icmpv6}\n      - {chain: input, action: drop, proto: icmpv6, icmp_type: echo-request}",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := parseOK(t, fmt.Sprintf(base, tt.sysctls, tt.firewall))
			warns, err := l.Validate(ValidateOptions{})
			if err != nil {
				t.Fatalf("warnings must not fail validation: %v", err)
			}
			matchProblems(t, "warning", warns, tt.wants)
		})
	}

	// A warning for a bridge port carrying addresses, and one for IPv6 on a
	// small mtu.
	l := parseOK(t, `name: t
nodes:
  h1:
    interfaces:
      br0: {kind: bridge, ports: [eth0]}
      eth0: {addresses: [192.0.2.1/24]}
      eth1: {addresses: [2001:db8::1/64], mtu: 1000}
  h2: {}
links:
  - endpoints: [h1:eth0, h2:eth0]
  - endpoints: [h1:eth1, h2:eth1]
`)
	warns, err := l.Validate(ValidateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	matchProblems(t, "warning", warns, []want{
		{"nodes.h1.interfaces.eth0.addresses", "is a port of bridge br0", 6},
		{"nodes.h1.interfaces.eth1.mtu", "below IPv6's minimum 1280", 7},
	})
}

func TestParseSysctlKey(t *testing.T) {
	tests := []struct {
		key  string
		want SysctlKey
	}{
		{"net.ipv4.ip_forward", SysctlKey{Key: "net.ipv4.ip_forward", Path: "net/ipv4/ip_forward", Leaf: "ip_forward"}},
		{" net.core.somaxconn\t", SysctlKey{Key: "net.core.somaxconn", Path: "net/core/somaxconn", Leaf: "somaxconn"}},
		{"net.ipv4.conf.eth0/1.rp_filter", SysctlKey{Key: "net.ipv4.conf.eth0/1.rp_filter", Path: "net/ipv4/conf/eth0.1/rp_filter",
			Iface: "eth0.1", Section: "conf", Family: "ipv4", Leaf: "rp_filter"}},
		{"net.ipv6.neigh.eth0.base_reachable_time_ms", SysctlKey{Key: "net.ipv6.neigh.eth0.base_reachable_time_ms", Path: "net/ipv6/neigh/eth0/base_reachable_time_ms",
			Iface: "eth0", Section: "neigh", Family: "ipv6", Leaf: "base_reachable_time_ms"}},
		{"net.ipv4.conf.all.rp_filter", SysctlKey{Key: "net.ipv4.conf.all.rp_filter", Path: "net/ipv4/conf/all/rp_filter",
			Section: "conf", Family: "ipv4", Leaf: "rp_filter", Global: true}},
		{"net.ipv6.conf.default.forwarding", SysctlKey{Key: "net.ipv6.conf.default.forwarding", Path: "net/ipv6/conf/default/forwarding",
			Section: "conf", Family: "ipv6", Leaf: "forwarding", Global: true}},
		{"net.ipv4.neigh.default.gc_thresh1", SysctlKey{Key: "net.ipv4.neigh.default.gc_thresh1", Path: "net/ipv4/neigh/default/gc_thresh1",
			Section: "neigh", Family: "ipv4", Leaf: "gc_thresh1", RootOnly: true}},
		{"net.ipv4.neigh.all.gc_stale_time", SysctlKey{Key: "net.ipv4.neigh.all.gc_stale_time", Path: "net/ipv4/neigh/all/gc_stale_time",
			Section: "neigh", Family: "ipv4", Leaf: "gc_stale_time", Global: true}},
		{"net.ipv4.conf.a/b/c.rp_filter", SysctlKey{Key: "net.ipv4.conf.a/b/c.rp_filter", Path: "net/ipv4/conf/a.b.c/rp_filter",
			Iface: "a.b.c", Section: "conf", Family: "ipv4", Leaf: "rp_filter"}},
		{"net.ipv4.route.flush", SysctlKey{Key: "net.ipv4.route.flush", Path: "net/ipv4/route/flush", Leaf: "flush"}},
	}
	for _, tt := range tests {
		got, err := ParseSysctlKey(tt.key)
		if err != nil {
			t.Errorf("ParseSysctlKey(%q): %v", tt.key, err)
			continue
		}
		if got != tt.want {
			t.Errorf("ParseSysctlKey(%q) =\n %+v\nwant\n %+v", tt.key, got, tt.want)
		}
	}
	if k, _ := ParseSysctlKey("net.ipv4.neigh.eth0.base_reachable_time_ms"); !k.IsJiffyMS() {
		t.Error("base_reachable_time_ms is not a jiffy-ms key")
	}
	if k, _ := ParseSysctlKey("net.ipv4.neigh.eth0.base_reachable_time"); k.IsJiffyMS() {
		t.Error("base_reachable_time is a jiffy-ms key")
	}

	refused := []struct{ key, msg string }{
		{"", "empty sysctl key"},
		{"   ", "empty sysctl key"},
		{"kernel.pid_max", "not under net."},
		{"net", "not under net."},
		{"NET.ipv4.ip_forward", "not under net."},
		{"net..x", "empty or relative element"},
		{"net.", "empty or relative element"},
		{".net.ipv4", "empty or relative element"},
		{"net.ipv4.conf.../x", "empty or relative element"},
		{"net.ipv4.conf./.rp_filter", "empty or relative element"},
		{"net.ipv4.conf.//.rp_filter", "empty or relative element"},
		{"net.ipv4.conf.x/...rp_filter", "sysctl key"},
		{"net.ipv4.conf.eth0/../rp_filter", "empty or relative element"},
		{"net.ipv4.conf.a//b.rp_filter", "'..'"},
		{"net/ipv4/ip_forward", "use the dotted form"},
		{"net.ipv4.conf.eth 0.rp_filter", "contains ' '"},
		{"net.ipv4.conf.eth\x000.rp_filter", "contains"},
		{"net.ipv4.conf.eth0\n.rp_filter", "contains"},
		{"net.ipv4.conf.*.rp_filter", "contains '*'"},
	}
	for _, tt := range refused {
		k, err := ParseSysctlKey(tt.key)
		if err == nil {
			t.Errorf("ParseSysctlKey(%q) = %+v, want an error", tt.key, k)
			continue
		}
		if !strings.Contains(err.Error(), tt.msg) {
			t.Errorf("ParseSysctlKey(%q): %v, want it to mention %q", tt.key, err, tt.msg)
		}
	}
}

// Every path a key can be turned into stays under net/, has no empty, "." or
// ".." element.
func TestParseSysctlKeyPathsStayUnderNet(t *testing.T) {
	parts := []string{"net", "ipv4", "conf", "..", ".", "/", "//", "a/b", "eth0", "", "x/..", "../x", "...", "/a", "a/"}
	for _, a := range parts {
		for _, b := range parts {
			for _, c := range parts {
				key := strings.Join([]string{"net", a, b, c}, ".")
				k, err := ParseSysctlKey(key)
				if err != nil {
					continue
				}
				if !strings.HasPrefix(k.Path, "net/") {
					t.Errorf("%q -> path %q not under net/", key, k.Path)
				}
				for _, e := range strings.Split(k.Path, "/") {
					if e == "" || e == "." || e == ".." || strings.Contains(e, "..") {
						t.Errorf("%q -> path %q has element %q", key, k.Path, e)
					}
				}
				if filepath.Clean("/proc/sys/"+k.Path) != "/proc/sys/"+k.Path {
					t.Errorf("%q -> path %q is not clean", key, k.Path)
				}
			}
		}
	}
}

func TestTableID(t *testing.T) {
	n := &Node{Tables: map[string]uint32{"isp1": 101}}
	for _, tt := range []struct {
		in   Value
		want uint32
		err  string
	}{
		{"", 254, ""}, {"main", 254, ""}, {"local", 255, ""}, {"default", 253, ""},
		{"isp1", 101, ""}, {" 7 ", 7, ""}, {"4294967295", 4294967295, ""},
		{"0", 0, "table 0"}, {"isp2", 0, `unknown table "isp2"`}, {"4294967296", 0, "unknown table"},
	} {
		got, err := TableID(n, tt.in)
		if err == nil && tt.in != "isp1" {
			if name := TableName(got); strings.TrimSpace(string(tt.in)) != name && !(tt.in == "" && name == "main") {
				t.Errorf("TableName(%d) = %q, want %q", got, name, tt.in)
			}
		}
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("TableID(%q) = %d, %v; want error %q", tt.in, got, err, tt.err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("TableID(%q) = %d, %v; want %d", tt.in, got, err, tt.want)
		}
	}
}

// A lab built in Go (no file, no positions) validates too, and its problems
// carry paths.
func TestValidateInMemory(t *testing.T) {
	l := &Lab{
		Name: "mem",
		Nodes: map[string]*Node{
			"h1": {Interfaces: map[string]*Interface{"eth0": {Addresses: []string{"192.0.2.1/24"}, MAC: "02:00:00:00:00:01"}}},
			"h2": nil,
		},
		Links: []*Link{{Endpoints: []string{"h1:eth0", "h2:eth0"}}},
	}
	if _, err := l.Validate(ValidateOptions{}); err != nil {
		t.Fatal(err)
	}
	topo := l.Resolve()
	eth0 := iface(t, node(t, topo, "h1"), "eth0")
	if !slices.Equal(eth0.MAC, net.HardwareAddr{2, 0, 0, 0, 0, 1}) || node(t, topo, "h2").Netns != "mem-h2" {
		t.Errorf("resolved: %+v", eth0)
	}
	bad := &Lab{Name: "mem", Nodes: map[string]*Node{"h1": {Interfaces: map[string]*Interface{"eth0": {}}}}}
	_, err := bad.Validate(ValidateOptions{})
	ps := problemsOf(t, err)
	if len(ps) != 1 || ps[0].Path != "nodes.h1.interfaces.eth0" || ps[0].Line != 0 || !strings.HasPrefix(ps[0].String(), "<lab>: nodes.h1.interfaces.eth0: ") {
		t.Errorf("got %v", err)
	}
}

// Every lab under labs/ is valid.
func TestExampleLabsValidate(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("..", "labs", "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no labs/*.yaml")
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			if _, err := os.Stat(f); err != nil {
				t.Fatal(err)
			}
			if _, _, err := Load(f, ValidateOptions{}); err != nil {
				t.Errorf("%v", err)
			}
		})
	}
}

func TestFixtures(t *testing.T) {
	l, warns, err := Load(filepath.Join("testdata", "full.yaml"), ValidateOptions{})
	if err != nil {
		t.Fatalf("testdata/full.yaml: %v", err)
	}
	if len(warns) != 0 {
		t.Errorf("testdata/full.yaml warnings: %v", warns)
	}
	topo := l.Resolve()
	sw := node(t, topo, "sw")
	br := iface(t, sw, "sw0")
	if !br.STP || br.Ageing != 10*time.Second || !slices.Equal(br.Ports, []string{"p1", "p2", "p3"}) {
		t.Errorf("sw0: %+v", br)
	}
	if sw.Iface("br0") != nil {
		t.Error("a switch with bridge.name sw0 also has br0")
	}
	r1 := node(t, topo, "r1")
	if got, want := sysctlKeys(r1.Sysctls), []string{
		"net.ipv4.conf.all.forwarding=1",
		"net.ipv4.conf.all.rp_filter=0",
		"net.ipv6.conf.all.forwarding=0",
		"net.ipv4.ip_forward=1",
	}; !slices.Equal(got, want) {
		t.Errorf("r1 sysctls %v, want %v", got, want)
	}
	vlan := iface(t, r1, "eth0.10")
	if got := sysctlKeys(vlan.Sysctls); !slices.Equal(got, []string{"net.ipv4.conf.eth0/10.rp_filter=2"}) {
		t.Errorf("r1 eth0.10 sysctls %v", got)
	}
	if vlan.Peer == nil || *vlan.Peer != (Endpoint{"sw", "p1"}) || vlan.Kind != IfVeth {
		t.Errorf("r1 eth0.10 peer %v", vlan.Peer)
	}
	eth1 := iface(t, r1, "eth1")
	if eth1.MTU != 9000 {
		t.Errorf("r1 eth1 mtu %d", eth1.MTU)
	}
	h2 := node(t, topo, "h2")
	if e := iface(t, h2, "eth0"); e.Up || !e.DAD {
		t.Errorf("h2 eth0: up %v dad %v, want down with DAD", e.Up, e.DAD)
	}
	if b := iface(t, h2, "br0"); b.Ageing != time.Minute || b.STP {
		t.Errorf("h2 br0: %+v", b)
	}
	if len(topo.HostSysctls) != 2 {
		t.Errorf("host sysctls %v", topo.HostSysctls)
	}

	l, _, err = Load(filepath.Join("testdata", "templates.yaml"), ValidateOptions{})
	if err != nil {
		t.Fatalf("testdata/templates.yaml: %v", err)
	}
	topo = l.Resolve()
	for _, name := range []string{"r1", "r2"} {
		r := node(t, topo, name)
		if r.Kind != NodeKindRouter || len(r.Spec.Firewall) != 1 || !slices.Contains(sysctlKeys(r.Sysctls), "net.core.somaxconn=1024") {
			t.Errorf("%s did not get the router template: kind %q sysctls %v", name, r.Kind, sysctlKeys(r.Sysctls))
		}
	}
	if got := sysctlKeys(node(t, topo, "h1").Sysctls); !slices.Equal(got, []string{"net.ipv4.conf.all.rp_filter=0", "net.core.somaxconn=1024"}) {
		t.Errorf("h1 sysctls %v", got)
	}
}

// The lab-size limits are checked before anything else, and one over each
// is refused.
func TestValidateLimits(t *testing.T) {
	var b strings.Builder
	b.WriteString("name: t\nnodes:\n")
	for i := 0; i <= MaxNodes; i++ {
		fmt.Fprintf(&b, "  n%d: {}\n", i)
	}
	l := parseOK(t, b.String())
	_, err := l.Validate(ValidateOptions{})
	ps := problemsOf(t, err)
	if len(ps) != 1 || ps[0].Path != "nodes" || ps[0].Line != 2 || !strings.Contains(ps[0].Msg, "10001 nodes; at most 10000") {
		t.Errorf("got %v", err)
	}

	b.Reset()
	b.WriteString("name: t\nnodes: {a: {}, b: {}}\nlinks:\n  - &l {endpoints: [a:e0, b:e0]}\n")
	for i := 1; i <= MaxLinks; i++ {
		b.WriteString("  - *l\n")
	}
	l = parseOK(t, b.String())
	if len(l.Links) != MaxLinks+1 {
		t.Fatalf("%d links parsed", len(l.Links))
	}
	_, err = l.Validate(ValidateOptions{})
	ps = problemsOf(t, err)
	if len(ps) != 1 || ps[0].Path != "links" || ps[0].Line != 3 || !strings.Contains(ps[0].Msg, "100001 links; at most 100000") {
		t.Errorf("got %v", err)
	}
}
