package lab

import (
	"flag"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/netlabdev/netlab/neighctl"
	"github.com/netlabdev/netlab/topology"
)

var update = flag.Bool("update", false, "rewrite lab/testdata/*.plan golden files")

// TestPlanGolden compares the plan of every example lab (../labs/*.yaml,
// globbed now, so a new example needs a golden) with testdata/<name>.plan.
// Run `go test ./lab -run TestPlanGolden -update` to rewrite the goldens.
func TestPlanGolden(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("..", "labs", "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no ../labs/*.yaml found")
	}
	seen := map[string]bool{}
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".yaml")
		seen[name+".plan"] = true
		t.Run(name, func(t *testing.T) {
			l, _, err := topology.Load(f, topology.ValidateOptions{})
			if err != nil {
				t.Fatalf("load %s: %v", f, err)
			}
			p := NewPlan(l.Resolve())
			checkInvariants(t, p)
			got := p.String()
			golden := filepath.Join("testdata", name+".plan")
			if *update {
				if err := os.MkdirAll("testdata", 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test ./lab -run TestPlanGolden -update to create it)", err)
			}
			if got != string(want) {
				t.Errorf("plan of %s differs from %s (rerun with -update if the change is intended):\n%s",
					f, golden, lineDiff(string(want), got))
			}
		})
	}
	// A golden whose lab is gone is stale.
	goldens, _ := filepath.Glob(filepath.Join("testdata", "*.plan"))
	for _, g := range goldens {
		if !seen[filepath.Base(g)] {
			t.Errorf("%s has no ../labs/%s.yaml", g, strings.TrimSuffix(filepath.Base(g), ".plan"))
		}
	}
}

func lineDiff(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	var b strings.Builder
	for i := 0; i < len(w) || i < len(g); i++ {
		var wl, gl string
		if i < len(w) {
			wl = w[i]
		}
		if i < len(g) {
			gl = g[i]
		}
		if wl != gl {
			fmt.Fprintf(&b, "line %d:\n  want: %s\n  got:  %s\n", i+1, wl, gl)
		}
	}
	return b.String()
}

// planOf parses, validates and plans an inline lab.
func planOf(t *testing.T, yaml string) *Plan {
	t.Helper()
	l, err := topology.Parse("inline.yaml", []byte(yaml))
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	if _, err := l.Validate(topology.ValidateOptions{AllowHostSysctl: true}); err != nil {
		t.Fatalf("validate: %v", err)
	}
	p := NewPlan(l.Resolve())
	checkInvariants(t, p)
	return p
}

type ifKey struct{ node, iface string }

func ifOf(o Op) ifKey { return ifKey{o.Node, o.Iface.Name} }

