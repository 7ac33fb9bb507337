package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/netlabdev/netlab/neighctl"
)

// Neighbour tests are never parallel: garbage collection is global, and a
// test that lowers gc_thresh1 (arp-aging-gc) makes GC delete the STALE
// entries another test is watching (KERNEL-NOTES). What labs/arp-aging*.yaml
// claim about timing is checked by TestNeighAging and TestNeighAgingGC.

// staticNeighLab declares one entry of each kind: permanent IPv4 (the
// default state), permanent IPv6, an IPv6 router entry, IPv4 and IPv6 proxy
// entries, a STALE one, a NOARP one on a second link, and on h2 a permanent
// entry for h1's real MAC (so h2 reaches h1 without ARP).
const staticNeighLab = `name: nb
nodes:
  h1:
    interfaces:
      eth0: {addresses: [192.0.2.1/24, 2001:db8::1/64], mac: "02:00:00:00:0b:01"}
      eth1: {addresses: [198.51.100.1/24]}
    neighbors:
      - {to: 192.0.2.9, lladdr: "02:00:00:00:0b:09", dev: eth0}
      - {to: "2001:db8::9", lladdr: "02:00:00:00:0B:0A", dev: eth0, state: permanent}
      - {to: "2001:db8::fe", lladdr: "02:00:00:00:0b:fe", dev: eth0, router: true}
      - {to: 192.0.2.10, dev: eth0, proxy: true}
      - {to: "2001:db8::10", dev: eth0, proxy: true}
      - {to: 192.0.2.11, lladdr: "02:00:00:00:0b:0b", dev: eth0, state: stale}
      - {to: 198.51.100.9, lladdr: "02:00:00:00:0b:0c", dev: eth1, state: NoArp}
      - {to: 198.51.100.10, lladdr: "02:00:00:00:0b:0d", dev: eth1, state: none}
  h2:
    interfaces:
      eth0: {addresses: [192.0.2.2/24, 2001:db8::2/64], mac: "02:00:00:00:0b:02"}
    neighbors:
      - {to: 192.0.2.1, lladdr: "02:00:00:00:0b:01", dev: eth0}
links:
  - endpoints: [h1:eth0, h2:eth0]
  - endpoints: [h1:eth1, h2:eth1]
`

// TestNeighborsUp brings up a lab with static entries and checks every
// entry through netlink (neighctl) and through `ip -j neigh show`, then that
// down leaves nothing.
func TestNeighborsUp(t *testing.T) {
	requireRoot(t)
	l := newLabText(t, staticNeighLab, "nbstatic")
	e := l.Exp
	if len(e.Refused) > 0 {
		t.Fatalf("the model refuses %v", e.Refused)
	}
	checkNothingOf(t, l.Name)
	before := rootLinks(t)
	r := l.up(t)
	if strings.Contains(r.stderr, "warning:") {
		t.Errorf("up warns about a lab with nothing to warn about:\n%s", r)
	}
	hs := openLab(t, e)
	conns := map[string]*neighctl.Conn{}
	for _, n := range e.Nodes {
		c, err := neighctl.Open(hs[n.Name].ns)
		if err != nil {
			t.Fatalf("%s: %v", n.NS, err)
		}
		t.Cleanup(func() { c.Close() })
		conns[n.Name] = c
	}
	count := 0
	for _, n := range e.Nodes {
		count += len(n.Neighbors)
		checkNeighNetlink(t, n, conns[n.Name])
		checkNeighIP(t, n)
	}
	if count != 9 {
		t.Fatalf("the model derived %d static entries, want 9", count)
	}

	// h2 reaches h1 through its permanent entry, and the entry stays
	// PERMANENT: traffic never replaces a permanent entry.
	if r := netlab(t, "exec", l.Name, "h2", "--", "ping", "-c1", "-W2", "192.0.2.1"); r.code != 0 {
		t.Errorf("h2 cannot reach h1 through its static entry:\n%s", r)
	}
	checkNeighNetlink(t, e.node("h2"), conns["h2"])

	mustNetlab(t, "down", l.Name)
	checkNothingOf(t, l.Name)
	checkHeldEmpty(t, hs)
	checkRootUntouched(t, before)
	// The namespaces, still held open here, hold no entry any more.
	for name, c := range conns {
		es, err := c.List(context.Background(), neighctl.Filter{})
		if err != nil {
			t.Errorf("%s (held open after down): list neighbours: %v", name, err)
			continue
		}
		for _, x := range es {
			t.Errorf("%s (held open after down): entry %s dev %s %s left", name, x.IP, x.Dev, x.State)
		}
	}
}

