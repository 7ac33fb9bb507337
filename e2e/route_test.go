package e2e

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net"
	"net/netip"
	"os/exec"
	"strconv"
	"strings"
	"testing"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// Routing tests bring the routing labs up for real and check, through two
// witnesses (vishvananda/netlink, independent of netlab's routectl, and
// `ip -j`), that every declared route and rule is in the kernel; that
// `netlab route ... get` answers as `ip route get` does; and that packets
// take the paths the labs claim (interface counters, rp_filter drop
// counters). They are parallel: each lab is its own set of namespaces and
// nothing here depends on neighbour timing.

// ---- the model: routes and rules as the kernel must hold them -------------

// expRoute is one declared route: table number resolved, type in the
// kernel's word, metric as the kernel reports it (IPv6 makes 0 into 1024).
type expRoute struct {
	V6       bool
	To       netip.Prefix
	Via      netip.Addr
	Dev      string
	Src      netip.Addr
	Table    uint32
	Type     string
	Metric   uint32
	Onlink   bool
	Nexthops []expNexthop
}

type expNexthop struct {
	Via    netip.Addr
	Dev    string
	Weight int
	Onlink bool
}

func (r expRoute) String() string {
	return fmt.Sprintf("%s %s table %d", r.Type, r.To, r.Table)
}

// expRule is one declared rule.
type expRule struct {
	V6         bool
	Priority   uint32
	HasPrio    bool
	From, To   netip.Prefix
	IIF, OIF   string
	Mark, Mask uint32 // Mask 0xffffffff when none is declared
	HasMark    bool
	Action     string // lookup, blackhole, unreachable, prohibit
	Table      uint32
	Invert     bool
}

func (r expRule) String() string {
	return fmt.Sprintf("rule priority %d from %v %s table %d", r.Priority, r.From, r.Action, r.Table)
}

func parsePfx(s string) netip.Prefix {
	if p, err := netip.ParsePrefix(s); err == nil {
		return p
	}
	if a, err := netip.ParseAddr(s); err == nil {
		return netip.PrefixFrom(a, a.BitLen())
	}
	return netip.Prefix{}
}

func optIP(s string) netip.Addr {
	a, _ := netip.ParseAddr(s)
	return a
}

// tableOf resolves a table as DESIGN.md says: empty is main, the kernel's
// names, a number, or a name from the node's tables: map.
func tableOf(sn *specNode, t scalar) uint32 {
	s := strings.TrimSpace(string(t))
	if id, ok := sn.Tables[s]; ok {
		return id
	}
	return ipTable(s)
}

// expectRouting derives a node's routes and rules from its spec.
func expectRouting(sn *specNode) ([]expRoute, []expRule) {
	var routes []expRoute
	for _, r := range sn.Routes {
		if r == nil {
			continue
		}
		e := expRoute{Dev: r.Dev, Via: optIP(r.Via), Src: optIP(r.Src), Onlink: r.Onlink && len(r.Nexthops) == 0, Type: strings.ToLower(r.Type)}
		fam := ""
		note := func(a netip.Addr) {
			if fam == "" && a.IsValid() {
				fam = map[bool]string{true: "6", false: "4"}[a.Is6()]
			}
		}
		if r.To != "default" {
			e.To = parsePfx(r.To)
			note(e.To.Addr())
		}
		note(e.Via)
		note(e.Src)
		for _, nh := range r.Nexthops {
			w := nh.Weight
			if w == 0 {
				w = 1
			}
			x := expNexthop{Via: optIP(nh.Via), Dev: nh.Dev, Weight: w, Onlink: nh.Onlink || r.Onlink}
			note(x.Via)
			e.Nexthops = append(e.Nexthops, x)
		}
		e.V6 = fam == "6"
		if r.To == "default" {
			e.To = netip.PrefixFrom(netip.IPv4Unspecified(), 0)
			if e.V6 {
				e.To = netip.PrefixFrom(netip.IPv6Unspecified(), 0)
			}
		}
		if e.Type == "" {
			e.Type = "unicast"
		}
		e.Table = tableOf(sn, r.Table)
		if strings.TrimSpace(string(r.Table)) == "" && e.Type == "local" {
			e.Table = 255 // as ip puts a local route
		}
		if r.Metric != nil {
			e.Metric = *r.Metric
		}
		if e.V6 && e.Metric == 0 {
			e.Metric = 1024
		}
		routes = append(routes, e)
	}
	var rules []expRule
	for _, r := range sn.Rules {
		if r == nil {
			continue
		}
		e := expRule{IIF: r.IIF, OIF: r.OIF, Invert: r.Invert, Action: strings.ToLower(r.Action)}
		switch strings.ToLower(r.Family) {
		case "ipv6", "inet6", "6":
			e.V6 = true
		}
		for _, f := range []struct {
			s   string
			dst *netip.Prefix
		}{{r.From, &e.From}, {r.To, &e.To}} {
			if f.s != "" && f.s != "all" {
				*f.dst = parsePfx(f.s)
				e.V6 = e.V6 || f.dst.Addr().Is6()
			}
		}
		if r.Priority != nil {
			e.Priority, e.HasPrio = *r.Priority, true
		}
		if m := strings.TrimSpace(string(r.FWMark)); m != "" {
			e.HasMark = true
			ms, ks, hasMask := strings.Cut(m, "/")
			e.Mark = parseNum(ms)
			e.Mask = 0xffffffff
			if hasMask {
				e.Mask = parseNum(ks)
			}
		}
		if e.Action == "" || e.Action == "table" {
			e.Action = "lookup"
		}
		if e.Action == "lookup" {
			e.Table = tableOf(sn, r.Table)
		}
		rules = append(rules, e)
	}
	return routes, rules
}

