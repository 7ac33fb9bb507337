package labtest_test

import (
	"strings"
	"testing"
	"time"

	"github.com/netlabdev/netlab/labtest"
	"github.com/netlabdev/netlab/neighctl"
)

// A whole test: bring up labs/arp-aging.yaml (h1 and h2 on one veth pair),
// ping once, check the ARP entry the ping made, and wait for it to age to
// STALE. The lab comes down when the test ends, passed or failed. As a
// normal user the test skips (with NETLAB_E2E_REQUIRED=1 it fails).
func ExampleStart() {
	testARPAging := func(t *testing.T) {
		l := labtest.Start(t, "../labs/arp-aging.yaml")
		h1 := l.Node("h1")
		h1.MustPing(t, "192.0.2.2")
		e := h1.MustNeighbor(t, "192.0.2.2")
		if e.State != neighctl.Reachable || e.LLAddr != "02:00:00:00:0a:02" {
			t.Fatalf("after one ping: %s %s", e.State, e.LLAddr)
		}
		h1.MustWaitNeighbor(t, "192.0.2.2", 7*time.Second, neighctl.Stale)
	}
	_ = testARPAging // in a _test.go file: func TestARPAging(t *testing.T) { ... }
}

// Route decisions, asked of the kernel as `ip route get` asks them, with
// iproute2 run inside the node as a second opinion.
func ExampleNode_RouteGet() {
	testRouter := func(t *testing.T) {
		l := labtest.Start(t, "../labs/router.yaml")
		r1 := l.Node("r1")
		d := r1.MustRouteGet(t, "198.51.100.10 from 192.0.2.10 iif eth0")
		if d.Dev != "eth1" {
			t.Errorf("r1 forwards h1's packet out %s, want eth1", d.Dev)
		}
		if d := r1.MustRouteGet(t, "203.0.113.1"); d.Type != "unreachable" {
			t.Errorf("203.0.113.1: %s", d)
		}
		out := r1.MustExec(t, "ip", "route", "get", "198.51.100.10", "from", "192.0.2.10", "iif", "eth0")
		if !strings.Contains(out.Stdout, "dev eth1") {
			t.Errorf("iproute2 disagrees: %s", out.Stdout)
		}
	}
	_ = testRouter
}
