// Package neighctl reads, changes and watches the kernel's neighbour tables
// (ARP for IPv4, NDP for IPv6) inside one network namespace, through
// netlink only.
//
// A Conn works on a namespace handle, not on a lab: List dumps the entries
// (bridge FDB entries are filtered out) with their cache-info ages turned
// into absolute times; Add, Set, Del, Flush and Use change entries the way
// `ip neigh` does; Params reads the neighbour-table parameters with
// RTM_GETNEIGHTBL, including the current randomised reachable_time that no
// sysctl shows.
//
// Watch records a timeline of state transitions. The kernel does not notify
// every transition (REACHABLE->DELAY, STALE->DELAY and NONE->INCOMPLETE are
// silent), so a watcher combines RTM_NEWNEIGH/RTM_DELNEIGH events with a
// polling sampler and labels every transition with where it came from
// (event, poll, or inferred); a lost-event window (ENOBUFS) is recorded as a
// gap, never papered over.
package neighctl
