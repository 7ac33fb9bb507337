package lab

import (
	"bufio"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"

	"github.com/netlabdev/netlab/firewall"
	"github.com/netlabdev/netlab/internal/nsutil"
	"github.com/netlabdev/netlab/topology"
)

// kernelConfig is where the kernel publishes its build configuration
// (CONFIG_IKCONFIG_PROC).
const kernelConfig = "/proc/config.gz"

// qdiscNeed is one qdisc kind the plan needs and the links that need it.
type qdiscNeed struct {
	kind, key, config string
	links             []string
	op                Op
}

// qdiscNeeds groups the plan's OpQdisc by kind (tbf for shape, netem for
// impair), in plan order.
func qdiscNeeds(p *Plan) []*qdiscNeed {
	var out []*qdiscNeed
	byKind := map[string]*qdiscNeed{}
	seen := map[*topology.RLink]bool{}
	for _, o := range p.Ops {
		if o.Kind != OpQdisc || seen[o.Link] {
			continue
		}
		seen[o.Link] = true
		kind, key, cfg := "tbf", "shape", "CONFIG_NET_SCH_TBF, module sch_tbf"
		if o.Qdisc.Netem != nil {
			kind, key, cfg = "netem", "impair", "CONFIG_NET_SCH_NETEM, module sch_netem"
		}
		n := byKind[kind]
		if n == nil {
			n = &qdiscNeed{kind: kind, key: key, config: cfg, op: o}
			byKind[kind] = n
			out = append(out, n)
		}
		n.links = append(n.links, fmt.Sprintf("links[%d].%s (%s-%s)", o.Link.Index, key, o.Link.A, o.Link.B))
	}
	return out
}

func (n *qdiscNeed) missing(why string) error {
	return envErrorf("%s: %s needs the kernel's %s qdisc (%s), which this kernel does not have (%s); nothing was created",
		strings.Join(n.links, ", "), n.key, n.kind, n.config, why)
}

// firewallNeed is what a node's firewall needs beyond nftables' inet
// family: the bridge family for a switch's forward rules, and
// nft_reject_bridge when one of them rejects.
func firewallNeed(n *topology.RNode) (bridge, bridgeReject bool) {
	if n.Kind != topology.NodeKindBridge {
		return false, false
	}
	for _, r := range n.Spec.Firewall {
		if r.Chain == "forward" {
			bridge = true
			bridgeReject = bridgeReject || r.Action == "reject"
		}
	}
	return bridge, bridgeReject
}

// probeFeatures tries what the plan needs beyond veths, bridges and
// sysctls, inside the current thread's throwaway namespace (h is a netlink
// handle in it; the veth nlpf0 exists when the lab has links): the root
// qdisc of every kind the links need, and every node's firewall rules
// (applied, then flushed). It returns an *EnvError naming what is missing.
func probeFeatures(ctx context.Context, h *netlink.Handle, p *Plan) error {
	if needs := qdiscNeeds(p); len(needs) > 0 {
		link, err := h.LinkByName("nlpf0")
		if err != nil {
			return fmt.Errorf("find the probe veth: %w", err)
		}
		for _, n := range needs {
			q := n.op.Qdisc.qdisc(link.Attrs().Index)
			if err := h.QdiscAdd(q); err != nil {
				return n.missing("adding one in a throwaway namespace: " + err.Error())
			}
			if err := h.QdiscDel(q); err != nil {
				return fmt.Errorf("remove the probe %s qdisc: %w", n.kind, err)
			}
		}
	}
	var fw []*topology.RNode
	for _, n := range p.Topo.Nodes {
		if len(n.Spec.Firewall) > 0 {
			fw = append(fw, n)
		}
	}
	if len(fw) == 0 {
		return nil
	}
	ns, err := netns.Get()
	if err != nil {
		return fmt.Errorf("open the throwaway namespace: %w", err)
	}
	defer ns.Close()
	c, err := firewall.Open(ns)
	if err != nil {
		return envErrorf("the lab declares firewall rules, and this kernel has no usable nftables (CONFIG_NF_TABLES, CONFIG_NF_TABLES_INET): %v", err)
	}
	defer c.Close()
	for _, n := range fw {
		var rules []firewall.Rule
		for _, o := range firewallOps(n) {
			if o.FW != nil && o.FWErr == nil {
				rules = append(rules, *o.FW)
			}
		}
		if err := c.Apply(ctx, fwOptions(n), rules...); err != nil {
			hint := ""
			if _, reject := firewallNeed(n); reject {
				hint = " (rejecting bridged frames in a switch's forward chain needs nft_reject_bridge, CONFIG_NFT_BRIDGE_REJECT; drop works without it)"
			}
			return envErrorf("node %s: this kernel refuses the node's firewall rules in a throwaway namespace%s: %v; nothing was created", n.Name, hint, unwrapFirewall(err))
		}
		if err := c.Flush(ctx); err != nil {
			return fmt.Errorf("flush the probe rules: %w", err)
		}
	}
	return nil
}

