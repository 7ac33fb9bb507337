package topology

import (
	"fmt"
	"net/netip"
	"sort"
	"strconv"
	"strings"
)

// Firewall protocols (FirewallRule.Proto).
const (
	ProtoICMP   = "icmp"
	ProtoICMPv6 = "icmpv6"
	ProtoTCP    = "tcp"
	ProtoUDP    = "udp"
)

// icmpTypes are nftables' names of ICMP and ICMPv6 message types (the words
// `nft describe icmp type` / `icmpv6 type` lists), so a lab's icmp_type
// reads as it would in an nft rule.
var icmpTypes = map[string]map[string]uint8{
	ProtoICMP: {
		"echo-reply": 0, "destination-unreachable": 3, "source-quench": 4, "redirect": 5,
		"echo-request": 8, "router-advertisement": 9, "router-solicitation": 10,
		"time-exceeded": 11, "parameter-problem": 12, "timestamp-request": 13,
		"timestamp-reply": 14, "info-request": 15, "info-reply": 16,
		"address-mask-request": 17, "address-mask-reply": 18,
	},
	ProtoICMPv6: {
		"destination-unreachable": 1, "packet-too-big": 2, "time-exceeded": 3,
		"parameter-problem": 4, "echo-request": 128, "echo-reply": 129,
		"mld-listener-query": 130, "mld-listener-report": 131, "mld-listener-done": 132,
		"nd-router-solicit": 133, "nd-router-advert": 134, "nd-neighbor-solicit": 135,
		"nd-neighbor-advert": 136, "nd-redirect": 137, "router-renumbering": 138,
		"ind-neighbor-solicit": 141, "ind-neighbor-advert": 142, "mld2-listener-report": 143,
	},
}

// ICMPType resolves an icmp_type for proto icmp or icmpv6: one of nft's
// names (echo-request, nd-neighbor-solicit, ...) or a number 0-255.
func ICMPType(proto, s string) (uint8, error) {
	names, ok := icmpTypes[proto]
	if !ok {
		return 0, fmt.Errorf("icmp_type needs proto icmp or icmpv6")
	}
	s = strings.ToLower(strings.TrimSpace(s))
	if t, ok := names[s]; ok {
		return t, nil
	}
	if n, err := strconv.ParseUint(s, 10, 8); err == nil {
		return uint8(n), nil
	}
	known := make([]string, 0, len(names))
	for k := range names {
		known = append(known, k)
	}
	sort.Strings(known)
	return 0, fmt.Errorf("%s type %q: want a number 0-255 or one of %s", proto, s, strings.Join(known, ", "))
}

// ICMPTypeName prints an ICMP(v6) type by nft's name, or as a number.
func ICMPTypeName(proto string, t uint8) string {
	for name, v := range icmpTypes[proto] {
		if v == t {
			return name
		}
	}
	return strconv.Itoa(int(t))
}

