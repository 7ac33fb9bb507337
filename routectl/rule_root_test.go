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

// ipRule is one rule of `ip -d -j rule show`.
type ipRule struct {
	Priority uint32 `json:"priority"`
	Src      string `json:"src"`
	SrcLen   int    `json:"srclen"`
	Dst      string `json:"dst"`
	DstLen   int    `json:"dstlen"`
	FWMark   string `json:"fwmark"`
	FWMask   string `json:"fwmask"`
	IIF      string `json:"iif"`
	OIF      string `json:"oif"`
	Table    string `json:"table"`
	Action   string `json:"action"`
	Protocol string `json:"protocol"`
}

// asRule is what Rules should say for ip's rule.
func (ir ipRule) asRule(t *testing.T, fam int, not bool) Rule {
	t.Helper()
	r := Rule{Family: fam, Priority: ir.Priority, HasPriority: true, IIF: ir.IIF, OIF: ir.OIF,
		Action: cmpOr(ir.Action, ActionLookup), Invert: not, Protocol: ir.Protocol}
	pfx := func(a string, l int) netip.Prefix {
		if a == "all" || a == "" {
			return netip.Prefix{}
		}
		ad := mustAddr(a)
		if l == 0 {
			l = ad.BitLen()
		}
		return netip.PrefixFrom(ad, l)
	}
	r.From = pfx(ir.Src, ir.SrcLen)
	r.To = pfx(ir.Dst, ir.DstLen)
	hex := func(s string) uint32 {
		v, err := strconv.ParseUint(s, 0, 32)
		if err != nil {
			t.Fatalf("ip fwmark %q", s)
		}
		return uint32(v)
	}
	if ir.FWMark != "" {
		r.HasMark, r.Mark = true, hex(ir.FWMark)
	}
	if ir.FWMask != "" {
		r.HasMark, r.Mask = true, hex(ir.FWMask)
	}
	if ir.Table != "" {
		r.Table = ipTable(t, ir.Table)
	}
	return r
}

// ipRules is `ip -d -j rule show` for IPv4 then IPv6, as Rules values.
func (n *testNS) ipRules(t *testing.T) []Rule {
	t.Helper()
	var out []Rule
	for _, fam := range []int{unix.AF_INET, unix.AF_INET6} {
		flag := map[int]string{unix.AF_INET: "-4", unix.AF_INET6: "-6"}[fam]
		var irs []ipRule
		n.ipJSON(t, &irs, flag, "-d", "rule", "show")
		// "not" is a key with a null value: decode again to see it.
		var raw []map[string]any
		n.ipJSON(t, &raw, flag, "-d", "rule", "show")
		for i, ir := range irs {
			_, not := raw[i]["not"]
			out = append(out, ir.asRule(t, fam, not))
		}
	}
	return out
}

// ruleTextLines is `ip rule show` of both families, one rule a line.
func (n *testNS) ruleTextLines(t *testing.T) []string {
	var lines []string
	for _, fam := range []string{"-4", "-6"} {
		for _, l := range strings.Split(n.ip(t, fam, "rule", "show"), "\n") {
			if l = strings.TrimRight(l, " "); l != "" {
				lines = append(lines, l)
			}
		}
	}
	return lines
}

var kindsOfRules = []Rule{
	{Priority: 100, From: mustPrefix("192.0.2.128/25"), Table: 101},
	{Priority: 100, To: mustPrefix("203.0.113.0/24"), Table: 102}, // equal priority
	{Priority: 110, From: mustPrefix("10.0.0.0/8"), To: mustPrefix("10.1.0.0/16"), IIF: "eth0", OIF: "eth1", Table: 1000},
	{Priority: 120, Family: unix.AF_INET, HasMark: true, Mark: 0x10, Mask: 0xff, Action: ActionUnreachable},
	{Priority: 121, Family: unix.AF_INET, Mark: 7, Table: TableMain},
	{Priority: 122, To: mustPrefix("9.9.9.0/24"), Action: ActionProhibit},
	{Priority: 123, To: mustPrefix("9.9.8.0/24"), Action: ActionBlackhole},
	{Priority: 130, Invert: true, From: mustPrefix("10.0.0.0/8"), Table: 101},
	{Priority: 140, Family: unix.AF_INET, HasMark: true, Table: 101}, // fwmark 0: unmarked packets
	{Priority: 150, From: mustPrefix("192.0.2.7/32"), Table: 101},
	{HasPriority: true, From: mustPrefix("10.5.0.0/16"), Table: 101}, // priority 0
	{Priority: 160, Family: unix.AF_INET},                            // lookup main by default
	{Priority: 100, From: mustPrefix("2001:db8::/64"), Table: 101},
	{Priority: 101, To: mustPrefix("2001:db8:b::/48"), Action: ActionBlackhole},
	{Priority: 102, Family: unix.AF_INET6, IIF: "eth1", Mark: 1, Mask: 0xf, Table: 102},
	{Priority: 103, Invert: true, To: mustPrefix("2001:db8:1::/64"), Action: ActionProhibit},
	{Priority: 104, From: mustPrefix("2001:db8::5/128"), OIF: "eth0", Table: 70000},
}