// CheckFeatures tells, before anything is created, whether this kernel has
// what the lab's keys need beyond veths and bridges: the qdisc of each
// shaped (tbf) or impaired (netem) link, and nftables for firewall rules.
// With CAP_NET_ADMIN and CAP_SYS_ADMIN it tries them in a throwaway
// namespace (what up does); without, it reads the kernel's build
// configuration (/proc/config.gz) and passes what it cannot tell (up tries
// again). It returns an *EnvError. up --dry-run calls it after printing
// the plan.
func CheckFeatures(ctx context.Context, l *topology.Lab) error {
	t := l.Resolve()
	if t == nil {
		return errors.New("lab is not validated")
	}
	p := NewPlan(t)
	if len(qdiscNeeds(p)) == 0 && !slices.ContainsFunc(t.Nodes, func(n *topology.RNode) bool { return len(n.Spec.Firewall) > 0 }) {
		return nil // nothing beyond what every lab needs
	}
	if CheckPrivileges(CapNetAdmin, CapSysAdmin) == nil {
		var ferr error
		err := nsutil.Throwaway(func(h *netlink.Handle) error {
			if len(t.Links) > 0 {
				if err := h.LinkAdd(&netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "nlpf0"}, PeerName: "nlpf1"}); err != nil {
					return fmt.Errorf("create a probe veth: %w", err)
				}
			}
			ferr = probeFeatures(ctx, h, p)
			return nil
		})
		if err != nil {
			return &EnvError{Err: fmt.Errorf("check kernel features in a throwaway namespace: %w", err)}
		}
		return ferr
	}
	cfg, err := readKernelConfig(kernelConfig)
	if err != nil {
		return nil // unknown: up checks for real
	}
	return configFeatures(p, cfg)
}

// configFeatures checks the plan's needs against a kernel configuration
// (CONFIG_X -> y, m or n).
func configFeatures(p *Plan, cfg map[string]string) error {
	has := func(sym string) bool { v := cfg[sym]; return v == "y" || v == "m" }
	for _, n := range qdiscNeeds(p) {
		sym := strings.SplitN(n.config, ",", 2)[0]
		if !has(sym) {
			return n.missing(sym + " is not set in " + kernelConfig)
		}
	}
	for _, n := range p.Topo.Nodes {
		if len(n.Spec.Firewall) == 0 {
			continue
		}
		bridge, reject := firewallNeed(n)
		for _, need := range []struct {
			on  bool
			sym string
			why string
		}{
			{true, "CONFIG_NF_TABLES_INET", "nftables' inet family"},
			{bridge, "CONFIG_NF_TABLES_BRIDGE", "nftables' bridge family, for a switch's forward rules"},
			{reject, "CONFIG_NFT_BRIDGE_REJECT", "nft_reject_bridge, to reject bridged frames (drop works without it)"},
		} {
			if need.on && !has(need.sym) {
				return envErrorf("node %s: its firewall rules need %s, which this kernel does not have (%s is not set in %s); nothing was created", n.Name, need.why, need.sym, kernelConfig)
			}
		}
	}
	return nil
}

// readKernelConfig reads a gzipped kernel .config into CONFIG_X -> value
// ("n" for "# CONFIG_X is not set").
func readKernelConfig(path string) (map[string]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	sc := bufio.NewScanner(zr)
	for sc.Scan() {
		line := sc.Text()
		if sym, ok := strings.CutPrefix(line, "# "); ok {
			if sym, ok = strings.CutSuffix(sym, " is not set"); ok {
				out[sym] = "n"
			}
			continue
		}
		if k, v, ok := strings.Cut(line, "="); ok {
			out[k] = v
		}
	}
	return out, sc.Err()
}