// checkInvariants asserts the ordering rules of DESIGN.md on any plan.
func checkInvariants(t testing.TB, p *Plan) {
	t.Helper()
	if len(p.Ops) == 0 {
		t.Fatal("empty plan")
	}
	if p.Ops[0].Kind != OpNetns {
		t.Errorf("first op is %q, want a namespace", p.Ops[0])
	}
	netnsAt := map[string]int{}
	first := map[OpKind]int{}
	last := map[OpKind]int{}
	for i, o := range p.Ops {
		if _, ok := first[o.Kind]; !ok {
			first[o.Kind] = i
		}
		last[o.Kind] = i
		if o.Kind == OpNetns {
			if _, dup := netnsAt[o.Node]; dup {
				t.Errorf("namespace of node %s created twice", o.Node)
			}
			netnsAt[o.Node] = i
		}
	}
	for _, n := range p.Topo.Nodes {
		if _, ok := netnsAt[n.Name]; !ok {
			t.Errorf("no namespace op for node %s", n.Name)
		}
	}
	// Every namespace exists before any link or device op.
	for _, k := range []OpKind{OpVeth, OpBridge, OpMaster, OpAddr, OpLinkUp, OpHostSysctl} {
		if f, ok := first[k]; ok && f < last[OpNetns] {
			t.Errorf("op %q comes before the last namespace op %q", p.Ops[f], p.Ops[last[OpNetns]])
		}
	}
	created := map[ifKey]int{} // veth end / bridge -> op index
	firstUse := map[ifKey]int{}
	upAt := map[ifKey]int{}
	masterAt := map[ifKey]int{}
	for i, o := range p.Ops {
		switch o.Kind {
		case OpVeth:
			created[ifKey{o.Link.A.Node, o.Link.A.Iface}] = i
			created[ifKey{o.Link.B.Node, o.Link.B.Iface}] = i
		case OpBridge:
			created[ifOf(o)] = i
		case OpMaster, OpAddr, OpLinkUp:
			k := ifOf(o)
			if _, ok := firstUse[k]; !ok {
				firstUse[k] = i
			}
			if o.Kind == OpLinkUp {
				upAt[k] = i
			}
			if o.Kind == OpMaster {
				masterAt[k] = i
			}
		}
	}
	globalDone := map[string]bool{}
	for i, o := range p.Ops {
		switch o.Kind {
		case OpSysctl:
			if i < netnsAt[o.Node] {
				t.Errorf("sysctl %q before its node's namespace", o)
			}
			if o.Iface == nil { // node-wide
				if o.Sysctl.Iface != "" {
					t.Errorf("per-interface key %s planned as node-wide: %q", o.Sysctl.Key, o)
				}
				if f, ok := first[OpVeth]; ok && i > f {
					t.Errorf("node-wide sysctl %q after the first veth op %q", o, p.Ops[f])
				}
				if f, ok := first[OpBridge]; ok && i > f {
					t.Errorf("node-wide sysctl %q after the first bridge op %q", o, p.Ops[f])
				}
				if o.Sysctl.Global && globalDone[o.Node] {
					t.Errorf("conf.all/default sysctl %q after another node-wide sysctl of node %s", o, o.Node)
				}
				if !o.Sysctl.Global {
					globalDone[o.Node] = true
				}
				continue
			}
			// per-interface
			if o.Sysctl.Iface != o.Iface.Name {
				t.Errorf("sysctl %q is attached to interface %s", o, o.Iface.Name)
			}
			for _, k := range []OpKind{OpVeth, OpBridge} {
				if l, ok := last[k]; ok && i < l {
					t.Errorf("per-interface sysctl %q before the last creation op %q", o, p.Ops[l])
				}
			}
			if u, ok := firstUse[ifOf(o)]; ok && i > u {
				t.Errorf("per-interface sysctl %q after %q", o, p.Ops[u])
			}
		case OpMaster, OpAddr, OpLinkUp:
			if o.Iface.Kind == topology.IfLo {
				continue
			}
			c, ok := created[ifOf(o)]
			if !ok || c > i {
				t.Errorf("%q before %s:%s is created", o, o.Node, o.Iface.Name)
			}
		case OpQdisc:
			// A link's qdisc goes on each end once the veth exists and
			// before the end goes up (the link never carries a frame
			// unshaped).
			c, ok := created[ifOf(o)]
			if !ok || c > i || o.Qdisc == nil || o.Link == nil {
				t.Errorf("qdisc %q before %s:%s is created", o, o.Node, o.Iface.Name)
			}
			if u, ok := upAt[ifOf(o)]; ok && u < i {
				t.Errorf("qdisc %q after the interface went up", o)
			}
		case OpFirewall:
			// Firewall rules come after the routing (so a rule can never
			// disturb the kernel's checks of the bring-up) and before the
			// host knobs; a table before its rules.
			for _, k := range []OpKind{OpLinkUp, OpNeigh, OpRoute, OpRule} {
				if l, ok := last[k]; ok && i < l {
					t.Errorf("firewall %q before %q", o, p.Ops[l])
				}
			}
			if o.FW != nil {
				tableAt := -1
				for j, x := range p.Ops[:i] {
					if x.Kind == OpFirewall && x.FW == nil && x.Node == o.Node && x.Table == o.Table {
						tableAt = j
					}
				}
				if tableAt < 0 {
					t.Errorf("firewall rule %q before its table", o)
				}
			}
		case OpHostSysctl:
			if o.Node != "" || o.Netns != "" {
				t.Errorf("host sysctl op %q names a node", o)
			}
		case OpNeigh:
			// Static entries go in once every interface is up, so no
			// link change of the bring-up touches them.
			if l, ok := last[OpLinkUp]; ok && i < l {
				t.Errorf("neighbour %q before the last link-up op %q", o, p.Ops[l])
			}
			if o.Neigh == nil || o.Iface == nil || o.Iface.Name != o.Neigh.Dev || i < netnsAt[o.Node] {
				t.Errorf("neighbour op %q: entry %+v on interface %v", o, o.Neigh, o.Iface)
			}
		case OpRoute, OpRule:
			// Routes need every address and every link up (the kernel
			// refuses a route through a down device or via an unconnected
			// gateway); rules come after every route (a rule could make a
			// later route's gateway check fail).
			for _, k := range []OpKind{OpAddr, OpLinkUp, OpBridgeMTU} {
				if l, ok := last[k]; ok && i < l {
					t.Errorf("%q before %q", o, p.Ops[l])
				}
			}
			if l, ok := last[OpRoute]; ok && o.Kind == OpRule && i < l {
				t.Errorf("rule %q before route %q", o, p.Ops[l])
			}
			if (o.Kind == OpRoute) != (o.Route != nil) || (o.Kind == OpRule) != (o.Rule != nil) || o.Spec == nil {
				t.Errorf("routing op %q: route %v rule %v spec %v", o, o.Route, o.Rule, o.Spec)
			}
		}
		if o.Kind != OpHostSysctl {
			if f, ok := first[OpHostSysctl]; ok && i > f {
				t.Errorf("%q after the host sysctl %q: host knobs must be last", o, p.Ops[f])
			}
		}
	}
	// Bridges go up after their ports are enslaved and up.
	for _, n := range p.Topo.Nodes {
		for _, br := range n.Ifaces {
			if br.Kind != topology.IfBridge {
				continue
			}
			bu, brUp := upAt[ifKey{n.Name, br.Name}]
			if br.Up != brUp {
				t.Errorf("bridge %s:%s: up op present = %v, want %v", n.Name, br.Name, brUp, br.Up)
			}
			for _, port := range br.Ports {
				pk := ifKey{n.Name, port}
				m, ok := masterAt[pk]
				if !ok {
					t.Errorf("port %s of %s:%s never enslaved", port, n.Name, br.Name)
				} else if brUp && m > bu {
					t.Errorf("port %s enslaved after bridge %s:%s went up", port, n.Name, br.Name)
				}
				if pu, ok := upAt[pk]; ok && brUp && pu > bu {
					t.Errorf("port %s of %s:%s set up after the bridge", port, n.Name, br.Name)
				}
			}
		}
	}
	// Every declared address is added exactly once.
	want := map[string]int{}
	for _, n := range p.Topo.Nodes {
		for _, i := range n.Ifaces {
			for _, a := range i.Addresses {
				want[n.Name+" "+i.Name+" "+a.String()]++
			}
		}
	}
	for _, o := range p.Ops {
		if o.Kind == OpAddr {
			want[o.Node+" "+o.Iface.Name+" "+o.Addr.String()]--
		}
	}
	for k, v := range want {
		if v != 0 {
			t.Errorf("address %s added %d times too few", k, v)
		}
	}
}

