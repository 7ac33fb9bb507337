package lab

import (
	"net/netip"
	"reflect"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/netlabdev/netlab/routectl"
	"github.com/netlabdev/netlab/topology"
)

func u32(v uint32) *uint32 { return &v }

var routeNode = &topology.Node{Tables: map[string]uint32{"isp1": 101, "isp2": 102}}

func TestRouteSpec(t *testing.T) {
	pfx := netip.MustParsePrefix
	ip := netip.MustParseAddr
	cases := []struct {
		name string
		r    topology.Route
		want routectl.Route
		line string
		err  string
	}{
		{name: "IPv4 default",
			r:    topology.Route{To: "default", Via: "192.0.2.254"},
			want: routectl.Route{Family: unix.AF_INET, To: pfx("0.0.0.0/0"), Via: ip("192.0.2.254"), Table: 254},
			line: "ip -n ns route add default via 192.0.2.254"},
		{name: "IPv6 default from its next hop",
			r:    topology.Route{To: "default", Via: "fe80::1", Dev: "eth0"},
			want: routectl.Route{Family: unix.AF_INET6, To: pfx("::/0"), Via: ip("fe80::1"), Dev: "eth0", Table: 254},
			line: "ip -n ns -6 route add default via fe80::1 dev eth0"},
		{name: "IPv6 ::/0",
			r:    topology.Route{To: "::/0", Via: "2001:db8::fe"},
			want: routectl.Route{Family: unix.AF_INET6, To: pfx("::/0"), Via: ip("2001:db8::fe"), Table: 254},
			line: "ip -n ns -6 route add default via 2001:db8::fe"},
		{name: "named table and metric",
			r:    topology.Route{To: "203.0.113.0/24", Via: "192.0.2.2", Table: "isp1", Metric: u32(10)},
			want: routectl.Route{Family: unix.AF_INET, To: pfx("203.0.113.0/24"), Via: ip("192.0.2.2"), Table: 101, Metric: 10},
			line: "ip -n ns route add 203.0.113.0/24 via 192.0.2.2 table 101 metric 10  # table isp1"},
		{name: "numbered table, metric 0 declared",
			r:    topology.Route{To: "2001:db8:9::/48", Via: "fe80::2", Dev: "eth0", Table: "7", Metric: u32(0)},
			want: routectl.Route{Family: unix.AF_INET6, To: pfx("2001:db8:9::/48"), Via: ip("fe80::2"), Dev: "eth0", Table: 7},
			line: "ip -n ns -6 route add 2001:db8:9::/48 via fe80::2 dev eth0 table 7 metric 0"},
		{name: "blackhole",
			r:    topology.Route{To: "198.18.0.0/15", Type: "Blackhole"},
			want: routectl.Route{Family: unix.AF_INET, To: pfx("198.18.0.0/15"), Type: "blackhole", Table: 254},
			line: "ip -n ns route add blackhole 198.18.0.0/15"},
		{name: "a type without any address is IPv4",
			r:    topology.Route{To: "default", Type: "unreachable", Table: "main"},
			want: routectl.Route{Family: unix.AF_INET, To: pfx("0.0.0.0/0"), Type: "unreachable", Table: 254},
			line: "ip -n ns route add unreachable default"},
		{name: "dev only default is IPv4",
			r:    topology.Route{To: "default", Dev: "eth0", Scope: "link"},
			want: routectl.Route{Family: unix.AF_INET, To: pfx("0.0.0.0/0"), Dev: "eth0", Table: 254, Scope: "link"},
			line: "ip -n ns route add default dev eth0 scope link"},
		{name: "host route with src",
			r:    topology.Route{To: "203.0.113.7", Via: "192.0.2.3", Src: "192.0.2.1"},
			want: routectl.Route{Family: unix.AF_INET, To: pfx("203.0.113.7/32"), Via: ip("192.0.2.3"), Src: ip("192.0.2.1"), Table: 254},
			line: "ip -n ns route add 203.0.113.7 via 192.0.2.3 src 192.0.2.1"},
		{name: "onlink",
			r:    topology.Route{To: "198.51.100.0/24", Via: "203.0.113.1", Dev: "eth0", Onlink: true},
			want: routectl.Route{Family: unix.AF_INET, To: pfx("198.51.100.0/24"), Via: ip("203.0.113.1"), Dev: "eth0", Onlink: true, Table: 254},
			line: "ip -n ns route add 198.51.100.0/24 via 203.0.113.1 dev eth0 onlink"},
		{name: "multipath: route onlink applies to every next hop",
			r: topology.Route{To: "10.0.0.0/8", Onlink: true, Table: "isp2", Nexthops: []*topology.Nexthop{
				{Via: "192.0.2.2", Dev: "eth0", Weight: 2}, {Via: "192.0.2.3", Dev: "eth1"}}},
			want: routectl.Route{Family: unix.AF_INET, To: pfx("10.0.0.0/8"), Table: 102, Nexthops: []routectl.Nexthop{
				{Via: ip("192.0.2.2"), Dev: "eth0", Weight: 2, Onlink: true}, {Via: ip("192.0.2.3"), Dev: "eth1", Onlink: true}}},
			line: "ip -n ns route add 10.0.0.0/8 table 102 nexthop via 192.0.2.2 dev eth0 weight 2 onlink nexthop via 192.0.2.3 dev eth1 weight 1 onlink  # table isp2"},
		{name: "multipath default takes the next hops' family",
			r:    topology.Route{To: "default", Nexthops: []*topology.Nexthop{{Via: "2001:db8::2"}, {Dev: "eth1"}}},
			want: routectl.Route{Family: unix.AF_INET6, To: pfx("::/0"), Table: 254, Nexthops: []routectl.Nexthop{{Via: ip("2001:db8::2")}, {Dev: "eth1"}}},
			line: "ip -n ns -6 route add default nexthop via 2001:db8::2 weight 1 nexthop dev eth1 weight 1"},
		{name: "local goes to table local, as with ip",
			r:    topology.Route{To: "192.0.2.50", Type: "local", Dev: "eth0"},
			want: routectl.Route{Family: unix.AF_INET, To: pfx("192.0.2.50/32"), Type: "local", Dev: "eth0", Table: 255},
			line: "ip -n ns route add local 192.0.2.50 dev eth0 table local"},
		{name: "local in a declared table stays there",
			r:    topology.Route{To: "192.0.2.50", Type: "local", Dev: "eth0", Table: "main"},
			want: routectl.Route{Family: unix.AF_INET, To: pfx("192.0.2.50/32"), Type: "local", Dev: "eth0", Table: 254},
			line: "ip -n ns route add local 192.0.2.50 dev eth0"},
		{name: "unicast and universe are the defaults' words",
			r:    topology.Route{To: "203.0.113.0/24", Via: "192.0.2.2", Type: "Unicast", Scope: "Universe", Table: "default"},
			want: routectl.Route{Family: unix.AF_INET, To: pfx("203.0.113.0/24"), Via: ip("192.0.2.2"), Scope: "global", Table: 253},
			line: "ip -n ns route add 203.0.113.0/24 via 192.0.2.2 table default scope global"},
		{name: "bad to", r: topology.Route{To: "nope", Via: "192.0.2.2"}, err: `to "nope"`},
		{name: "bad via", r: topology.Route{To: "default", Via: "192.0.2.300"}, err: `via "192.0.2.300"`},
		{name: "bad next hop", r: topology.Route{To: "default", Nexthops: []*topology.Nexthop{{Via: "x"}}}, err: `nexthops[0].via "x"`},
		{name: "unknown table", r: topology.Route{To: "default", Via: "192.0.2.2", Table: "isp9"}, err: `unknown table "isp9"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := routeSpec(routeNode, &c.r)
			line := routeLine("ns", routeNode, &c.r)
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Errorf("routeSpec error %v, want %q", err, c.err)
				}
				if !strings.HasPrefix(line, "# ") || !strings.Contains(line, c.err) {
					t.Errorf("line of an invalid route %q: want a comment naming %q", line, c.err)
				}
				return
			}
			if err != nil {
				t.Fatalf("routeSpec: %v", err)
			}
			if !reflect.DeepEqual(got, c.want) {
				t.Errorf("routeSpec =\n %+v\nwant\n %+v", got, c.want)
			}
			if line != c.line {
				t.Errorf("line\n got %q\nwant %q", line, c.line)
			}
		})
	}
}

func TestRuleSpec(t *testing.T) {
	pfx := netip.MustParsePrefix
	cases := []struct {
		name string
		r    topology.Rule
		want routectl.Rule
		line string
		err  string
	}{
		{name: "source rule, named table",
			r:    topology.Rule{Priority: u32(100), From: "192.0.2.0/25", Table: "isp1"},
			want: routectl.Rule{Family: unix.AF_INET, Priority: 100, HasPriority: true, From: pfx("192.0.2.0/25"), Table: 101, Action: "lookup"},
			line: "ip -n ns rule add priority 100 from 192.0.2.0/25 lookup 101  # table isp1"},
		{name: "host address, IPv6, main",
			r:    topology.Rule{Priority: u32(0), From: "2001:db8::10", Table: "main"},
			want: routectl.Rule{Family: unix.AF_INET6, HasPriority: true, From: pfx("2001:db8::10/128"), Table: 254, Action: "lookup"},
			line: "ip -n ns -6 rule add priority 0 from 2001:db8::10 lookup main"},
		{name: "no priority: the kernel picks",
			r:    topology.Rule{To: "203.0.113.0/24", IIF: "eth0", OIF: "eth1", Table: "7", Action: "table"},
			want: routectl.Rule{Family: unix.AF_INET, To: pfx("203.0.113.0/24"), IIF: "eth0", OIF: "eth1", Table: 7, Action: "lookup"},
			line: "ip -n ns rule add to 203.0.113.0/24 iif eth0 oif eth1 lookup 7"},
		{name: "fwmark with mask, prohibit, inverted",
			r:    topology.Rule{Priority: u32(102), FWMark: "0x10/0xff", Action: "Prohibit", Invert: true},
			want: routectl.Rule{Family: unix.AF_INET, Priority: 102, HasPriority: true, Mark: 16, Mask: 255, HasMark: true, Action: "prohibit", Invert: true},
			line: "ip -n ns rule add not priority 102 fwmark 0x10/0xff prohibit"},
		{name: "decimal fwmark, IPv6 by family, from all",
			r:    topology.Rule{Priority: u32(90), FWMark: "2", Family: "ipv6", From: "all", Table: "isp2"},
			want: routectl.Rule{Family: unix.AF_INET6, Priority: 90, HasPriority: true, Mark: 2, HasMark: true, Table: 102, Action: "lookup"},
			line: "ip -n ns -6 rule add priority 90 fwmark 0x2 lookup 102  # table isp2"},
		{name: "family inet6, blackhole",
			r:    topology.Rule{Family: "inet6", Action: "blackhole"},
			want: routectl.Rule{Family: unix.AF_INET6, Action: "blackhole"},
			line: "ip -n ns -6 rule add blackhole"},
		{name: "bad from", r: topology.Rule{From: "192.0.2.0/33", Table: "main"}, err: `from "192.0.2.0/33"`},
		{name: "bad fwmark", r: topology.Rule{FWMark: "0xzz", Table: "main"}, err: `fwmark "0xzz"`},
		{name: "bad mask", r: topology.Rule{FWMark: "1/x", Table: "main"}, err: `mask`},
		{name: "bad family", r: topology.Rule{Family: "ipx", Table: "main"}, err: `family "ipx"`},
		{name: "unknown table", r: topology.Rule{Table: "isp9"}, err: `unknown table "isp9"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := ruleSpec(routeNode, &c.r)
			line := ruleLine("ns", routeNode, &c.r)
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Errorf("ruleSpec error %v, want %q", err, c.err)
				}
				if !strings.HasPrefix(line, "# ") {
					t.Errorf("line of an invalid rule %q: want a comment", line)
				}
				return
			}
			if err != nil {
				t.Fatalf("ruleSpec: %v", err)
			}
			if !reflect.DeepEqual(got, c.want) {
				t.Errorf("ruleSpec =\n %+v\nwant\n %+v", got, c.want)
			}
			if line != c.line {
				t.Errorf("line\n got %q\nwant %q", line, c.line)
			}
		})
	}
}

