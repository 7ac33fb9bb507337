package lab

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/netlabdev/netlab/topology"
)

// DefaultReadyTimeout bounds how long Up waits for links to be operationally
// up. The kernel's linkwatch batches operstate changes (and so a bridge's
// port enabling) up to about a second apart; a few batches fit.
const DefaultReadyTimeout = 5 * time.Second

// readyPoll is how often the link states are read while waiting.
const readyPoll = 10 * time.Millisecond

// expectedUp lists, per node, the interfaces that must reach operstate UP:
// veths declared up whose peer is declared up, and bridges without STP that
// are declared up and have such a port. A bridge with STP forwards only
// after listening and learning (2 x forward_delay) and is not waited for.
func expectedUp(t *topology.Topo) map[string][]string {
	ifaceOf := func(e *topology.Endpoint) *topology.RIface {
		return t.Node(e.Node).Iface(e.Iface)
	}
	out := map[string][]string{}
	for _, n := range t.Nodes {
		vethUp := map[string]bool{}
		for _, i := range n.Ifaces {
			if i.Kind == topology.IfVeth && i.Up && ifaceOf(i.Peer).Up {
				vethUp[i.Name] = true
				out[n.Name] = append(out[n.Name], i.Name)
			}
		}
		for _, i := range n.Ifaces {
			if i.Kind != topology.IfBridge || !i.Up || i.STP {
				continue
			}
			for _, p := range i.Ports {
				if vethUp[p] {
					out[n.Name] = append(out[n.Name], i.Name)
					break
				}
			}
		}
	}
	return out
}

// waitReady polls until every expected interface is operationally up, or
// the timeout passes; it returns how long that took and what is still not
// up (a warning, not an error: the lab exists either way). The kernel's
// linkwatch turns carriers on for all namespaces in one batch, so a round
// stops at the first node still waiting and the next round resumes there:
// waiting costs one dump per poll, however large the lab.
func (a *applier) waitReady(ctx context.Context, t *topology.Topo, timeout time.Duration) (time.Duration, []string) {
	start := time.Now()
	want := expectedUp(t)
	nodes := make([]string, 0, len(want))
	for _, n := range t.Nodes {
		if len(want[n.Name]) > 0 && a.nodes[n.Name] != nil {
			nodes = append(nodes, n.Name)
		}
	}
	deadline := start.Add(timeout)
	for {
		for len(nodes) > 0 && len(a.notUp(nodes[0], want[nodes[0]])) == 0 {
			nodes = nodes[1:]
		}
		if len(nodes) == 0 {
			return time.Since(start), nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			var pending []string
			for _, n := range nodes {
				pending = append(pending, a.notUp(n, want[n])...)
			}
			sort.Strings(pending)
			return time.Since(start), pending
		}
		select {
		case <-ctx.Done():
		case <-time.After(readyPoll):
		}
	}
}

// notUp lists node's interfaces among ifs that are not operationally up.
func (a *applier) notUp(node string, ifs []string) []string {
	links, err := a.nodes[node].nl.LinkList()
	if err != nil {
		return []string{fmt.Sprintf("%s: list links: %v", node, err)}
	}
	state := map[string]netlink.LinkOperState{}
	for _, l := range links {
		state[l.Attrs().Name] = l.Attrs().OperState
	}
	var out []string
	for _, i := range ifs {
		if state[i] != netlink.OperUp {
			out = append(out, fmt.Sprintf("%s:%s (%s)", node, i, strings.ToUpper(state[i].String())))
		}
	}
	return out
}