func opsOf(p *Plan, kind OpKind) []Op {
	var out []Op
	for _, o := range p.Ops {
		if o.Kind == kind {
			out = append(out, o)
		}
	}
	return out
}

func findSysctl(p *Plan, node, key string) []Op {
	var out []Op
	for _, o := range p.Ops {
		if o.Kind == OpSysctl && o.Node == node && o.Sysctl.Key == key {
			out = append(out, o)
		}
	}
	return out
}

const everything = `
name: all
host:
  sysctls: {net.ipv4.neigh.default.gc_interval: 30, net.ipv6.neigh.default.gc_thresh1: 0}
nodes:
  sw:
    kind: bridge
    bridge: {name: sw0, stp: true, ageing_time: 10s}
  r1:
    kind: router
    sysctls:
      net.ipv4.conf.default.rp_filter: 0
      net.ipv4.tcp_syncookies: 0
      net.ipv4.conf.all.rp_filter: 0
      net.ipv6.conf.eth2.accept_dad: 2
      net.ipv4.conf.eth0/5.arp_announce: 2
    interfaces:
      eth0.5: {addresses: [2001:db8:5::1/64]}
      eth1: {addresses: [192.0.2.1/24, 2001:db8::1/64], dad: true}
      eth2: {addresses: [2001:db8:2::1/64]}
      lo: {addresses: [10.255.0.1/32, 2001:db8:ff::1/128]}
  h1:
    interfaces:
      eth0: {addresses: [192.0.2.2/24, 2001:db8::2/64], mac: "02:00:00:00:00:02", mtu: 1400}
      br1: {kind: bridge, ports: [eth1, eth2], addresses: [198.51.100.1/24]}
      eth3: {state: down}
    neighbors:
      - {to: 192.0.2.9, lladdr: "02:00:00:00:00:09", dev: eth0}
      - {to: 198.51.100.10, dev: br1, proxy: true}
    tables: {isp1: 101}
    routes:
      - {to: default, via: 192.0.2.1}
      - {to: 203.0.113.0/24, via: 198.51.100.2, table: isp1}
    rules:
      - {priority: 100, from: 198.51.100.0/24, table: isp1}
  h2:
    interfaces:
      eth0: {addresses: [2001:db8:2::2/64]}
    firewall:
      - {chain: input, action: drop, proto: tcp, dport: 9}
      - {chain: output, action: reject, family: ipv6}
  h3: {}
links:
  - endpoints: [r1:eth1, sw:p1]
  - endpoints: [h1:eth0, sw:p2]
    mtu: 9000
  - endpoints: [r1:eth2, h2:eth0]
    shape: {rate: 10mbit, burst: 32kb, latency: 20ms}
  - endpoints: [h1:eth1, h3:eth1]
    impair: {delay: 10ms, jitter: 1ms, loss: 0.5%}
  - endpoints: [h1:eth2, h3:eth2]
  - endpoints: [r1:eth0.5, h1:eth3]
`