// parseNum reads a decimal or 0x-hex number (the lab file's fwmark form).
func parseNum(s string) uint32 {
	base := 10
	if h, ok := strings.CutPrefix(strings.ToLower(s), "0x"); ok {
		s, base = h, 16
	}
	v, _ := strconv.ParseUint(s, base, 32)
	return uint32(v)
}

// ---- witness 1: netlink, without routectl ---------------------------------

func ipnetPrefix(n *net.IPNet, v6 bool) netip.Prefix {
	if n == nil {
		if v6 {
			return netip.PrefixFrom(netip.IPv6Unspecified(), 0)
		}
		return netip.PrefixFrom(netip.IPv4Unspecified(), 0)
	}
	a, _ := netip.AddrFromSlice(n.IP)
	ones, _ := n.Mask.Size()
	return netip.PrefixFrom(a.Unmap(), ones)
}

func ipAddr(ip net.IP) netip.Addr {
	a, _ := netip.AddrFromSlice(ip)
	return a.Unmap()
}

var rtnTypes = map[int]string{
	unix.RTN_UNICAST: "unicast", unix.RTN_LOCAL: "local", unix.RTN_BROADCAST: "broadcast",
	unix.RTN_ANYCAST: "anycast", unix.RTN_MULTICAST: "multicast", unix.RTN_BLACKHOLE: "blackhole",
	unix.RTN_UNREACHABLE: "unreachable", unix.RTN_PROHIBIT: "prohibit", unix.RTN_THROW: "throw",
}

// routesNetlink dumps a node's routes of every table through netlink, in
// the model's form.
func routesNetlink(t *testing.T, h *nsHandle) []expRoute {
	t.Helper()
	all, err := h.h.RouteListFiltered(netlink.FAMILY_ALL, &netlink.Route{Table: unix.RT_TABLE_UNSPEC}, netlink.RT_FILTER_TABLE)
	if err != nil {
		t.Fatalf("%s: netlink route dump: %v", h.name, err)
	}
	devName := func(idx int) string {
		if idx == 0 {
			return ""
		}
		l, err := h.h.LinkByIndex(idx)
		if err != nil {
			return fmt.Sprintf("ifindex %d", idx)
		}
		return l.Attrs().Name
	}
	var out []expRoute
	for _, r := range all {
		v6 := r.Family == unix.AF_INET6
		x := expRoute{V6: v6, To: ipnetPrefix(r.Dst, v6), Via: ipAddr(r.Gw), Dev: devName(r.LinkIndex), Src: ipAddr(r.Src),
			Table: uint32(r.Table), Type: rtnTypes[r.Type], Metric: uint32(r.Priority), Onlink: r.Flags&unix.RTNH_F_ONLINK != 0}
		for _, nh := range r.MultiPath {
			x.Nexthops = append(x.Nexthops, expNexthop{Via: ipAddr(nh.Gw), Dev: devName(nh.LinkIndex), Weight: nh.Hops + 1, Onlink: nh.Flags&unix.RTNH_F_ONLINK != 0})
		}
		out = append(out, x)
	}
	return out
}

// checkRoutes finds each declared route of a node in a witness's dump (by
// family, table, destination, type and metric) and compares the rest; a dev
// the lab leaves to the kernel is not compared.
func checkRoutes(t *testing.T, where string, n *expNode, got []expRoute) {
	t.Helper()
	for _, want := range n.Routes {
		w := fmt.Sprintf("%s: %s: %s", n.NS, where, want)
		var g *expRoute
		for i := range got {
			r := &got[i]
			if r.V6 == want.V6 && r.Table == want.Table && r.To == want.To && r.Type == want.Type && r.Metric == want.Metric {
				g = r
			}
		}
		switch {
		case g == nil:
			t.Errorf("%s: missing", w)
			continue
		case want.Via.IsValid() && g.Via != want.Via, want.Dev != "" && g.Dev != want.Dev,
			want.Src.IsValid() && g.Src != want.Src, g.Onlink != want.Onlink, len(g.Nexthops) != len(want.Nexthops):
			t.Errorf("%s: got %+v, want %+v", w, *g, want)
			continue
		}
		for i, nh := range g.Nexthops {
			x := want.Nexthops[i]
			if nh.Via != x.Via || (x.Dev != "" && nh.Dev != x.Dev) || nh.Weight != x.Weight || nh.Onlink != x.Onlink {
				t.Errorf("%s: next hop %d: %+v, want %+v", w, i, nh, x)
			}
		}
	}
}

// rulesNetlink dumps a node's rules of both families through netlink, in
// the model's form. vishvananda/netlink does not decode a dumped rule's
// action (the header's type): a rule with a table is a lookup, the others
// have Action "" here, and ip -j checks their action's word.
func rulesNetlink(t *testing.T, h *nsHandle) []expRule {
	t.Helper()
	var out []expRule
	for _, fam := range []int{netlink.FAMILY_V4, netlink.FAMILY_V6} {
		got, err := h.h.RuleList(fam)
		if err != nil {
			t.Fatalf("%s: netlink rule dump: %v", h.name, err)
		}
		v6 := fam == netlink.FAMILY_V6
		for _, r := range got {
			x := expRule{V6: v6, Priority: uint32(r.Priority), HasPrio: true, IIF: r.IifName, OIF: r.OifName, Table: uint32(r.Table), Invert: r.Invert}
			if r.Src != nil {
				x.From = ipnetPrefix(r.Src, v6)
			}
			if r.Dst != nil {
				x.To = ipnetPrefix(r.Dst, v6)
			}
			if r.Mask != nil && (*r.Mask != 0 || r.Mark != 0) {
				x.Mark, x.Mask, x.HasMark = r.Mark, *r.Mask, true
			}
			if x.Table != 0 {
				x.Action = "lookup"
			}
			out = append(out, x)
		}
	}
	return out
}

