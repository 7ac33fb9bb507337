package routectl

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"net"
	"reflect"
	"strings"
	"testing"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"
)

func TestRouteString(t *testing.T) {
	for _, c := range []struct {
		r    Route
		want string
	}{
		{Route{To: mustPrefix("203.0.113.0/24"), Via: mustAddr("192.0.2.2"), Table: 101}, "203.0.113.0/24 via 192.0.2.2 table 101"},
		{Route{To: mustPrefix("0.0.0.0/0"), Via: mustAddr("192.0.2.254")}, "default via 192.0.2.254"},
		{Route{To: mustPrefix("::/0"), Via: mustAddr("fe80::1"), Dev: "eth0", Metric: 5}, "default via fe80::1 dev eth0 metric 5"},
		{Route{To: mustPrefix("198.18.0.0/15"), Type: TypeBlackhole}, "blackhole 198.18.0.0/15"},
		{Route{To: mustPrefix("10.9.9.9/32"), Type: TypeLocal, Dev: "lo"}, "local 10.9.9.9 dev lo"},
		{Route{To: mustPrefix("10.9.9.9/32"), Type: TypeLocal, Dev: "lo", Table: TableMain}, "local 10.9.9.9 dev lo table main"},
		{Route{To: mustPrefix("10.0.0.0/8"), Dev: "eth0", Scope: ScopeGlobal}, "10.0.0.0/8 dev eth0 scope global"},
		{Route{To: mustPrefix("10.0.0.0/8"), Via: mustAddr("192.0.2.2"), Scope: ScopeGlobal}, "10.0.0.0/8 via 192.0.2.2"},
		{Route{To: mustPrefix("10.0.0.0/8"), Dev: "eth0", Scope: ScopeLink}, "10.0.0.0/8 dev eth0 scope link"},
		{Route{To: mustPrefix("10.0.0.0/8"), Via: mustAddr("10.99.0.1"), Dev: "eth0", Onlink: true, Src: mustAddr("192.0.2.1")}, "10.0.0.0/8 via 10.99.0.1 dev eth0 src 192.0.2.1 onlink"},
		{Route{To: mustPrefix("10.70.0.0/16"), Via: mustAddr("fe80::2"), Dev: "eth0"}, "10.70.0.0/16 via inet6 fe80::2 dev eth0"},
		{Route{To: mustPrefix("10.0.0.0/8"), Table: 1000, Nexthops: []Nexthop{
			{Via: mustAddr("192.0.2.2")}, {Via: mustAddr("192.0.2.3"), Dev: "eth1", Weight: 3, Onlink: true}}},
			"10.0.0.0/8 table 1000 nexthop via 192.0.2.2 weight 1 nexthop via 192.0.2.3 dev eth1 weight 3 onlink"},
		// Listed routes print as ip shows them.
		{Route{Family: unix.AF_INET, To: mustPrefix("192.0.2.0/24"), Dev: "eth0", Table: TableMain, Type: TypeUnicast,
			Scope: ScopeLink, Protocol: "kernel", Src: mustAddr("192.0.2.1")}, "192.0.2.0/24 dev eth0 proto kernel scope link src 192.0.2.1"},
		{Route{Family: unix.AF_INET, To: mustPrefix("10.0.0.0/8"), Dev: "eth0", Table: TableMain, Type: TypeUnicast,
			Scope: ScopeGlobal, Protocol: "boot"}, "10.0.0.0/8 dev eth0"},
		{Route{Family: unix.AF_INET6, To: mustPrefix("::1/128"), Dev: "lo", Table: TableLocal, Type: TypeLocal,
			Scope: ScopeGlobal, Protocol: "kernel"}, "local ::1 dev lo table local proto kernel metric 0"},
		{Route{Family: unix.AF_INET, To: mustPrefix("127.255.255.255/32"), Dev: "lo", Table: TableLocal, Type: TypeBroadcast,
			Scope: ScopeLink, Protocol: "kernel", Src: mustAddr("127.0.0.1")}, "broadcast 127.255.255.255 dev lo table local proto kernel scope link src 127.0.0.1"},
		{Route{}, "(no destination)"},
	} {
		if got := c.r.String(); got != c.want {
			t.Errorf("String(%+v) = %q, want %q", c.r, got, c.want)
		}
	}
}

