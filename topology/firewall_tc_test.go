package topology

import (
	"net/netip"
	"strings"
	"testing"
	"time"
)

func TestValidateFirewallFamilies(t *testing.T) {
	const head = `name: t
nodes:
  h1:
    interfaces:
      eth0: {addresses: [192.0.2.1/24, 2001:db8::1/64]}
    firewall:
`
	const tail = `  h2: {}
links:
  - endpoints: [h1:eth0, h2:eth0]
`
	runValidateCases(t, []validateCase{
		{
			name: "valid: every match, both families, icmp types by name and number",
			src: head + `      - {chain: input, action: drop, family: ipv4}
      - {chain: input, action: accept, family: IPv6, proto: tcp, dport: 22}
      - {chain: input, action: drop, proto: icmp, icmp_type: echo-request, src: 192.0.2.0/25, iif: eth0}
      - {chain: output, action: reject, proto: icmpv6, icmp_type: 128, dst: "2001:db8::2", oif: eth0}
      - {chain: forward, action: accept, proto: udp, sport: 53, iif: eth0, oif: eth0, src: 0.0.0.0/0}
` + tail,
		},
		{
			name: "families that contradict, bad icmp types, host bits, interfaces in the wrong chain",
			src: head + `      - {chain: input, action: drop, family: ipx}
      - {chain: input, action: drop, family: ipv6, proto: icmp}
      - {chain: input, action: drop, src: 192.0.2.0/24, dst: "2001:db8::/64"}
      - {chain: input, action: drop, proto: icmpv6, icmp_type: echo-reqest}
      - {chain: input, action: drop, proto: icmp, icmp_type: 256}
      - {chain: input, action: drop, src: 192.0.2.1/24}
      - {chain: input, action: drop, dst: "fe80::1%eth0"}
      - {chain: output, action: drop, iif: eth0}
      - {chain: input, action: drop, oif: eth0}
      - {chain: input, action: drop, family: ipv4, src: "2001:db8::/32"}
` + tail,
			wants: []want{
				{"nodes.h1.firewall[0].family", `family "ipx": want ipv4 or ipv6`, 7},
				{"nodes.h1.firewall[1].proto", "proto is IPv4 but family is IPv6", 8},
				{"nodes.h1.firewall[2].dst", "dst is IPv6 but src is IPv4", 9},
				{"nodes.h1.firewall[3].icmp_type", `icmpv6 type "echo-reqest": want a number 0-255 or one of destination-unreachable, echo-reply, echo-request`, 10},
				{"nodes.h1.firewall[4].icmp_type", `icmp type "256"`, 11},
				{"nodes.h1.firewall[5].src", "src 192.0.2.1/24 has host bits set (the prefix is 192.0.2.0/24)", 12},
				{"nodes.h1.firewall[6].dst", `dst "fe80::1%eth0": want an address or a prefix`, 13},
				{"nodes.h1.firewall[7].iif", "chain output sees packets this node sends", 14},
				{"nodes.h1.firewall[8].oif", "chain input sees packets delivered to this node", 15},
				{"nodes.h1.firewall[9].src", "src is IPv6 but family is IPv4", 16},
			},
		},
	})
}