// checkNeighNetlink compares a node's declared entries with neighctl's dump.
func checkNeighNetlink(t *testing.T, n *expNode, c *neighctl.Conn) {
	t.Helper()
	es, err := c.List(context.Background(), neighctl.Filter{})
	if err != nil {
		t.Fatalf("%s: list neighbours: %v", n.NS, err)
	}
	for _, want := range n.Neighbors {
		where := fmt.Sprintf("%s: netlink: %s dev %s (proxy %v)", n.NS, want.To, want.Dev, want.Proxy)
		var got *neighctl.Entry
		for i := range es {
			if es[i].IP == want.To && es[i].Dev == want.Dev && es[i].Flags.Proxy == want.Proxy {
				got = &es[i]
			}
		}
		if got == nil {
			t.Errorf("%s: missing", where)
			continue
		}
		if got.Flags.Router != want.Router {
			t.Errorf("%s: router flag %v, want %v", where, got.Flags.Router, want.Router)
		}
		if want.Proxy {
			continue // a proxy entry has no state or lladdr
		}
		if got.State.String() != want.State {
			t.Errorf("%s: state %s, want %s", where, got.State, want.State)
		}
		if got.LLAddr != want.LLAddr {
			t.Errorf("%s: lladdr %s, want %s", where, got.LLAddr, want.LLAddr)
		}
	}
}

// ipNeigh is one entry of `ip -j neigh show`; flags such as router and
// proxy are keys with a null value.
type ipNeigh map[string]json.RawMessage

func (x ipNeigh) str(k string) string {
	var s string
	_ = json.Unmarshal(x[k], &s)
	return s
}

func (x ipNeigh) has(k string) bool { _, ok := x[k]; return ok }

// checkNeighIP compares a node's declared entries with iproute2's view:
// `ip -j neigh show nud all` (NOARP entries included) and `ip -j neigh show
// proxy`, an independent witness of netlab's own netlink code.
func checkNeighIP(t *testing.T, n *expNode) {
	t.Helper()
	var plain, proxy []ipNeigh
	ipJSON(t, &plain, "-n", n.NS, "neigh", "show", "nud", "all")
	ipJSON(t, &proxy, "-n", n.NS, "neigh", "show", "proxy")
	for _, want := range n.Neighbors {
		where := fmt.Sprintf("%s: ip -j: %s dev %s (proxy %v)", n.NS, want.To, want.Dev, want.Proxy)
		list := plain
		if want.Proxy {
			list = proxy
		}
		var got ipNeigh
		for _, x := range list {
			if a, err := netip.ParseAddr(x.str("dst")); err == nil && a == want.To && x.str("dev") == want.Dev {
				got = x
			}
		}
		if got == nil {
			t.Errorf("%s: missing", where)
			continue
		}
		if got.has("router") != want.Router {
			t.Errorf("%s: router flag %v, want %v: %v", where, got.has("router"), want.Router, got)
		}
		if want.Proxy {
			if !got.has("proxy") {
				t.Errorf("%s: no proxy flag: %v", where, got)
			}
			continue
		}
		var states []string
		_ = json.Unmarshal(got["state"], &states)
		if want.State == "NONE" && len(states) == 0 {
			states = []string{"NONE"} // ip prints no state word for NUD_NONE
		}
		if len(states) != 1 || states[0] != want.State {
			t.Errorf("%s: state %v, want [%s]", where, states, want.State)
		}
		if got.str("lladdr") != want.LLAddr {
			t.Errorf("%s: lladdr %q, want %q", where, got.str("lladdr"), want.LLAddr)
		}
	}
	// No proxy entry shows up as a normal one and the other way round.
	for _, x := range plain {
		if x.has("proxy") {
			t.Errorf("%s: proxy entry in ip neigh show: %v", n.NS, x)
		}
	}
}

// TestNeighborsUpRollback: the kernel refuses a static entry midway (an IPv6
// entry on a device whose IPv6 is disabled by a declared sysctl); up exits 1
// naming the node and the entry, and nothing is left.
func TestNeighborsUpRollback(t *testing.T) {
	requireRoot(t)
	l := newLabText(t, `name: nb
nodes:
  h1:
    sysctls: {net.ipv6.conf.eth0.disable_ipv6: 1}
    interfaces:
      eth0: {addresses: [192.0.2.1/24]}
    neighbors:
      - {to: 192.0.2.9, lladdr: "02:00:00:00:0b:09", dev: eth0}
      - {to: "2001:db8::9", lladdr: "02:00:00:00:0b:0a", dev: eth0}
  h2: {}
links:
  - endpoints: [h1:eth0, h2:eth0]
`, "nbrollback")
	before := rootLinks(t)
	r := netlab(t, "up", l.File)
	if r.code != 1 {
		t.Fatalf("want exit 1 (the kernel refuses the IPv6 entry), got:\n%s", r)
	}
	if !strings.Contains(r.stderr, "node h1: neighbour 2001:db8::9 dev eth0: add: ") {
		t.Errorf("the error does not name the node and the entry:\n%s", r)
	}
	checkNothingOf(t, l.Name)
	checkRootUntouched(t, before)
}

