package routectl

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/netlabdev/netlab/internal/nsutil"
)

// ipGet is `ip -j route get` parsed into a Decision (To, Type, Via, Dev,
// Src, From, IIF, Table, Mark), or the kernel's refusal as ip reports it.
func (n *testNS) ipGet(t *testing.T, q Query) (d Decision, refusal string) {
	t.Helper()
	args := []string{"-j", "-d", "route", "get", q.To.String()}
	if q.From.IsValid() {
		args = append(args, "from", q.From.String())
	}
	if q.IIF != "" {
		args = append(args, "iif", q.IIF)
	}
	if q.OIF != "" {
		args = append(args, "oif", q.OIF)
	}
	if q.Mark != 0 {
		args = append(args, "mark", fmt.Sprint(q.Mark))
	}
	out, err := n.ipErr(args...)
	if err != nil {
		msg := err.Error()
		i := strings.Index(msg, "RTNETLINK answers: ")
		if i < 0 {
			t.Fatalf("ip route get: %v", err)
		}
		return Decision{}, strings.ToLower(msg[i+len("RTNETLINK answers: "):])
	}
	var rs []struct {
		Type    string `json:"type"`
		Dst     string `json:"dst"`
		From    string `json:"from"`
		Gateway string `json:"gateway"`
		Via     *ipVia `json:"via"`
		Dev     string `json:"dev"`
		Table   string `json:"table"`
		Prefsrc string `json:"prefsrc"`
		IIF     string `json:"iif"`
		Mark    uint32 `json:"mark"`
	}
	n.ipJSONOut(t, out, &rs)
	if len(rs) != 1 {
		t.Fatalf("ip route get %s: %d answers", q, len(rs))
	}
	r := rs[0]
	d = Decision{To: mustAddr(r.Dst), Type: cmpOr(r.Type, TypeUnicast), Via: ipGateway(r.Gateway, r.Via),
		Dev: r.Dev, IIF: r.IIF, Mark: r.Mark}
	if r.Table != "" { // ip prints neither main nor 0 (no table)
		d.Table = ipTable(t, r.Table)
	}
	if r.From != "" && r.From != "::" {
		d.From = mustAddr(r.From)
	}
	if r.Prefsrc != "" {
		d.Src = mustAddr(r.Prefsrc)
	} else if q.IIF == "" {
		d.Src = d.From
	}
	return d, ""
}

// checkGet compares Get's answer to ip's and to what the test expects
// (want's zero fields are not checked; Type is).
func checkGet(t *testing.T, n *testNS, q Query, want Decision) *Decision {
	t.Helper()
	got, err := n.c.Get(bg, q)
	if err != nil {
		t.Errorf("Get(%s): %v", q, err)
		return nil
	}
	ipd, refusal := n.ipGet(t, q)
	if refusal != "" {
		if got.Err != refusal {
			t.Errorf("Get(%s) = %s (err %q); ip: %q", q, got, got.Err, refusal)
		}
	} else {
		if ipd.Table == 0 && got.Table == TableMain {
			ipd.Table = TableMain
		}
		if *got != ipd {
			t.Errorf("Get(%s):\n  got %s (%#v)\n  ip  %s (%#v)", q, got, *got, ipd, ipd)
		}
	}
	if got.Type != want.Type ||
		(want.Via.IsValid() && got.Via != want.Via) ||
		(want.Dev != "" && got.Dev != want.Dev) ||
		(want.Src.IsValid() && got.Src != want.Src) ||
		(want.Table != 0 && got.Table != want.Table) ||
		(want.Errno != "" && got.Errno != want.Errno) {
		t.Errorf("Get(%s) = %s (%#v), want %#v", q, got, *got, want)
	}
	if got.Err == "" && want.Err != "" || got.Err != "" && want.Err == "" && want.Errno == "" {
		t.Errorf("Get(%s) = %s: Err %q", q, got, got.Err)
	}
	return got
}

func (n *testNS) ipJSONOut(t *testing.T, out string, v any) {
	t.Helper()
	if err := json.Unmarshal([]byte(out), v); err != nil {
		t.Fatalf("ip -j: %v\n%s", err, out)
	}
}

