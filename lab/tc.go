package lab

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/vishvananda/netlink"

	"github.com/netlabdev/netlab/topology"
)

// qdiscOps plans a link's shape (tbf) or impairment (netem) as the root
// qdisc of both ends: each end shapes what it sends, so both directions are
// shaped, as a link-level setting suggests.
func qdiscOps(t *topology.Topo, l *topology.RLink) []Op {
	if l.Spec == nil || (l.Spec.Shape == nil && l.Spec.Impair == nil) {
		return nil
	}
	var q Qdisc
	if s := l.Spec.Shape; s != nil {
		tbf, err := s.TBF(t.LinkMTU(l))
		q = Qdisc{TBF: &tbf, Shape: s, Err: err}
	} else {
		nm, err := l.Spec.Impair.Netem()
		q = Qdisc{Netem: &nm, Err: err}
	}
	var out []Op
	for _, ep := range []topology.Endpoint{l.A, l.B} {
		n := t.Node(ep.Node)
		out = append(out, Op{Kind: OpQdisc, Node: n.Name, Netns: n.Netns, Iface: n.Iface(ep.Iface), Link: l, Qdisc: &q})
	}
	return out
}

// Qdisc is the root qdisc of an OpQdisc: a tbf (TBF, from the lab's Shape)
// or a netem; Err is a resolution error (none for a validated lab).
type Qdisc struct {
	TBF   *topology.TBF
	Shape *topology.Shape
	Netem *topology.Netem
	Err   error
}

// qdiscLine prints an OpQdisc as the tc command that does the same.
func qdiscLine(o Op) string {
	q := o.Qdisc
	if q.Err != nil {
		return fmt.Sprintf("# node %s: link %s-%s: %v", o.Node, o.Link.A, o.Link.B, q.Err)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "tc -n %s qdisc add dev %s root ", o.Netns, o.Iface.Name)
	if t := q.TBF; t != nil {
		burst := strconv.FormatUint(uint64(t.Burst), 10) + "b"
		if !t.BurstDefault {
			burst = strings.ToLower(strings.TrimSpace(q.Shape.Burst))
		}
		fmt.Fprintf(&b, "tbf rate %s burst %s latency %s", strings.ToLower(strings.TrimSpace(q.Shape.Rate)), burst, topology.TCTime(t.Latency))
		var defs []string
		if t.BurstDefault {
			defs = append(defs, "burst (10 ms at the rate, at least 2 frames)")
		}
		if t.LatencyDefault {
			defs = append(defs, "latency")
		}
		if len(defs) > 0 {
			b.WriteString("  # netlab default " + strings.Join(defs, ", "))
		}
		return b.String()
	}
	n := q.Netem
	b.WriteString("netem")
	if n.Delay > 0 {
		fmt.Fprintf(&b, " delay %s", topology.TCTime(n.Delay))
		if n.Jitter > 0 {
			fmt.Fprintf(&b, " %s", topology.TCTime(n.Jitter))
		}
	}
	if n.Loss > 0 {
		fmt.Fprintf(&b, " loss %s%%", strconv.FormatFloat(n.Loss, 'f', -1, 64))
	}
	return b.String()
}

// qdisc builds the netlink qdisc of an OpQdisc for the link with index
// ifindex: a tbf in tc's units (rate in bytes per second, the bucket as
// the time it takes to send burst bytes at the rate, in psched ticks, and
// the queue limit in bytes), or a netem.
func (q *Qdisc) qdisc(ifindex int) netlink.Qdisc {
	attrs := netlink.QdiscAttrs{LinkIndex: ifindex, Handle: netlink.MakeHandle(1, 0), Parent: netlink.HANDLE_ROOT}
	if t := q.TBF; t != nil {
		rate := t.Rate / 8
		return &netlink.Tbf{QdiscAttrs: attrs, Rate: rate, Limit: t.Limit, Buffer: netlink.Xmittime(rate, t.Burst)}
	}
	n := q.Netem
	return netlink.NewNetem(attrs, netlink.NetemQdiscAttrs{
		Latency: uint32(n.Delay.Microseconds()), Jitter: uint32(n.Jitter.Microseconds()), Loss: float32(n.Loss),
	})
}

// setQdisc applies an OpQdisc in the end's namespace. The qdisc dies with
// its interface, so nothing is journaled.
func (a *applier) setQdisc(o Op) error {
	kind := "tbf"
	if o.Qdisc.Netem != nil {
		kind = "netem"
	}
	obj := "interface " + o.Iface.Name
	if o.Qdisc.Err != nil {
		return opErr(o.Node, obj, "add "+kind+" qdisc", o.Qdisc.Err)
	}
	h := a.node(o.Node)
	link, err := h.link(o.Iface.Name)
	if err == nil {
		err = h.nl.QdiscAdd(o.Qdisc.qdisc(link.Attrs().Index))
	}
	return opErr(o.Node, obj, "add "+kind+" qdisc", err)
}