func TestRuleString(t *testing.T) {
	for _, c := range []struct {
		r          Rule
		show, spec string
	}{
		{Rule{Priority: 100, From: mustPrefix("192.0.2.0/25"), Table: 101}, "100:\tfrom 192.0.2.0/25 lookup 101", "pref 100 from 192.0.2.0/25 lookup 101"},
		{Rule{HasPriority: true, Table: TableLocal, Family: unix.AF_INET}, "0:\tfrom all lookup local", "pref 0 from all lookup local"},
		{Rule{Family: unix.AF_INET, Table: 7}, "from all lookup 7", "from all lookup 7"},
		{Rule{Priority: 5, Family: unix.AF_INET}, "5:\tfrom all lookup main", "pref 5 from all lookup main"},
		{Rule{Priority: 200, Invert: true, From: mustPrefix("10.0.0.0/8"), To: mustPrefix("10.1.0.1/32"), Mark: 0x10, Mask: 0xff,
			IIF: "eth1", OIF: "eth0", Action: ActionUnreachable}, "200:\tnot from 10.0.0.0/8 to 10.1.0.1 fwmark 0x10/0xff iif eth1 oif eth0 unreachable", ""},
		{Rule{Priority: 1, Family: unix.AF_INET6, HasMark: true, Table: TableMain}, "1:\tfrom all fwmark 0 lookup main", ""},
		{Rule{Priority: 1, Family: unix.AF_INET6, Mark: 7, Mask: 0xffffffff, Action: ActionLookup, Table: TableDefault}, "1:\tfrom all fwmark 0x7 lookup default", ""},
		{Rule{Priority: 1, To: mustPrefix("2001:db8::/32"), Action: ActionBlackhole}, "1:\tfrom all to 2001:db8::/32 blackhole", ""},
	} {
		if got := c.r.String(); got != c.show {
			t.Errorf("String(%+v) = %q, want %q", c.r, got, c.show)
		}
		if got := c.r.spec(); c.spec != "" && got != c.spec {
			t.Errorf("spec(%+v) = %q, want %q", c.r, got, c.spec)
		}
	}
}

func TestDecisionQueryString(t *testing.T) {
	for _, c := range []struct {
		d    Decision
		want string
	}{
		{Decision{To: mustAddr("203.0.113.7"), Type: TypeUnicast, From: mustAddr("192.0.2.1"), Via: mustAddr("192.0.2.2"), Dev: "eth0",
			Table: 101, Src: mustAddr("192.0.2.1")}, "203.0.113.7 from 192.0.2.1 via 192.0.2.2 dev eth0 table 101"},
		{Decision{To: mustAddr("8.8.8.8"), Type: TypeUnicast, Via: mustAddr("192.0.2.3"), Dev: "eth0", Table: TableMain,
			Src: mustAddr("192.0.2.1"), Mark: 0x11}, "8.8.8.8 via 192.0.2.3 dev eth0 src 192.0.2.1 mark 0x11"},
		{Decision{To: mustAddr("10.9.9.9"), Type: TypeLocal, Dev: "lo", Table: TableLocal, Src: mustAddr("10.9.9.9")}, "local 10.9.9.9 dev lo table local src 10.9.9.9"},
		{Decision{To: mustAddr("198.51.100.2"), Type: TypeUnicast, From: mustAddr("192.0.2.1"), Dev: "eth1", Table: TableMain, IIF: "eth0"},
			"198.51.100.2 from 192.0.2.1 dev eth1 iif eth0"},
		{Decision{To: mustAddr("10.70.0.1"), Type: TypeUnicast, Via: mustAddr("fe80::2"), Dev: "eth0"}, "10.70.0.1 via inet6 fe80::2 dev eth0"},
		{Decision{To: mustAddr("100.64.0.1"), Type: TypeUnreachable, From: mustAddr("192.0.2.1"), Err: "no route to host", Errno: "EHOSTUNREACH"},
			"unreachable 100.64.0.1 from 192.0.2.1: no route to host"},
		{Decision{To: mustAddr("192.0.2.1"), Type: TypeMartian, From: mustAddr("192.0.2.50"), IIF: "eth1", Mark: 1, Err: "invalid argument"},
			"martian 192.0.2.1 from 192.0.2.50 iif eth1 mark 0x1: invalid argument"},
	} {
		if got := c.d.String(); got != c.want {
			t.Errorf("String(%#v) = %q, want %q", c.d, got, c.want)
		}
	}
	q := Query{To: mustAddr("203.0.113.7"), From: mustAddr("192.0.2.1"), IIF: "eth0", OIF: "eth1", Mark: 16}
	if got, want := q.String(), "203.0.113.7 from 192.0.2.1 iif eth0 oif eth1 mark 0x10"; got != want {
		t.Errorf("Query.String = %q, want %q", got, want)
	}
}