func TestRoutingObjects(t *testing.T) {
	if got := routeObject(&topology.Route{To: "203.0.113.0/24", Table: "isp1"}, 1); got != "route 203.0.113.0/24 table isp1 (routes[1])" {
		t.Errorf("routeObject = %q", got)
	}
	if got := routeObject(&topology.Route{To: "default"}, 0); got != "route default (routes[0])" {
		t.Errorf("routeObject = %q", got)
	}
	if got := ruleObject(&topology.Rule{Priority: u32(100)}, 2); got != "rule priority 100 (rules[2])" {
		t.Errorf("ruleObject = %q", got)
	}
	if got := ruleObject(&topology.Rule{}, 0); got != "rule (rules[0])" {
		t.Errorf("ruleObject = %q", got)
	}
}

// routesOf plans an inline lab and returns node h1's route lines in plan
// order, without the namespace prefix.
func routesOf(t *testing.T, routes string) []string {
	t.Helper()
	p := planOf(t, `name: ro
nodes:
  h1:
    interfaces:
      eth0: {addresses: [192.0.2.1/24, "2001:db8::1/64"]}
      eth1: {addresses: [198.51.100.1/24, "2001:db8:1::1/64"]}
    tables: {isp1: 101}
    routes:
`+routes+`  h2: {}
links:
  - endpoints: [h1:eth0, h2:eth0]
  - endpoints: [h1:eth1, h2:eth1]
`)
	var out []string
	for _, o := range opsOf(p, OpRoute) {
		out = append(out, strings.TrimPrefix(strings.TrimPrefix(o.String(), "ip -n ro-h1 "), "-6 "))
	}
	return out
}