func TestPlanOrderEverything(t *testing.T) {
	p := planOf(t, everything)
	if t.Failed() {
		t.Log(p)
	}
	if got := len(opsOf(p, OpNetns)); got != 5 {
		t.Errorf("%d namespace ops, want 5", got)
	}
	// Host knobs: last, in key order, from the host section.
	hs := opsOf(p, OpHostSysctl)
	if len(hs) != 2 || p.Ops[len(p.Ops)-1].Kind != OpHostSysctl || p.Ops[len(p.Ops)-2].Kind != OpHostSysctl {
		t.Fatalf("host sysctls not the last two ops:\n%s", p)
	}
	if hs[0].Sysctl.Key != "net.ipv4.neigh.default.gc_interval" || hs[1].Sysctl.Value != "0" {
		t.Errorf("host sysctls = %q, %q", hs[0], hs[1])
	}
	if !strings.HasPrefix(hs[0].String(), "sysctl -w net.ipv4.neigh.default.gc_interval=30") {
		t.Errorf("host sysctl line %q", hs[0])
	}
	// A dotted interface name: key with '/', path with '.'.
	arp := findSysctl(p, "r1", "net.ipv4.conf.eth0/5.arp_announce")
	if len(arp) != 1 || arp[0].Iface == nil || arp[0].Iface.Name != "eth0.5" || arp[0].Sysctl.Path != "net/ipv4/conf/eth0.5/arp_announce" {
		t.Errorf("dotted-interface sysctl = %+v", arp)
	}
	// Node-wide sysctls of r1: conf.all/default first.
	var r1 []string
	for _, o := range p.Ops {
		if o.Kind == OpSysctl && o.Node == "r1" && o.Iface == nil {
			r1 = append(r1, o.Sysctl.Key)
		}
	}
	if len(r1) < 2 || !strings.Contains(r1[0], ".conf.") {
		t.Errorf("r1 node-wide sysctl order %v: conf.all/default must come first", r1)
	}
	// The bridge switch device carries its options.
	var swLine string
	for _, o := range opsOf(p, OpBridge) {
		if o.Node == "sw" {
			swLine = o.String()
		}
	}
	if want := "ip -n all-sw link add name sw0 type bridge stp_state 1 ageing_time 1000"; swLine != want {
		t.Errorf("switch bridge op %q, want %q", swLine, want)
	}
	// A down interface is created but never set up.
	for _, o := range opsOf(p, OpLinkUp) {
		if o.Node == "h1" && o.Iface.Name == "eth3" {
			t.Errorf("interface with state: down is set up: %q", o)
		}
	}
	// Veth line: A end in its namespace, B end in the peer's, each end's
	// own attributes on its side.
	var veth string
	for _, o := range opsOf(p, OpVeth) {
		if o.Node == "h1" && o.Iface.Name == "eth0" {
			veth = o.String()
		}
	}
	if want := "ip -n all-h1 link add name eth0 index 1048577 address 02:00:00:00:00:02 mtu 1400 type veth peer name p2 netns all-sw mtu 9000"; veth != want {
		t.Errorf("veth op %q, want %q", veth, want)
	}
	// Link k's A end gets index VethIndexBase+k: unique in its namespace
	// and never the small index the kernel gives the B end.
	for k, o := range opsOf(p, OpVeth) {
		if o.Index != VethIndexBase+k {
			t.Errorf("veth op %d %q: index %d, want %d", k, o, o.Index, VethIndexBase+k)
		}
	}
}