// checkRules finds each declared rule of a node in a witness's dump, each
// dumped rule matching one declared rule at most.
func checkRules(t *testing.T, where string, n *expNode, got []expRule) {
	t.Helper()
	used := make([]bool, len(got))
	for _, w := range n.Rules {
		found := false
		for i, g := range got {
			actionOK := g.Action == w.Action || g.Action == "" && w.Action != "lookup"
			if !used[i] && g.V6 == w.V6 && (!w.HasPrio || g.Priority == w.Priority) && g.From == w.From && g.To == w.To &&
				g.IIF == w.IIF && g.OIF == w.OIF && g.HasMark == w.HasMark && (!w.HasMark || g.Mark == w.Mark && g.Mask == w.Mask) &&
				actionOK && g.Table == w.Table && g.Invert == w.Invert {
				used[i], found = true, true
				break
			}
		}
		if !found {
			t.Errorf("%s: %s: %s missing in %+v", n.NS, where, w, got)
		}
	}
}

// ---- witness 2: ip -j ------------------------------------------------------

// ipRoute is one entry of `ip -j route show table all`.
type ipRoute struct {
	Type     string   `json:"type"`
	Dst      string   `json:"dst"`
	Gateway  string   `json:"gateway"`
	Dev      string   `json:"dev"`
	Table    string   `json:"table"`
	Prefsrc  string   `json:"prefsrc"`
	Metric   uint32   `json:"metric"`
	Flags    []string `json:"flags"`
	Nexthops []struct {
		Gateway string   `json:"gateway"`
		Dev     string   `json:"dev"`
		Weight  int      `json:"weight"`
		Flags   []string `json:"flags"`
	} `json:"nexthops"`
}

// ipTable reads a table word as ip does (and a lab file's table without
// the node's names): absent is main.
func ipTable(s string) uint32 {
	switch s {
	case "", "main":
		return 254
	case "local":
		return 255
	case "default":
		return 253
	}
	v, _ := strconv.ParseUint(s, 10, 32)
	return uint32(v)
}

func ipDst(s string, v6 bool) netip.Prefix {
	if s == "default" {
		return ipnetPrefix(nil, v6)
	}
	return parsePfx(s)
}

func hasWord(ws []string, w string) bool {
	for _, x := range ws {
		if x == w {
			return true
		}
	}
	return false
}

// routesIP lists a node's routes of every table through `ip -j -4/-6 route
// show table all`, in the model's form.
func routesIP(t *testing.T, ns string) []expRoute {
	t.Helper()
	var out []expRoute
	for _, v6 := range []bool{false, true} {
		var list []ipRoute
		ipJSON(t, &list, "-n", ns, map[bool]string{false: "-4", true: "-6"}[v6], "route", "show", "table", "all")
		for _, r := range list {
			x := expRoute{V6: v6, To: ipDst(r.Dst, v6), Via: optIP(r.Gateway), Dev: r.Dev, Src: optIP(r.Prefsrc),
				Table: ipTable(r.Table), Type: r.Type, Metric: r.Metric, Onlink: hasWord(r.Flags, "onlink")}
			if x.Type == "" {
				x.Type = "unicast"
			}
			for _, nh := range r.Nexthops {
				x.Nexthops = append(x.Nexthops, expNexthop{Via: optIP(nh.Gateway), Dev: nh.Dev, Weight: nh.Weight, Onlink: hasWord(nh.Flags, "onlink")})
			}
			out = append(out, x)
		}
	}
	return out
}

// ipRule is one entry of `ip -j rule show`.
type ipRule struct {
	Priority uint32 `json:"priority"`
	Src      string `json:"src"`
	SrcLen   *int   `json:"srclen"`
	Dst      string `json:"dst"`
	DstLen   *int   `json:"dstlen"`
	IIF      string `json:"iif"`
	OIF      string `json:"oif"`
	FWMark   string `json:"fwmark"`
	FWMask   string `json:"fwmask"`
	Table    string `json:"table"`
	Action   string `json:"action"`
}

func ipRulePrefix(addr string, n *int) netip.Prefix {
	if addr == "" || addr == "all" {
		return netip.Prefix{}
	}
	a := optIP(addr)
	bits := a.BitLen()
	if n != nil {
		bits = *n
	}
	return netip.PrefixFrom(a, bits)
}

// rulesIP lists a node's rules of both families through `ip -j -4/-6 rule
// show`, in the model's form.
func rulesIP(t *testing.T, ns string) []expRule {
	t.Helper()
	var out []expRule
	for _, v6 := range []bool{false, true} {
		var got []ipRule
		ipJSON(t, &got, "-n", ns, map[bool]string{false: "-4", true: "-6"}[v6], "rule", "show")
		// "not" is a key with a null value: see which rules carry it.
		var raw []map[string]json.RawMessage
		ipJSON(t, &raw, "-n", ns, map[bool]string{false: "-4", true: "-6"}[v6], "rule", "show")
		for i, r := range got {
			_, invert := raw[i]["not"]
			x := expRule{V6: v6, Priority: r.Priority, HasPrio: true, From: ipRulePrefix(r.Src, r.SrcLen), To: ipRulePrefix(r.Dst, r.DstLen),
				IIF: r.IIF, OIF: r.OIF, Action: r.Action, Invert: invert}
			if x.Action == "" {
				x.Action, x.Table = "lookup", ipTable(r.Table)
			}
			if r.FWMark != "" {
				x.Mark, x.Mask, x.HasMark = parseNum(r.FWMark), 0xffffffff, true
				if r.FWMask != "" {
					x.Mask = parseNum(r.FWMask)
				}
			}
			out = append(out, x)
		}
	}
	return out
}

