// Package lab turns a validated topology into live kernel objects and back.
//
// NewPlan orders the operations (each printable as an ip-like line, which
// is what `netlab up --dry-run` shows); Up checks privileges, kernel
// features, sysctl keys, name collisions and host-knob conflicts before it
// creates anything, then applies the plan through per-namespace netlink
// handles, journaling each namespace and host knob before creating it, and
// rolls everything back if a step fails. Static neighbour entries go in
// through neighctl once every interface is up; then routes (in an order the
// kernel cannot refuse on dependencies: see routeOrder) and policy rules,
// through routectl. After applying, Up reads the
// kernel back and returns warnings (never failures): effective rp_filter and
// accept_local, delay_first_probe_time >= base_reachable_time/2, GC that
// will not scan below gc_thresh1, and gratuitous ARP that arp_accept=0 will
// not learn. Down removes exactly what the state
// records (or, without state, only namespaces carrying this lab's marker),
// restores host knobs and deletes the state. Status and Exec work on running
// labs.
package lab
