package main

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/netlabdev/netlab/topology"
)

// The generated lab files are valid netlab labs with the intended shape.
func TestLabYAMLValidates(t *testing.T) {
	for _, tc := range []struct {
		name  string
		mk    func(string, int) (topo, error)
		n     int
		nodes int
		links int
	}{
		{"chain", chainTopo, 2, 2, 1},
		{"chain", chainTopo, 7, 7, 6},
		{"chain", chainTopo, 1000, 1000, 999},
		{"linear", linearTopo, 1, 2, 1},
		{"linear", linearTopo, 5, 10, 9},
		{"linear", linearTopo, 200, 400, 399},
	} {
		t.Run(fmt.Sprintf("%s%d", tc.name, tc.n), func(t *testing.T) {
			tp, err := tc.mk("bench-x", tc.n)
			if err != nil {
				t.Fatal(err)
			}
			p := filepath.Join(t.TempDir(), "lab.yaml")
			if err := os.WriteFile(p, tp.labYAML(), 0o644); err != nil {
				t.Fatal(err)
			}
			l, _, err := topology.Load(p, topology.ValidateOptions{})
			if err != nil {
				t.Fatalf("generated lab does not validate: %v\n%s", err, tp.labYAML())
			}
			if len(l.Nodes) != tc.nodes || len(l.Links) != tc.links {
				t.Errorf("lab has %d nodes, %d links; want %d, %d", len(l.Nodes), len(l.Links), tc.nodes, tc.links)
			}
			if tp.size() != tc.n {
				t.Errorf("size %d, want %d", tp.size(), tc.n)
			}
		})
	}
}

// Every chain link is a /30 with both ends addressed, distinct from every
// other link's; the ping target is n2's end of the first link.
func TestChainAddresses(t *testing.T) {
	tp, err := chainTopo("c", 300)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[netip.Prefix]int{}
	for _, n := range tp.Nodes {
		for _, i := range n.Ifaces {
			if !i.Addr.IsValid() || i.Addr.Bits() != 30 {
				t.Fatalf("%s:%s: address %v, want a /30", n.Name, i.Name, i.Addr)
			}
			seen[i.Addr.Masked()]++
		}
	}
	if len(seen) != 299 {
		t.Errorf("%d distinct subnets, want 299", len(seen))
	}
	for p, c := range seen {
		if c != 2 {
			t.Errorf("subnet %s has %d ends, want 2", p, c)
		}
	}
	n2 := tp.Nodes[1].Ifaces[0]
	if tp.PingFrom != "n1" || tp.PingTo != n2.Addr.Addr() || n2.Name != "eth0" {
		t.Errorf("ping %s -> %s, want n1 -> %s (n2 eth0)", tp.PingFrom, tp.PingTo, n2.Addr.Addr())
	}
	if !tp.Nodes[0].Ifaces[0].Addr.Contains(tp.PingTo) {
		t.Errorf("ping target %s not on n1's link %s", tp.PingTo, tp.Nodes[0].Ifaces[0].Addr)
	}
}

func TestSizeLimits(t *testing.T) {
	for _, n := range []int{-1, 0, 1, 10001} {
		if _, err := chainTopo("c", n); err == nil {
			t.Errorf("chain of %d: no error", n)
		}
	}
	for _, n := range []int{0, 5001} {
		if _, err := linearTopo("l", n); err == nil {
			t.Errorf("linear %d: no error", n)
		}
	}
}