// ---- netlab route <lab> <node> [get] ---------------------------------------

// routeGetJSON is `netlab route ... get -o json`.
type routeGetJSON struct {
	Lab       string `json:"lab"`
	Node      string `json:"node"`
	TableName string `json:"table_name"`
	To        string `json:"to"`
	Type      string `json:"type"`
	Via       string `json:"via"`
	Dev       string `json:"dev"`
	Src       string `json:"src"`
	From      string `json:"from"`
	IIF       string `json:"iif"`
	Table     uint32 `json:"table"`
	Mark      uint32 `json:"mark"`
	Error     string `json:"error"`
	Errno     string `json:"errno"`
}

// ipGetJSON is one answer of `ip -j route get`.
type ipGetJSON struct {
	Type    string `json:"type"`
	Dst     string `json:"dst"`
	From    string `json:"from"`
	Gateway string `json:"gateway"`
	Dev     string `json:"dev"`
	Table   string `json:"table"`
	Prefsrc string `json:"prefsrc"`
	IIF     string `json:"iif"`
	Mark    uint32 `json:"mark"`
}

// routeGet asks netlab and ip the same question on a node and requires the
// same answer; it returns netlab's. args are netlab's get flags
// (--from X, --iif D, --oif D, --mark N), translated for ip.
func routeGet(t *testing.T, l *testLab, node, to string, args ...string) routeGetJSON {
	t.Helper()
	r := netlab(t, append([]string{"route", l.Name, node, "get", to, "-o", "json"}, args...)...)
	if r.code != 0 {
		t.Fatalf("route get (the kernel's answer is exit 0 even when it refuses):\n%s", r)
	}
	var got routeGetJSON
	decodeJSON(t, "netlab route get -o json", r.stdout, &got)
	if got.Lab != l.Name || got.Node != node || got.To != to {
		t.Errorf("route get %s on %s: lab %q node %q to %q", to, node, got.Lab, got.Node, got.To)
	}
	ipArgs := []string{"-j", "-n", l.Name + "-" + node, "route", "get", to}
	for i := 0; i+1 < len(args); i += 2 {
		ipArgs = append(ipArgs, strings.TrimPrefix(args[i], "--"), args[i+1])
	}
	where := fmt.Sprintf("%s: get %s %s", node, to, strings.Join(args, " "))
	cmd := exec.Command("ip", ipArgs...)
	out, err := cmd.Output()
	if err != nil {
		var stderr string
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = strings.TrimSpace(string(ee.Stderr))
		}
		ipErr := strings.TrimPrefix(stderr, "RTNETLINK answers: ")
		if got.Error == "" || !strings.EqualFold(got.Error, ipErr) {
			t.Errorf("%s: ip refuses (%q), netlab answers %+v", where, stderr, got)
		}
		return got
	}
	var ips []ipGetJSON
	decodeJSON(t, "ip -j route get", string(out), &ips)
	if len(ips) != 1 {
		t.Fatalf("%s: ip -j route get: %s", where, out)
	}
	ip := ips[0]
	if ip.From == "::" {
		ip.From = "" // ip -6 prints the unspecified source it was not given
	}
	if ip.Mark == 0 && optIP(to).Is6() {
		ip.Mark = got.Mark // the kernel reports no mark for IPv6 (ip prints none)
	}
	typ := ip.Type
	if typ == "" {
		typ = "unicast"
	}
	switch {
	case got.Error != "":
		t.Errorf("%s: netlab says %q, ip answers %+v", where, got.Error, ip)
	case ip.Dst != got.To || typ != got.Type || ip.Gateway != got.Via || ip.Dev != got.Dev || ip.From != got.From ||
		ipTable(ip.Table) != got.Table || ip.IIF != got.IIF || ip.Mark != got.Mark:
		t.Errorf("%s:\n ip:     %+v\n netlab: %+v", where, ip, got)
	case ip.Prefsrc != "" && ip.Prefsrc != got.Src:
		t.Errorf("%s: ip's prefsrc %s, netlab's src %s", where, ip.Prefsrc, got.Src)
	}
	return got
}

// routeListJSON is `netlab route <lab> <node> -o json`.
type routeListJSON struct {
	Lab    string `json:"lab"`
	Routes []struct {
		Node      string `json:"node"`
		Family    string `json:"family"`
		TableName string `json:"table_name"`
		Table     uint32 `json:"table"`
		To        string `json:"to"`
		Via       string `json:"via"`
		Dev       string `json:"dev"`
		Type      string `json:"type"`
	} `json:"routes"`
	Rules []struct {
		Node      string `json:"node"`
		Family    string `json:"family"`
		Priority  uint32 `json:"priority"`
		From      string `json:"from"`
		FWMark    uint32 `json:"fwmark"`
		Action    string `json:"action"`
		Table     uint32 `json:"table"`
		TableName string `json:"table_name"`
	} `json:"rules"`
}

