package e2e

import (
	"strings"
	"testing"
	"time"

	"github.com/netlabdev/netlab/labtest"
	"github.com/netlabdev/netlab/neighctl"
	"github.com/netlabdev/netlab/probe"
)

// Tests that drive labs in process through labtest (the package users'
// own tests use) and check the kernel with iproute2 as the second witness.

// startLab brings a copy of a lab file (see newLab) up through labtest.
// Its name is e2e-<short>-<pid> plus labtest's suffix, so TestMain's
// leftover check covers it too.
func startLab(t *testing.T, src, short string, repl ...string) *labtest.Lab {
	t.Helper()
	return labtest.Start(t, newLab(t, src, short, repl...).File)
}

// TestLabtestARPAging is labs/arp-aging.yaml in Go: one ping makes h1's
// entry for h2 REACHABLE; it turns STALE once the device's reachable_time
// (drawn from [2 s, 6 s)) runs out; a packet to the STALE neighbour sends
// it through DELAY back to REACHABLE. iproute2 agrees at each step. Not
// parallel: neighbour GC is global.
func TestLabtestARPAging(t *testing.T) {
	requireRoot(t)
	l := startLab(t, "labs/arp-aging.yaml", "ltaging")
	h1 := l.Node("h1")
	if v := h1.MustSysctl(t, "net.ipv4.neigh.eth0.base_reachable_time_ms"); v != "4000" {
		t.Errorf("base_reachable_time_ms %s, want 4000", v)
	}
	if e := h1.MustNeighbor(t, "192.0.2.2"); e.State != neighctl.Absent {
		t.Fatalf("an entry before any traffic: %s", e.State)
	}
	h1.MustPing(t, "192.0.2.2")
	pinged := time.Now()
	e := h1.MustNeighbor(t, "192.0.2.2")
	if e.State != neighctl.Reachable || e.LLAddr != "02:00:00:00:0a:02" || e.Dev != "eth0" {
		t.Fatalf("after one ping: %s dev %s lladdr %s, want REACHABLE dev eth0 lladdr 02:00:00:00:0a:02", e.State, e.Dev, e.LLAddr)
	}
	if s := ipNeighState(t, h1.Namespace(), "192.0.2.2"); s != "REACHABLE" {
		t.Errorf("ip neigh says %q, want REACHABLE", s)
	}
	h1.MustWaitNeighbor(t, "192.0.2.2", 7*time.Second, neighctl.Stale)
	// REACHABLE lasts the current draw from [base/2, 3 base/2) plus timer
	// lateness (up to 256 ms at this length) and one poll.
	if d := time.Since(pinged); d < 2*time.Second-10*time.Millisecond || d > 6*time.Second+300*time.Millisecond {
		t.Errorf("STALE after %v, want within [2s, 6.3s]", d)
	}
	if s := ipNeighState(t, h1.Namespace(), "192.0.2.2"); s != "STALE" {
		t.Errorf("ip neigh says %q, want STALE", s)
	}
	// A packet to a STALE neighbour: DELAY at once (not notified by the
	// kernel: the poll sees it), then h2's answer to the unicast probe after
	// delay_first_probe_time (1 s) makes it REACHABLE again.
	h1.MustPing(t, "192.0.2.2")
	if e := h1.MustNeighbor(t, "192.0.2.2"); e.State != neighctl.Delay {
		t.Errorf("right after a ping to the STALE entry: %s, want DELAY", e.State)
	}
	h1.MustWaitNeighbor(t, "192.0.2.2", 3*time.Second, neighctl.Reachable)
}

