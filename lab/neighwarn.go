package lab

import (
	"context"
	"fmt"
	"math"
	"net/netip"
	"path"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/netlabdev/netlab/internal/nsutil"
	"github.com/netlabdev/netlab/neighctl"
	"github.com/netlabdev/netlab/topology"
)

// This file holds the neighbour warnings of up (KERNEL-NOTES): each one is a
// pure decision over values (unit-tested) and a reader that feeds it what the
// kernel holds after apply.

// families are the neighbour sysctl families, with their tables.
var families = []struct {
	name   string // sysctl element: ipv4, ipv6
	af     int
	thresh string // host gc_thresh1 path
}{
	{"ipv4", unix.AF_INET, "net/ipv4/neigh/default/gc_thresh1"},
	{"ipv6", unix.AF_INET6, "net/ipv6/neigh/default/gc_thresh1"},
}

// neighWarnings reads back what the neighbour warnings need and returns
// them: delay_first_probe_time vs base_reachable_time, GC that will not
// scan, and gratuitous ARP that will create no entry.
func (a *applier) neighWarnings(ctx context.Context, t *topology.Topo) []string {
	var out []string
	out = append(out, a.delayProbeWarnings(t)...)
	out = append(out, a.gcWarnings(ctx, t)...)
	out = append(out, a.arpAcceptWarnings(t)...)
	return out
}

// neighTiming is one device's neighbour timing in one family, as sysctls
// show it: base_reachable_time_ms and delay_first_probe_time (seconds).
type neighTiming struct {
	BaseMS int
	DelayS int
}

// loops reports whether an entry confirmed by a reply can loop REACHABLE ->
// DELAY -> PROBE -> REACHABLE: reachable_time is drawn from [B/2, 3B/2), and
// an entry used within delay_first_probe_time when it expires goes to DELAY
// instead of STALE.
func (x neighTiming) loops() bool { return x.BaseMS > 0 && 2*1000*x.DelayS >= x.BaseMS }

// delayProbeWarning decides the delay_first_probe_time warning for one
// device and family from the kernel's values (got) and what validation
// already predicted and warned about from the lab file (validated, nil when
// it did not warn). It warns only when the kernel's values loop and the
// validation warning did not already say so with the same values.
func delayProbeWarning(node, dev, family string, got neighTiming, validated *neighTiming) string {
	if !got.loops() {
		return ""
	}
	if validated != nil && validated.DelayS == got.DelayS && jiffyEqual(validated.BaseMS, got.BaseMS) {
		return ""
	}
	base := time.Duration(got.BaseMS) * time.Millisecond
	return fmt.Sprintf("node %s: %s: %s delay_first_probe_time %ds >= base_reachable_time %v/2 (read back from the kernel): an entry confirmed by a reply loops REACHABLE -> DELAY -> PROBE -> REACHABLE (one unicast probe every few seconds) instead of going STALE; set net.%s.neigh.%s.delay_first_probe_time below %v",
		node, dev, family, got.DelayS, base, family, strings.ReplaceAll(dev, ".", "/"), base/2)
}

// jiffyEqual compares two *_ms values that may differ by the kernel's
// rounding to a jiffy (at most 10 ms for HZ >= 100).
func jiffyEqual(a, b int) bool { return a-b < 10 && b-a < 10 }

// validatedTiming returns the IPv4 timing topology's validation warned
// about for an interface (topology.RIface.DeclaredARPTiming), or nil when it
// did not warn.
func validatedTiming(i *topology.RIface) *neighTiming {
	base, delay, _, loops := i.DeclaredARPTiming()
	if !loops {
		return nil
	}
	return &neighTiming{BaseMS: int(math.Round(base * 1000)), DelayS: int(delay)}
}

// declaresNeigh reports whether a node declares a neighbour sysctl for the
// interface (either family) or for the whole node.
func declaresNeigh(n *topology.RNode, i *topology.RIface) bool {
	for _, ss := range [][]topology.Sysctl{n.Sysctls, i.Sysctls} {
		for _, s := range ss {
			if s.Section == "neigh" {
				return true
			}
		}
	}
	return false
}

func (a *applier) delayProbeWarnings(t *topology.Topo) []string {
	var out []string
	for _, n := range t.Nodes {
		h := a.nodes[n.Name]
		if h == nil {
			continue
		}
		for _, i := range n.Ifaces {
			if i.Kind == topology.IfLo || !declaresNeigh(n, i) {
				continue
			}
			for _, f := range families {
				dir := path.Join("net", f.name, "neigh", i.Name)
				base, err1 := readInt(h, dir+"/base_reachable_time_ms")
				delay, err2 := readInt(h, dir+"/delay_first_probe_time")
				if err1 != nil || err2 != nil {
					continue
				}
				var validated *neighTiming
				if f.name == "ipv4" {
					validated = validatedTiming(i)
				}
				if w := delayProbeWarning(n.Name, i.Name, f.name, neighTiming{BaseMS: base, DelayS: delay}, validated); w != "" {
					out = append(out, w)
				}
			}
		}
	}
	return out
}

// gcWarning decides the GC warning for one family: the lab declares
// gc_stale_time on the devices in declared ("h1:eth0 (5s)"), and periodic
// GC scans only while the global table holds at least gc_thresh1 entries.
func gcWarning(family string, declared []string, thresh1, entries int) string {
	if len(declared) == 0 || entries >= thresh1 {
		return ""
	}
	return fmt.Sprintf("%s gc_stale_time declared on %s: STALE entries will never be garbage-collected: periodic GC does not scan while the table (%d entries, all namespaces) is below gc_thresh1=%d; set host.sysctls net.%s.neigh.default.gc_thresh1: 0 (restored at down)",
		family, strings.Join(declared, ", "), entries, thresh1, family)
}

