package routectl

import (
	"net/netip"
)

// Well-known table numbers.
const (
	TableDefault uint32 = 253
	TableMain    uint32 = 254
	TableLocal   uint32 = 255
)

// Route types (the kernel's RTN_* words, as ip prints them).
const (
	TypeUnicast     = "unicast"
	TypeLocal       = "local"
	TypeBroadcast   = "broadcast"
	TypeAnycast     = "anycast"
	TypeMulticast   = "multicast"
	TypeBlackhole   = "blackhole"
	TypeUnreachable = "unreachable"
	TypeProhibit    = "prohibit"
	TypeThrow       = "throw"
	// TypeNAT is the kernel's obsolete RTN_NAT; listed, never made.
	TypeNAT = "nat"
	// TypeMartian is not a route type but a Decision's: the kernel's input
	// path refused the packet's source (a martian source: one of the
	// namespace's own addresses, a loopback, multicast or zero address, or
	// a reverse-path filter failure). See Decision.
	TypeMartian = "martian"
)

// Route scopes (ip's words for RT_SCOPE_*; "site" and "nowhere" and numbers
// are accepted too).
const (
	ScopeGlobal = "global"
	ScopeLink   = "link"
	ScopeHost   = "host"
)

// Route is a route to apply, or one the kernel listed. Its String is the
// route as `ip route` prints it on one line (and as `ip route add` takes it).
type Route struct {
	// Family is unix.AF_INET or unix.AF_INET6; derived from To if zero.
	Family int `json:"-"`
	// To is the destination; 0.0.0.0/0 or ::/0 for default. It must have
	// no bits set beyond its length.
	To netip.Prefix `json:"to"`
	// Via is the gateway. An IPv4 route may have an IPv6 gateway (RTA_VIA,
	// `via inet6`); an IPv6 link-local gateway needs Dev.
	Via netip.Addr `json:"via,omitzero"`
	Dev string     `json:"dev,omitempty"`
	// Src is the preferred source address (ip's "src", RTA_PREFSRC).
	Src netip.Addr `json:"src,omitzero"`
	// Metric is the route priority (ip's "metric"). The kernel makes an
	// IPv6 route's metric 0 into 1024.
	Metric uint32 `json:"metric"`
	// Table is the table number; 0 means main, or local for the types
	// local, broadcast, anycast and nat (as ip does). Listed routes always
	// carry their real table.
	Table uint32 `json:"table"`
	// Type is one of the Type* words; "" means unicast. Listed routes
	// always carry their word.
	Type string `json:"type"`
	// Scope is "global", "link", "host" or "" (the default ip picks: global
	// for every IPv6 route; host for local and nat; link for broadcast,
	// multicast, anycast and for a unicast route with neither via nor
	// nexthops; global otherwise). Listed routes always carry theirs. DelRoute
	// with "" matches any scope.
	Scope  string `json:"scope,omitempty"`
	Onlink bool   `json:"onlink,omitempty"`
	// Nexthops makes a multipath route (Via/Dev then stay empty).
	Nexthops []Nexthop `json:"nexthops,omitempty"`
	// Protocol is who made the route when listed: kernel, boot, static, ...
	// AddRoute takes a word or number too ("" is boot, as for ip).
	Protocol string `json:"protocol,omitempty"`
}

// Nexthop is one path of a multipath route.
type Nexthop struct {
	Via    netip.Addr `json:"via,omitzero"`
	Dev    string     `json:"dev,omitempty"`
	Weight int        `json:"weight"` // 1..256; 0 means 1
	Onlink bool       `json:"onlink,omitempty"`
}

// Rule actions (the kernel's FR_ACT_* words).
const (
	ActionLookup      = "lookup"
	ActionBlackhole   = "blackhole"
	ActionUnreachable = "unreachable"
	ActionProhibit    = "prohibit"
)

