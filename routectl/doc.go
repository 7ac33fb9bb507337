// Package routectl applies, lists and deletes routes and policy-routing
// rules in one network namespace, and asks the kernel for its own route
// decision (RTM_GETROUTE, what `ip route get` prints), through netlink only.
//
// A Conn works on a namespace handle, not on a lab (like neighctl). Tables
// are numbers here: lab-local table names are resolved by the topology
// package before anything reaches routectl, and nothing is ever written to
// /etc/iproute2/rt_tables.
//
// What it does as ip does:
//   - AddRoute is `ip route add` (NLM_F_CREATE|NLM_F_EXCL): a route to the
//     same destination and metric in the same table fails with EEXIST, for
//     IPv6 too. Defaults are ip's: table main (local for local, broadcast
//     and anycast routes), proto boot, ip's scope (see Route.Scope).
//   - DelRoute is `ip route del`: empty fields match anything.
//   - Routes is `ip route show table all` (cached clones left out).
//   - AddRule/DelRule/Rules are `ip rule add/del/show`, both families.
//   - Get is `ip route get` (with RTM_F_LOOKUP_TABLE: the deciding table is
//     reported). The kernel's refusals (no route, unreachable, prohibit,
//     blackhole, martian source) are Decisions, not errors: see Decision.
//
// Route, Rule and Decision print as ip prints them, so plans and the CLI can
// show them as they are.
package routectl