func TestRouteOrder(t *testing.T) {
	cases := []struct {
		name, routes string
		want         []string
	}{
		{
			name: "dev-only first, reject types last, gateways in file order between",
			routes: `      - {to: 198.18.0.0/15, type: blackhole}
      - {to: default, via: 192.0.2.254}
      - {to: 10.0.0.0/8, via: 198.51.100.2}
      - {to: 203.0.113.0/24, dev: eth1}
      - {to: "2001:db8:8::/48", type: prohibit}
      - {to: 192.0.2.50, type: local, dev: eth0}
`,
			want: []string{
				"route add 203.0.113.0/24 dev eth1",
				"route add local 192.0.2.50 dev eth0 table local",
				"route add default via 192.0.2.254",
				"route add 10.0.0.0/8 via 198.51.100.2",
				"route add blackhole 198.18.0.0/15",
				"route add prohibit 2001:db8:8::/48",
			},
		},
		{
			// IPv6 refuses a gateway whose best match in main is a gateway
			// route: 2001:db8::/120 covers 2001:db8::2 more specifically
			// than the connected /64, so it waits for the route via ::2.
			name: "an IPv6 route shadowing another's gateway waits",
			routes: `      - {to: "2001:db8::/120", via: "2001:db8::3"}
      - {to: "2001:db8:9::/48", via: "2001:db8::2"}
      - {to: "2001:db8:a::/48", via: "2001:db8::4", table: isp1}
`,
			want: []string{
				"route add 2001:db8:9::/48 via 2001:db8::2",
				"route add 2001:db8:a::/48 via 2001:db8::4 table 101  # table isp1",
				"route add 2001:db8::/120 via 2001:db8::3",
			},
		},
		{
			// IPv4 skips routes of global scope when it checks a gateway:
			// nothing moves.
			name: "IPv4 keeps file order",
			routes: `      - {to: 192.0.2.0/28, via: 192.0.2.20}
      - {to: 10.0.0.0/8, via: 192.0.2.2}
`,
			want: []string{
				"route add 192.0.2.0/28 via 192.0.2.20",
				"route add 10.0.0.0/8 via 192.0.2.2",
			},
		},
		{
			// A default route is less specific than any connected prefix.
			name: "an IPv6 default shadows nothing",
			routes: `      - {to: "::/0", via: "2001:db8::fe"}
      - {to: "2001:db8:9::/48", via: "2001:db8::2"}
`,
			want: []string{
				"route add default via 2001:db8::fe",
				"route add 2001:db8:9::/48 via 2001:db8::2",
			},
		},
		{
			// The gateway of a route in any table is checked in main when
			// its own table has no usable match: a route of main shadows
			// it, one of another table does not.
			name: "tables",
			routes: `      - {to: "2001:db8::/120", via: "2001:db8::3"}
      - {to: "2001:db8:9::/48", via: "2001:db8::2", table: isp1}
      - {to: "2001:db8:1::/120", via: "2001:db8:1::3", table: isp1}
      - {to: "2001:db8:b::/48", via: "2001:db8:1::2", table: isp1}
`,
			want: []string{
				"route add 2001:db8:9::/48 via 2001:db8::2 table 101  # table isp1",
				"route add 2001:db8::/120 via 2001:db8::3",
				"route add 2001:db8:1::/120 via 2001:db8:1::3 table 101  # table isp1",
				"route add 2001:db8:b::/48 via 2001:db8:1::2 table 101  # table isp1",
			},
		},
		{
			// An onlink IPv6 gateway is checked against main, whatever its
			// route's table: a non-default route there through another dev
			// (or a gateway route) refuses it, even one without a gateway.
			name: "onlink",
			routes: `      - {to: "2001:db8:5::/48", via: "2001:db8:1::9", dev: eth1}
      - {to: "2001:db8:20::/48", dev: eth1}
      - {to: "2001:db8:21::/48", dev: eth0}
      - {to: "2001:db8:6::/48", via: "2001:db8:5::1", dev: eth0, onlink: true, table: isp1}
      - {to: "2001:db8:7::/48", via: "2001:db8:20::1", dev: eth0, onlink: true}
      - {to: "2001:db8:8::/48", via: "2001:db8:21::1", dev: eth0, onlink: true}
`,
			want: []string{
				"route add 2001:db8:21::/48 dev eth0",
				"route add 2001:db8:6::/48 via 2001:db8:5::1 dev eth0 table 101 onlink  # table isp1",
				"route add 2001:db8:5::/48 via 2001:db8:1::9 dev eth1",
				"route add 2001:db8:7::/48 via 2001:db8:20::1 dev eth0 onlink",
				"route add 2001:db8:20::/48 dev eth1",
				"route add 2001:db8:8::/48 via 2001:db8:21::1 dev eth0 onlink",
			},
		},
		{
			// Each shadows the other's gateway: no order works, so file
			// order, and the kernel names the one it refuses.
			name: "cycle keeps file order",
			routes: `      - {to: "2001:db8::/120", via: "2001:db8::80"}
      - {to: "2001:db8::80/121", via: "2001:db8::2"}
`,
			want: []string{
				"route add 2001:db8::/120 via 2001:db8::80",
				"route add 2001:db8::80/121 via 2001:db8::2",
			},
		},
		{
			name: "multipath next hops count",
			routes: `      - {to: "2001:db8::/120", via: "2001:db8::3"}
      - to: "2001:db8:9::/48"
        nexthops: [{via: "2001:db8:1::2"}, {via: "2001:db8::2"}]
`,
			want: []string{
				"route add 2001:db8:9::/48 nexthop via 2001:db8:1::2 weight 1 nexthop via 2001:db8::2 weight 1",
				"route add 2001:db8::/120 via 2001:db8::3",
			},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := routesOf(t, c.routes)
			if !reflect.DeepEqual(got, c.want) {
				t.Errorf("order:\n got %q\nwant %q", got, c.want)
			}
		})
	}
}

