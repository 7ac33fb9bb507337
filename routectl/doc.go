// Package routectl applies, lists and deletes routes and policy-routing
// rules in one network namespace, and asks the kernel for its own route
// decision (RTM_GETROUTE, what `ip route get` prints), through netlink only.
//
// A Conn works on a namespace handle, not on a lab (like neighctl). Tables
// are numbers here: lab-local table names are resolved by the topology
// package before anything reaches routectl, and nothing is ever written to
// /etc/iproute2/rt_tables.
package routectl