// policyNS is a host with two gateways on eth0 (192.0.2.2 in main,
// 192.0.2.3 in table 101 for sources in 192.0.2.128/25), a third uplink on
// eth1 for fwmark 0x5 (table 102), and one route or rule of each refusing
// kind; the same for IPv6.
func policyNS(t *testing.T) *testNS {
	n := newNS(t, "policy", vethPair("eth0", "eth1", map[string][]string{
		"eth0": {"192.0.2.1/24", "192.0.2.130/24", "2001:db8::1/64", "2001:db8::8001/64"},
		"eth1": {"198.51.100.1/24", "2001:db8:1::1/64"},
	}))
	n.settle(t, "eth0", "eth1")
	for _, r := range []Route{
		{To: mustPrefix("0.0.0.0/0"), Via: mustAddr("192.0.2.2")},
		{To: mustPrefix("0.0.0.0/0"), Via: mustAddr("192.0.2.3"), Table: 101},
		{To: mustPrefix("0.0.0.0/0"), Via: mustAddr("198.51.100.2"), Table: 102},
		{To: mustPrefix("198.18.0.0/15"), Type: TypeBlackhole},
		{To: mustPrefix("100.64.0.0/10"), Type: TypeUnreachable},
		{To: mustPrefix("172.16.0.0/12"), Type: TypeProhibit},
		{To: mustPrefix("10.40.0.0/16"), Type: TypeThrow, Table: 101},
		{To: mustPrefix("10.9.9.9/32"), Type: TypeLocal, Dev: "lo"},
		{To: mustPrefix("10.70.0.0/16"), Via: mustAddr("fe80::2"), Dev: "eth0"},
		{To: mustPrefix("::/0"), Via: mustAddr("2001:db8::2")},
		{To: mustPrefix("::/0"), Via: mustAddr("2001:db8::3"), Table: 101},
		{To: mustPrefix("2001:db8:b::/48"), Type: TypeBlackhole},
		{To: mustPrefix("2001:db8:c::/48"), Type: TypeUnreachable},
		{To: mustPrefix("2001:db8:d::/48"), Type: TypeProhibit},
	} {
		if err := n.c.AddRoute(bg, r); err != nil {
			t.Fatal(err)
		}
	}
	for _, r := range []Rule{
		{Priority: 100, From: mustPrefix("192.0.2.128/25"), Table: 101},
		{Priority: 110, Family: unix.AF_INET, Mark: 0x5, Table: 102},
		{Priority: 120, Family: unix.AF_INET, Mark: 0x10, Mask: 0xf0, Action: ActionUnreachable},
		{Priority: 121, To: mustPrefix("9.9.9.0/24"), Action: ActionProhibit},
		{Priority: 122, To: mustPrefix("9.9.8.0/24"), Action: ActionBlackhole},
		{Priority: 100, From: mustPrefix("2001:db8::8000/113"), Table: 101},
	} {
		if err := n.c.AddRule(bg, r); err != nil {
			t.Fatal(err)
		}
	}
	return n
}