// The invariant checker must itself catch broken orders.
func TestCheckInvariantsCatchesBadOrder(t *testing.T) {
	p := planOf(t, everything)
	mutations := map[string]func(ops []Op) []Op{
		"host knob not last": func(ops []Op) []Op {
			h := ops[len(ops)-1]
			return append([]Op{ops[0], h}, ops[1:len(ops)-1]...)
		},
		"addr before veth": func(ops []Op) []Op {
			for i, o := range ops {
				if o.Kind == OpAddr && o.Iface.Kind == topology.IfVeth {
					return append([]Op{ops[0], o}, append(ops[1:i:i], ops[i+1:]...)...)
				}
			}
			return ops
		},
		"bridge up before port": func(ops []Op) []Op {
			for i, o := range ops {
				if o.Kind == OpLinkUp && o.Iface.Kind == topology.IfBridge {
					j := firstIndex(ops, OpLinkUp)
					out := append([]Op{}, ops[:j]...)
					out = append(out, o)
					out = append(out, ops[j:i]...)
					return append(out, ops[i+1:]...)
				}
			}
			return ops
		},
		"iface sysctl after up": func(ops []Op) []Op {
			for i, o := range ops {
				if o.Kind == OpSysctl && o.Iface != nil {
					out := append(append([]Op{}, ops[:i]...), ops[i+1:]...)
					return append(out[:len(out)-2:len(out)-2], o, out[len(out)-2], out[len(out)-1])
				}
			}
			return ops
		},
		"neighbour before link up": func(ops []Op) []Op {
			for i, o := range ops {
				if o.Kind == OpNeigh {
					out := append(append([]Op{}, ops[:i]...), ops[i+1:]...)
					j := firstIndex(out, OpLinkUp)
					return append(out[:j:j], append([]Op{o}, out[j:]...)...)
				}
			}
			return ops
		},
		"route before link up": func(ops []Op) []Op {
			for i, o := range ops {
				if o.Kind == OpRoute {
					out := append(append([]Op{}, ops[:i]...), ops[i+1:]...)
					j := firstIndex(out, OpLinkUp)
					return append(out[:j:j], append([]Op{o}, out[j:]...)...)
				}
			}
			return ops
		},
		"rule before route": func(ops []Op) []Op {
			for i, o := range ops {
				if o.Kind == OpRule {
					out := append(append([]Op{}, ops[:i]...), ops[i+1:]...)
					j := firstIndex(out, OpRoute)
					return append(out[:j:j], append([]Op{o}, out[j:]...)...)
				}
			}
			return ops
		},
		"firewall before route": func(ops []Op) []Op {
			for i, o := range ops {
				if o.Kind == OpFirewall {
					out := append(append([]Op{}, ops[:i]...), ops[i+1:]...)
					j := firstIndex(out, OpRoute)
					return append(out[:j:j], append([]Op{o}, out[j:]...)...)
				}
			}
			return ops
		},
		"firewall rule before its table": func(ops []Op) []Op {
			i := firstIndex(ops, OpFirewall)
			out := append([]Op{}, ops...)
			out[i], out[i+1] = out[i+1], out[i]
			return out
		},
		"qdisc after link up": func(ops []Op) []Op {
			for i, o := range ops {
				if o.Kind == OpQdisc {
					out := append(append([]Op{}, ops[:i]...), ops[i+1:]...)
					j := firstIndex(out, OpNeigh)
					return append(out[:j:j], append([]Op{o}, out[j:]...)...)
				}
			}
			return ops
		},
		"global sysctl after veth": func(ops []Op) []Op {
			for i, o := range ops {
				if o.Kind == OpSysctl && o.Iface == nil && o.Sysctl.Global {
					out := append(append([]Op{}, ops[:i]...), ops[i+1:]...)
					j := firstIndex(out, OpVeth)
					return append(out[:j+1:j+1], append([]Op{o}, out[j+1:]...)...)
				}
			}
			return ops
		},
	}
	for name, mutate := range mutations {
		t.Run(name, func(t *testing.T) {
			bad := &Plan{Lab: p.Lab, Topo: p.Topo, Ops: mutate(append([]Op{}, p.Ops...))}
			if bad.String() == p.String() {
				t.Fatal("mutation changed nothing")
			}
			ft := &fakeT{}
			checkInvariants(ft, bad)
			if !ft.failed {
				t.Errorf("checkInvariants accepted:\n%s", bad)
			}
		})
	}
}

func firstIndex(ops []Op, k OpKind) int {
	for i, o := range ops {
		if o.Kind == k {
			return i
		}
	}
	return -1
}

// fakeT records failures without failing the real test; it implements the
// methods checkInvariants uses (others would panic on the nil TB).
type fakeT struct {
	testing.TB
	failed bool
}

func (f *fakeT) Helper()               {}
func (f *fakeT) Errorf(string, ...any) { f.failed = true }
func (f *fakeT) Fatal(...any)          { f.failed = true }

func TestPlanNodad(t *testing.T) {
	p := planOf(t, everything)
	lines := map[string]string{}
	for _, o := range opsOf(p, OpAddr) {
		lines[o.Node+" "+o.Iface.Name+" "+o.Addr.String()] = o.String()
	}
	cases := []struct {
		key   string
		nodad bool
	}{
		{"r1 eth0.5 2001:db8:5::1/64", true},
		{"r1 eth2 2001:db8:2::1/64", true},
		{"h1 eth0 2001:db8::2/64", true},
		{"r1 eth1 2001:db8::1/64", false}, // dad: true
		{"r1 eth1 192.0.2.1/24", false},   // IPv4 never
		{"h1 eth0 192.0.2.2/24", false},
	}
	for _, c := range cases {
		line, ok := lines[c.key]
		if !ok {
			t.Errorf("no address op for %s", c.key)
			continue
		}
		if got := strings.HasSuffix(line, " nodad"); got != c.nodad {
			t.Errorf("%q: nodad = %v, want %v", line, got, c.nodad)
		}
	}
	if want := "ip -n all-r1 addr add 2001:db8:2::1/64 dev eth2 nodad"; lines["r1 eth2 2001:db8:2::1/64"] != want {
		t.Errorf("line %q, want %q", lines["r1 eth2 2001:db8:2::1/64"], want)
	}
}