// JSON field names are a contract (snake_case, only growing).
func TestJSON(t *testing.T) {
	for _, c := range []struct {
		v    any
		want string
	}{
		{Route{To: mustPrefix("10.0.0.0/8"), Via: mustAddr("192.0.2.2"), Dev: "eth0", Table: 101, Type: TypeUnicast, Scope: ScopeGlobal,
			Nexthops: []Nexthop{{Via: mustAddr("192.0.2.3"), Weight: 2}}, Protocol: "boot"},
			`{"to":"10.0.0.0/8","via":"192.0.2.2","dev":"eth0","metric":0,"table":101,"type":"unicast","scope":"global","nexthops":[{"via":"192.0.2.3","weight":2}],"protocol":"boot"}`},
		{Route{To: mustPrefix("198.18.0.0/15"), Type: TypeBlackhole}, `{"to":"198.18.0.0/15","metric":0,"table":0,"type":"blackhole"}`},
		{Rule{Priority: 100, From: mustPrefix("192.0.2.0/25"), Mark: 1, Table: 101, Action: ActionLookup, Invert: true},
			`{"priority":100,"from":"192.0.2.0/25","fwmark":1,"table":101,"action":"lookup","invert":true}`},
		{Decision{To: mustAddr("100.64.0.1"), Type: TypeUnreachable, Err: "no route to host", Errno: "EHOSTUNREACH"},
			`{"to":"100.64.0.1","type":"unreachable","table":0,"error":"no route to host","errno":"EHOSTUNREACH"}`},
	} {
		b, err := json.Marshal(c.v)
		if err != nil {
			t.Fatal(err)
		}
		if string(b) != c.want {
			t.Errorf("json: %s\n want %s", b, c.want)
		}
	}
}

