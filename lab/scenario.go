package lab

import (
	"github.com/netlabdev/netlab/firewall"
	"github.com/netlabdev/netlab/topology"
)

// FirewallRule turns a validated lab rule into the firewall package's Rule,
// as up does (path becomes the rule's comment). Scenario steps use it.
func FirewallRule(r *topology.FirewallRule, path string) (firewall.Rule, error) {
	return fwRule(r, path)
}

// FirewallOptions are the firewall options of a node (a switch's forward
// rules filter bridged frames).
func FirewallOptions(n *topology.RNode) firewall.Options { return fwOptions(n) }