func TestPlanAcceptDADDefault(t *testing.T) {
	p := planOf(t, everything)
	type want struct {
		n       int
		value   string
		deflt   bool
		comment bool
		node    bool // a node-wide key
	}
	cases := map[string]want{
		// Every node's default is 0 before any link exists, so interfaces
		// inherit it and need no key of their own...
		"r1 net.ipv6.conf.default.accept_dad": {1, "0", true, true, true},
		"h1 net.ipv6.conf.default.accept_dad": {1, "0", true, true, true},
		"sw net.ipv6.conf.default.accept_dad": {1, "0", true, true, true},
		"h3 net.ipv6.conf.default.accept_dad": {1, "0", true, true, true},
		"r1 net.ipv6.conf.eth0/5.accept_dad":  {0, "", false, false, false},
		"h1 net.ipv6.conf.br1.accept_dad":     {0, "", false, false, false},
		"sw net.ipv6.conf.p1.accept_dad":      {0, "", false, false, false},
		"sw net.ipv6.conf.sw0.accept_dad":     {0, "", false, false, false},
		// ...except one that asks for DAD.
		"r1 net.ipv6.conf.eth1.accept_dad": {1, "1", true, true, false},
		"r1 net.ipv6.conf.eth2.accept_dad": {1, "2", false, false, false}, // declared: wins, no default
		"r1 net.ipv6.conf.lo.accept_dad":   {0, "", false, false, false},  // lo: none
	}
	for k, w := range cases {
		node, key, _ := strings.Cut(k, " ")
		ops := findSysctl(p, node, key)
		if len(ops) != w.n {
			t.Errorf("%s: %d ops, want %d: %v", k, len(ops), w.n, ops)
			continue
		}
		if w.n == 0 {
			continue
		}
		o := ops[0]
		if o.Sysctl.Value != w.value || o.Default != w.deflt || strings.HasSuffix(o.String(), "# netlab default") != w.comment {
			t.Errorf("%s: %q (default=%v), want value %s default=%v", k, o, o.Default, w.value, w.deflt)
		}
		if (o.Iface == nil) != w.node {
			t.Errorf("%s: node-wide %v, want %v", k, o.Iface == nil, w.node)
		}
	}
	// The node default comes first: before the links, and before the
	// node's declared keys.
	for _, o := range p.Ops {
		if o.Kind == OpSysctl && o.Node == "r1" {
			if o.Sysctl.Path != dadDefault.Path {
				t.Errorf("first sysctl of r1 is %q, want the accept_dad default", o)
			}
			break
		}
	}
}

// A node that declares its own default.accept_dad gets it instead of
// netlab's, and its interfaces get per-interface keys where they would
// inherit the wrong on/off.
func TestPlanDeclaredDADDefault(t *testing.T) {
	p := planOf(t, `
name: dad
nodes:
  h1:
    sysctls: {net.ipv6.conf.default.accept_dad: 1}
    interfaces:
      eth0: {}
      eth1: {dad: true}
  h2:
    sysctls: {net.ipv6.conf.default.accept_dad: 2}
    interfaces:
      eth1: {dad: true}
links:
  - endpoints: [h1:eth0, h2:eth0]
  - endpoints: [h1:eth1, h2:eth1]
`)
	for _, c := range []struct {
		node, key, value string
		deflt            bool
	}{
		{"h1", "net.ipv6.conf.default.accept_dad", "1", false},
		{"h1", "net.ipv6.conf.eth0.accept_dad", "0", true},
		{"h1", "net.ipv6.conf.eth1.accept_dad", "", false}, // inherits 1
		{"h2", "net.ipv6.conf.default.accept_dad", "2", false},
		{"h2", "net.ipv6.conf.eth0.accept_dad", "0", true},
		{"h2", "net.ipv6.conf.eth1.accept_dad", "", false}, // 2 is DAD on too
	} {
		ops := findSysctl(p, c.node, c.key)
		if c.value == "" {
			if len(ops) != 0 {
				t.Errorf("%s %s: %v, want none", c.node, c.key, ops)
			}
			continue
		}
		if len(ops) != 1 || ops[0].Sysctl.Value != c.value || ops[0].Default != c.deflt {
			t.Errorf("%s %s: %v, want one =%s (default %v)", c.node, c.key, ops, c.value, c.deflt)
		}
	}
}

// An interface created with an MTU below 1280 has no IPv6 sysctls: a
// per-interface accept_dad default (planned where the node declares its
// own default.accept_dad) would fail with "no such file or directory".
func TestPlanNoIPv6DefaultBelowMinMTU(t *testing.T) {
	p := planOf(t, `
name: small
nodes:
  h1:
    sysctls: {net.ipv6.conf.default.accept_dad: 1}
    interfaces:
      eth0: {addresses: [192.0.2.1/24], mtu: 1000}
      eth1: {mtu: 1280}
  h2:
    sysctls: {net.ipv6.conf.default.accept_dad: 1}
links:
  - endpoints: [h1:eth0, h2:eth0]
  - endpoints: [h1:eth1, h2:eth1]
    mtu: 1279
`)
	for _, c := range []struct {
		node, key string
		n         int
	}{
		{"h1", "net.ipv6.conf.eth0.accept_dad", 0},
		{"h2", "net.ipv6.conf.eth0.accept_dad", 1}, // its own end keeps 1500
		{"h1", "net.ipv6.conf.eth1.accept_dad", 1}, // its own mtu 1280 wins
		{"h2", "net.ipv6.conf.eth1.accept_dad", 0}, // the link's 1279
	} {
		if got := len(findSysctl(p, c.node, c.key)); got != c.n {
			t.Errorf("%s %s: %d ops, want %d\n%s", c.node, c.key, got, c.n, p)
		}
	}
}

