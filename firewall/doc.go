// Package firewall keeps netlab's nftables rules in one network namespace
// (github.com/google/nftables, over NETLINK_NETFILTER): a table owned by
// netlab, named "netlab", in the inet family with the base chains input,
// output and forward (type filter, priority filter, policy accept), and, for
// the forward chain of a switch node (kind: bridge), a table of the same
// name in the bridge family whose forward chain sees the frames the bridge
// forwards between its ports.
//
// A Rule is one declared entry: matches on IP version, protocol (icmp,
// icmpv6, tcp, udp), ICMP type, source/destination prefix, input/output
// interface name and ports, then a counter and a verdict (accept, drop, or
// reject: a TCP reset for tcp rules, ICMP(v6) port unreachable for the
// rest). Each rule is built from the same pieces that print it, so
// Statement's nft line is exactly what the kernel gets, and List decodes
// the kernel's rules back into Rules (and refuses to guess at rules netlab
// did not make). ARP is not IP: no inet hook sees it, so a rule dropping
// all IPv4 leaves address resolution working.
//
// Conn works on a namespace handle, like routectl and neighctl: Open
// duplicates the handle and opens one netlink socket in that namespace
// (nftables.WithNetNSFd: the library creates the socket on a locked thread
// switched into the namespace and switches back). Apply adds rules (creating
// the tables and chains they need) in one transaction; Flush removes every
// rule and keeps the empty chains; List reads them back with their
// counters. Rules live as long as the namespace: nothing outside it is
// touched, and nothing needs deleting when the namespace goes.
//
// The package logs nothing.
package firewall