// listedRule is how r is listed back after AddRule.
func listedRule(r Rule) Rule {
	r.Family = r.family()
	r.HasPriority = true
	if r.Mark != 0 || r.Mask != 0 {
		r.HasMark = true
	}
	if r.Mask == 0xffffffff {
		r.Mask = 0
	}
	r.Action = cmpOr(r.Action, ActionLookup)
	if r.Action == ActionLookup && r.Table == 0 {
		r.Table = TableMain
	}
	r.Protocol = "unspec"
	return r
}

func TestRootRules(t *testing.T) {
	n := routesNS(t, "rules")
	for _, r := range kindsOfRules {
		if err := n.c.AddRule(bg, r); err != nil {
			t.Fatalf("AddRule(%s): %v", r, err)
		}
	}
	got, err := n.c.Rules(bg, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range kindsOfRules {
		w := listedRule(r)
		if !slices.ContainsFunc(got, func(g Rule) bool { return reflect.DeepEqual(g, w) }) {
			t.Errorf("added %q: not listed back as %+v", r, w)
		}
	}
	// The kernel's own rules are there.
	for _, k := range []Rule{
		{Family: unix.AF_INET, HasPriority: true, Priority: 0, Table: TableLocal, Action: ActionLookup, Protocol: "kernel"},
		{Family: unix.AF_INET, HasPriority: true, Priority: 32766, Table: TableMain, Action: ActionLookup, Protocol: "kernel"},
		{Family: unix.AF_INET, HasPriority: true, Priority: 32767, Table: TableDefault, Action: ActionLookup, Protocol: "kernel"},
		{Family: unix.AF_INET6, HasPriority: true, Priority: 0, Table: TableLocal, Action: ActionLookup, Protocol: "kernel"},
		{Family: unix.AF_INET6, HasPriority: true, Priority: 32766, Table: TableMain, Action: ActionLookup, Protocol: "kernel"},
	} {
		if !slices.ContainsFunc(got, func(g Rule) bool { return reflect.DeepEqual(g, k) }) {
			t.Errorf("kernel rule %q not listed", k)
		}
	}
	// Everything, in ip's order within each family, equal to ip's.
	want := n.ipRules(t)
	var got4, got6, want4, want6 []Rule
	for _, r := range got {
		if r.Family == unix.AF_INET {
			got4 = append(got4, r)
		} else {
			got6 = append(got6, r)
		}
	}
	for _, r := range want {
		if r.Family == unix.AF_INET {
			want4 = append(want4, r)
		} else {
			want6 = append(want6, r)
		}
	}
	for _, c := range []struct {
		what      string
		got, want []Rule
	}{{"inet", got4, want4}, {"inet6", got6, want6}} {
		if !reflect.DeepEqual(c.got, c.want) {
			t.Errorf("%s rules differ from ip -j rule show:\n%s", c.what, lineDiff(ruleStrings(c.got), ruleStrings(c.want)))
			for i := range min(len(c.got), len(c.want)) {
				if !reflect.DeepEqual(c.got[i], c.want[i]) {
					t.Errorf("  first difference at %d:\n  got  %+v\n  want %+v", i, c.got[i], c.want[i])
					break
				}
			}
		}
	}
	if !slices.IsSortedFunc(got, func(a, b Rule) int { return int(a.Priority) - int(b.Priority) }) {
		t.Error("Rules not in priority order")
	}
	// Equal priorities keep insertion order.
	i := slices.IndexFunc(got4, func(r Rule) bool { return r.Priority == 100 })
	if i < 0 || i+1 >= len(got4) || got4[i].Table != 101 || got4[i+1].Table != 102 {
		t.Errorf("the two priority-100 rules are not in insertion order: %q", got4)
	}
	// Family filters.
	for fam, w := range map[int][]Rule{unix.AF_INET: got4, unix.AF_INET6: got6} {
		g, err := n.c.Rules(bg, fam)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(g, w) {
			t.Errorf("Rules(%s) = %q, want %q", familyWord(fam), g, w)
		}
	}
	// String is ip rule show's line.
	if ours, ip := ruleStrings(got4, got6), n.ruleTextLines(t); !slices.Equal(ours, ip) {
		t.Errorf("String differs from ip rule show:\n%s", lineDiff(ours, ip))
	}
}

func ruleStrings(rss ...[]Rule) []string {
	var out []string
	for _, rs := range rss {
		for _, r := range rs {
			out = append(out, r.String())
		}
	}
	return out
}

func TestRootRuleAddDel(t *testing.T) {
	n := routesNS(t, "ruledel")
	ctx := bg
	count := func(match func(Rule) bool) int {
		t.Helper()
		rs, err := n.c.Rules(ctx, 0)
		if err != nil {
			t.Fatal(err)
		}
		c := 0
		for _, r := range rs {
			if match(r) {
				c++
			}
		}
		return c
	}
	r := Rule{Priority: 100, From: mustPrefix("192.0.2.128/25"), Table: 101}
	if err := n.c.AddRule(ctx, r); err != nil {
		t.Fatal(err)
	}
	// The same rule again is EEXIST, named like an ip rule add line.
	err := n.c.AddRule(ctx, r)
	if !errors.Is(err, unix.EEXIST) {
		t.Errorf("second AddRule: %v, want EEXIST", err)
	}
	if want := "rule pref 100 from 192.0.2.128/25 lookup 101: add: "; err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Errorf("error %q does not start with %q", err, want)
	}
	// Another table at the same priority is fine.
	r2 := r
	r2.Table = 102
	if err := n.c.AddRule(ctx, r2); err != nil {
		t.Errorf("equal priority, other table: %v", err)
	}
	// Without a priority the kernel picks one below the rule listed second.
	auto := Rule{Family: unix.AF_INET6, Table: 103}
	if err := n.c.AddRule(ctx, auto); err != nil {
		t.Fatal(err)
	}
	rs, _ := n.c.Rules(ctx, unix.AF_INET6)
	if i := slices.IndexFunc(rs, func(r Rule) bool { return r.Table == 103 }); i < 0 || rs[i].Priority != 32765 {
		t.Errorf("rule without priority listed as %q, want priority 32765", rs)
	}
	// Deleting with the wrong table fails; with the rule itself, it goes.
	wrong := r
	wrong.Table = 199
	if err := n.c.DelRule(ctx, wrong); !errors.Is(err, unix.ENOENT) {
		t.Errorf("DelRule(%s): %v, want ENOENT", wrong, err)
	}
	if err := n.c.DelRule(ctx, r); err != nil {
		t.Fatal(err)
	}
	if c := count(func(g Rule) bool { return g.Priority == 100 }); c != 1 {
		t.Errorf("%d rules of priority 100 after one delete, want 1", c)
	}
	// Empty fields match anything: priority alone deletes the other one.
	if err := n.c.DelRule(ctx, Rule{Family: unix.AF_INET, Priority: 100}); err != nil {
		t.Fatal(err)
	}
	if c := count(func(g Rule) bool { return g.Priority == 100 }); c != 0 {
		t.Errorf("%d rules of priority 100 left", c)
	}
	if err := n.c.DelRule(ctx, Rule{Family: unix.AF_INET, Priority: 100}); !errors.Is(err, unix.ENOENT) {
		t.Errorf("DelRule of a deleted rule: %v, want ENOENT", err)
	}
	// A listed rule deletes itself, for every kind.
	for _, k := range kindsOfRules {
		if err := n.c.AddRule(ctx, k); err != nil {
			t.Fatalf("AddRule(%s): %v", k, err)
		}
	}
	before, _ := n.c.Rules(ctx, 0)
	for _, l := range before {
		if l.Protocol == "kernel" {
			continue
		}
		if err := n.c.DelRule(ctx, l); err != nil {
			t.Errorf("DelRule(listed %s): %v", l, err)
		}
	}
	after, _ := n.c.Rules(ctx, 0)
	if len(after) != 5 {
		t.Errorf("after deleting every added rule: %q, want the kernel's five", after)
	}
	if out := n.ip(t, "rule", "show"); strings.Count(out, "\n") != 3 {
		t.Errorf("ip rule show after deleting:\n%s", out)
	}

	// Errors the kernel does not get to see, each naming the rule.
	for _, bad := range []Rule{
		{Priority: 5, Table: 101},
		{Priority: 5, From: mustPrefix("10.0.0.0/8"), To: mustPrefix("2001:db8::/32")},
		{Priority: 5, Family: unix.AF_INET6, From: mustPrefix("10.0.0.0/8")},
		{Priority: 5, From: mustPrefix("10.0.0.1/8")},
		{Priority: 5, From: mustPrefix("10.0.0.0/8"), Action: ActionBlackhole, Table: 101},
		{Priority: 5, From: mustPrefix("10.0.0.0/8"), Action: "goto"},
	} {
		err := n.c.AddRule(ctx, bad)
		if err == nil {
			t.Errorf("AddRule(%s) succeeded", bad)
			continue
		}
		if want := fmt.Sprintf("rule %s: add: ", bad.spec()); !strings.HasPrefix(err.Error(), want) {
			t.Errorf("error %q does not start with %q", err, want)
		}
	}
}
