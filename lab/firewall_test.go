package lab

import (
	"net/netip"
	"reflect"
	"strings"
	"testing"

	"github.com/netlabdev/netlab/firewall"
	"github.com/netlabdev/netlab/topology"
)

func TestFwRule(t *testing.T) {
	echo := uint8(8)
	for _, tt := range []struct {
		in   topology.FirewallRule
		want firewall.Rule
	}{
		{topology.FirewallRule{Chain: "input", Action: "drop", Family: "ipv4"},
			firewall.Rule{Chain: firewall.Input, Action: firewall.Drop, Family: firewall.IPv4}},
		{topology.FirewallRule{Chain: "input", Action: "drop", Proto: "icmp", ICMPType: "echo-request", Src: "192.0.2.7"},
			firewall.Rule{Chain: firewall.Input, Action: firewall.Drop, Family: firewall.IPv4, Proto: firewall.ICMP, ICMPType: &echo, Src: netip.MustParsePrefix("192.0.2.7/32")}},
		{topology.FirewallRule{Chain: "output", Action: "reject", Proto: "udp", Dst: "2001:db8::/32", OIF: "eth1", Sport: 5, Dport: 53},
			firewall.Rule{Chain: firewall.Output, Action: firewall.Reject, Family: firewall.IPv6, Proto: firewall.UDP, Dst: netip.MustParsePrefix("2001:db8::/32"), OIF: "eth1", Sport: 5, Dport: 53}},
		{topology.FirewallRule{Chain: "forward", Action: "accept", Proto: "tcp", IIF: "p1"},
			firewall.Rule{Chain: firewall.Forward, Action: firewall.Accept, Proto: firewall.TCP, IIF: "p1"}},
	} {
		got, err := fwRule(&tt.in, "x")
		tt.want.Comment = "x"
		if err != nil || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%+v: got %+v, %v; want %+v", tt.in, got, err, tt.want)
		}
	}
	if _, err := fwRule(&topology.FirewallRule{Chain: "input", Action: "drop", Src: "192.0.2.1/24"}, ""); err == nil {
		t.Error("host bits accepted")
	}
}

// TestPlanFirewall: a host's rules go to the inet table, a switch's forward
// rules to the bridge table; each table is created (with its base chains)
// before its first rule; rules keep the file's order; all of it after the
// routes and rules and before the host knobs.
func TestPlanFirewall(t *testing.T) {
	p := planOf(t, `name: fw
host:
  sysctls: {net.ipv4.neigh.default.gc_thresh1: 0}
nodes:
  sw:
    kind: bridge
    firewall:
      - {chain: forward, action: drop, proto: icmp, icmp_type: echo-request, iif: p1}
      - {chain: input, action: accept, proto: tcp}
  h1:
    interfaces:
      eth0: {addresses: [192.0.2.1/24]}
    routes:
      - {to: default, via: 192.0.2.254}
    firewall:
      - {chain: input, action: drop, family: ipv4}
      - {chain: output, action: reject, proto: udp, dst: 192.0.2.0/25, dport: 53}
  h2:
    interfaces:
      eth0: {addresses: [192.0.2.2/24]}
links:
  - endpoints: [h1:eth0, sw:p1]
  - endpoints: [h2:eth0, sw:p2]
`)
	var got []string
	for _, o := range opsOf(p, OpFirewall) {
		got = append(got, o.String())
	}
	inet := "'add table inet netlab { chain input { type filter hook input priority filter; policy accept; }; chain output { type filter hook output priority filter; policy accept; }; chain forward { type filter hook forward priority filter; policy accept; }; }'"
	want := []string{
		"ip netns exec fw-h1 nft " + inet,
		`ip netns exec fw-h1 nft 'add rule inet netlab input meta nfproto ipv4 counter drop comment "nodes.h1.firewall[0]"'`,
		`ip netns exec fw-h1 nft 'add rule inet netlab output meta nfproto ipv4 ip daddr 192.0.2.0/25 meta l4proto udp udp dport 53 counter reject with icmpx port-unreachable comment "nodes.h1.firewall[1]"'`,
		"ip netns exec fw-sw nft 'add table bridge netlab { chain forward { type filter hook forward priority filter; policy accept; }; }'",
		"ip netns exec fw-sw nft " + inet,
		`ip netns exec fw-sw nft 'add rule bridge netlab forward meta protocol ip iifname "p1" meta l4proto icmp icmp type echo-request counter drop comment "nodes.sw.firewall[0]"'`,
		`ip netns exec fw-sw nft 'add rule inet netlab input meta l4proto tcp counter accept comment "nodes.sw.firewall[1]"'`,
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("firewall ops:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	first, last := firstIndex(p.Ops, OpFirewall), -1
	for i, o := range p.Ops {
		switch o.Kind {
		case OpFirewall:
			last = i
		case OpRoute, OpRule, OpLinkUp, OpNeigh:
			if i > first {
				t.Errorf("%q after the first firewall op", o)
			}
		}
	}
	if hs := firstIndex(p.Ops, OpHostSysctl); hs < last {
		t.Errorf("host knob at %d before the last firewall op at %d", hs, last)
	}
}