// TestPlanRouting: routes and rules come after every link-up and static
// neighbour and before the host knobs; a node's rules after every route;
// rules keep file order (equal priorities are legal, the kernel keeps
// insertion order); every declared route and rule is planned once.
func TestPlanRouting(t *testing.T) {
	p := planOf(t, `name: rt
host:
  sysctls: {net.ipv4.neigh.default.gc_thresh1: 0}
nodes:
  h1:
    interfaces:
      eth0: {addresses: [192.0.2.1/24]}
    tables: {isp1: 101}
    neighbors:
      - {to: 192.0.2.9, lladdr: "02:00:00:00:00:09", dev: eth0}
    routes:
      - {to: 198.18.0.0/15, type: blackhole}
      - {to: default, via: 192.0.2.254, table: isp1}
    rules:
      - {priority: 100, from: 192.0.2.0/25, table: isp1}
      - {priority: 100, from: 192.0.2.128/25, table: main}
      - {priority: 50, fwmark: 1, action: unreachable}
  r1:
    kind: router
    interfaces:
      eth0: {addresses: [192.0.2.254/24]}
    routes:
      - {to: 203.0.113.0/24, type: unreachable}
links:
  - endpoints: [h1:eth0, r1:eth0]
`)
	want := []string{
		"ip -n rt-h1 neigh add 192.0.2.9 lladdr 02:00:00:00:00:09 dev eth0 nud permanent",
		"ip -n rt-h1 route add default via 192.0.2.254 table 101  # table isp1",
		"ip -n rt-h1 route add blackhole 198.18.0.0/15",
		"ip -n rt-r1 route add unreachable 203.0.113.0/24",
		"ip -n rt-h1 rule add priority 100 from 192.0.2.0/25 lookup 101  # table isp1",
		"ip -n rt-h1 rule add priority 100 from 192.0.2.128/25 lookup main",
		"ip -n rt-h1 rule add priority 50 fwmark 0x1 unreachable",
		"sysctl -w net.ipv4.neigh.default.gc_thresh1=0  # host knob: old value kept in the ledger, restored by the last lab that holds it",
	}
	i := firstIndex(p.Ops, OpNeigh)
	if i < 0 || len(p.Ops)-i != len(want) {
		t.Fatalf("plan tail:\n%s", p)
	}
	for j, w := range want {
		if got := p.Ops[i+j].String(); got != w {
			t.Errorf("op %d:\n got %q\nwant %q", i+j, got, w)
		}
	}
	for _, o := range opsOf(p, OpRule) {
		if o.Rule != p.Topo.Node(o.Node).Spec.Rules[o.Index] || o.Spec != p.Topo.Node(o.Node).Spec {
			t.Errorf("rule op %q: index %d does not name its entry", o, o.Index)
		}
	}
	for _, o := range opsOf(p, OpRoute) {
		if o.Route != p.Topo.Node(o.Node).Spec.Routes[o.Index] {
			t.Errorf("route op %q: index %d does not name its entry", o, o.Index)
		}
	}
}

func TestParseFWMark(t *testing.T) {
	for _, c := range []struct {
		in         string
		mark, mask uint32
		err        bool
	}{
		{"2", 2, 0, false}, {"0x10", 16, 0, false}, {"0X10/0XFF", 16, 255, false},
		{"010", 10, 0, false}, // decimal, not octal: the lab file says decimal or 0x hex
		{"4294967295/0xffffffff", 0xffffffff, 0xffffffff, false},
		{"4294967296", 0, 0, true}, {"0x", 0, 0, true}, {"1/", 0, 0, true}, {"-1", 0, 0, true},
	} {
		mark, mask, err := parseFWMark(c.in)
		if (err != nil) != c.err || mark != c.mark || mask != c.mask {
			t.Errorf("parseFWMark(%q) = %#x, %#x, %v", c.in, mark, mask, err)
		}
	}
}