// FirewallPrefix parses a rule's src or dst: a prefix without host bits, or
// a bare address (a host prefix). Zones are refused (nftables matches the
// address only).
func FirewallPrefix(s string) (netip.Prefix, error) {
	s = strings.TrimSpace(s)
	if p, err := netip.ParsePrefix(s); err == nil {
		if p != p.Masked() {
			return p, fmt.Errorf("%s has host bits set (the prefix is %s)", s, p.Masked())
		}
		return p, nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil || a.Zone() != "" {
		return netip.Prefix{}, fmt.Errorf("%q: want an address or a prefix such as 192.0.2.0/24", s)
	}
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// FirewallFamily is the IP version a valid rule is limited to: 4 or 6, or
// 0 when it matches both. It comes from family, else proto (icmp is IPv4,
// icmpv6 IPv6), else src/dst.
func FirewallFamily(r *FirewallRule) int {
	if f := firewallFamilyKey(r.Family); f > 0 {
		return f
	}
	switch r.Proto {
	case ProtoICMP:
		return 4
	case ProtoICMPv6:
		return 6
	}
	for _, s := range []string{r.Src, r.Dst} {
		// Host bits do not change the family (validate reports them).
		addr, _, _ := strings.Cut(strings.TrimSpace(s), "/")
		if a, err := netip.ParseAddr(addr); err == nil {
			return family(a)
		}
	}
	return 0
}

// firewallFamilyKey reads family: 4, 6, 0 (not given) or -1 (unknown).
func firewallFamilyKey(s string) int {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "":
		return 0
	case "ipv4", "ip", "4":
		return 4
	case "ipv6", "ip6", "6":
		return 6
	}
	return -1
}

// firewallPass checks a list of rules (a node's firewall, or a scenario
// step's add). n is nil when the step names an unknown node.
func (v *validator) firewallPass(p string, n *RNode, rules []*FirewallRule) {
	for i, r := range rules {
		rp := fmt.Sprintf("%s[%d]", p, i)
		if r == nil {
			v.errf(rp, "empty firewall rule")
			continue
		}
		switch r.Chain {
		case "input", "output", "forward":
		default:
			v.errf(rp+".chain", "chain %q: want input, output or forward", r.Chain)
		}
		switch r.Action {
		case "accept", "drop", "reject":
		default:
			v.errf(rp+".action", "action %q: want accept, drop or reject", r.Action)
		}
		switch r.Proto {
		case "", ProtoTCP, ProtoUDP, ProtoICMP, ProtoICMPv6:
		default:
			v.errf(rp+".proto", "proto %q: want icmp, icmpv6, tcp or udp", r.Proto)
		}
		if (r.Sport != 0 || r.Dport != 0) && r.Proto != ProtoTCP && r.Proto != ProtoUDP {
			v.errf(rp, "sport/dport need proto tcp or udp")
		}
		for _, port := range []struct {
			k string
			v int
		}{{"sport", r.Sport}, {"dport", r.Dport}} {
			if port.v < 0 || port.v > 65535 {
				v.errf(rp+"."+port.k, "port %d out of range (1-65535)", port.v)
			}
		}
		if r.ICMPType != "" {
			if r.Proto != ProtoICMP && r.Proto != ProtoICMPv6 {
				v.errf(rp+".icmp_type", "icmp_type needs proto icmp or icmpv6")
			} else if _, err := ICMPType(r.Proto, r.ICMPType); err != nil {
				v.errf(rp+".icmp_type", "%v", err)
			}
		}
		v.firewallFamilies(rp, r)
		for _, f := range []struct{ k, v string }{{"iif", r.IIF}, {"oif", r.OIF}} {
			if f.v != "" && n != nil && n.Iface(f.v) == nil {
				v.errf(rp+"."+f.k, "node %s has no interface %s", n.Name, f.v)
			}
		}
		if r.IIF != "" && r.Chain == "output" {
			v.errf(rp+".iif", "chain output sees packets this node sends: they have no input interface (iif never matches there)")
		}
		if r.OIF != "" && r.Chain == "input" {
			v.errf(rp+".oif", "chain input sees packets delivered to this node: they have no output interface (oif never matches there)")
		}
		if dropsNDP(r, n) {
			v.warnf(rp, "this rule drops IPv6 neighbour discovery (NS/NA are icmpv6): IPv6 neighbours on this node will not resolve")
		}
	}
}

// firewallFamilies refuses a rule whose keys name both IP versions (family,
// proto icmp/icmpv6, src, dst), and bad family values and prefixes.
func (v *validator) firewallFamilies(rp string, r *FirewallRule) {
	type claim struct {
		key string
		fam int
	}
	var claims []claim
	switch f := firewallFamilyKey(r.Family); {
	case f < 0:
		v.errf(rp+".family", "family %q: want ipv4 or ipv6", r.Family)
	case f > 0:
		claims = append(claims, claim{"family", f})
	}
	switch r.Proto {
	case ProtoICMP:
		claims = append(claims, claim{"proto", 4})
	case ProtoICMPv6:
		claims = append(claims, claim{"proto", 6})
	}
	for _, f := range []struct{ k, v string }{{"src", r.Src}, {"dst", r.Dst}} {
		if f.v == "" {
			continue
		}
		pfx, err := FirewallPrefix(f.v)
		if err != nil {
			v.errf(rp+"."+f.k, "%s %v", f.k, err)
			continue
		}
		claims = append(claims, claim{f.k, family(pfx.Addr())})
	}
	for _, c := range claims[min(1, len(claims)):] {
		if c.fam != claims[0].fam {
			v.errf(rp+"."+c.key, "%s is IPv%d but %s is IPv%d: a rule matches one IP version", c.key, c.fam, claims[0].key, claims[0].fam)
		}
	}
}

// dropsNDP reports whether a drop or reject rule can match this node's IPv6
// neighbour discovery: icmpv6 (all of it, or NS/NA) or any IPv6 traffic,
// in input or output, or in forward on a kind: bridge node (where forward
// filters the frames between the hosts on the switch).
func dropsNDP(r *FirewallRule, n *RNode) bool {
	if r.Action == "accept" || FirewallFamily(r) == 4 || r.Sport != 0 || r.Dport != 0 {
		return false
	}
	if r.Chain == "forward" && (n == nil || n.Kind != NodeKindBridge) {
		return false
	}
	switch r.Proto {
	case "":
		return true
	case ProtoICMPv6:
		if r.ICMPType == "" {
			return true
		}
		t, err := ICMPType(ProtoICMPv6, r.ICMPType)
		return err == nil && (t == 135 || t == 136)
	}
	return false
}