func TestRouteToNetlink(t *testing.T) {
	for _, c := range []struct {
		r    Route
		del  bool
		want netlink.Route
	}{
		{r: Route{To: mustPrefix("203.0.113.0/24"), Via: mustAddr("192.0.2.2"), Table: 101, Metric: 10},
			want: netlink.Route{Family: unix.AF_INET, Dst: ipNet(mustPrefix("203.0.113.0/24")), Gw: net.IP{192, 0, 2, 2}, Table: 101,
				Priority: 10, Type: unix.RTN_UNICAST, Scope: netlink.SCOPE_UNIVERSE}},
		{r: Route{To: mustPrefix("203.0.113.0/24"), Via: mustAddr("192.0.2.2"), Table: 101}, del: true,
			want: netlink.Route{Family: unix.AF_INET, Dst: ipNet(mustPrefix("203.0.113.0/24")), Gw: net.IP{192, 0, 2, 2}, Table: 101,
				Scope: netlink.SCOPE_NOWHERE}},
		{r: Route{To: mustPrefix("10.9.9.9/32"), Type: TypeLocal},
			want: netlink.Route{Family: unix.AF_INET, Dst: ipNet(mustPrefix("10.9.9.9/32")), Table: 255, Type: unix.RTN_LOCAL, Scope: netlink.SCOPE_HOST}},
		{r: Route{To: mustPrefix("10.9.9.9/32"), Type: TypeLocal}, del: true,
			want: netlink.Route{Family: unix.AF_INET, Dst: ipNet(mustPrefix("10.9.9.9/32")), Table: 255, Type: unix.RTN_LOCAL, Scope: netlink.SCOPE_NOWHERE}},
		{r: Route{To: mustPrefix("198.18.0.0/15"), Type: TypeBlackhole, Protocol: "static"},
			want: netlink.Route{Family: unix.AF_INET, Dst: ipNet(mustPrefix("198.18.0.0/15")), Table: 254, Type: unix.RTN_BLACKHOLE,
				Scope: netlink.SCOPE_UNIVERSE, Protocol: unix.RTPROT_STATIC}},
		{r: Route{To: mustPrefix("198.18.0.0/15"), Type: TypeBroadcast, Scope: "host"},
			want: netlink.Route{Family: unix.AF_INET, Dst: ipNet(mustPrefix("198.18.0.0/15")), Table: 255, Type: unix.RTN_BROADCAST, Scope: netlink.SCOPE_HOST}},
		{r: Route{To: mustPrefix("2001:db8::/32"), Type: TypeMulticast},
			want: netlink.Route{Family: unix.AF_INET6, Dst: ipNet(mustPrefix("2001:db8::/32")), Table: 254, Type: unix.RTN_MULTICAST, Scope: netlink.SCOPE_UNIVERSE}},
		{r: Route{To: mustPrefix("10.0.0.0/8"), Via: mustAddr("2001:db8::1"), Src: mustAddr("192.0.2.1"), Onlink: true},
			want: netlink.Route{Family: unix.AF_INET, Dst: ipNet(mustPrefix("10.0.0.0/8")), Table: 254, Type: unix.RTN_UNICAST,
				Via: &netlink.Via{AddrFamily: unix.AF_INET6, Addr: net.ParseIP("2001:db8::1")}, Src: net.IP{192, 0, 2, 1},
				Flags: unix.RTNH_F_ONLINK, Scope: netlink.SCOPE_UNIVERSE}},
		{r: Route{To: mustPrefix("0.0.0.0/0"), Nexthops: []Nexthop{{Via: mustAddr("192.0.2.2")}, {Via: mustAddr("192.0.2.3"), Weight: 4, Onlink: true}}},
			want: netlink.Route{Family: unix.AF_INET, Dst: ipNet(mustPrefix("0.0.0.0/0")), Table: 254, Type: unix.RTN_UNICAST, Scope: netlink.SCOPE_UNIVERSE,
				MultiPath: []*netlink.NexthopInfo{{Gw: net.IP{192, 0, 2, 2}}, {Gw: net.IP{192, 0, 2, 3}, Hops: 3, Flags: unix.RTNH_F_ONLINK}}}},
	} {
		got, err := toNetlink(nil, c.r, c.del)
		if err != nil {
			t.Errorf("toNetlink(%s, del %v): %v", c.r, c.del, err)
			continue
		}
		if !reflect.DeepEqual(*got, c.want) {
			t.Errorf("toNetlink(%s, del %v):\n got  %+v\n want %+v", c.r, c.del, *got, c.want)
		}
	}
}