// TestWarningsNDP: a rule that drops this node's IPv6 neighbour discovery
// warns; one that cannot match NS/NA does not.
func TestWarningsNDP(t *testing.T) {
	src := `name: t
nodes:
  sw:
    kind: bridge
    firewall:
      - {chain: forward, action: drop, family: ipv6}
  h1:
    interfaces:
      eth0: {addresses: [192.0.2.1/24, 2001:db8::1/64]}
    firewall:
      - {chain: input, action: drop}
      - {chain: input, action: drop, family: ipv6}
      - {chain: output, action: reject, proto: icmpv6, icmp_type: nd-neighbor-advert}
      - {chain: input, action: drop, family: ipv4}
      - {chain: input, action: drop, proto: icmp}
      - {chain: input, action: drop, proto: tcp, family: ipv6}
      - {chain: input, action: drop, proto: icmpv6, icmp_type: echo-request}
      - {chain: forward, action: drop}
      - {chain: input, action: accept}
links:
  - endpoints: [h1:eth0, sw:p1]
`
	l := parseOK(t, src)
	warns, err := l.Validate(ValidateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	const ndp = "drops IPv6 neighbour discovery"
	matchProblems(t, "warning", warns, []want{
		{"nodes.sw.firewall[0]", ndp, 6},
		{"nodes.h1.firewall[0]", ndp, 11},
		{"nodes.h1.firewall[1]", ndp, 12},
		{"nodes.h1.firewall[2]", ndp, 13},
	})
}

func TestICMPType(t *testing.T) {
	for _, tt := range []struct {
		proto, s string
		want     uint8
	}{{"icmp", "echo-request", 8}, {"icmp", "Echo-Reply", 0}, {"icmp", "3", 3}, {"icmpv6", "nd-neighbor-solicit", 135}, {"icmpv6", "echo-request", 128}} {
		got, err := ICMPType(tt.proto, tt.s)
		if err != nil || got != tt.want {
			t.Errorf("%s %s: %d, %v", tt.proto, tt.s, got, err)
		}
		if name := ICMPTypeName(tt.proto, got); tt.s[0] > '9' && name != strings.ToLower(tt.s) {
			t.Errorf("name of %s %d: %s", tt.proto, got, name)
		}
	}
	if ICMPTypeName("icmp", 200) != "200" {
		t.Error("unnamed type")
	}
	if _, err := ICMPType("tcp", "1"); err == nil {
		t.Error("tcp has icmp types")
	}
}

func TestFirewallPrefixAndFamily(t *testing.T) {
	if p, err := FirewallPrefix("192.0.2.7"); err != nil || p != netip.MustParsePrefix("192.0.2.7/32") {
		t.Errorf("bare address: %v %v", p, err)
	}
	if p, err := FirewallPrefix(" 2001:db8::/32 "); err != nil || p.Bits() != 32 {
		t.Errorf("prefix: %v %v", p, err)
	}
	for _, bad := range []string{"192.0.2.1/24", "fe80::1%eth0", "host", ""} {
		if _, err := FirewallPrefix(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	for _, tt := range []struct {
		r    FirewallRule
		want int
	}{
		{FirewallRule{}, 0}, {FirewallRule{Family: "ipv6"}, 6}, {FirewallRule{Proto: "icmp"}, 4},
		{FirewallRule{Proto: "icmpv6"}, 6}, {FirewallRule{Proto: "tcp", Dst: "2001:db8::1"}, 6}, {FirewallRule{Src: "192.0.2.0/24"}, 4},
	} {
		if got := FirewallFamily(&tt.r); got != tt.want {
			t.Errorf("%+v: family %d, want %d", tt.r, got, tt.want)
		}
	}
}

func TestParseRateSize(t *testing.T) {
	for s, want := range map[string]uint64{"10mbit": 10e6, "500Kbit": 500e3, "1.5gbit": 1.5e9, "125kbps": 1e6, "8bit": 8, "2tbit": 2e12} {
		if got, err := ParseRate(s); err != nil || got != want {
			t.Errorf("rate %s: %d, %v; want %d", s, got, err, want)
		}
	}
	for _, bad := range []string{"", "10", "fast", "0mbit", "7bit", "10 mbit", "-1mbit", "1mibit"} {
		if _, err := ParseRate(bad); err == nil {
			t.Errorf("rate %q accepted", bad)
		}
	}
	for s, want := range map[string]uint32{"32kb": 32768, "32k": 32768, "1500": 1500, "1500b": 1500, "1mb": 1 << 20, "64kbit": 8192, "1mbit": 131072} {
		if got, err := ParseSize(s); err != nil || got != want {
			t.Errorf("size %s: %d, %v; want %d", s, got, err, want)
		}
	}
	for _, bad := range []string{"", "0", "1.5kb", "4096mb", "huge", "32 kb"} {
		if _, err := ParseSize(bad); err == nil {
			t.Errorf("size %q accepted", bad)
		}
	}
}

func TestShapeTBF(t *testing.T) {
	d := func(v time.Duration) *Duration { return &Duration{v} }
	got, err := (&Shape{Rate: "20mbit", Burst: "32kb", Latency: d(50 * time.Millisecond)}).TBF(0)
	if err != nil || got != (TBF{Rate: 20e6, Burst: 32768, Latency: 50 * time.Millisecond, Limit: 125000 + 32768}) {
		t.Errorf("explicit: %+v, %v", got, err)
	}
	// Defaults: 10 ms at the rate, at least two full frames; 50 ms.
	got, err = (&Shape{Rate: "100mbit"}).TBF(0)
	if err != nil || got.Burst != 125000 || !got.BurstDefault || !got.LatencyDefault || got.Latency != DefaultShapeLatency {
		t.Errorf("defaults at 100mbit: %+v, %v", got, err)
	}
	got, err = (&Shape{Rate: "1mbit"}).TBF(9000)
	if err != nil || got.Burst != 2*9014 {
		t.Errorf("defaults at 1mbit, mtu 9000: %+v, %v", got, err)
	}
	if TCTime(50*time.Millisecond) != "50ms" || TCTime(2*time.Second) != "2s" || TCTime(1500*time.Microsecond) != "1500us" {
		t.Error("TCTime")
	}
}

func TestValidateTrafficControl(t *testing.T) {
	runValidateCases(t, []validateCase{
		{
			name: "shape: a bucket smaller than a frame, a zero rate, a huge queue, a long burst; impair out of range",
			src: `name: t
nodes:
  h1:
    interfaces:
      eth1: {mtu: 9000}
  h2: {}
  h3: {}
links:
  - endpoints: [h1:eth0, h2:eth0]
    shape: {rate: 10mbit, burst: 1kb}
  - endpoints: [h1:eth1, h3:eth0]
    shape: {rate: 10mbit, burst: 8kb}
  - endpoints: [h2:eth1, h3:eth1]
    shape: {rate: 0mbit}
  - endpoints: [h2:eth2, h3:eth2]
    shape: {rate: 100gbit, latency: 1s}
  - endpoints: [h2:eth3, h3:eth3]
    shape: {rate: 8bit, burst: 2kb}
  - endpoints: [h2:eth4, h3:eth4]
    impair: {delay: 50s, jitter: 20s, loss: 101%}
`,
			wants: []want{
				{"links[0].shape.burst", "burst 1kb (1024 bytes) is smaller than one full frame (mtu 1500 + 14-byte header)", 10},
				{"links[1].shape.burst", "burst 8kb (8192 bytes) is smaller than one full frame (mtu 9000", 12},
				{"links[2].shape.rate", `rate "0mbit": out of range`, 14},
				{"links[3].shape.latency", "tbf's queue holds at most 4 GiB", 16},
				{"links[4].shape.burst", "lasts 2048s at rate 8bit; at most 60s", 18},
				{"links[5].impair.delay", "delay + jitter is 1m10s; at most 1m0s", 20},
				{"links[5].impair.loss", `loss "101%"`, 20},
			},
		},
	})
}