// TestNeighborsUpWarnings: up of labs/arp-aging.yaml prints no
// delay_first_probe_time warning (its 1 s is below base/2); a lab with
// delay_first_probe_time 5 and base 4 s gets one on stderr, once per family,
// and still exits 0; gratuitous ARP toward a node whose effective arp_accept
// is 0 is warned about, toward one with arp_accept 1 not.
func TestNeighborsUpWarnings(t *testing.T) {
	requireRoot(t)
	t.Run("arp-aging", func(t *testing.T) {
		l := newLab(t, "labs/arp-aging.yaml", "nbaging")
		r := l.up(t)
		if strings.Contains(r.stderr, "delay_first_probe_time") {
			t.Errorf("arp-aging: a delay_first_probe_time warning:\n%s", r)
		}
		// The GC warning depends on the global table: expect it only when
		// the table is clearly below gc_thresh1, and not when clearly above.
		entries, thresh1 := arpTable(t, l.Name+"-h1")
		warned := strings.Contains(r.stderr, "STALE entries will never be garbage-collected")
		switch {
		case entries+16 < thresh1 && !warned:
			t.Errorf("arp-aging: no GC warning with %d entries below gc_thresh1=%d:\n%s", entries, thresh1, r)
		case entries > thresh1+16 && warned:
			t.Errorf("arp-aging: a GC warning with %d entries above gc_thresh1=%d:\n%s", entries, thresh1, r)
		}
		mustNetlab(t, "down", l.Name)
	})
	t.Run("loop", func(t *testing.T) {
		l := newLabText(t, `name: nb
nodes:
  sw: {kind: bridge}
  h1:
    sysctls:
      net.ipv4.neigh.eth0.base_reachable_time_ms: 4000
      net.ipv4.neigh.eth0.delay_first_probe_time: 5
      net.ipv6.neigh.eth0.base_reachable_time_ms: 4000
      net.ipv6.neigh.eth0.delay_first_probe_time: 5
      net.ipv4.conf.all.arp_accept: 0
      net.ipv4.conf.eth0.arp_accept: 0
    interfaces:
      eth0: {addresses: [192.0.2.1/24, 2001:db8::1/64]}
  h2:
    interfaces:
      eth0: {addresses: [192.0.2.2/24]}
  h3:
    sysctls: {net.ipv4.conf.eth0.arp_accept: 1}
    interfaces:
      eth0: {addresses: [192.0.2.3/24]}
links:
  - endpoints: [h1:eth0, sw:p1]
  - endpoints: [h2:eth0, sw:p2]
  - endpoints: [h3:eth0, sw:p3]
scenario:
  - arping: {from: h2, dev: eth0, to: 192.0.2.100, mode: gratuitous}
`, "nbloop")
		r := l.up(t) // exit 0: warnings never fail
		// IPv4: validation predicted it (file:line); up does not repeat it.
		if n := strings.Count(r.stderr, "net.ipv4.neigh.eth0.delay_first_probe_time"); n != 1 {
			t.Errorf("want the IPv4 delay_first_probe_time warning once, got %d:\n%s", n, r)
		}
		// IPv6: validation does not check it; up reads the kernel back.
		if !strings.Contains(r.stderr, "warning: node h1: eth0: ipv6 delay_first_probe_time 5s >= base_reachable_time 4s/2") {
			t.Errorf("no IPv6 delay_first_probe_time warning from up's read-back:\n%s", r)
		}
		if !strings.Contains(r.stderr, "node h1: eth0: effective arp_accept is 0") {
			t.Errorf("no arp_accept warning for h1:\n%s", r)
		}
		if strings.Contains(r.stderr, "node h3:") || strings.Contains(r.stderr, "node h2:") {
			t.Errorf("arp_accept warning for h3 (arp_accept 1) or h2 (the sender):\n%s", r)
		}
		if strings.Contains(r.stderr, "gc_stale_time declared") {
			t.Errorf("GC warning without gc_stale_time:\n%s", r)
		}
		mustNetlab(t, "down", l.Name)

		// -o json carries up's own warnings.
		r = mustNetlab(t, "up", "-o", "json", l.File)
		var out struct {
			Warnings []string `json:"warnings"`
		}
		decodeJSON(t, "up -o json", r.stdout, &out)
		found := false
		for _, w := range out.Warnings {
			found = found || strings.Contains(w, "ipv6 delay_first_probe_time")
		}
		if !found {
			t.Errorf("up -o json: warnings %q lack the IPv6 one", out.Warnings)
		}
	})
}

// arpTable reads the global ARP table's entry count and gc_thresh1 through
// RTM_GETNEIGHTBL from a lab namespace.
func arpTable(t *testing.T, ns string) (entries, thresh1 int) {
	t.Helper()
	h := openNS(t, ns)
	c, err := neighctl.Open(h.ns)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ts, err := c.Tables(context.Background(), unix.AF_INET)
	if err != nil || len(ts) == 0 {
		t.Fatalf("neighbour tables: %v (%d)", err, len(ts))
	}
	return ts[0].Entries, ts[0].Thresh1
}
