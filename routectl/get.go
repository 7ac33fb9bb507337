package routectl

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"syscall"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// Get asks the kernel for its route decision for q: RTM_GETROUTE with
// RTM_F_LOOKUP_TABLE, so the table that decided is reported. A refusal
// (no route, unreachable, prohibit, blackhole, martian) is a Decision with
// Err set and a nil error; see Decision for what the kernel answers.
func (c *Conn) Get(ctx context.Context, q Query) (*Decision, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("route get %s: %w", q, err)
	}
	if err := q.check(); err != nil {
		return nil, fmt.Errorf("route get %s: %w", q, err)
	}
	d := &Decision{To: q.To, From: q.From, IIF: q.IIF, Mark: q.Mark}
	var refused syscall.Errno // the kernel's answer, when it is an errno
	err := c.withHandle(func(h *netlink.Handle) error {
		opts := &netlink.RouteGetOptions{Mark: q.Mark}
		var err error
		if q.IIF != "" {
			if opts.IifIndex, err = linkIndex(h, q.IIF); err != nil {
				return fmt.Errorf("iif: %w", err)
			}
		}
		if q.OIF != "" {
			if opts.OifIndex, err = linkIndex(h, q.OIF); err != nil {
				return fmt.Errorf("oif: %w", err)
			}
		}
		if q.From.IsValid() {
			opts.SrcAddr = net.IP(q.From.AsSlice())
		}
		rs, err := h.RouteGetWithOptions(net.IP(q.To.AsSlice()), opts)
		if err != nil {
			if errors.As(err, &refused) {
				return nil
			}
			return err
		}
		if len(rs) == 0 {
			return errors.New("the kernel answered nothing")
		}
		nr := rs[0]
		d.Type = typeWord(uint8(nr.Type))
		d.Via = gateway(nr.Gw, nr.Via)
		d.Table = uint32(nr.Table)
		if nr.Src != nil {
			d.Src = addrFrom(nr.Src)
		} else if q.IIF == "" {
			// The kernel leaves RTA_PREFSRC out when it equals the
			// requested source.
			d.Src = q.From
		}
		if nr.LinkIndex != 0 {
			l, err := h.LinkByIndex(nr.LinkIndex)
			if err != nil {
				d.Dev = fmt.Sprintf("if%d", nr.LinkIndex)
			} else {
				d.Dev = l.Attrs().Name
			}
		}
		return nil
	})
	if err == nil && refused != 0 {
		var typ string
		if typ, err = c.refusal(ctx, q, refused); err == nil {
			d.Type, d.Err, d.Errno = typ, refused.Error(), unix.ErrnoName(refused)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("route get %s: %w", q, err)
	}
	return d, nil
}

// refusal maps the kernel's refusal of q to a Decision type, or returns
// errno when it is a failure of the query itself (see Decision).
func (c *Conn) refusal(ctx context.Context, q Query, errno syscall.Errno) (string, error) {
	switch errno {
	case unix.ENETUNREACH, unix.EHOSTUNREACH:
		return TypeUnreachable, nil
	case unix.EACCES:
		return TypeProhibit, nil
	case unix.EINVAL:
		bh, err := c.blackholeFor(ctx, q)
		switch {
		case err != nil:
			return "", errors.Join(errno, err)
		case bh:
			return TypeBlackhole, nil
		case q.IIF != "":
			return TypeMartian, nil
		}
	}
	return "", errno
}

// blackholeFor reports whether a blackhole route covering q.To (in any
// table) or a blackhole rule exists in q.To's family: the kernel's EINVAL
// then means blackhole.
func (c *Conn) blackholeFor(ctx context.Context, q Query) (bool, error) {
	fam := familyOf(q.To)
	rules, err := c.Rules(ctx, fam)
	if err != nil {
		return false, err
	}
	for _, r := range rules {
		if r.Action == ActionBlackhole {
			return true, nil
		}
	}
	routes, err := c.Routes(ctx, Filter{Family: fam})
	if err != nil {
		return false, err
	}
	for _, r := range routes {
		if r.Type == TypeBlackhole && r.To.Contains(q.To) {
			return true, nil
		}
	}
	return false, nil
}

// check refuses a query the kernel would answer with a misleading error.
func (q Query) check() error {
	if !q.To.IsValid() {
		return errors.New("no destination")
	}
	if q.To.Is4In6() {
		return errors.New("destination is an IPv4-mapped IPv6 address")
	}
	if q.From.IsValid() && familyOf(q.From) != familyOf(q.To) {
		return fmt.Errorf("from %s is not %s", q.From, familyWord(familyOf(q.To)))
	}
	if q.IIF != "" && q.To.Is4() && !q.From.IsValid() {
		return errors.New("an IPv4 query with iif needs from")
	}
	return nil
}

// String is q in `ip route get` syntax.
func (q Query) String() string {
	var b strings.Builder
	b.WriteString(q.To.String())
	if q.From.IsValid() {
		b.WriteString(" from " + q.From.String())
	}
	if q.IIF != "" {
		b.WriteString(" iif " + q.IIF)
	}
	if q.OIF != "" {
		b.WriteString(" oif " + q.OIF)
	}
	if q.Mark != 0 {
		b.WriteString(" mark " + hex(q.Mark))
	}
	return b.String()
}

// String prints d as `ip route get` does, on one line:
// "203.0.113.7 from 192.0.2.1 via 192.0.2.2 dev eth0 table 101", with the
// type first unless unicast, the table unless main, src unless it is the
// requested source, and iif last. A refusal prints as
// "unreachable 198.51.100.1 from 192.0.2.1: no route to host".
func (d Decision) String() string {
	var b strings.Builder
	if d.Type != "" && d.Type != TypeUnicast {
		b.WriteString(d.Type + " ")
	}
	b.WriteString(d.To.String())
	if d.From.IsValid() {
		b.WriteString(" from " + d.From.String())
	}
	if d.Err != "" {
		if d.IIF != "" {
			b.WriteString(" iif " + d.IIF)
		}
		if d.Mark != 0 {
			b.WriteString(" mark " + hex(d.Mark))
		}
		b.WriteString(": " + d.Err)
		return b.String()
	}
	writeVia(&b, familyOf(d.To), d.Via)
	if d.Dev != "" {
		b.WriteString(" dev " + d.Dev)
	}
	if d.Table != 0 && d.Table != TableMain {
		b.WriteString(" table " + TableName(d.Table))
	}
	if d.Src.IsValid() && d.Src != d.From {
		b.WriteString(" src " + d.Src.String())
	}
	if d.Mark != 0 {
		b.WriteString(" mark " + hex(d.Mark))
	}
	if d.IIF != "" {
		b.WriteString(" iif " + d.IIF)
	}
	return b.String()
}