func TestRouteCheck(t *testing.T) {
	for _, c := range []struct {
		r    Route
		want string // "" valid
	}{
		{Route{To: mustPrefix("10.0.0.0/8"), Via: mustAddr("192.0.2.2")}, ""},
		{Route{}, "no destination"},
		{Route{To: mustPrefix("10.0.0.1/8")}, "host bits"},
		{Route{To: mustPrefix("::ffff:10.0.0.0/104")}, "IPv4-mapped"},
		{Route{Family: unix.AF_INET6, To: mustPrefix("10.0.0.0/8")}, "does not match"},
		{Route{To: mustPrefix("10.0.0.0/8"), Src: mustAddr("2001:db8::1")}, "src"},
		{Route{To: mustPrefix("2001:db8::/32"), Via: mustAddr("192.0.2.2")}, "is not inet6"},
		{Route{To: mustPrefix("2001:db8::/32"), Via: mustAddr("fe80::1")}, "needs dev"},
		{Route{To: mustPrefix("10.0.0.0/8"), Via: mustAddr("fe80::1")}, "needs dev"},
		{Route{To: mustPrefix("10.0.0.0/8"), Via: mustAddr("::ffff:192.0.2.2")}, "IPv4-mapped"},
		{Route{To: mustPrefix("10.0.0.0/8"), Dev: "eth0", Nexthops: []Nexthop{{Via: mustAddr("192.0.2.2")}}}, "each nexthop"},
		{Route{To: mustPrefix("10.0.0.0/8"), Nexthops: []Nexthop{{Via: mustAddr("192.0.2.2"), Weight: 257}}}, "weight"},
		{Route{To: mustPrefix("10.0.0.0/8"), Nexthops: []Nexthop{{Weight: 2}}}, "needs via or dev"},
		{Route{To: mustPrefix("2001:db8::/32"), Nexthops: []Nexthop{{Via: mustAddr("fe80::1")}}}, "nexthop 1: via fe80::1: a link-local gateway needs dev"},
	} {
		err := c.r.check()
		switch {
		case c.want == "" && err != nil:
			t.Errorf("check(%s): %v", c.r, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
			t.Errorf("check(%s) = %v, want an error with %q", c.r, err, c.want)
		}
	}
	for _, r := range []Route{
		{To: mustPrefix("10.0.0.0/8"), Type: "bogus"},
		{To: mustPrefix("10.0.0.0/8"), Scope: "bogus"},
		{To: mustPrefix("10.0.0.0/8"), Protocol: "bogus"},
	} {
		if _, err := toNetlink(nil, r, false); err == nil || !strings.Contains(err.Error(), "bogus") {
			t.Errorf("toNetlink(%+v) = %v", r, err)
		}
	}
}

func TestRuleToNetlink(t *testing.T) {
	mask := func(m uint32) *uint32 { return &m }
	base := func(f func(r *netlink.Rule)) netlink.Rule {
		r := netlink.NewRule()
		f(r)
		return *r
	}
	for _, c := range []struct {
		r    Rule
		del  bool
		want netlink.Rule
	}{
		{r: Rule{Priority: 100, From: mustPrefix("192.0.2.0/25"), Table: 101}, want: base(func(r *netlink.Rule) {
			r.Family, r.Priority, r.Src, r.Table, r.Type = unix.AF_INET, 100, ipNet(mustPrefix("192.0.2.0/25")), 101, unix.FR_ACT_TO_TBL
		})},
		{r: Rule{Family: unix.AF_INET6, Mark: 7}, want: base(func(r *netlink.Rule) {
			r.Family, r.Mark, r.Mask, r.Table, r.Type = unix.AF_INET6, 7, mask(0xffffffff), 254, unix.FR_ACT_TO_TBL
		})},
		{r: Rule{Family: unix.AF_INET, HasMark: true, Mask: 0xf, HasPriority: true, Action: ActionBlackhole, Invert: true}, want: base(func(r *netlink.Rule) {
			r.Family, r.Mask, r.Priority, r.Type, r.Invert = unix.AF_INET, mask(0xf), 0, unix.FR_ACT_BLACKHOLE, true
		})},
		{r: Rule{To: mustPrefix("2001:db8::/32"), IIF: "eth0", OIF: "eth1", Table: 70000}, want: base(func(r *netlink.Rule) {
			r.Family, r.Dst, r.IifName, r.OifName, r.Table, r.Type = unix.AF_INET6, ipNet(mustPrefix("2001:db8::/32")), "eth0", "eth1", 70000, unix.FR_ACT_TO_TBL
		})},
		// Deleting: no table, no action unless given.
		{r: Rule{Family: unix.AF_INET, Priority: 100}, del: true, want: base(func(r *netlink.Rule) {
			r.Family, r.Priority = unix.AF_INET, 100
		})},
		{r: Rule{Family: unix.AF_INET, Priority: 100, Action: ActionProhibit}, del: true, want: base(func(r *netlink.Rule) {
			r.Family, r.Priority, r.Type = unix.AF_INET, 100, unix.FR_ACT_PROHIBIT
		})},
		// A /0 prefix is "all": no attribute.
		{r: Rule{From: mustPrefix("0.0.0.0/0"), Table: 5}, want: base(func(r *netlink.Rule) {
			r.Family, r.Table, r.Type = unix.AF_INET, 5, unix.FR_ACT_TO_TBL
		})},
	} {
		got, err := c.r.toNetlink(c.del)
		if err != nil {
			t.Errorf("toNetlink(%s): %v", c.r, err)
			continue
		}
		if !reflect.DeepEqual(*got, c.want) {
			t.Errorf("toNetlink(%s, del %v):\n got  %+v\n want %+v", c.r, c.del, *got, c.want)
		}
	}
	for _, c := range []struct {
		r    Rule
		want string
	}{
		{Rule{Priority: 1}, "no family"},
		{Rule{From: mustPrefix("10.0.0.0/8"), To: mustPrefix("2001:db8::/32")}, "to 2001:db8::/32 is not inet"},
		{Rule{From: mustPrefix("10.0.0.1/8")}, "host bits"},
		{Rule{From: mustPrefix("::ffff:10.0.0.0/104")}, "is not inet6"},
		{Rule{Family: unix.AF_INET, Action: ActionUnreachable, Table: 5}, "table 5 with action unreachable"},
		{Rule{Family: unix.AF_INET, Action: "goto"}, `unknown rule action "goto"`},
	} {
		if _, err := c.r.toNetlink(false); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("toNetlink(%+v) = %v, want an error with %q", c.r, err, c.want)
		}
	}
}

