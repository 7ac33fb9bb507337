// Package nsutil is netlab's one audited place that switches network
// namespaces. Everything else (lab, routectl, neighctl, probe) works through
// it: it runs a function on a locked OS thread inside a namespace and restores
// the thread (or, if restoring fails, leaves the thread locked so the Go
// runtime discards it); it creates named namespaces the way `ip netns add`
// does (a bind mount under /run/netns), with netlab's ownership marker set
// before the name is published; it opens per-namespace netlink handles; it
// reads and writes /proc/sys/net inside a namespace; it starts child
// processes inside a namespace; and it runs probes in throwaway namespaces
// that vanish with their thread.
package nsutil