// checkRouteList: `netlab route <lab> <node> -o json` lists every declared
// route and rule of the node, tables by the lab's names.
func checkRouteList(t *testing.T, l *testLab, n *expNode, names map[uint32]string) {
	t.Helper()
	r := mustNetlab(t, "route", l.Name, n.Name, "-o", "json")
	var got routeListJSON
	decodeJSON(t, "netlab route -o json", r.stdout, &got)
	name := func(id uint32) string {
		if s, ok := names[id]; ok {
			return s
		}
		return map[uint32]string{253: "default", 254: "main", 255: "local"}[id]
	}
	for _, want := range n.Routes {
		found := false
		for _, x := range got.Routes {
			if x.Node == n.Name && x.Table == want.Table && parsePfx(x.To) == want.To && x.Type == want.Type {
				found = true
				if x.TableName != name(want.Table) && name(want.Table) != "" {
					t.Errorf("netlab route %s: %s: table_name %q, want %q", n.Name, want, x.TableName, name(want.Table))
				}
				if fam := map[bool]string{false: "inet", true: "inet6"}[want.V6]; x.Family != fam {
					t.Errorf("netlab route %s: %s: family %q, want %q", n.Name, want, x.Family, fam)
				}
			}
		}
		if !found {
			t.Errorf("netlab route %s -o json: %s missing", n.Name, want)
		}
	}
	for _, want := range n.Rules {
		found := false
		for _, x := range got.Rules {
			if x.Node == n.Name && x.Priority == want.Priority && parsePfx(x.From) == want.From && x.FWMark == want.Mark && x.Action == want.Action && x.Table == want.Table {
				found = true
				if want.Action == "lookup" && name(want.Table) != "" && x.TableName != name(want.Table) {
					t.Errorf("netlab route %s: %s: table_name %q, want %q", n.Name, want, x.TableName, name(want.Table))
				}
			}
		}
		if !found {
			t.Errorf("netlab route %s -o json: %s missing", n.Name, want)
		}
	}
	// The text form names the tables too.
	r = mustNetlab(t, "route", l.Name, n.Name)
	for id, s := range names {
		if !strings.Contains(r.stdout, " "+s+" ") {
			t.Errorf("netlab route %s: table %d (%s) not named:\n%s", n.Name, id, s, r.stdout)
		}
	}
}

// ---- traffic ---------------------------------------------------------------

// ifStats are one interface's counters (netlink, IFLA_STATS64).
type ifStats struct{ txP, txB, rxP, rxB uint64 }

func linkStats(t *testing.T, h *nsHandle, dev string) ifStats {
	t.Helper()
	l, err := h.h.LinkByName(dev)
	if err != nil || l.Attrs().Statistics == nil {
		t.Fatalf("%s: %s: link stats: %v", h.name, dev, err)
	}
	s := l.Attrs().Statistics
	return ifStats{s.TxPackets, s.TxBytes, s.RxPackets, s.RxBytes}
}

func (a ifStats) sub(b ifStats) ifStats {
	return ifStats{a.txP - b.txP, a.txB - b.txB, a.rxP - b.rxP, a.rxB - b.rxB}
}

// procCounters reads "Name value" files (/proc/net/dev_snmp6/<dev>) or
// paired header/value lines (/proc/net/netstat) inside a namespace.
func procCounters(t *testing.T, ns, path string) map[string]uint64 {
	t.Helper()
	out := map[string]uint64{}
	sc := bufio.NewScanner(strings.NewReader(ipOut(t, "netns", "exec", ns, "cat", path)))
	var header []string
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		switch {
		case len(f) == 2 && !strings.HasSuffix(f[0], ":"):
			v, _ := strconv.ParseUint(f[1], 10, 64)
			out[f[0]] = v
		case len(f) > 1 && strings.HasSuffix(f[0], ":"):
			if header == nil || header[0] != f[0] {
				header = f
				continue
			}
			for i := 1; i < len(f) && i < len(header); i++ {
				v, _ := strconv.ParseUint(f[i], 10, 64)
				out[strings.TrimSuffix(header[0], ":")+header[i]] = v
			}
			header = nil
		}
	}
	return out
}

// uplinkPing pings from node with extra ping flags and checks that the
// echo requests and replies cross dev and not other: dev's counters grow by
// at least count frames of the echo's size each way, other's by less than
// one such frame (background IPv6 RS/MLD and ARP frames are all far
// smaller). For IPv6 the per-interface ICMP counters (dev_snmp6) must show
// exactly count echoes out and replies in on dev, none on other.
func uplinkPing(t *testing.T, l *testLab, h *nsHandle, node, dev, other, to string, flags ...string) {
	t.Helper()
	const count, payload = 5, 1000
	v6 := optIP(to).Is6()
	frame := uint64(payload + 8 + 14 + 20)
	if v6 {
		frame = payload + 8 + 14 + 40
	}
	ns := l.Name + "-" + node
	snmp := func(d string) map[string]uint64 { return procCounters(t, ns, "/proc/net/dev_snmp6/"+d) }
	var s6dev, s6other map[string]uint64
	if v6 {
		s6dev, s6other = snmp(dev), snmp(other)
	}
	d0, o0 := linkStats(t, h, dev), linkStats(t, h, other)
	args := append([]string{"exec", l.Name, node, "--", "ping", "-q", "-c", strconv.Itoa(count), "-i", "0.2", "-W", "2", "-s", strconv.Itoa(payload)}, flags...)
	if r := netlab(t, append(args, to)...); r.code != 0 {
		t.Fatalf("%s: ping %s %s failed:\n%s", node, strings.Join(flags, " "), to, r)
	}
	d, o := linkStats(t, h, dev).sub(d0), linkStats(t, h, other).sub(o0)
	where := fmt.Sprintf("%s: ping %s %s", node, strings.Join(flags, " "), to)
	if d.txP < count || d.rxP < count || d.txB < count*frame || d.rxB < count*frame {
		t.Errorf("%s: %s grew by %+v; want at least %d echo frames of %d bytes each way", where, dev, d, count, frame)
	}
	if o.txB >= frame || o.rxB >= frame {
		t.Errorf("%s: %s grew by %+v; want less than one %d-byte echo frame either way", where, other, o, frame)
	}
	if v6 {
		a, b := snmp(dev), snmp(other)
		if a["Icmp6OutEchos"]-s6dev["Icmp6OutEchos"] != count || a["Icmp6InEchoReplies"]-s6dev["Icmp6InEchoReplies"] != count {
			t.Errorf("%s: dev_snmp6/%s: OutEchos +%d, InEchoReplies +%d; want +%d each", where, dev,
				a["Icmp6OutEchos"]-s6dev["Icmp6OutEchos"], a["Icmp6InEchoReplies"]-s6dev["Icmp6InEchoReplies"], count)
		}
		if b["Icmp6OutEchos"] != s6other["Icmp6OutEchos"] || b["Icmp6InEchoReplies"] != s6other["Icmp6InEchoReplies"] {
			t.Errorf("%s: dev_snmp6/%s: echoes crossed the other uplink", where, other)
		}
	}
}