// gcStaleDeclared lists, per family, the interfaces a lab gives a
// gc_stale_time, as "node:dev (value s)".
func gcStaleDeclared(t *topology.Topo) map[string][]string {
	out := map[string][]string{}
	for _, n := range t.Nodes {
		for _, i := range n.Ifaces {
			for _, s := range i.Sysctls {
				if s.Section == "neigh" && s.Leaf == "gc_stale_time" {
					out[s.Family] = append(out[s.Family], fmt.Sprintf("%s:%s (%ss)", n.Name, i.Name, s.Value))
				}
			}
		}
	}
	return out
}

func (a *applier) gcWarnings(ctx context.Context, t *topology.Topo) []string {
	declared := gcStaleDeclared(t)
	if len(declared) == 0 {
		return nil
	}
	// The tables are global: any node's connection reads them.
	var c *neighctl.Conn
	for _, n := range t.Nodes {
		if h := a.nodes[n.Name]; h != nil {
			var err error
			if c, err = h.neighConn(); err == nil {
				break
			}
		}
	}
	if c == nil {
		return nil
	}
	var out []string
	for _, f := range families {
		if len(declared[f.name]) == 0 {
			continue
		}
		ts, err := c.Tables(ctx, f.af)
		if err != nil || len(ts) == 0 {
			continue
		}
		entries, thresh1 := 0, ts[0].Thresh1
		for _, tb := range ts {
			entries += tb.Entries
		}
		// The host knob as the root namespace holds it now (after this
		// lab's own host.sysctls).
		if s, err := nsutil.ReadHostSysctl(f.thresh); err == nil {
			if v, err := strconv.Atoi(strings.TrimSpace(s)); err == nil {
				thresh1 = v
			}
		}
		if w := gcWarning(f.name, declared[f.name], thresh1, entries); w != "" {
			out = append(out, w)
		}
	}
	return out
}

// garpTarget is an interface that receives a scenario's gratuitous ARP for
// an address in its subnet, on a node other than the sender.
type garpTarget struct {
	Step int    // scenario index
	From string // sending node
	IP   netip.Addr
	Node string
	Dev  string
}

// gratuitousTargets lists, for every `arping: {mode: gratuitous}` step, the
// other nodes' interfaces whose IPv4 subnet contains the announced address
// (the interface that owns the address itself is left out), once per node
// and interface. A node whose arp_accept an earlier scenario sysctl step
// changes is left out: up cannot know its value at that step.
func gratuitousTargets(t *topology.Topo) []garpTarget {
	var out []garpTarget
	seen := map[[2]string]bool{}
	touched := map[string]bool{} // nodes whose arp_accept a step changed
	for si, s := range t.Lab.Scenario {
		if s == nil {
			continue
		}
		if s.Sysctl != nil {
			if k, err := topology.ParseSysctlKey(s.Sysctl.Key); err == nil && k.Leaf == "arp_accept" {
				touched[s.Sysctl.Node] = true
			}
			continue
		}
		g := s.Arping
		if g == nil || g.Mode != "gratuitous" {
			continue
		}
		ip, err := netip.ParseAddr(g.To)
		if err != nil || !ip.Unmap().Is4() {
			continue
		}
		ip = ip.Unmap()
		for _, n := range t.Nodes {
			if n.Name == g.From || touched[n.Name] {
				continue
			}
			for _, i := range n.Ifaces {
				if i.Kind == topology.IfLo || seen[[2]string{n.Name, i.Name}] || !inSubnet(i, ip) {
					continue
				}
				seen[[2]string{n.Name, i.Name}] = true
				out = append(out, garpTarget{Step: si, From: g.From, IP: ip, Node: n.Name, Dev: i.Name})
			}
		}
	}
	return out
}

// inSubnet reports whether ip lies in an IPv4 subnet of the interface and
// is not one of its own addresses.
func inSubnet(i *topology.RIface, ip netip.Addr) bool {
	in := false
	for _, p := range i.Addresses {
		if !p.Addr().Is4() {
			continue
		}
		if p.Addr() == ip {
			return false
		}
		if p.Masked().Contains(ip) {
			in = true
		}
	}
	return in
}

// arpAcceptWarning decides the gratuitous-ARP warning for one receiving
// interface from its conf.all and conf.<dev> arp_accept (effective = max).
func arpAcceptWarning(g garpTarget, all, dev int) string {
	if max(all, dev) != 0 {
		return ""
	}
	return fmt.Sprintf("scenario[%d]: gratuitous ARP for %s from %s: node %s: %s: effective arp_accept is 0 (max(all=%d, %s=%d)): a gratuitous ARP only updates an existing entry there and creates none (arp_accept 1 creates always, 2 only for a sender in the interface's subnet); set net.ipv4.conf.%s.arp_accept: 1 or 2 on %s if it should learn the address",
		g.Step, g.IP, g.From, g.Node, g.Dev, all, g.Dev, dev, strings.ReplaceAll(g.Dev, ".", "/"), g.Node)
}

func (a *applier) arpAcceptWarnings(t *topology.Topo) []string {
	var out []string
	for _, g := range gratuitousTargets(t) {
		h := a.nodes[g.Node]
		if h == nil {
			continue
		}
		all, err1 := readInt(h, "net/ipv4/conf/all/arp_accept")
		dev, err2 := readInt(h, path.Join("net/ipv4/conf", g.Dev, "arp_accept"))
		if err1 != nil || err2 != nil {
			continue
		}
		if w := arpAcceptWarning(g, all, dev); w != "" {
			out = append(out, w)
		}
	}
	return out
}