func TestRootGetPolicy(t *testing.T) {
	n := policyNS(t)
	for _, c := range []struct {
		q    Query
		want Decision
	}{
		// Source-based policy routing: the source picks the gateway.
		{Query{To: mustAddr("203.0.113.7")}, Decision{Type: TypeUnicast, Via: mustAddr("192.0.2.2"), Dev: "eth0", Src: mustAddr("192.0.2.1"), Table: TableMain}},
		{Query{To: mustAddr("203.0.113.7"), From: mustAddr("192.0.2.1")}, Decision{Type: TypeUnicast, Via: mustAddr("192.0.2.2"), Dev: "eth0", Src: mustAddr("192.0.2.1"), Table: TableMain}},
		{Query{To: mustAddr("203.0.113.7"), From: mustAddr("192.0.2.130")}, Decision{Type: TypeUnicast, Via: mustAddr("192.0.2.3"), Dev: "eth0", Src: mustAddr("192.0.2.130"), Table: 101}},
		// fwmark: 0x5 uses table 102; 0x15 (masked 0x10) is unreachable by rule.
		{Query{To: mustAddr("203.0.113.7"), Mark: 0x5}, Decision{Type: TypeUnicast, Via: mustAddr("198.51.100.2"), Dev: "eth1", Src: mustAddr("198.51.100.1"), Table: 102}},
		{Query{To: mustAddr("203.0.113.7"), Mark: 0x15}, Decision{Type: TypeUnreachable, Errno: "ENETUNREACH"}},
		{Query{To: mustAddr("203.0.113.7"), Mark: 0x25}, Decision{Type: TypeUnicast, Via: mustAddr("192.0.2.2"), Table: TableMain}},
		// A throw route in 101 falls through to main.
		{Query{To: mustAddr("10.40.1.1"), From: mustAddr("192.0.2.130")}, Decision{Type: TypeUnicast, Via: mustAddr("192.0.2.2"), Table: TableMain}},
		// Refusing routes.
		{Query{To: mustAddr("198.18.0.1")}, Decision{Type: TypeBlackhole, Errno: "EINVAL"}},
		{Query{To: mustAddr("100.64.0.1")}, Decision{Type: TypeUnreachable, Errno: "EHOSTUNREACH"}},
		{Query{To: mustAddr("172.16.0.1")}, Decision{Type: TypeProhibit, Errno: "EACCES"}},
		// Refusing rules.
		{Query{To: mustAddr("9.9.9.9")}, Decision{Type: TypeProhibit, Errno: "EACCES"}},
		{Query{To: mustAddr("9.9.8.8")}, Decision{Type: TypeBlackhole, Errno: "EINVAL"}},
		// Local destinations, broadcast, multicast.
		{Query{To: mustAddr("10.9.9.9")}, Decision{Type: TypeLocal, Dev: "lo", Table: TableLocal}},
		{Query{To: mustAddr("192.0.2.130"), From: mustAddr("192.0.2.1")}, Decision{Type: TypeLocal, Dev: "lo", Table: TableLocal}},
		{Query{To: mustAddr("192.0.2.255")}, Decision{Type: TypeBroadcast, Dev: "eth0", Table: TableLocal}},
		{Query{To: mustAddr("224.0.0.5"), OIF: "eth1"}, Decision{Type: TypeMulticast, Dev: "eth1"}},
		// The output device forced.
		{Query{To: mustAddr("203.0.113.7"), OIF: "eth1"}, Decision{Type: TypeUnicast, Dev: "eth1", Src: mustAddr("198.51.100.1")}},
		// An IPv6 gateway for an IPv4 destination.
		{Query{To: mustAddr("10.70.0.1")}, Decision{Type: TypeUnicast, Via: mustAddr("fe80::2"), Dev: "eth0"}},
		// A source that is not ours: the output path refuses it.
		{Query{To: mustAddr("203.0.113.7"), From: mustAddr("203.0.113.99")}, Decision{Type: TypeUnreachable, Errno: "ENETUNREACH"}},
		// IPv6.
		{Query{To: mustAddr("2001:db8:ffff::7")}, Decision{Type: TypeUnicast, Via: mustAddr("2001:db8::2"), Dev: "eth0", Table: TableMain}},
		{Query{To: mustAddr("2001:db8:ffff::7"), From: mustAddr("2001:db8::8001")}, Decision{Type: TypeUnicast, Via: mustAddr("2001:db8::3"), Dev: "eth0", Table: 101}},
		{Query{To: mustAddr("2001:db8:b::1")}, Decision{Type: TypeBlackhole, Errno: "EINVAL"}},
		{Query{To: mustAddr("2001:db8:c::1")}, Decision{Type: TypeUnreachable, Errno: "EHOSTUNREACH"}},
		{Query{To: mustAddr("2001:db8:d::1")}, Decision{Type: TypeProhibit, Errno: "EACCES"}},
		{Query{To: mustAddr("2001:db8:1::1")}, Decision{Type: TypeLocal, Dev: "lo", Table: TableLocal}},
		{Query{To: mustAddr("fe80::99"), OIF: "eth1"}, Decision{Type: TypeUnicast, Dev: "eth1"}},
	} {
		checkGet(t, n, c.q, c.want)
	}

	// No route at all: ENETUNREACH, once main's default is gone.
	if err := n.c.DelRoute(bg, Route{To: mustPrefix("0.0.0.0/0")}); err != nil {
		t.Fatal(err)
	}
	if err := n.c.DelRoute(bg, Route{To: mustPrefix("::/0")}); err != nil {
		t.Fatal(err)
	}
	checkGet(t, n, Query{To: mustAddr("203.0.113.7")}, Decision{Type: TypeUnreachable, Errno: "ENETUNREACH"})
	checkGet(t, n, Query{To: mustAddr("2001:db8:ffff::7")}, Decision{Type: TypeUnreachable, Errno: "ENETUNREACH"})

	// Failures of the query itself are errors, naming it.
	for _, q := range []Query{
		{},
		{To: mustAddr("203.0.113.7"), From: mustAddr("2001:db8::1")},
		{To: mustAddr("203.0.113.7"), IIF: "eth1"},
		{To: mustAddr("203.0.113.7"), IIF: "nosuchdev0", From: mustAddr("198.51.100.9")},
		{To: mustAddr("203.0.113.7"), OIF: "nosuchdev0"},
	} {
		d, err := n.c.Get(bg, q)
		if err == nil {
			t.Errorf("Get(%s) = %s, want an error", q, d)
			continue
		}
		if !strings.HasPrefix(err.Error(), "route get "+q.String()+": ") {
			t.Errorf("Get(%s): error %q does not name the query", q, err)
		}
	}
}