// ---- the tests -------------------------------------------------------------

// TestRouteLabs brings each routing lab up, checks every declared route and
// rule through netlink and ip -j, netlab route's listing, route get answers
// against ip route get, the traffic each lab is about, and that down leaves
// nothing.
func TestRouteLabs(t *testing.T) {
	requireRoot(t)
	for _, c := range []struct {
		file, short string
		check       func(t *testing.T, l *testLab, hs map[string]*nsHandle)
	}{
		{"labs/router.yaml", "rtrouter", checkRouterLab},
		{"labs/policy-uplinks.yaml", "rtpolicy", checkPolicyLab},
		{"labs/rp-filter.yaml", "rtrpf", checkRPFilterLab},
		{"labs/contract.yaml", "rtcontract", nil}, // without its firewall
	} {
		t.Run(c.short, func(t *testing.T) {
			t.Parallel()
			var repl []string
			if c.check == nil {
				repl = []string{"    firewall:              # nftables, in the node's namespace\n      - {chain: input, action: drop, proto: tcp, dport: 9}\n", "",
					"  sysctls: {net.ipv4.neigh.default.gc_interval: 30}", "  sysctls: {}"}
			}
			l := newLab(t, c.file, c.short, repl...)
			e := l.Exp
			if len(e.Refused) > 0 {
				t.Fatalf("the model refuses %v", e.Refused)
			}
			nRoutes, nRules := 0, 0
			for _, n := range e.Nodes {
				nRoutes, nRules = nRoutes+len(n.Routes), nRules+len(n.Rules)
			}
			if nRoutes == 0 {
				t.Fatal("the model derived no routes")
			}
			before := rootLinks(t)
			r := l.up(t)
			if strings.Contains(r.stderr, "warning:") && c.check != nil {
				t.Errorf("up warns:\n%s", r) // (contract.yaml's scenario has a gratuitous-ARP warning)
			}
			hs := openLab(t, e)
			waitLabOper(t, e, hs)
			for _, n := range e.Nodes {
				checkRoutes(t, "netlink", n, routesNetlink(t, hs[n.Name]))
				checkRoutes(t, "ip -j", n, routesIP(t, n.NS))
				checkRules(t, "netlink", n, rulesNetlink(t, hs[n.Name]))
				checkRules(t, "ip -j", n, rulesIP(t, n.NS))
				if len(n.Routes)+len(n.Rules) > 0 {
					names := map[uint32]string{}
					for name, id := range l.Spec.Nodes[n.Name].Tables {
						names[id] = name
					}
					checkRouteList(t, l, n, names)
				}
			}
			if c.check != nil {
				c.check(t, l, hs)
			}
			mustNetlab(t, "down", l.Name)
			checkNothingOf(t, l.Name)
			checkHeldEmpty(t, hs)
			checkRootUntouched(t, before)
		})
	}
}

func checkRouterLab(t *testing.T, l *testLab, hs map[string]*nsHandle) {
	for _, k := range []string{"net/ipv4/ip_forward", "net/ipv4/conf/all/forwarding", "net/ipv6/conf/all/forwarding"} {
		if got := readNSSysctl(t, l.Name+"-r1", k); got != "1" {
			t.Errorf("r1 (kind: router): %s = %s, want 1", k, got)
		}
	}
	if d := routeGet(t, l, "h1", "198.51.100.10"); d.Via != "192.0.2.1" || d.Dev != "eth0" {
		t.Errorf("h1 -> h2's subnet: %+v, want via r1 (192.0.2.1) dev eth0", d)
	}
	routeGet(t, l, "h1", "2001:db8:2::10")
	if d := routeGet(t, l, "h2", "2001:db8:1::10"); d.Via != "fe80::ff:fe00:102" || d.Dev != "eth0" {
		t.Errorf("h2 -> h1 over IPv6: %+v, want via r1's link-local fe80::ff:fe00:102 dev eth0", d)
	}
	// On r1, as if forwarded: in on eth0, out eth1.
	if d := routeGet(t, l, "r1", "198.51.100.10", "--from", "192.0.2.10", "--iif", "eth0"); d.Dev != "eth1" || d.Type != "unicast" {
		t.Errorf("r1 forwarding h1 -> h2: %+v, want out eth1", d)
	}
	routeGet(t, l, "r1", "2001:db8:2::10", "--from", "2001:db8:1::10", "--iif", "eth0")
	routeGet(t, l, "r1", "192.0.2.1")
	if d := routeGet(t, l, "r1", "203.0.113.1"); d.Type != "unreachable" || d.Error == "" {
		t.Errorf("r1 -> 203.0.113.1 (type: unreachable): %+v", d)
	}
	// The text form says the refusal, and exits 0.
	if r := mustNetlab(t, "route", l.Name, "r1", "get", "203.0.113.1"); !strings.HasPrefix(r.stdout, "unreachable 203.0.113.1: ") {
		t.Errorf("route get text:\n%s", r)
	}
	for _, p := range []struct{ from, to string }{{"h1", "198.51.100.10"}, {"h1", "2001:db8:2::10"}, {"h2", "192.0.2.10"}, {"h2", "2001:db8:1::10"}} {
		if r := netlab(t, "exec", l.Name, p.from, "--", "ping", "-c1", "-W2", p.to); r.code != 0 {
			t.Errorf("%s cannot reach %s across r1:\n%s", p.from, p.to, r)
		}
	}
	// r1 answers for the unreachable prefix with an ICMP host unreachable.
	r := netlab(t, "exec", l.Name, "h1", "--", "ping", "-c1", "-W2", "203.0.113.1")
	if r.code == 0 || !strings.Contains(r.stdout, "From 192.0.2.1") || !strings.Contains(r.stdout, "Unreachable") {
		t.Errorf("h1 -> 203.0.113.1: want an ICMP unreachable from r1:\n%s", r)
	}
}

