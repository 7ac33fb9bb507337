package routectl

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"

	"github.com/netlabdev/netlab/internal/nlattr"
)

// AddRule adds a rule; rules with equal priorities are legal (the kernel
// keeps insertion order). A rule equal to an existing one in every field
// fails with EEXIST (NLM_F_EXCL, as `ip rule add`).
func (c *Conn) AddRule(ctx context.Context, r Rule) error {
	return c.changeRule(ctx, r, "add", (*netlink.Handle).RuleAdd)
}

// DelRule deletes the first rule (in priority order) that matches r. Fields
// left empty match anything (see Rule).
func (c *Conn) DelRule(ctx context.Context, r Rule) error {
	return c.changeRule(ctx, r, "del", (*netlink.Handle).RuleDel)
}

func (c *Conn) changeRule(ctx context.Context, r Rule, verb string, op func(*netlink.Handle, *netlink.Rule) error) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("rule %s: %s: %w", r.spec(), verb, err)
	}
	nr, err := r.toNetlink(verb == "del")
	if err == nil {
		err = c.withHandle(func(h *netlink.Handle) error { return op(h, nr) })
	}
	if err != nil {
		return fmt.Errorf("rule %s: %s: %w", r.spec(), verb, err)
	}
	return nil
}

// family is r's address family: r.Family, else From's or To's.
func (r Rule) family() int {
	switch {
	case r.Family != 0:
		return r.Family
	case r.From.IsValid():
		return familyOf(r.From.Addr())
	}
	return familyOf(r.To.Addr())
}

// toNetlink converts r for RuleAdd (del false) or RuleDel (del true). The
// library's Rule needs NewRule's -1s for "unset", and takes the action as
// its Type.
func (r Rule) toNetlink(del bool) (*netlink.Rule, error) {
	fam := r.family()
	if fam != unix.AF_INET && fam != unix.AF_INET6 {
		return nil, errors.New("no family (give Family, From or To)")
	}
	for _, p := range []struct {
		what string
		p    netip.Prefix
	}{{"from", r.From}, {"to", r.To}} {
		if !p.p.IsValid() {
			continue
		}
		if familyOf(p.p.Addr()) != fam || p.p.Addr().Is4In6() {
			return nil, fmt.Errorf("%s %s is not %s", p.what, p.p, familyWord(fam))
		}
		if p.p != p.p.Masked() {
			return nil, fmt.Errorf("%s %s has host bits set (%s)", p.what, p.p, p.p.Masked())
		}
	}
	act, err := actionNumber(r.Action)
	if err != nil {
		return nil, err
	}
	if r.Table != 0 && act != unix.FR_ACT_TO_TBL {
		return nil, fmt.Errorf("table %d with action %s", r.Table, r.Action)
	}
	nr := netlink.NewRule()
	nr.Family = fam
	nr.Table = int(r.Table)
	if !del {
		nr.Type = act
		if act == unix.FR_ACT_TO_TBL && r.Table == 0 {
			nr.Table = int(TableMain)
		}
	} else if r.Action != "" {
		nr.Type = act
	}
	if r.hasPriority() {
		nr.Priority = int(r.Priority)
	}
	if r.From.IsValid() && r.From.Bits() > 0 {
		nr.Src = ipNet(r.From)
	}
	if r.To.IsValid() && r.To.Bits() > 0 {
		nr.Dst = ipNet(r.To)
	}
	nr.IifName = r.IIF
	nr.OifName = r.OIF
	if r.hasMark() {
		nr.Mark = r.Mark
		mask := r.Mask
		if mask == 0 {
			mask = 0xffffffff
		}
		nr.Mask = &mask
	}
	nr.Invert = r.Invert
	return nr, nil
}

func (r Rule) hasMark() bool { return r.HasMark || r.Mark != 0 || r.Mask != 0 }

// Rules lists rules of family (0 for both) in priority order; rules of
// equal priority stay in the kernel's order (insertion order), IPv4 before
// IPv6.
func (c *Conn) Rules(ctx context.Context, family int) ([]Rule, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("list rules: %w", err)
	}
	if family != 0 && family != unix.AF_INET && family != unix.AF_INET6 {
		return nil, fmt.Errorf("list rules: unsupported family %d", family)
	}
	// A raw dump: the library's RuleList does not decode the action.
	msgs, err := c.dump(unix.RTM_GETRULE, &nl.RtMsg{RtMsg: unix.RtMsg{Family: uint8(family)}}, unix.RTM_NEWRULE)
	if err != nil {
		return nil, fmt.Errorf("list rules: %w", err)
	}
	var out []Rule
	for _, m := range msgs {
		r, err := decodeRule(m)
		if err != nil {
			return nil, fmt.Errorf("list rules: %w", err)
		}
		if r.Family == unix.AF_INET || r.Family == unix.AF_INET6 {
			out = append(out, r)
		}
	}
	slices.SortStableFunc(out, func(a, b Rule) int {
		return cmp.Or(cmp.Compare(a.Priority, b.Priority), cmp.Compare(a.Family, b.Family))
	})
	return out, nil
}

