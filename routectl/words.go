package routectl

import (
	"fmt"
	"net"
	"net/netip"
	"strconv"

	"golang.org/x/sys/unix"
)

// The kernel's words for route types, scopes, protocols and rule actions,
// as iproute2 prints them (lib/rt_names.c).

var typeNumbers = map[string]uint8{
	TypeUnicast:     unix.RTN_UNICAST,
	TypeLocal:       unix.RTN_LOCAL,
	TypeBroadcast:   unix.RTN_BROADCAST,
	TypeAnycast:     unix.RTN_ANYCAST,
	TypeMulticast:   unix.RTN_MULTICAST,
	TypeBlackhole:   unix.RTN_BLACKHOLE,
	TypeUnreachable: unix.RTN_UNREACHABLE,
	TypeProhibit:    unix.RTN_PROHIBIT,
	TypeThrow:       unix.RTN_THROW,
	TypeNAT:         unix.RTN_NAT,
	"xresolve":      unix.RTN_XRESOLVE,
}

// typeNumber maps a Type word ("" is unicast) to RTN_*.
func typeNumber(t string) (uint8, error) {
	if t == "" {
		return unix.RTN_UNICAST, nil
	}
	if n, ok := typeNumbers[t]; ok {
		return n, nil
	}
	return 0, fmt.Errorf("unknown route type %q", t)
}

// typeWord maps RTN_* to its word; unknown numbers print as numbers.
func typeWord(n uint8) string {
	for w, v := range typeNumbers {
		if v == n {
			return w
		}
	}
	if n == unix.RTN_UNSPEC {
		return "none"
	}
	return strconv.Itoa(int(n))
}

var scopeNumbers = map[string]uint8{
	ScopeGlobal: unix.RT_SCOPE_UNIVERSE,
	"universe":  unix.RT_SCOPE_UNIVERSE, // input alias
	"site":      unix.RT_SCOPE_SITE,
	ScopeLink:   unix.RT_SCOPE_LINK,
	ScopeHost:   unix.RT_SCOPE_HOST,
	"nowhere":   unix.RT_SCOPE_NOWHERE,
}

// scopeNumber maps a Scope word (not "") or number to RT_SCOPE_*.
func scopeNumber(s string) (uint8, error) {
	if n, ok := scopeNumbers[s]; ok {
		return n, nil
	}
	if n, err := strconv.ParseUint(s, 0, 8); err == nil {
		return uint8(n), nil
	}
	return 0, fmt.Errorf("unknown route scope %q", s)
}

// scopeWord maps RT_SCOPE_* to its word.
func scopeWord(n uint8) string {
	switch n {
	case unix.RT_SCOPE_UNIVERSE:
		return ScopeGlobal
	case unix.RT_SCOPE_SITE:
		return "site"
	case unix.RT_SCOPE_LINK:
		return ScopeLink
	case unix.RT_SCOPE_HOST:
		return ScopeHost
	case unix.RT_SCOPE_NOWHERE:
		return "nowhere"
	}
	return strconv.Itoa(int(n))
}

// protocolWords are /etc/iproute2/rt_protos as iproute2 ships it.
var protocolWords = map[uint8]string{
	0: "unspec", 1: "redirect", 2: "kernel", 3: "boot", 4: "static",
	8: "gated", 9: "ra", 10: "mrt", 11: "zebra", 12: "bird", 13: "dnrouted",
	14: "xorp", 15: "ntk", 16: "dhcp", 17: "mrouted", 18: "keepalived",
	42: "babel", 99: "openr", 186: "bgp", 187: "isis", 188: "ospf",
	189: "rip", 192: "eigrp",
}

// protocolWord maps RTPROT_* to its word.
func protocolWord(n uint8) string {
	if w, ok := protocolWords[n]; ok {
		return w
	}
	return strconv.Itoa(int(n))
}

// protocolNumber maps a protocol word or number to RTPROT_*.
func protocolNumber(p string) (uint8, error) {
	for n, w := range protocolWords {
		if w == p {
			return n, nil
		}
	}
	if n, err := strconv.ParseUint(p, 0, 8); err == nil {
		return uint8(n), nil
	}
	return 0, fmt.Errorf("unknown route protocol %q", p)
}

var actionNumbers = map[string]uint8{
	ActionLookup:      unix.FR_ACT_TO_TBL,
	ActionBlackhole:   unix.FR_ACT_BLACKHOLE,
	ActionUnreachable: unix.FR_ACT_UNREACHABLE,
	ActionProhibit:    unix.FR_ACT_PROHIBIT,
}

// actionNumber maps an Action word ("" is lookup) to FR_ACT_*.
func actionNumber(a string) (uint8, error) {
	if a == "" {
		return unix.FR_ACT_TO_TBL, nil
	}
	if n, ok := actionNumbers[a]; ok {
		return n, nil
	}
	return 0, fmt.Errorf("unknown rule action %q", a)
}

// actionWord maps FR_ACT_* to its word (goto and nop, which routectl does
// not make, print as ip prints them).
func actionWord(n uint8) string {
	for w, v := range actionNumbers {
		if v == n {
			return w
		}
	}
	switch n {
	case unix.FR_ACT_GOTO:
		return "goto"
	case unix.FR_ACT_NOP:
		return "nop"
	}
	return strconv.Itoa(int(n))
}

// TableName is how ip names a table: local, main, default, or the number.
func TableName(t uint32) string {
	switch t {
	case TableLocal:
		return "local"
	case TableMain:
		return "main"
	case TableDefault:
		return "default"
	}
	return strconv.FormatUint(uint64(t), 10)
}

// familyOf is unix.AF_INET or unix.AF_INET6 for a valid address, else 0.
func familyOf(a netip.Addr) int {
	switch {
	case a.Is4():
		return unix.AF_INET
	case a.Is6():
		return unix.AF_INET6
	}
	return 0
}

// familyWord names a family in messages.
func familyWord(f int) string {
	switch f {
	case unix.AF_INET:
		return "inet"
	case unix.AF_INET6:
		return "inet6"
	}
	return fmt.Sprintf("family %d", f)
}

// ipNet converts a prefix to the library's form (4-byte IPv4 addresses).
func ipNet(p netip.Prefix) *net.IPNet {
	a := p.Addr()
	return &net.IPNet{IP: net.IP(a.AsSlice()), Mask: net.CIDRMask(p.Bits(), a.BitLen())}
}

// addrFrom converts a kernel address (4 or 16 bytes) to a netip.Addr; an
// IPv6-family address keeps its 16-byte form even when it is v4-mapped.
func addrFrom(b []byte) netip.Addr {
	a, _ := netip.AddrFromSlice(b)
	return a
}

// prefixFrom converts a kernel prefix of family fam to a netip.Prefix (the
// library makes a missing IPv4 destination a 16-byte 0.0.0.0).
func prefixFrom(n *net.IPNet, fam int) netip.Prefix {
	if n == nil {
		return netip.Prefix{}
	}
	a := addrFrom(n.IP)
	if fam == unix.AF_INET {
		a = a.Unmap()
	}
	if !a.IsValid() {
		return netip.Prefix{}
	}
	ones, _ := n.Mask.Size()
	return netip.PrefixFrom(a, ones)
}

// prefixWord is how ip prints a prefix: "default" for /0 when def, the bare
// address for a host prefix, else address/bits.
func prefixWord(p netip.Prefix, def bool) string {
	switch {
	case def && p.Bits() == 0:
		return "default"
	case p.IsSingleIP():
		return p.Addr().String()
	}
	return p.String()
}