func checkPolicyLab(t *testing.T, l *testLab, hs map[string]*nsHandle) {
	cases := []struct {
		to    string
		args  []string
		table uint32
		via   string
	}{
		{"203.0.113.100", []string{"--from", "192.0.2.10"}, 101, "192.0.2.1"},
		{"203.0.113.100", []string{"--from", "198.51.100.10"}, 102, "198.51.100.1"},
		{"203.0.113.100", []string{"--mark", "2"}, 102, "198.51.100.1"},
		// priority 90 (fwmark) comes before 100 (from 192.0.2.10)
		{"203.0.113.100", []string{"--from", "192.0.2.10", "--mark", "0x2"}, 102, "198.51.100.1"},
		{"2001:db8:3::100", []string{"--from", "2001:db8:1::10"}, 101, "2001:db8:1::1"},
		{"2001:db8:3::100", []string{"--from", "2001:db8:2::10"}, 102, "2001:db8:2::1"},
		{"2001:db8:3::100", []string{"--mark", "2"}, 102, "2001:db8:2::1"},
		{"2001:db8:3::100", nil, 254, "2001:db8:1::1"},
	}
	for _, c := range cases {
		d := routeGet(t, l, "h1", c.to, c.args...)
		if d.Table != c.table || d.Via != c.via {
			t.Errorf("h1 get %s %v: table %d via %s, want table %d via %s", c.to, c.args, d.Table, d.Via, c.table, c.via)
		}
		if want := map[uint32]string{101: "isp1", 102: "isp2", 254: "main"}[c.table]; d.TableName != want {
			t.Errorf("h1 get %s %v: table_name %q, want %q", c.to, c.args, d.TableName, want)
		}
	}
	routeGet(t, l, "h1", "203.0.113.100") // main: multipath, the kernel's pick
	routeGet(t, l, "server", "192.0.2.10")
	routeGet(t, l, "server", "2001:db8:2::10")
	if d := routeGet(t, l, "gw1", "203.0.113.100", "--from", "192.0.2.10", "--iif", "eth0"); d.Dev != "eth1" {
		t.Errorf("gw1 forwarding: %+v, want out eth1", d)
	}
	// The text form names the lab's table.
	if r := mustNetlab(t, "route", l.Name, "h1", "get", "203.0.113.100", "--from", "198.51.100.10"); !strings.Contains(r.stdout, " table 102") || !strings.HasSuffix(strings.TrimSpace(r.stdout), "# table isp2") {
		t.Errorf("route get text:\n%s", r)
	}
	// Real packets: each source leaves and returns on its own uplink.
	h := hs["h1"]
	uplinkPing(t, l, h, "h1", "eth0", "eth1", "203.0.113.100", "-I", "192.0.2.10")
	uplinkPing(t, l, h, "h1", "eth1", "eth0", "203.0.113.100", "-I", "198.51.100.10")
	uplinkPing(t, l, h, "h1", "eth0", "eth1", "2001:db8:3::100", "-I", "2001:db8:1::10")
	uplinkPing(t, l, h, "h1", "eth1", "eth0", "2001:db8:3::100", "-I", "2001:db8:2::10")
	// fwmark 2, no source given: isp2, so eth1 (and its address as source).
	uplinkPing(t, l, h, "h1", "eth1", "eth0", "203.0.113.100", "-m", "2")
	uplinkPing(t, l, h, "h1", "eth1", "eth0", "2001:db8:3::100", "-m", "2")
}

// rpDrops is the server's reverse-path-filter drop counter.
func rpDrops(t *testing.T, l *testLab) uint64 {
	t.Helper()
	c := procCounters(t, l.Name+"-server", "/proc/net/netstat")
	v, ok := c["TcpExtIPReversePathFilter"]
	if !ok {
		t.Fatalf("no TcpExt IPReversePathFilter counter in %s's /proc/net/netstat", l.Name+"-server")
	}
	return v
}