// Rule is a policy-routing rule to apply, or one the kernel listed. Its
// String is the rule as `ip rule show` prints it.
type Rule struct {
	// Family is unix.AF_INET or unix.AF_INET6; derived from From/To if zero
	// (a rule with neither needs it).
	Family int `json:"-"`
	// Priority is the rule's preference; a non-zero Priority implies
	// HasPriority, which only priority 0 needs. Without either the kernel
	// picks one, as for ip: one below the priority of the rule listed
	// second (32765 in a fresh namespace; 0 if that rule's is 0), and
	// DelRule matches any priority. Listed rules have HasPriority set.
	Priority    uint32       `json:"priority"`
	HasPriority bool         `json:"-"`
	From        netip.Prefix `json:"from,omitzero"`
	To          netip.Prefix `json:"to,omitzero"`
	IIF         string       `json:"iif,omitempty"`
	OIF         string       `json:"oif,omitempty"`
	// Mark/Mask match the packet's fwmark when HasMark (Mask 0 means
	// 0xffffffff, as ip does; a non-zero Mark or Mask implies HasMark).
	// Listed rules report a full mask as 0.
	Mark    uint32 `json:"fwmark,omitempty"`
	Mask    uint32 `json:"fwmask,omitempty"`
	HasMark bool   `json:"-"`
	// Table is the table an ActionLookup rule looks up; 0 means main when
	// adding (as ip does) and any table when deleting.
	Table uint32 `json:"table,omitempty"`
	// Action is one of the Action* words; "" means lookup (any action when
	// deleting). Listed rules always carry their word.
	Action string `json:"action"`
	Invert bool   `json:"invert,omitempty"`
	// Protocol is who made the rule when listed: kernel for the default
	// rules, unspec for routectl's and ip's (FRA_PROTOCOL is not set).
	Protocol string `json:"protocol,omitempty"`
}

// Filter selects routes in Routes.
type Filter struct {
	Family int    // 0 for IPv4 and IPv6
	Table  uint32 // 0 for every table (ip route show table all)
}

// Query asks the kernel how it would route one packet (RTM_GETROUTE).
type Query struct {
	To   netip.Addr
	From netip.Addr // optional source address
	// IIF, optional: as if the packet arrived on this device (the kernel's
	// input path: forwarding, rp_filter and source checks apply). IPv4
	// needs From with it.
	IIF  string
	OIF  string // optional: force the output device
	Mark uint32 // optional fwmark
}

// Decision is the kernel's answer to a Query. Its String is the answer as
// `ip route get` prints it (on one line).
//
// What this kernel (6.18) answers when it refuses, for IPv4 and IPv6 alike,
// and the Type a Decision then carries (with Err the errno's text, Errno its
// name, and Get's error nil):
//
//   - no route at all, or a rule with action unreachable: ENETUNREACH,
//     "network is unreachable": unreachable. IPv4 without IIF answers this
//     too when From is not one of the namespace's addresses.
//   - a route of type unreachable: EHOSTUNREACH, "no route to host":
//     unreachable. An IPv4 IIF query on a namespace that does not forward
//     answers this for every destination that is not local.
//   - a route of type prohibit, or a rule with action prohibit: EACCES,
//     "permission denied": prohibit.
//   - a route of type blackhole, or a rule with action blackhole: EINVAL,
//     "invalid argument": blackhole. EINVAL is also how IPv4's input path
//     (IIF) refuses a martian source, including a reverse-path filter
//     failure: Get reports blackhole when a blackhole route covering To or a
//     blackhole rule exists in the family, else martian for an IIF query,
//     else (no IIF, no blackhole) it returns the error.
//
// A throw route ends the lookup in its table and the next rule's table is
// tried. Other errors (an unknown device, ...) are failures of the query.
//
// Table is the table whose route decided. Until the namespace gets a rule
// of its own the kernel keeps the local table merged into main and reports
// main (254) for a local destination too; once any rule has been added
// (even if deleted again) it reports local (255). IPv6 always reports
// local. Table is 0 when no table decided: an OIF query that no route
// answers, where the kernel assumes the destination is on that link.
type Decision struct {
	To    netip.Addr `json:"to"`
	Type  string     `json:"type"` // unicast, local, broadcast, multicast, blackhole, unreachable, prohibit, martian
	Via   netip.Addr `json:"via,omitzero"`
	Dev   string     `json:"dev,omitempty"`
	Src   netip.Addr `json:"src,omitzero"` // the source the packet gets (output path)
	From  netip.Addr `json:"from,omitzero"`
	IIF   string     `json:"iif,omitempty"`
	Table uint32     `json:"table"`
	Mark  uint32     `json:"mark,omitempty"`
	// Err is the kernel's refusal when it has no route or a rule/route
	// forbids it (e.g. "network is unreachable", "permission denied"):
	// a decision, not a failure of the query. Errno is its name
	// ("ENETUNREACH").
	Err   string `json:"error,omitempty"`
	Errno string `json:"errno,omitempty"`
}