// routerNet is h1 -- r -- h2: r forwards between 192.0.2.0/24 (eth0, to
// h1) and 198.51.100.0/24 (eth1, to h2), for IPv4 and IPv6.
type routerNet struct{ h1, r, h2 *testNS }

func newRouterNet(t *testing.T) routerNet {
	h1 := newNS(t, "h1", nil)
	h2 := newNS(t, "h2", nil)
	r := newNS(t, "r", func(h *netlink.Handle) error {
		for _, p := range []struct {
			dev  string
			peer *testNS
		}{{"eth0", h1}, {"eth1", h2}} {
			v := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: p.dev}, PeerName: "eth0",
				PeerNamespace: netlink.NsFd(int(p.peer.ns))}
			if err := h.LinkAdd(v); err != nil {
				return fmt.Errorf("veth %s: %w", p.dev, err)
			}
		}
		return upWithAddrs(h, []string{"eth0", "eth1"}, map[string][]string{
			"eth0": {"192.0.2.254/24", "2001:db8::fe/64"},
			"eth1": {"198.51.100.254/24", "2001:db8:1::fe/64"},
		})
	})
	for _, h := range []struct {
		n     *testNS
		addrs []string
		gw4   string
		gw6   string
	}{
		{h1, []string{"192.0.2.1/24", "2001:db8::1/64"}, "192.0.2.254", "2001:db8::fe"},
		{h2, []string{"198.51.100.2/24", "2001:db8:1::2/64"}, "198.51.100.254", "2001:db8:1::fe"},
	} {
		hh, err := nsutil.Handle(h.n.ns)
		if err != nil {
			t.Fatal(err)
		}
		err = upWithAddrs(hh, []string{"eth0"}, map[string][]string{"eth0": h.addrs})
		hh.Close()
		if err != nil {
			t.Fatal(err)
		}
		for _, gw := range []string{h.gw4, h.gw6} {
			z := "0.0.0.0/0"
			if strings.Contains(gw, ":") {
				z = "::/0"
			}
			if err := h.n.c.AddRoute(bg, Route{To: mustPrefix(z), Via: mustAddr(gw)}); err != nil {
				t.Fatal(err)
			}
		}
	}
	r.settle(t, "eth0", "eth1")
	h1.settle(t, "eth0")
	h2.settle(t, "eth0")
	return routerNet{h1, r, h2}
}