// The iproute2 plan of a chain: every namespace, one veth per link created
// in both namespaces, then per namespace lo up, the addresses and the links
// up; the floor stops after the veths; the loop runs the same commands one
// process each.
func TestIPPlan(t *testing.T) {
	tp, err := chainTopo("c", 3)
	if err != nil {
		t.Fatal(err)
	}
	full, err := tp.ipPlan("bx-ip3", false)
	if err != nil {
		t.Fatal(err)
	}
	root, err := batchText(full.Root)
	if err != nil {
		t.Fatal(err)
	}
	wantRoot := `netns add bx-ip3-n1
netns add bx-ip3-n2
netns add bx-ip3-n3
link add name eth1 netns bx-ip3-n1 type veth peer name eth0 netns bx-ip3-n2
link add name eth1 netns bx-ip3-n2 type veth peer name eth0 netns bx-ip3-n3
`
	if string(root) != wantRoot {
		t.Errorf("root batch:\n%s\nwant:\n%s", root, wantRoot)
	}
	if len(full.PerNS) != 3 || full.PerNS[1].NS != "bx-ip3-n2" {
		t.Fatalf("per-namespace batches: %+v", full.PerNS)
	}
	n2, err := batchText(full.PerNS[1].Cmds)
	if err != nil {
		t.Fatal(err)
	}
	wantN2 := `link set dev lo up
addr add 10.0.0.2/30 dev eth0
addr add 10.0.0.5/30 dev eth1
link set dev eth0 up
link set dev eth1 up
`
	if string(n2) != wantN2 {
		t.Errorf("n2 batch:\n%s\nwant:\n%s", n2, wantN2)
	}
	floor, err := tp.ipPlan("bx-fl3", true)
	if err != nil {
		t.Fatal(err)
	}
	if len(floor.PerNS) != 0 || len(floor.Root) != 5 || len(floor.Namespaces) != 3 {
		t.Errorf("floor: %d root commands, %d namespace batches, %d namespaces; want 5, 0, 3", len(floor.Root), len(floor.PerNS), len(floor.Namespaces))
	}
	loop := full.loopArgv()
	cmds := len(full.Root)
	for _, b := range full.PerNS {
		cmds += len(b.Cmds)
	}
	if len(loop) != cmds {
		t.Fatalf("loop has %d commands, the batches %d", len(loop), cmds)
	}
	if got := strings.Join(loop[len(full.Root)], " "); got != "ip -n bx-ip3-n1 link set dev lo up" {
		t.Errorf("first per-namespace loop command %q", got)
	}
	if got := strings.Join(loop[0], " "); got != "ip netns add bx-ip3-n1" {
		t.Errorf("first loop command %q", got)
	}
	lin, err := linearTopo("l", 2)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := lin.ipPlan("x", false); err == nil {
		t.Error("ipPlan of a topology with bridges: no error")
	}
}

func TestBatchTextRefusesUnsafeWords(t *testing.T) {
	for _, w := range []string{"", "a b", "a\nb", `a"b`, "a'b", `a\b`, "a#b"} {
		if _, err := batchText([][]string{{"netns", "add", w}}); err == nil {
			t.Errorf("word %q accepted", w)
		}
	}
	del, err := batchText(deleteBatch([]string{"a-n1", "a-n2"}))
	if err != nil || string(del) != "netns del a-n1\nnetns del a-n2\n" {
		t.Errorf("delete batch %q, %v", del, err)
	}
}

func TestLinearShape(t *testing.T) {
	tp, err := linearTopo("l", 3)
	if err != nil {
		t.Fatal(err)
	}
	var links []string
	for _, l := range tp.Links {
		links = append(links, fmt.Sprintf("%s:%s-%s:%s", l.A, l.AIf, l.B, l.BIf))
	}
	want := "h1:eth0-s1:p1 h2:eth0-s2:p1 s1:p3-s2:p2 h3:eth0-s3:p1 s2:p3-s3:p2"
	if got := strings.Join(links, " "); got != want {
		t.Errorf("links %s\nwant  %s", got, want)
	}
	if tp.PingTo != netip.MustParseAddr("10.0.0.2") {
		t.Errorf("ping target %s", tp.PingTo)
	}
}

func TestBurstBatches(t *testing.T) {
	addrs, add, del := burstBatches(1000)
	if len(addrs) != 1000 || len(add) != 1000 || len(del) != 1000 {
		t.Fatalf("%d addresses, %d adds, %d deletes", len(addrs), len(add), len(del))
	}
	macs := map[string]bool{}
	for _, c := range add {
		macs[c[4]] = true
		if !addrs[netip.MustParseAddr(c[2])] {
			t.Errorf("add of %s not in the address set", c[2])
		}
	}
	if len(macs) != 1000 {
		t.Errorf("%d distinct MACs, want 1000", len(macs))
	}
	if _, err := batchText(add); err != nil {
		t.Error(err)
	}
}