// ruleMsg builds an RTM_NEWRULE payload.
func ruleMsg(hdr unix.RtMsg, attrs ...*nl.RtAttr) []byte {
	b := (&nl.RtMsg{RtMsg: hdr}).Serialize()
	for _, a := range attrs {
		b = append(b, a.Serialize()...)
	}
	return b
}

func u32(v uint32) []byte { return binary.NativeEndian.AppendUint32(nil, v) }

func TestDecodeRule(t *testing.T) {
	m := ruleMsg(unix.RtMsg{Family: unix.AF_INET, Src_len: 25, Dst_len: 24, Table: 101, Type: unix.FR_ACT_TO_TBL, Flags: netlink.FibRuleInvert},
		nl.NewRtAttr(nl.FRA_PRIORITY, u32(100)),
		nl.NewRtAttr(nl.FRA_SRC, []byte{192, 0, 2, 128}),
		nl.NewRtAttr(nl.FRA_DST, []byte{203, 0, 113, 0}),
		nl.NewRtAttr(nl.FRA_FWMARK, u32(0x10)),
		nl.NewRtAttr(nl.FRA_FWMASK, u32(0xff)),
		nl.NewRtAttr(nl.FRA_IIFNAME, []byte("eth1\x00")),
		nl.NewRtAttr(nl.FRA_OIFNAME, []byte("eth0\x00")),
		nl.NewRtAttr(nl.FRA_TABLE, u32(70000)),
		nl.NewRtAttr(nl.FRA_PROTOCOL, []byte{unix.RTPROT_STATIC}),
	)
	got, err := decodeRule(m)
	if err != nil {
		t.Fatal(err)
	}
	want := Rule{Family: unix.AF_INET, Priority: 100, HasPriority: true, From: mustPrefix("192.0.2.128/25"), To: mustPrefix("203.0.113.0/24"),
		Mark: 0x10, Mask: 0xff, HasMark: true, IIF: "eth1", OIF: "eth0", Table: 70000, Action: ActionLookup, Invert: true, Protocol: "static"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("decodeRule:\n got  %+v\n want %+v", got, want)
	}
	// The kernel's default rule: priority 0 has no FRA_PRIORITY.
	got, err = decodeRule(ruleMsg(unix.RtMsg{Family: unix.AF_INET6, Table: 255, Type: unix.FR_ACT_TO_TBL}, nl.NewRtAttr(nl.FRA_TABLE, u32(255))))
	if err != nil || got != (Rule{Family: unix.AF_INET6, HasPriority: true, Table: 255, Action: ActionLookup}) {
		t.Errorf("default rule: %+v, %v", got, err)
	}
	// A full mask lists as 0; a blackhole rule has no table.
	got, err = decodeRule(ruleMsg(unix.RtMsg{Family: unix.AF_INET, Type: unix.FR_ACT_BLACKHOLE},
		nl.NewRtAttr(nl.FRA_FWMASK, u32(0xffffffff)), nl.NewRtAttr(nl.FRA_TABLE, u32(0))))
	if err != nil || got != (Rule{Family: unix.AF_INET, HasPriority: true, HasMark: true, Action: ActionBlackhole}) {
		t.Errorf("blackhole rule: %+v, %v", got, err)
	}
	// Malformed messages are errors, never panics.
	for name, m := range map[string][]byte{
		"short":         {1, 2, 3},
		"priority":      ruleMsg(unix.RtMsg{Family: unix.AF_INET}, nl.NewRtAttr(nl.FRA_PRIORITY, []byte{1})),
		"table":         ruleMsg(unix.RtMsg{Family: unix.AF_INET}, nl.NewRtAttr(nl.FRA_TABLE, []byte{1})),
		"fwmark":        ruleMsg(unix.RtMsg{Family: unix.AF_INET}, nl.NewRtAttr(nl.FRA_FWMARK, nil)),
		"fwmask":        ruleMsg(unix.RtMsg{Family: unix.AF_INET}, nl.NewRtAttr(nl.FRA_FWMASK, []byte{1, 2})),
		"src family":    ruleMsg(unix.RtMsg{Family: unix.AF_INET6, Src_len: 8}, nl.NewRtAttr(nl.FRA_SRC, []byte{10, 0, 0, 0})),
		"src len":       ruleMsg(unix.RtMsg{Family: unix.AF_INET, Src_len: 33}, nl.NewRtAttr(nl.FRA_SRC, []byte{10, 0, 0, 0})),
		"dst bytes":     ruleMsg(unix.RtMsg{Family: unix.AF_INET, Dst_len: 8}, nl.NewRtAttr(nl.FRA_DST, []byte{10, 0, 0})),
		"protocol":      ruleMsg(unix.RtMsg{Family: unix.AF_INET}, nl.NewRtAttr(nl.FRA_PROTOCOL, nil)),
		"attr overflow": append(ruleMsg(unix.RtMsg{Family: unix.AF_INET}), 200, 0, 6, 0),
	} {
		if r, err := decodeRule(m); err == nil {
			t.Errorf("%s: decoded %+v", name, r)
		}
	}
}