func TestRootGetIIF(t *testing.T) {
	net := newRouterNet(t)
	r := net.r
	fwd := Query{To: mustAddr("198.51.100.2"), From: mustAddr("192.0.2.1"), IIF: "eth0"}
	fwd6 := Query{To: mustAddr("2001:db8:1::2"), From: mustAddr("2001:db8::1"), IIF: "eth0"}

	// Forwarding off: IPv4's input path refuses what is not local; IPv6
	// answers the route anyway.
	r.sysctl(t, "net/ipv4/ip_forward", "0")
	checkGet(t, r, fwd, Decision{Type: TypeUnreachable, Errno: "EHOSTUNREACH"})
	checkGet(t, r, fwd6, Decision{Type: TypeUnicast, Dev: "eth1"})
	// Without rules of its own the kernel keeps local merged into main and
	// reports main for a local destination.
	local := Query{To: mustAddr("192.0.2.254"), From: mustAddr("192.0.2.1"), IIF: "eth0"}
	checkGet(t, r, local, Decision{Type: TypeLocal, Dev: "lo", Table: TableMain})
	checkGet(t, r, Query{To: mustAddr("192.0.2.254")}, Decision{Type: TypeLocal, Dev: "lo", Table: TableMain})

	// Forwarding on (a router).
	r.sysctl(t, "net/ipv4/ip_forward", "1")
	r.sysctl(t, "net/ipv6/conf/all/forwarding", "1")
	checkGet(t, r, fwd, Decision{Type: TypeUnicast, Dev: "eth1", Table: TableMain})
	checkGet(t, r, fwd6, Decision{Type: TypeUnicast, Dev: "eth1", Table: TableMain})

	// Policy on the router: what arrives on eth1 with mark 0x7 or from
	// h2 is looked up in 101, which sends 192.0.2.0/24 to a gateway.
	for _, rt := range []Route{
		{To: mustPrefix("192.0.2.0/24"), Via: mustAddr("192.0.2.1"), Table: 101},
		{To: mustPrefix("203.0.113.0/24"), Type: TypeBlackhole, Table: 101},
		{To: mustPrefix("10.0.0.0/8"), Type: TypeProhibit, Table: 101},
	} {
		if err := r.c.AddRoute(bg, rt); err != nil {
			t.Fatal(err)
		}
	}
	for _, ru := range []Rule{
		{Priority: 100, IIF: "eth1", From: mustPrefix("198.51.100.0/24"), Table: 101},
		{Priority: 110, Family: unix.AF_INET, IIF: "eth0", Mark: 0x7, Table: 101},
	} {
		if err := r.c.AddRule(bg, ru); err != nil {
			t.Fatal(err)
		}
	}
	// With a rule the tables are apart (for good: see below).
	checkGet(t, r, local, Decision{Type: TypeLocal, Dev: "lo", Table: TableLocal})
	back := Query{To: mustAddr("192.0.2.1"), From: mustAddr("198.51.100.2"), IIF: "eth1"}
	checkGet(t, r, back, Decision{Type: TypeUnicast, Via: mustAddr("192.0.2.1"), Dev: "eth0", Table: 101})
	checkGet(t, r, Query{To: mustAddr("203.0.113.9"), From: mustAddr("198.51.100.2"), IIF: "eth1"}, Decision{Type: TypeBlackhole, Errno: "EINVAL"})
	checkGet(t, r, Query{To: mustAddr("10.1.1.1"), From: mustAddr("198.51.100.2"), IIF: "eth1"}, Decision{Type: TypeProhibit, Errno: "EACCES"})
	// Without the rule's iif, main decides (no default there: unreachable).
	checkGet(t, r, Query{To: mustAddr("203.0.113.9"), From: mustAddr("192.0.2.1"), IIF: "eth0"}, Decision{Type: TypeUnreachable, Errno: "ENETUNREACH"})
	checkGet(t, r, Query{To: mustAddr("192.0.2.77"), From: mustAddr("192.0.2.1"), IIF: "eth0", Mark: 0x7}, Decision{Type: TypeUnicast, Via: mustAddr("192.0.2.1"), Table: 101})

	// rp_filter: a source that r routes out of eth0 arriving on eth1.
	// Strict: refused as a martian (EINVAL); loose: forwarded.
	spoof := Query{To: mustAddr("192.0.2.1"), From: mustAddr("192.0.2.50"), IIF: "eth1"}
	r.sysctl(t, "net/ipv4/conf/all/rp_filter", "1")
	r.sysctl(t, "net/ipv4/conf/eth1/rp_filter", "1")
	d := checkGet(t, r, spoof, Decision{Type: TypeMartian, Errno: "EINVAL"})
	if d != nil && !strings.HasPrefix(d.String(), "martian 192.0.2.1 from 192.0.2.50 iif eth1: invalid argument") {
		t.Errorf("martian String: %q", d)
	}
	r.sysctl(t, "net/ipv4/conf/all/rp_filter", "2")
	r.sysctl(t, "net/ipv4/conf/eth1/rp_filter", "2")
	checkGet(t, r, spoof, Decision{Type: TypeUnicast, Dev: "eth0"})
	// One of r's own addresses as the source: martian whatever rp_filter.
	checkGet(t, r, Query{To: mustAddr("192.0.2.1"), From: mustAddr("198.51.100.254"), IIF: "eth1"}, Decision{Type: TypeMartian, Errno: "EINVAL"})

	// Deleting the rules does not merge the tables again.
	for _, ru := range []Rule{{Family: unix.AF_INET, Priority: 100}, {Family: unix.AF_INET, Priority: 110}} {
		if err := r.c.DelRule(bg, ru); err != nil {
			t.Fatal(err)
		}
	}
	checkGet(t, r, local, Decision{Type: TypeLocal, Dev: "lo", Table: TableLocal})

	// Plain queries on the hosts.
	checkGet(t, net.h1, Query{To: mustAddr("198.51.100.2")}, Decision{Type: TypeUnicast, Via: mustAddr("192.0.2.254"), Dev: "eth0", Src: mustAddr("192.0.2.1"), Table: TableMain})
	checkGet(t, net.h2, Query{To: mustAddr("2001:db8::1")}, Decision{Type: TypeUnicast, Via: mustAddr("2001:db8:1::fe"), Dev: "eth0", Table: TableMain})
}