// TestLabtestRouter is labs/router.yaml: h1 and h2 reach each other
// through r1 (IPv4 and IPv6), r1's route decisions agree with `ip route
// get` in r1, and a ping into r1's unreachable route gets an ICMP error
// back instead of a reply.
func TestLabtestRouter(t *testing.T) {
	requireRoot(t)
	t.Parallel()
	l := startLab(t, "labs/router.yaml", "ltrouter")
	h1, h2, r1 := l.Node("h1"), l.Node("h2"), l.Node("r1")
	for _, c := range []struct {
		from *labtest.Node
		to   string
	}{{h1, "198.51.100.10"}, {h1, "2001:db8:2::10"}, {h2, "192.0.2.10"}, {h2, "2001:db8:1::10"}} {
		if r := c.from.MustPing(t, c.to); r.Replies[0].TTL != 63 {
			t.Errorf("%s -> %s: ttl %d, want 63 (one router)", c.from.Name(), c.to, r.Replies[0].TTL)
		}
	}
	for _, c := range []struct {
		node  *labtest.Node
		query string
		want  string // in ip route get's answer
	}{
		{r1, "198.51.100.10 from 192.0.2.10 iif eth0", "dev eth1"},
		{h1, "198.51.100.10", "via 192.0.2.1 dev eth0"},
		{h2, "2001:db8:1::10", "via fe80::ff:fe00:102 dev eth0"},
	} {
		d := c.node.MustRouteGet(t, c.query)
		out := c.node.MustExec(t, append([]string{"ip", "route", "get"}, strings.Fields(c.query)...)...)
		if !strings.Contains(d.String(), c.want) || !strings.Contains(out.Stdout, c.want) {
			t.Errorf("%s: route get %s: netlab %q, ip %q; want both to say %q", c.node.Name(), c.query, d, out.Stdout, c.want)
		}
	}
	d := r1.MustRouteGet(t, "203.0.113.1")
	out, err := r1.Exec(t.Context(), "ip", "route", "get", "203.0.113.1")
	if err != nil || d.Type != "unreachable" || d.Errno != "EHOSTUNREACH" || out.ExitCode == 0 || !strings.Contains(out.Stderr, "No route to host") {
		t.Errorf("r1 to 203.0.113.1: netlab %s (%s); ip: %+v, %v", d, d.Errno, out, err)
	}
	res, err := h1.Ping(t.Context(), "203.0.113.1", probe.PingOptions{Count: 1})
	if err != nil || res.Received != 0 || len(res.Replies) != 1 || res.Replies[0].From.String() != "192.0.2.1" || res.Replies[0].ICMPType != 3 {
		t.Errorf("ping into r1's unreachable route: %+v, %v; want one ICMP destination unreachable from 192.0.2.1", res, err)
	}
}

// TestLabtestVethPair is labs/veth-pair.yaml's scenario in Go: with
// accept_local on, veth0 reaches veth1's address through the wire (ARP on
// veth0, not lo); with it off (all and veth1: the kernel ORs them), veth1
// drops the packet from a local source.
func TestLabtestVethPair(t *testing.T) {
	requireRoot(t)
	t.Parallel()
	l := startLab(t, "labs/veth-pair.yaml", "ltveth")
	h1 := l.Node("h1")
	ping := func() *probe.PingResult {
		t.Helper()
		r, err := h1.Ping(t.Context(), "10.0.0.2", probe.PingOptions{Count: 1, Interface: "veth0"})
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	if r := ping(); r.Received != 1 {
		t.Fatalf("veth0 -> 10.0.0.2 with accept_local on: %+v", r.Summary)
	}
	if e := h1.MustNeighbor(t, "10.0.0.2%veth0"); e.State != neighctl.Reachable || e.LLAddr != "02:00:00:00:00:02" {
		t.Errorf("entry on veth0: %s %s, want REACHABLE 02:00:00:00:00:02", e.State, e.LLAddr)
	}
	for _, k := range []string{"net.ipv4.conf.all.accept_local", "net.ipv4.conf.veth1.accept_local"} {
		h1.MustSetSysctl(t, k, "0")
	}
	if out := h1.MustExec(t, "cat", "/proc/sys/net/ipv4/conf/veth1/accept_local"); strings.TrimSpace(out.Stdout) != "0" {
		t.Errorf("accept_local on veth1 after SetSysctl, read by cat in the node: %q", out.Stdout)
	}
	if r := ping(); r.Received != 0 {
		t.Errorf("veth0 -> 10.0.0.2 with accept_local off: %+v, want no reply", r.Summary)
	}
}