func FuzzDecodeRule(f *testing.F) {
	f.Add(ruleMsg(unix.RtMsg{Family: unix.AF_INET, Src_len: 8, Type: 1}, nl.NewRtAttr(nl.FRA_SRC, []byte{10, 0, 0, 0}), nl.NewRtAttr(nl.FRA_PRIORITY, u32(5))))
	f.Add(ruleMsg(unix.RtMsg{Family: unix.AF_INET6}, nl.NewRtAttr(nl.FRA_IIFNAME, []byte("x"))))
	f.Fuzz(func(t *testing.T, m []byte) {
		r, err := decodeRule(m)
		if err == nil {
			_ = r.String()
		}
	})
}

func TestWords(t *testing.T) {
	for w, n := range typeNumbers {
		if got, err := typeNumber(w); err != nil || got != n || typeWord(n) != w {
			t.Errorf("type %q: %d %v %q", w, got, err, typeWord(n))
		}
	}
	if n, _ := typeNumber(""); n != unix.RTN_UNICAST {
		t.Errorf(`typeNumber("") = %d`, n)
	}
	if typeWord(200) != "200" || typeWord(0) != "none" {
		t.Errorf("typeWord(200) = %q, typeWord(0) = %q", typeWord(200), typeWord(0))
	}
	for _, w := range []string{ScopeGlobal, "site", ScopeLink, ScopeHost, "nowhere"} {
		if n, err := scopeNumber(w); err != nil || scopeWord(n) != w {
			t.Errorf("scope %q: %d %v", w, n, err)
		}
	}
	if n, err := scopeNumber("universe"); err != nil || n != 0 {
		t.Errorf("universe: %d %v", n, err)
	}
	if n, err := scopeNumber("100"); err != nil || n != 100 || scopeWord(100) != "100" {
		t.Errorf("scope 100: %d %v", n, err)
	}
	for n, w := range protocolWords {
		if got, err := protocolNumber(w); err != nil || got != n || protocolWord(n) != w {
			t.Errorf("protocol %q: %d %v", w, got, err)
		}
	}
	if n, err := protocolNumber("77"); err != nil || n != 77 || protocolWord(77) != "77" {
		t.Errorf("protocol 77: %d %v", n, err)
	}
	for w, n := range actionNumbers {
		if got, err := actionNumber(w); err != nil || got != n || actionWord(n) != w {
			t.Errorf("action %q: %d %v", w, got, err)
		}
	}
	if actionWord(unix.FR_ACT_GOTO) != "goto" || actionWord(unix.FR_ACT_NOP) != "nop" || actionWord(99) != "99" {
		t.Error("actionWord of goto/nop/99")
	}
	for tb, w := range map[uint32]string{253: "default", 254: "main", 255: "local", 101: "101", 70000: "70000"} {
		if TableName(tb) != w {
			t.Errorf("TableName(%d) = %q", tb, TableName(tb))
		}
	}
}

