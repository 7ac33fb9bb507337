package lab

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/netlabdev/netlab/firewall"
	"github.com/netlabdev/netlab/topology"
)

// fwRule turns a validated lab rule into the firewall package's Rule; the
// rule's path in the lab file becomes its comment.
func fwRule(r *topology.FirewallRule, path string) (firewall.Rule, error) {
	out := firewall.Rule{
		Chain: firewall.Chain(r.Chain), Action: firewall.Action(r.Action), Proto: firewall.Proto(r.Proto),
		IIF: r.IIF, OIF: r.OIF, Sport: uint16(r.Sport), Dport: uint16(r.Dport), Comment: path,
	}
	switch topology.FirewallFamily(r) {
	case 4:
		out.Family = firewall.IPv4
	case 6:
		out.Family = firewall.IPv6
	}
	if r.ICMPType != "" {
		t, err := topology.ICMPType(r.Proto, r.ICMPType)
		if err != nil {
			return out, err
		}
		out.ICMPType = &t
	}
	var err error
	if r.Src != "" {
		if out.Src, err = topology.FirewallPrefix(r.Src); err != nil {
			return out, fmt.Errorf("src %w", err)
		}
	}
	if r.Dst != "" {
		if out.Dst, err = topology.FirewallPrefix(r.Dst); err != nil {
			return out, fmt.Errorf("dst %w", err)
		}
	}
	return out, nil
}

// fwOptions are the firewall options of a node: a switch's forward rules
// filter bridged frames.
func fwOptions(n *topology.RNode) firewall.Options {
	return firewall.Options{Bridge: n.Kind == topology.NodeKindBridge}
}

// firewallOps plans a node's firewall: each table its rules need (with its
// base chains), then one op per rule, in the file's order.
func firewallOps(n *topology.RNode) []Op {
	if len(n.Spec.Firewall) == 0 {
		return nil
	}
	opts := fwOptions(n)
	var tables, rules []Op
	seen := map[firewall.Table]bool{}
	for i, r := range n.Spec.Firewall {
		fr, err := fwRule(r, "nodes."+n.Name+".firewall["+strconv.Itoa(i)+"]")
		t := opts.TableOf(fr)
		if !seen[t] {
			seen[t] = true
			tables = append(tables, Op{Kind: OpFirewall, Node: n.Name, Netns: n.Netns, Table: t})
		}
		rules = append(rules, Op{Kind: OpFirewall, Node: n.Name, Netns: n.Netns, Table: t, FW: &fr, FWErr: err, Index: i})
	}
	return append(tables, rules...)
}

// firewallLine prints an OpFirewall as the nft command that does the same,
// quoted for a shell (nft takes the command as one argument).
func firewallLine(o Op) string {
	if o.FW == nil {
		return fmt.Sprintf("ip netns exec %s nft '%s'", o.Netns, firewall.TableStatement(o.Table))
	}
	if o.FWErr != nil {
		return fmt.Sprintf("# node %s: firewall[%d]: %v", o.Node, o.Index, o.FWErr)
	}
	s, err := firewall.Statement(o.Table, *o.FW)
	if err != nil {
		return fmt.Sprintf("# node %s: firewall[%d]: %v", o.Node, o.Index, err)
	}
	return fmt.Sprintf("ip netns exec %s nft '%s'", o.Netns, s)
}

// firewall applies one OpFirewall through the node's firewall connection.
// Rules die with their namespace, so nothing is journaled.
func (a *applier) firewall(ctx context.Context, o Op) error {
	obj := "firewall table " + o.Table.String()
	if o.FW != nil {
		obj = fmt.Sprintf("firewall[%d]", o.Index)
	}
	c, err := a.node(o.Node).firewallConn()
	switch {
	case err != nil:
	case o.FWErr != nil:
		err = o.FWErr
	case o.FW == nil:
		err = c.Ensure(ctx, o.Table)
	default:
		err = c.Apply(ctx, firewall.Options{Bridge: o.Table == firewall.Bridge}, *o.FW)
	}
	if err != nil {
		return opErr(o.Node, obj, "add", unwrapFirewall(err))
	}
	return nil
}

// unwrapFirewall drops the firewall package's own "firewall: add rules: "
// prefix (the OpError names the object).
func unwrapFirewall(err error) error {
	if inner := errors.Unwrap(err); inner != nil {
		return inner
	}
	return err
}
