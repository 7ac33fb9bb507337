package routectl

import (
	"errors"
	"fmt"
	"net/netip"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// ipRoute is one route of `ip -j route show table all`.
type ipRoute struct {
	Type     string `json:"type"`
	Dst      string `json:"dst"`
	Gateway  string `json:"gateway"`
	Via      *ipVia `json:"via"`
	Dev      string `json:"dev"`
	Table    string `json:"table"`
	Protocol string `json:"protocol"`
	Scope    string `json:"scope"`
	Prefsrc  string `json:"prefsrc"`
	Metric   uint32 `json:"metric"`
	Flags    []string
	Nexthops []struct {
		Gateway string   `json:"gateway"`
		Via     *ipVia   `json:"via"`
		Dev     string   `json:"dev"`
		Weight  int      `json:"weight"`
		Flags   []string `json:"flags"`
	} `json:"nexthops"`
}

type ipVia struct {
	Family string `json:"family"`
	Host   string `json:"host"`
}

// ipTable parses ip's table word.
func ipTable(t *testing.T, s string) uint32 {
	switch s {
	case "", "main":
		return TableMain
	case "local":
		return TableLocal
	case "default":
		return TableDefault
	}
	n, err := strconv.ParseUint(s, 10, 32)
	if err != nil {
		t.Fatalf("ip table %q", s)
	}
	return uint32(n)
}

// ipPrefix parses ip's destination word ("default", a bare host address or
// a prefix).
func ipPrefix(t *testing.T, s string, fam int) netip.Prefix {
	if s == "default" {
		return netip.PrefixFrom(zeroAddr(fam), 0)
	}
	if !strings.Contains(s, "/") {
		a := mustAddr(s)
		return netip.PrefixFrom(a, a.BitLen())
	}
	p, err := netip.ParsePrefix(s)
	if err != nil {
		t.Fatalf("ip dst %q: %v", s, err)
	}
	return p
}

func ipGateway(gw string, via *ipVia) netip.Addr {
	switch {
	case gw != "":
		return mustAddr(gw)
	case via != nil:
		return mustAddr(via.Host)
	}
	return netip.Addr{}
}

// asRoute is what Routes should say for ip's route.
func (ir ipRoute) asRoute(t *testing.T, fam int) Route {
	r := Route{
		Family:   fam,
		To:       ipPrefix(t, ir.Dst, fam),
		Via:      ipGateway(ir.Gateway, ir.Via),
		Dev:      ir.Dev,
		Metric:   ir.Metric,
		Table:    ipTable(t, ir.Table),
		Type:     cmpOr(ir.Type, TypeUnicast),
		Scope:    cmpOr(ir.Scope, ScopeGlobal),
		Onlink:   slices.Contains(ir.Flags, "onlink"),
		Protocol: cmpOr(ir.Protocol, "boot"),
	}
	if ir.Prefsrc != "" {
		r.Src = mustAddr(ir.Prefsrc)
	}
	for _, nh := range ir.Nexthops {
		r.Nexthops = append(r.Nexthops, Nexthop{
			Via:    ipGateway(nh.Gateway, nh.Via),
			Dev:    nh.Dev,
			Weight: nh.Weight,
			Onlink: slices.Contains(nh.Flags, "onlink"),
		})
	}
	return r
}

func cmpOr(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// ipRoutes is `ip -j route show table all` for IPv4 then IPv6, as Routes
// values, sorted like Routes sorts.
func (n *testNS) ipRoutes(t *testing.T, args ...string) []Route {
	t.Helper()
	var out []Route
	for _, fam := range []int{unix.AF_INET, unix.AF_INET6} {
		var irs []ipRoute
		flag := "-4"
		if fam == unix.AF_INET6 {
			flag = "-6"
		}
		n.ipJSON(t, &irs, append([]string{flag, "route", "show", "table", "all"}, args...)...)
		for _, ir := range irs {
			out = append(out, ir.asRoute(t, fam))
		}
	}
	sortRoutes(out)
	return out
}

// sameRoutes compares two lists as multisets, reporting each difference.
func sameRoutes(t *testing.T, what string, got, want []Route) {
	t.Helper()
	key := func(r Route) string { return fmt.Sprintf("%#v", r) }
	count := map[string]int{}
	for _, r := range want {
		count[key(r)]++
	}
	for _, r := range got {
		if count[key(r)] == 0 {
			t.Errorf("%s: routectl has %q (%+v), ip does not", what, r, r)
			continue
		}
		count[key(r)]--
	}
	for _, r := range want {
		if count[key(r)] > 0 {
			t.Errorf("%s: ip has %q (%+v), routectl does not", what, r, r)
			count[key(r)]--
		}
	}
}

// routesNS is a namespace with eth0 192.0.2.1/24 2001:db8::1/64 and
// eth1 198.51.100.1/24 2001:db8:1::1/64 (a veth pair, both ends here).
func routesNS(t *testing.T, suffix string) *testNS {
	n := newNS(t, suffix, vethPair("eth0", "eth1", map[string][]string{
		"eth0": {"192.0.2.1/24", "2001:db8::1/64"},
		"eth1": {"198.51.100.1/24", "2001:db8:1::1/64"},
	}))
	n.settle(t, "eth0", "eth1")
	return n
}

// kindsOfRoutes is one route of each type and option.
var kindsOfRoutes = []struct {
	r    Route
	want Route // how it is listed back (zero: like r, with defaults filled)
}{
	{r: Route{To: mustPrefix("203.0.113.0/24"), Via: mustAddr("192.0.2.2"), Table: 101}, want: Route{Dev: "eth0"}},
	{r: Route{To: mustPrefix("10.10.0.0/16"), Dev: "eth1"}},
	{r: Route{To: mustPrefix("10.20.0.0/16"), Via: mustAddr("192.0.2.2"), Src: mustAddr("192.0.2.1"), Metric: 10}, want: Route{Dev: "eth0"}},
	{r: Route{To: mustPrefix("10.20.0.0/16"), Via: mustAddr("198.51.100.2"), Metric: 20}, want: Route{Dev: "eth1"}},
	{r: Route{To: mustPrefix("198.18.0.0/15"), Type: TypeBlackhole}},
	{r: Route{To: mustPrefix("100.64.0.0/10"), Type: TypeUnreachable}},
	{r: Route{To: mustPrefix("172.16.0.0/12"), Type: TypeProhibit, Metric: 7}},
	{r: Route{To: mustPrefix("10.9.9.9/32"), Type: TypeLocal, Dev: "lo"}},
	{r: Route{To: mustPrefix("10.30.0.0/16"), Via: mustAddr("10.99.0.1"), Dev: "eth0", Onlink: true}},
	{r: Route{To: mustPrefix("10.40.0.0/16"), Type: TypeThrow, Table: 101}},
	{r: Route{To: mustPrefix("10.50.0.0/16"), Dev: "eth0", Scope: ScopeGlobal}},
	{r: Route{To: mustPrefix("10.51.0.0/16"), Dev: "eth0", Scope: ScopeHost}},
	{r: Route{To: mustPrefix("10.60.0.0/16"), Via: mustAddr("192.0.2.2"), Table: 1000}, want: Route{Dev: "eth0"}},
	{r: Route{To: mustPrefix("10.70.0.0/16"), Via: mustAddr("fe80::2"), Dev: "eth0"}},
	{r: Route{To: mustPrefix("10.80.0.0/16"), Via: mustAddr("192.0.2.2"), Protocol: "static"}, want: Route{Dev: "eth0"}},
	{r: Route{To: mustPrefix("0.0.0.0/0"), Nexthops: []Nexthop{
		{Via: mustAddr("192.0.2.2"), Dev: "eth0"},
		{Via: mustAddr("198.51.100.2"), Dev: "eth1", Weight: 3},
		{Via: mustAddr("10.98.0.1"), Dev: "eth1", Weight: 256, Onlink: true},
	}}},
	{r: Route{To: mustPrefix("0.0.0.0/0"), Via: mustAddr("192.0.2.254"), Table: 102}, want: Route{Dev: "eth0"}},
	{r: Route{To: mustPrefix("192.0.2.77/32"), Type: TypeBroadcast, Dev: "eth0"}},
	{r: Route{To: mustPrefix("2001:db8:100::/48"), Via: mustAddr("2001:db8::2")}, want: Route{Dev: "eth0"}},
	{r: Route{To: mustPrefix("2001:db8:b::/48"), Type: TypeBlackhole}, want: Route{Dev: "lo"}},
	{r: Route{To: mustPrefix("2001:db8:c::/48"), Type: TypeUnreachable, Metric: 5}, want: Route{Dev: "lo"}},
	{r: Route{To: mustPrefix("2001:db8:d::/48"), Type: TypeProhibit, Table: 101}, want: Route{Dev: "lo"}},
	{r: Route{To: mustPrefix("2001:db8:200::/48"), Via: mustAddr("fe80::1"), Dev: "eth0"}},
	{r: Route{To: mustPrefix("2001:db8:300::/48"), Dev: "eth1", Metric: 5, Table: 101}},
	{r: Route{To: mustPrefix("2001:db8:400::/48"), Via: mustAddr("2001:db8:99::1"), Dev: "eth0", Onlink: true}},
	{r: Route{To: mustPrefix("2001:db8::99/128"), Type: TypeLocal, Dev: "lo"}},
	{r: Route{To: mustPrefix("::/0"), Nexthops: []Nexthop{
		{Via: mustAddr("2001:db8::2"), Dev: "eth0", Weight: 2},
		{Via: mustAddr("2001:db8:1::2"), Dev: "eth1"},
	}}},
	{r: Route{To: mustPrefix("2001:db8:500::/48"), Via: mustAddr("2001:db8::2"), Src: mustAddr("2001:db8::1"), Protocol: "static", Table: 102}, want: Route{Dev: "eth0"}},
}

// expectListed is how r is listed back after AddRoute: defaults filled.
func expectListed(r, extra Route) Route {
	w := r
	w.Family = r.family()
	tn, _ := typeNumber(r.Type)
	if w.Table == 0 {
		w.Table = defaultTable(tn)
	}
	w.Type = cmpOr(r.Type, TypeUnicast)
	if w.Scope == "" {
		w.Scope = scopeWord(defaultScope(w.Family, tn, r.Via.IsValid() || len(r.Nexthops) > 0))
	}
	w.Protocol = cmpOr(r.Protocol, "boot")
	if w.Metric == 0 && w.Family == unix.AF_INET6 {
		w.Metric = 1024
	}
	if extra.Dev != "" {
		w.Dev = extra.Dev
	}
	w.Nexthops = nil
	for _, nh := range r.Nexthops {
		if nh.Weight == 0 {
			nh.Weight = 1
		}
		w.Nexthops = append(w.Nexthops, nh)
	}
	return w
}

func TestRootRoutesKinds(t *testing.T) {
	n := routesNS(t, "kinds")
	var want []Route
	for _, k := range kindsOfRoutes {
		if err := n.c.AddRoute(bg, k.r); err != nil {
			t.Fatalf("AddRoute(%s): %v", k.r, err)
		}
		want = append(want, expectListed(k.r, k.want))
	}
	got, err := n.c.Routes(bg, Filter{})
	if err != nil {
		t.Fatal(err)
	}
	// Every added route is listed back as added.
	for _, w := range want {
		found := false
		for _, g := range got {
			if reflect.DeepEqual(g, w) {
				found = true
				break
			}
		}
		if !found {
			t.Errorf("added %q: not listed back as %+v", w, w)
			for _, g := range got {
				if g.To == w.To && g.Table == w.Table && g.Metric == w.Metric {
					t.Errorf("    listed as %+v", g)
				}
			}
		}
	}
	// And the whole list (main, local, 101, 102, 1000; kernel routes too)
	// is what ip lists for `table all`.
	sameRoutes(t, "table all", got, n.ipRoutes(t))
	for _, tb := range []uint32{TableMain, TableLocal, 101, 102, 1000} {
		if !slices.ContainsFunc(got, func(r Route) bool { return r.Table == tb }) {
			t.Errorf("no route of table %d listed", tb)
		}
	}
	if !sortedRoutes(got) {
		t.Errorf("Routes not sorted by table, family, destination, metric")
	}

	// String is ip's text line by line (multipath folded onto one line,
	// IPv6 "pref" dropped).
	var ipLines []string
	for _, fam := range []string{"-4", "-6"} {
		ipLines = append(ipLines, ipTextRoutes(n.ip(t, fam, "route", "show", "table", "all"))...)
	}
	var ours []string
	for _, r := range got {
		ours = append(ours, r.String())
	}
	slices.Sort(ipLines)
	slices.Sort(ours)
	if !slices.Equal(ours, ipLines) {
		t.Errorf("String differs from ip route show:\n%s", lineDiff(ours, ipLines))
	}

	// Every listed route deletes itself (multipath, via inet6, local,
	// throw, other tables), leaving the kernel's own.
	for _, r := range got {
		if r.Protocol == "kernel" {
			continue
		}
		if err := n.c.DelRoute(bg, r); err != nil {
			t.Errorf("DelRoute(listed %s): %v", r, err)
		}
	}
	left, err := n.c.Routes(bg, Filter{})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range left {
		if r.Protocol != "kernel" {
			t.Errorf("left after deleting every listed route: %s", r)
		}
	}
	sameRoutes(t, "after deleting", left, n.ipRoutes(t))
}

// ipTextRoutes folds ip's text output into one line per route.
func ipTextRoutes(out string) []string {
	var lines []string
	for _, l := range strings.Split(out, "\n") {
		if strings.TrimSpace(l) == "" {
			continue
		}
		f := strings.Fields(l)
		if i := slices.Index(f, "pref"); i >= 0 && i+1 < len(f) {
			f = slices.Delete(f, i, i+2)
		}
		if strings.HasPrefix(l, "\t") && len(lines) > 0 {
			lines[len(lines)-1] += " " + strings.Join(f, " ")
			continue
		}
		lines = append(lines, strings.Join(f, " "))
	}
	return lines
}

// lineDiff lists the lines only in a ("-") or only in b ("+").
func lineDiff(a, b []string) string {
	var out []string
	for _, l := range a {
		if !slices.Contains(b, l) {
			out = append(out, "- "+l)
		}
	}
	for _, l := range b {
		if !slices.Contains(a, l) {
			out = append(out, "+ "+l)
		}
	}
	return strings.Join(out, "\n")
}

func sortedRoutes(rs []Route) bool {
	return slices.IsSortedFunc(rs, func(a, b Route) int {
		c := slices.Clone([]Route{a, b})
		sortRoutes(c)
		if reflect.DeepEqual(c[0], a) {
			return 0
		}
		return 1
	})
}

func TestRootRoutesFilter(t *testing.T) {
	n := routesNS(t, "filter")
	for _, r := range []Route{
		{To: mustPrefix("203.0.113.0/24"), Via: mustAddr("192.0.2.2"), Table: 101},
		{To: mustPrefix("2001:db8:100::/48"), Via: mustAddr("2001:db8::2"), Table: 101},
		{To: mustPrefix("10.1.0.0/16"), Via: mustAddr("192.0.2.2")},
	} {
		if err := n.c.AddRoute(bg, r); err != nil {
			t.Fatal(err)
		}
	}
	all, err := n.c.Routes(bg, Filter{})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []Filter{
		{Table: 101}, {Table: TableMain}, {Table: TableLocal}, {Family: unix.AF_INET},
		{Family: unix.AF_INET6, Table: 101}, {Table: 999},
	} {
		got, err := n.c.Routes(bg, f)
		if err != nil {
			t.Fatal(err)
		}
		var want []Route
		for _, r := range all {
			if (f.Family == 0 || r.Family == f.Family) && (f.Table == 0 || r.Table == f.Table) {
				want = append(want, r)
			}
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("Routes(%+v) = %q, want %q", f, got, want)
		}
		if f.Table == 999 && len(got) != 0 {
			t.Errorf("empty table listed %q", got)
		}
	}
	if _, err := n.c.Routes(bg, Filter{Family: unix.AF_PACKET}); err == nil {
		t.Error("Routes of AF_PACKET succeeded")
	}
}

func TestRootRouteAddDel(t *testing.T) {
	n := routesNS(t, "adddel")
	ctx := bg
	has := func(r Route) bool {
		t.Helper()
		rs, err := n.c.Routes(ctx, Filter{Family: r.family()})
		if err != nil {
			t.Fatal(err)
		}
		return slices.ContainsFunc(rs, func(g Route) bool {
			return g.To == r.To && g.Table == expectListed(r, Route{}).Table && (r.Metric == 0 || g.Metric == r.Metric)
		})
	}
	for _, r := range []Route{
		{To: mustPrefix("203.0.113.0/24"), Via: mustAddr("192.0.2.2"), Table: 101},
		{To: mustPrefix("2001:db8:100::/48"), Via: mustAddr("2001:db8::2")},
		{To: mustPrefix("198.18.0.0/15"), Type: TypeBlackhole},
	} {
		if err := n.c.AddRoute(ctx, r); err != nil {
			t.Fatal(err)
		}
		// Exclusive: the same route again, or another gateway at the same
		// metric, is EEXIST, named like an ip line.
		err := n.c.AddRoute(ctx, r)
		if !errors.Is(err, unix.EEXIST) {
			t.Errorf("second AddRoute(%s): %v, want EEXIST", r, err)
		}
		if want := "route " + r.String() + ": add: "; err == nil || !strings.HasPrefix(err.Error(), want) {
			t.Errorf("error %q does not start with %q", err, want)
		}
		other := r
		if other.Via.Is4() {
			other.Via = mustAddr("198.51.100.2")
		} else if other.Via.IsValid() {
			other.Via = mustAddr("2001:db8:1::2")
		} else {
			other.Type = TypeUnreachable
		}
		if err := n.c.AddRoute(ctx, other); !errors.Is(err, unix.EEXIST) {
			t.Errorf("AddRoute(%s) next to %s: %v, want EEXIST", other, r, err)
		}
		// Deleting with the wrong gateway or type fails (ESRCH); the route
		// itself goes.
		if err := n.c.DelRoute(ctx, other); !errors.Is(err, unix.ESRCH) {
			t.Errorf("DelRoute(%s): %v, want ESRCH", other, err)
		}
		if !has(r) {
			t.Fatalf("%s missing after the failed delete", r)
		}
		if err := n.c.DelRoute(ctx, r); err != nil {
			t.Fatalf("DelRoute(%s): %v", r, err)
		}
		if has(r) {
			t.Errorf("%s still listed after DelRoute", r)
		}
		if err := n.c.DelRoute(ctx, r); !errors.Is(err, unix.ESRCH) {
			t.Errorf("DelRoute(%s) again: %v, want ESRCH", r, err)
		}
	}

	// Empty fields are wildcards when deleting: only To (and the table)
	// deletes a route of any type, gateway and metric; a listed route
	// deletes itself.
	for _, r := range []Route{
		{To: mustPrefix("10.1.0.0/16"), Via: mustAddr("192.0.2.2"), Metric: 30, Src: mustAddr("192.0.2.1")},
		{To: mustPrefix("10.2.0.0/16"), Type: TypeProhibit, Table: 101},
		{To: mustPrefix("2001:db8:200::/48"), Type: TypeUnreachable, Metric: 9},
		{To: mustPrefix("10.9.9.9/32"), Type: TypeLocal, Dev: "lo"},
	} {
		if err := n.c.AddRoute(ctx, r); err != nil {
			t.Fatal(err)
		}
		if err := n.c.DelRoute(ctx, Route{To: r.To, Table: r.Table, Type: map[bool]string{true: TypeLocal}[r.Type == TypeLocal]}); err != nil {
			t.Errorf("DelRoute(to %s) of %s: %v", r.To, r, err)
		}
		if has(r) {
			t.Errorf("%s still listed", r)
		}
	}
	rs, err := n.c.Routes(ctx, Filter{Table: TableMain})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rs {
		if err := n.c.DelRoute(ctx, r); err != nil {
			t.Errorf("DelRoute(listed %s): %v", r, err)
		}
	}
	if rs, _ := n.c.Routes(ctx, Filter{Table: TableMain}); len(rs) != 0 {
		t.Errorf("main not empty after deleting every listed route: %q", rs)
	}
	if out := n.ip(t, "route", "show", "table", "main"); strings.TrimSpace(out) != "" {
		t.Errorf("ip still lists in main:\n%s", out)
	}

	// Errors the kernel does not get to see.
	for _, r := range []Route{
		{},
		{To: mustPrefix("10.0.0.1/8"), Dev: "eth0"},
		{To: mustPrefix("10.0.0.0/8"), Dev: "nosuchdev0"},
		{To: mustPrefix("2001:db8:9::/48"), Via: mustAddr("fe80::1")},
		{To: mustPrefix("10.0.0.0/8"), Via: mustAddr("192.0.2.2"), Nexthops: []Nexthop{{Via: mustAddr("192.0.2.3")}}},
		{To: mustPrefix("10.0.0.0/8"), Nexthops: []Nexthop{{Via: mustAddr("192.0.2.3"), Weight: 257}}},
		{To: mustPrefix("10.0.0.0/8"), Via: mustAddr("2001:db8::2"), Src: mustAddr("2001:db8::1")},
		{To: mustPrefix("10.0.0.0/8"), Type: "bogus"},
		{To: mustPrefix("10.0.0.0/8"), Dev: "eth0", Scope: "bogus"},
		{To: mustPrefix("10.0.0.0/8"), Dev: "eth0", Protocol: "bogus"},
		{To: mustPrefix("2001:db8::/32"), Via: mustAddr("192.0.2.2")},
	} {
		err := n.c.AddRoute(ctx, r)
		if err == nil {
			t.Errorf("AddRoute(%s) succeeded", r)
			continue
		}
		if !strings.HasPrefix(err.Error(), "route "+r.String()+": add: ") {
			t.Errorf("AddRoute(%s): error %q does not name the route", r, err)
		}
	}
}