// decodeRule decodes one RTM_NEWRULE payload: a struct fib_rule_hdr (laid
// out like struct rtmsg, with the action where rtmsg has its type)
// followed by FRA_* attributes.
func decodeRule(m []byte) (Rule, error) {
	if len(m) < unix.SizeofRtMsg {
		return Rule{}, fmt.Errorf("short rule message (%d bytes)", len(m))
	}
	hdr := nl.DeserializeRtMsg(m)
	attrs, err := nlattr.Parse(m[unix.SizeofRtMsg:])
	if err != nil {
		return Rule{}, fmt.Errorf("rule attributes: %w", err)
	}
	r := Rule{
		Family:      int(hdr.Family),
		HasPriority: true,
		Table:       uint32(hdr.Table),
		Action:      actionWord(hdr.Type),
		Invert:      hdr.Flags&netlink.FibRuleInvert != 0,
	}
	bad := func(what string) error { return fmt.Errorf("rule attribute %s: bad length", what) }
	u32 := func(b []byte) (uint32, bool) {
		if len(b) < 4 {
			return 0, false
		}
		return nl.NativeEndian().Uint32(b[:4]), true
	}
	for _, a := range attrs {
		v := a.Value
		switch a.Type {
		case nl.FRA_PRIORITY:
			p, ok := u32(v)
			if !ok {
				return Rule{}, bad("priority")
			}
			r.Priority = p
		case nl.FRA_TABLE:
			t, ok := u32(v)
			if !ok {
				return Rule{}, bad("table")
			}
			r.Table = t
		case nl.FRA_SRC:
			if r.From, err = rulePrefix(v, hdr.Src_len, hdr.Family); err != nil {
				return Rule{}, fmt.Errorf("rule attribute from: %w", err)
			}
		case nl.FRA_DST:
			if r.To, err = rulePrefix(v, hdr.Dst_len, hdr.Family); err != nil {
				return Rule{}, fmt.Errorf("rule attribute to: %w", err)
			}
		case nl.FRA_FWMARK:
			mk, ok := u32(v)
			if !ok {
				return Rule{}, bad("fwmark")
			}
			r.Mark, r.HasMark = mk, true
		case nl.FRA_FWMASK:
			mk, ok := u32(v)
			if !ok {
				return Rule{}, bad("fwmask")
			}
			r.HasMark = true
			if mk != 0xffffffff {
				r.Mask = mk
			}
		case nl.FRA_IIFNAME:
			r.IIF = strings.TrimRight(string(v), "\x00")
		case nl.FRA_OIFNAME:
			r.OIF = strings.TrimRight(string(v), "\x00")
		case nl.FRA_PROTOCOL:
			if len(v) < 1 {
				return Rule{}, bad("protocol")
			}
			r.Protocol = protocolWord(v[0])
		}
	}
	if r.Action != ActionLookup {
		r.Table = 0
	}
	return r, nil
}

// rulePrefix decodes FRA_SRC or FRA_DST of a rule of family fam.
func rulePrefix(v []byte, bits uint8, fam uint8) (netip.Prefix, error) {
	a := addrFrom(v)
	if !a.IsValid() || familyOf(a) != int(fam) || int(bits) > a.BitLen() {
		return netip.Prefix{}, fmt.Errorf("%d bytes, /%d in family %d", len(v), bits, fam)
	}
	return netip.PrefixFrom(a, int(bits)), nil
}

// String prints r as `ip rule show` does: "100:\tfrom 192.0.2.0/25 lookup
// 101" (no "N:\t" when the priority is left to the kernel).
func (r Rule) String() string {
	if !r.hasPriority() {
		return r.body()
	}
	return fmt.Sprintf("%d:\t%s", r.Priority, r.body())
}

// spec is r in `ip rule add` syntax, naming it in errors.
func (r Rule) spec() string {
	if !r.hasPriority() {
		return r.body()
	}
	return fmt.Sprintf("pref %d %s", r.Priority, r.body())
}

func (r Rule) hasPriority() bool { return r.HasPriority || r.Priority != 0 }

// body is the selector and action part, in ip's order.
func (r Rule) body() string {
	var b strings.Builder
	if r.Invert {
		b.WriteString("not ")
	}
	if r.From.IsValid() && r.From.Bits() > 0 {
		b.WriteString("from " + prefixWord(r.From, false))
	} else {
		b.WriteString("from all")
	}
	if r.To.IsValid() && r.To.Bits() > 0 {
		b.WriteString(" to " + prefixWord(r.To, false))
	}
	if r.hasMark() {
		b.WriteString(" fwmark " + hex(r.Mark))
		if r.Mask != 0 && r.Mask != 0xffffffff {
			b.WriteString("/" + hex(r.Mask))
		}
	}
	if r.IIF != "" {
		b.WriteString(" iif " + r.IIF)
	}
	if r.OIF != "" {
		b.WriteString(" oif " + r.OIF)
	}
	switch r.Action {
	case "", ActionLookup:
		t := r.Table
		if t == 0 {
			t = TableMain
		}
		b.WriteString(" lookup " + TableName(t))
	default:
		b.WriteString(" " + r.Action)
	}
	return b.String()
}

// hex prints like C's %#x: 0x-prefixed, except 0.
func hex(v uint32) string {
	if v == 0 {
		return "0"
	}
	return fmt.Sprintf("%#x", v)
}