func TestPlanRouterForwarding(t *testing.T) {
	p := planOf(t, `
name: rt
nodes:
  r1: {kind: router}
  r2:
    kind: router
    sysctls: {net.ipv4.ip_forward: 0}
  h1: {}
`)
	fwd := []string{"net.ipv4.ip_forward", "net.ipv4.conf.all.forwarding", "net.ipv6.conf.all.forwarding"}
	for _, k := range fwd {
		ops := findSysctl(p, "r1", k)
		if len(ops) != 1 || ops[0].Sysctl.Value != "1" || !ops[0].Default || ops[0].Iface != nil {
			t.Errorf("r1 %s: %v, want one node-wide default =1", k, ops)
			continue
		}
		if want := "ip netns exec rt-r1 sysctl -w " + k + "=1  # netlab default"; ops[0].String() != want {
			t.Errorf("line %q, want %q", ops[0], want)
		}
		if ops := findSysctl(p, "h1", k); len(ops) != 0 {
			t.Errorf("host node got %s: %v", k, ops)
		}
	}
	// An explicit key beats the kind's default, and is not marked default.
	ops := findSysctl(p, "r2", "net.ipv4.ip_forward")
	if len(ops) != 1 || ops[0].Sysctl.Value != "0" || ops[0].Default || strings.Contains(ops[0].String(), "netlab default") {
		t.Errorf("r2 ip_forward: %v, want exactly the explicit 0", ops)
	}
	if ops := findSysctl(p, "r2", "net.ipv4.conf.all.forwarding"); len(ops) != 1 || !ops[0].Default {
		t.Errorf("r2 conf.all.forwarding: %v, want the default", ops)
	}
}

func TestPlanNetnsLine(t *testing.T) {
	p := planOf(t, "name: my-lab\nnodes: {a_b: {sysctls: {net.ipv6.conf.default.accept_dad: 1}}}\n")
	if len(p.Ops) != 2 {
		t.Fatalf("plan of one empty node:\n%s", p)
	}
	want := `ip netns add my-lab-a_b  # lo up, lo alias "netlab:my-lab:<run>" set before the name is published`
	if got := p.Ops[0].String(); got != want {
		t.Errorf("netns line %q, want %q", got, want)
	}
	if got := Marker("my-lab", "r1"); got != "netlab:my-lab:r1" {
		t.Errorf("Marker = %q", got)
	}
	if got := (Op{Kind: OpKind(99)}).String(); !strings.Contains(got, "unknown op 99") {
		t.Errorf("unknown op prints %q", got)
	}
	if p.String() != want+"\n"+"ip netns exec my-lab-a_b sysctl -w net.ipv6.conf.default.accept_dad=1\n" {
		t.Errorf("Plan.String = %q", p.String())
	}
}

func TestPlanNeighbors(t *testing.T) {
	p := planOf(t, `
name: nb
host:
  sysctls: {net.ipv4.neigh.default.gc_thresh1: 0}
nodes:
  h1:
    interfaces:
      eth0: {addresses: [192.0.2.1/24, 2001:db8::1/64]}
      eth1: {state: down}
    neighbors:
      - {to: 192.0.2.9, lladdr: "02:00:00:00:00:09", dev: eth0}
      - {to: "2001:0db8::9", lladdr: "02-00-00-00-00-0A", dev: eth0, state: Permanent}
      - {to: "2001:db8::1:1", lladdr: "02:00:00:00:00:0b", dev: eth0, router: true}
      - {to: 192.0.2.10, dev: eth0, proxy: true}
      - {to: "2001:db8::10", dev: eth0, proxy: true, router: true}
      - {to: 192.0.2.11, lladdr: "02:00:00:00:00:0c", dev: eth0, state: stale}
      - {to: 192.0.2.12, lladdr: "02:00:00:00:00:0d", dev: eth1, state: NOARP}
  h2:
    neighbors:
      - {to: 192.0.2.1, lladdr: "02:00:00:00:00:01", dev: eth0}
links:
  - endpoints: [h1:eth0, h2:eth0]
  - endpoints: [h1:eth1, h2:eth1]
`)
	want := []string{
		"ip -n nb-h1 neigh add 192.0.2.9 lladdr 02:00:00:00:00:09 dev eth0 nud permanent",
		"ip -n nb-h1 neigh add 2001:db8::9 lladdr 02:00:00:00:00:0a dev eth0 nud permanent",
		"ip -n nb-h1 neigh add 2001:db8::1:1 lladdr 02:00:00:00:00:0b dev eth0 nud permanent router",
		"ip -n nb-h1 neigh add proxy 192.0.2.10 dev eth0",
		"ip -n nb-h1 neigh add proxy 2001:db8::10 dev eth0 router",
		"ip -n nb-h1 neigh add 192.0.2.11 lladdr 02:00:00:00:00:0c dev eth0 nud stale",
		"ip -n nb-h1 neigh add 192.0.2.12 lladdr 02:00:00:00:00:0d dev eth1 nud noarp",
		"ip -n nb-h2 neigh add 192.0.2.1 lladdr 02:00:00:00:00:01 dev eth0 nud permanent",
	}
	ops := opsOf(p, OpNeigh)
	if len(ops) != len(want) {
		t.Fatalf("%d neighbour ops, want %d:\n%s", len(ops), len(want), p)
	}
	for i, o := range ops {
		if o.String() != want[i] {
			t.Errorf("neighbour op %d:\n got %q\nwant %q", i, o, want[i])
		}
	}
	// After the last link-up, right before the host knob.
	if k := p.Ops[len(p.Ops)-1].Kind; k != OpHostSysctl {
		t.Errorf("last op is %q, want the host knob", p.Ops[len(p.Ops)-1])
	}
	if i := firstIndex(p.Ops, OpNeigh); p.Ops[i-1].Kind != OpLinkUp {
		t.Errorf("op before the first neighbour is %q, want a link-up", p.Ops[i-1])
	}
	if ops[1].Index != 1 || ops[7].Index != 0 || ops[7].Node != "h2" {
		t.Errorf("indexes: %d, %d (%s)", ops[1].Index, ops[7].Index, ops[7].Node)
	}
}