func checkRPFilterLab(t *testing.T, l *testLab, hs map[string]*nsHandle) {
	// Echoes of 1000 bytes: background frames (IPv6 RS/MLD, ARP) are far
	// smaller, so byte counts tell the echoes apart.
	const count, frame = 3, 1000 + 8 + 20 + 14
	ping := func(flags ...string) result {
		return netlab(t, append(append([]string{"exec", l.Name, "client", "--", "ping", "-q", "-c", strconv.Itoa(count), "-i", "0.2", "-W", "1", "-s", "1000"}, flags...), "203.0.113.1")...)
	}
	// The client's route sends from its eth0 address out eth1.
	if d := routeGet(t, l, "client", "203.0.113.1"); d.Via != "192.0.2.65" || d.Dev != "eth1" || d.Src != "192.0.2.2" {
		t.Errorf("client -> server: %+v, want via r2 (192.0.2.65) dev eth1 src 192.0.2.2", d)
	}
	// Strict: the kernel's input path refuses the source on eth1.
	if d := routeGet(t, l, "server", "203.0.113.1", "--from", "192.0.2.2", "--iif", "eth1"); d.Type != "martian" || d.Error == "" {
		t.Errorf("server, strict, 192.0.2.2 in on eth1: %+v, want a martian refusal", d)
	}
	if d := routeGet(t, l, "server", "203.0.113.1", "--from", "192.0.2.2", "--iif", "eth0"); d.Type != "local" {
		t.Errorf("server, strict, 192.0.2.2 in on eth0 (its reverse path): %+v, want local delivery", d)
	}
	routeGet(t, l, "server", "203.0.113.1", "--from", "192.0.2.66", "--iif", "eth1")
	drops0 := rpDrops(t, l)
	if r := ping(); r.code == 0 {
		t.Errorf("strict rp_filter: the asymmetric ping succeeds:\n%s", r)
	}
	drops1 := rpDrops(t, l)
	if drops1-drops0 < count {
		t.Errorf("strict rp_filter: IPReversePathFilter %d -> %d, want +%d", drops0, drops1, count)
	}
	// From the client's eth1 address the path is symmetric: delivered.
	if r := ping("-I", "192.0.2.66"); r.code != 0 {
		t.Errorf("strict rp_filter: the symmetric ping fails:\n%s", r)
	}
	if d := rpDrops(t, l); d != drops1 {
		t.Errorf("the symmetric ping counted %d rp_filter drops", d-drops1)
	}

	// Loose: any route back suffices.
	mustNetlab(t, "exec", l.Name, "server", "--", "sysctl", "-q", "-w", "net.ipv4.conf.all.rp_filter=2")
	if d := routeGet(t, l, "server", "203.0.113.1", "--from", "192.0.2.2", "--iif", "eth1"); d.Type != "local" || d.Error != "" {
		t.Errorf("server, loose, 192.0.2.2 in on eth1: %+v, want local delivery", d)
	}
	c0, s0 := linkStats(t, hs["client"], "eth1"), linkStats(t, hs["client"], "eth0")
	if r := ping(); r.code != 0 {
		t.Errorf("loose rp_filter: the asymmetric ping fails:\n%s", r)
	}
	if d := rpDrops(t, l); d != drops1 {
		t.Errorf("loose rp_filter: %d drops counted", d-drops1)
	}
	// And it is asymmetric: requests out the client's eth1, replies in on eth0.
	out, in := linkStats(t, hs["client"], "eth1").sub(c0), linkStats(t, hs["client"], "eth0").sub(s0)
	if out.txB < count*frame || in.rxB < count*frame || out.rxB >= frame || in.txB >= frame {
		t.Errorf("loose: client eth1 %+v, eth0 %+v; want %d requests of %d bytes out eth1, %d replies in on eth0, no echo the other way", out, in, count, frame, count)
	}
}

// TestRPFilterLooseAtUp: the rp-filter lab declared loose (rp_filter 2)
// delivers the asymmetric ping from the start.
func TestRPFilterLooseAtUp(t *testing.T) {
	requireRoot(t)
	t.Parallel()
	l := startLab(t, "labs/rp-filter.yaml", "rpfl",
		"net.ipv4.conf.all.rp_filter: 1\n      net.ipv4.conf.default.rp_filter: 1",
		"net.ipv4.conf.all.rp_filter: 2\n      net.ipv4.conf.default.rp_filter: 2")
	if got := l.Node("server").MustSysctl(t, "net.ipv4.conf.eth1.rp_filter"); got != "2" {
		t.Errorf("server eth1 rp_filter = %s, want 2 (conf.default is set before links exist)", got)
	}
	// iputils ping in the client: the asymmetric path delivers.
	l.Node("client").MustExec(t, "ping", "-c2", "-i0.2", "-W1", "203.0.113.1")
	l.MustDown(t)
	checkNothingOf(t, l.Name())
}

// TestRouteUpRollback: the kernel refuses a route midway (an IPv6 route via
// a gateway it cannot reach: the interface's IPv6 is disabled by a declared
// sysctl); up exits 1 naming the node and the route, and nothing is left.
func TestRouteUpRollback(t *testing.T) {
	requireRoot(t)
	t.Parallel()
	l := newLabText(t, `name: rt
nodes:
  h1:
    sysctls: {net.ipv6.conf.eth0.disable_ipv6: 1}
    interfaces:
      eth0: {addresses: [192.0.2.1/24]}
    routes:
      - {to: 203.0.113.0/24, via: 192.0.2.2}
      - {to: "2001:db8:9::/48", via: "fe80::1", dev: eth0}
  h2: {}
links:
  - endpoints: [h1:eth0, h2:eth0]
`, "rtrollback")
	before := rootLinks(t)
	r := netlab(t, "up", l.File)
	if r.code != 1 {
		t.Fatalf("want exit 1 (the kernel refuses the IPv6 route), got:\n%s", r)
	}
	if !strings.Contains(r.stderr, "node h1: route 2001:db8:9::/48 (routes[1]): add: ") {
		t.Errorf("the error does not name the node and the route:\n%s", r)
	}
	checkNothingOf(t, l.Name)
	checkRootUntouched(t, before)
}