// The kernel's refusals that are decisions (see Decision); EINVAL needs the
// namespace (TestRootGetPolicy, TestRootGetIIF).
func TestRefusal(t *testing.T) {
	var c *Conn // not touched for these errnos
	for errno, want := range map[unix.Errno]string{
		unix.ENETUNREACH:  TypeUnreachable,
		unix.EHOSTUNREACH: TypeUnreachable,
		unix.EACCES:       TypeProhibit,
		unix.ENODEV:       "",
		unix.EPERM:        "",
	} {
		typ, err := c.refusal(bg, Query{To: mustAddr("192.0.2.1")}, errno)
		if typ != want || (want == "") != errors.Is(err, errno) {
			t.Errorf("refusal(%v) = %q, %v; want %q", errno, typ, err, want)
		}
	}
}

func TestQueryCheck(t *testing.T) {
	for _, c := range []struct {
		q    Query
		want string
	}{
		{Query{To: mustAddr("192.0.2.1")}, ""},
		{Query{To: mustAddr("2001:db8::1"), IIF: "eth0"}, ""},
		{Query{}, "no destination"},
		{Query{To: mustAddr("::ffff:192.0.2.1")}, "IPv4-mapped"},
		{Query{To: mustAddr("192.0.2.1"), From: mustAddr("2001:db8::1")}, "is not inet"},
		{Query{To: mustAddr("192.0.2.1"), IIF: "eth0"}, "needs from"},
	} {
		err := c.q.check()
		if (c.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), c.want)) {
			t.Errorf("check(%s) = %v, want %q", c.q, err, c.want)
		}
	}
}

func TestSortRoutes(t *testing.T) {
	rs := []Route{
		{To: mustPrefix("10.0.0.0/8"), Table: 255},
		{To: mustPrefix("2001:db8::/32"), Table: 254, Metric: 5},
		{To: mustPrefix("2001:db8::/32"), Table: 254, Metric: 1},
		{To: mustPrefix("10.0.0.0/16"), Table: 254},
		{To: mustPrefix("10.0.0.0/8"), Table: 254},
		{To: mustPrefix("0.0.0.0/0"), Table: 254},
		{To: mustPrefix("203.0.113.0/24"), Table: 101},
	}
	sortRoutes(rs)
	var got []string
	for _, r := range rs {
		got = append(got, r.String())
	}
	want := []string{"203.0.113.0/24 table 101", "default", "10.0.0.0/8", "10.0.0.0/16", "2001:db8::/32 metric 1", "2001:db8::/32 metric 5", "10.0.0.0/8 table local"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("sorted: %q\nwant    %q", got, want)
	}
}