func TestNeighSpec(t *testing.T) {
	mac := func(s string) net.HardwareAddr { m, _ := net.ParseMAC(s); return m }
	cases := []struct {
		nb   topology.Neighbor
		want neighctl.Spec
		obj  string
		err  string
	}{
		{nb: topology.Neighbor{To: "192.0.2.9", LLAddr: "02:00:00:00:00:09", Dev: "eth0"},
			want: neighctl.Spec{IP: netip.MustParseAddr("192.0.2.9"), Dev: "eth0", LLAddr: mac("02:00:00:00:00:09"), State: neighctl.Permanent},
			obj:  "neighbour 192.0.2.9 dev eth0"},
		{nb: topology.Neighbor{To: "2001:0db8::9", LLAddr: "02-00-00-00-00-0a", Dev: "eth0", State: "stale", Router: true},
			want: neighctl.Spec{IP: netip.MustParseAddr("2001:db8::9"), Dev: "eth0", LLAddr: mac("02:00:00:00:00:0a"), State: neighctl.Stale, Router: true},
			obj:  "neighbour 2001:db8::9 dev eth0"},
		{nb: topology.Neighbor{To: "192.0.2.10", Dev: "eth1", Proxy: true},
			want: neighctl.Spec{IP: netip.MustParseAddr("192.0.2.10"), Dev: "eth1", Proxy: true},
			obj:  "proxy neighbour 192.0.2.10 dev eth1"},
		{nb: topology.Neighbor{To: "192.0.2.11", LLAddr: "02:00:00:00:00:0b", Dev: "eth0", State: "NoArp"},
			want: neighctl.Spec{IP: netip.MustParseAddr("192.0.2.11"), Dev: "eth0", LLAddr: mac("02:00:00:00:00:0b"), State: neighctl.NoARP},
			obj:  "neighbour 192.0.2.11 dev eth0"},
		{nb: topology.Neighbor{To: "192.0.2.12", LLAddr: "02:00:00:00:00:0c", Dev: "eth0", State: "none"},
			want: neighctl.Spec{IP: netip.MustParseAddr("192.0.2.12"), Dev: "eth0", LLAddr: mac("02:00:00:00:00:0c"), State: neighctl.None},
			obj:  "neighbour 192.0.2.12 dev eth0"},
		{nb: topology.Neighbor{To: "192.0.2.300", LLAddr: "02:00:00:00:00:0c", Dev: "eth0"},
			obj: "neighbour 192.0.2.300 dev eth0", err: `to "192.0.2.300"`},
	}
	for _, c := range cases {
		got, err := neighSpec(&c.nb)
		if obj := neighObject(&c.nb); obj != c.obj {
			t.Errorf("neighObject(%+v) = %q, want %q", c.nb, obj, c.obj)
		}
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("neighSpec(%+v) error %v, want %q", c.nb, err, c.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("neighSpec(%+v): %v", c.nb, err)
			continue
		}
		if got.IP != c.want.IP || got.Dev != c.want.Dev || got.LLAddr.String() != c.want.LLAddr.String() ||
			got.State != c.want.State || got.Router != c.want.Router || got.Proxy != c.want.Proxy {
			t.Errorf("neighSpec(%+v) = %+v, want %+v", c.nb, got, c.want)
		}
	}
}
